"""A store that is locked gives temporary errors, never a crash, a false "250" or a lost message.

Another process holds `BEGIN EXCLUSIVE` on the live SQLite store (DATA/postroom.db) for longer
than the store's busy timeout (5 s). Meanwhile:
- SMTP answers the end of DATA with a 4xx (451 4.3.0), not 250, and the session goes on;
- POP3 still logs in and reads (WAL: readers never wait for the writer), but QUIT after DELE
  cannot apply the deletion and says so with -ERR [SYS/TEMP]; the message stays;
- the node keeps running.
Once the lock goes, delivery works again and every earlier message is there, byte for byte.

(The store going unreachable while serving is not tested: the node's SQLite connections
are opened at start and keep their open files, and this runs as root, so permissions do not
bite; a full disk is tests/e2e/test_disk_full.py.)
"""
from __future__ import annotations

import poplib
import smtplib
import sqlite3
import threading
import time

import pytest

from .harness import Postroom
from .test_smtp_clients import split_trace

pytestmark = pytest.mark.e2e
USER, PASSWORD = "locked@example.com", "pw-locked-1"


def message(n: int) -> bytes:
    return (f"From: a@example.net\r\nTo: {USER}\r\nSubject: message {n}\r\n\r\n"
            + "".join(f"message {n} line {i}\r\n" for i in range(50))).encode()


def send(server: Postroom, data: bytes) -> tuple[int, bytes]:
    """(code, text) of the reply to the end of DATA."""
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=30) as client:
        client.ehlo("sender.example.net")
        assert client.mail("a@example.net")[0] == 250
        assert client.rcpt(USER)[0] == 250
        reply = client.data(data)
        assert client.noop()[0] == 250  # the session goes on after a temporary failure
        return reply


def stored_messages(server: Postroom) -> list[bytes]:
    client = poplib.POP3("127.0.0.1", server.pop_port, timeout=30)
    client.user(USER)
    client.pass_(PASSWORD)
    found = []
    for number in range(1, client.stat()[0] + 1):
        _, lines, _ = client.retr(number)
        found.append(split_trace(b"\r\n".join(lines) + b"\r\n")[2])
    client.quit()
    return found


def test_a_locked_store_gives_temporary_errors_and_loses_nothing(tmp_path):
    server = Postroom(tmp_path)
    server.init()
    server.new_mailbox(USER, PASSWORD)
    server.cli("pop", "set", "--login-type", "plain-text-login")
    server.start()
    try:
        for n in (1, 2):
            assert send(server, message(n))[0] == 250
        assert stored_messages(server) == [message(1), message(2)]

        outcome: dict[str, object] = {}

        def deliver() -> None:
            outcome["smtp"] = send(server, message(3))

        def pop_session() -> None:
            client = poplib.POP3("127.0.0.1", server.pop_port, timeout=30)
            client.user(USER)
            outcome["login"] = client.pass_(PASSWORD)
            outcome["stat"] = client.stat()
            _, lines, _ = client.retr(1)
            outcome["retr"] = split_trace(b"\r\n".join(lines) + b"\r\n")[2]
            outcome["dele"] = client.dele(1)
            try:
                outcome["quit"] = client.quit()
            except poplib.error_proto as exc:
                outcome["quit"] = exc.args[0]
            client.close()

        lock = sqlite3.connect(str(server.data / "postroom.db"), isolation_level=None, timeout=10)
        lock.execute("BEGIN EXCLUSIVE")
        try:
            started = time.monotonic()
            threads = [threading.Thread(target=deliver), threading.Thread(target=pop_session)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(40)
            held = time.monotonic() - started
            assert server.process is not None and server.process.poll() is None, "the node died"
        finally:
            lock.execute("ROLLBACK")
            lock.close()

        code, text = outcome["smtp"]
        assert 400 <= code < 500 and text.startswith(b"4.3."), (code, text)  # e.g. 451 4.3.0
        assert outcome["login"].startswith(b"+OK") and outcome["stat"][0] == 2
        assert outcome["retr"] == message(1)
        assert outcome["dele"].startswith(b"+OK")
        assert outcome["quit"].startswith(b"-ERR [SYS/TEMP]"), outcome["quit"]
        assert held < 30, f"answers took {held:.1f}s under the lock"

        # The lock is gone: delivery works at once, nothing was lost, deleted or half-stored.
        assert send(server, message(3))[0] == 250
        assert stored_messages(server) == [message(1), message(2), message(3)]
        assert server.process.poll() is None
        log = server.log_path.read_text()
        assert "Traceback" not in log and "database is locked" in log
    finally:
        server.stop()
