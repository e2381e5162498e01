"""SIGKILL in the middle of a burst of concurrent deliveries: every message that got "250" is
retrievable whole after a restart, and no partial message is ever visible."""
from __future__ import annotations

import poplib
import smtplib
import ssl
import threading
import time

import pytest

from .harness import Postroom, wait_until
from .test_smtp_clients import split_trace

pytestmark = pytest.mark.e2e
SENDERS = 8


def body_for(sender: int, number: int) -> bytes:
    # Big enough that a kill often lands mid-write; every line names the message, so any
    # truncation or mix-up shows.
    tag = f"{sender}-{number}"
    lines = ["From: burst@example.net", "To: crash@example.com", f"Subject: burst {tag}", ""]
    lines += [f"{tag} line {i:04d} " + "x" * 60 for i in range(300)]
    return ("\r\n".join(lines) + "\r\n").encode()


def deliver_until_stopped(port: int, recipient: str, sender: int, stop: threading.Event,
                          acknowledged: dict[bytes, str], lock: threading.Lock) -> None:
    """One sender of a burst: message after message to `recipient`, each one that gets "250"
    recorded; when the server is gone (killed), try again until told to stop."""
    number = 0
    while not stop.is_set():
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
                client.ehlo("burst.example.net")
                while not stop.is_set():
                    data = body_for(sender, number)
                    number += 1
                    client.docmd("MAIL", "FROM:<burst@example.net>")
                    client.docmd("RCPT", f"TO:<{recipient}>")
                    code, text = client.data(data)
                    if code == 250:
                        with lock:
                            acknowledged[data] = text.decode()
        except (OSError, smtplib.SMTPException):
            time.sleep(0.01)  # the pace of a sender's retries while the server is down, not a wait


def test_sigkill_during_delivery_burst_loses_no_acknowledged_message(tmp_path, request):
    server = Postroom(tmp_path)
    request.addfinalizer(server.stop)  # also when an assertion fails
    server.init()
    server.new_mailbox("crash@example.com", "pw-crash-1")
    server.start()
    acknowledged: dict[bytes, str] = {}
    lock = threading.Lock()
    stop = threading.Event()
    request.addfinalizer(stop.set)  # the senders end even when the test fails before stop.set()

    def send(sender: int) -> None:
        deliver_until_stopped(server.smtp_port, "crash@example.com", sender, stop, acknowledged, lock)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(SENDERS)]
    for thread in threads:
        thread.start()
    wait_until(lambda: len(acknowledged) >= 150, 30, "150 acknowledged messages before the kill")
    # A POP3 session holds the mailbox lock with a DELE mark when the process dies: after the
    # restart the mailbox is not left locked (no [IN-USE]) and the mark is not applied.
    context = ssl.create_default_context(cafile=server.cert)
    holder = poplib.POP3_SSL("127.0.0.1", server.pops_port, context=context, timeout=30)
    holder.user("crash@example.com")
    holder.pass_("pw-crash-1")
    if holder.stat()[0]:
        holder.dele(1)
    server.kill()  # mid-burst: deliveries are in flight right now
    holder.close()
    with lock:
        promised = dict(acknowledged)
    stop.set()
    for thread in threads:
        thread.join(20)
    assert len(promised) >= 50, "the burst was too small to mean anything"

    server.start()  # no manual step: the killed node's lock file, WAL and mailbox lock are recovered
    client = poplib.POP3_SSL("127.0.0.1", server.pops_port, context=context, timeout=30)
    client.user("crash@example.com")
    client.pass_("pw-crash-1")
    stored = set()
    for number in range(1, client.stat()[0] + 1):
        _, lines, _ = client.retr(number)
        body = split_trace(b"\r\n".join(lines) + b"\r\n")[2]
        tag = body.split(b"Subject: burst ", 1)[1].split(b"\r\n", 1)[0].decode()
        sender, count = (int(x) for x in tag.split("-"))
        assert body == body_for(sender, count), f"message {tag} is not whole"
        stored.add(body)
    client.quit()
    missing = [text for data, text in promised.items() if data not in stored]
    assert not missing, f"{len(missing)} acknowledged messages lost, e.g. {missing[:3]}"
    # The restarted node takes new mail at once, stored whole after the recovered ones.
    after = body_for(99, 0)
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as sender:
        assert sender.sendmail("burst@example.net", ["crash@example.com"], after) == {}
    client = poplib.POP3_SSL("127.0.0.1", server.pops_port, context=context, timeout=30)
    client.user("crash@example.com")
    client.pass_("pw-crash-1")
    count = client.stat()[0]
    assert count == len(stored) + 1
    _, lines, _ = client.retr(count)
    assert split_trace(b"\r\n".join(lines) + b"\r\n")[2] == after
    client.quit()
    server.stop()
