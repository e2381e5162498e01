"""The SMTP client core against a real server over a real socket: Postfix's `smtp-sink`
(Debian's postfix package; scripts/test-deps.sh installs it), which captures each
transaction, envelope parameters included, to a file. What it recorded proves the bytes are
right: pipelined MAIL/RCPT/DATA, DSN parameters, dot-stuffing, two messages on one connection.
"""
from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from postroom.protocol.smtp_client import (
    NEED_DATA, Closed, ContentDone, EhloDone, Envelope, Greeting, RecipientSpec, RecipientsDone, SmtpClient,
)

from .harness import free_port, require_tool

pytestmark = pytest.mark.e2e

FIRST = b"Subject: one\r\n\r\n.leading dot\r\nmiddle\r\n.\r\n..two dots\r\nlast line without CRLF"
SECOND = b"Subject: two\r\n\r\nbody\r\n"


@pytest.fixture
def sink():
    """smtp-sink on a free loopback port, dumping each transaction into a file of its own."""
    binary = require_tool("smtp-sink")
    # Started as root, smtp-sink runs as `nobody`, which must reach the dump directory: not
    # under pytest's tmp_path (0700 parents), but a directory of its own in /tmp.
    with tempfile.TemporaryDirectory(prefix="smtp-sink-") as name:
        dump = Path(name)
        os.chmod(dump, 0o777)
        yield from _run_sink(binary, dump)


def _run_sink(binary: str, dump: Path):
    port = free_port()
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    proc = subprocess.Popen([binary, *user, "-d", f"{dump}/%M.", f"127.0.0.1:{port}", "10"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 5
    while True:  # wait until it listens (polling the very condition, with a deadline)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"smtp-sink did not start: {proc.stderr.read().decode(errors='replace')}")
            time.sleep(0.05)
    yield port, dump
    proc.kill()
    proc.wait()


def converse(port: int, messages: list[tuple[Envelope, bytes]]) -> tuple[list, bytes]:
    """Drive one SmtpClient over a blocking socket the way the delivery worker will."""
    client = SmtpClient("client.example")
    events, wire = [], bytearray()
    pending, current = list(messages), b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        while True:
            ev = client.next_event()
            if ev is NEED_DATA:
                data = sock.recv(65536)
                client.receive_data(data)
                continue
            events.append(ev)
            if isinstance(ev, Closed):
                break
            if isinstance(ev, Greeting):
                client.ehlo()
            elif isinstance(ev, RecipientsDone) and ev.content_wanted:
                client.send_content(current)
            elif isinstance(ev, (EhloDone, RecipientsDone, ContentDone)):
                if pending:
                    envelope, current = pending.pop(0)
                    assert client.begin(envelope) is None
                else:
                    client.quit()
            out = b"".join(client.data_to_send())
            wire += out
            sock.sendall(out)
    return events, bytes(wire)


def test_client_delivers_to_smtp_sink(sink):
    port, dump = sink
    recipients = [RecipientSpec("one@example.net", "SUCCESS,FAILURE", "rfc822;One+x@example.net"),
                  RecipientSpec("two@example.net")]
    first = Envelope("sender@example.com", recipients, len(FIRST), ret="HDRS", envid="Q1+x")
    second = Envelope("", [RecipientSpec("three@example.net", "NEVER")], len(SECOND))
    events, wire = converse(port, [(first, FIRST), (second, SECOND)])

    caps = events[1].capabilities
    assert caps.pipelining and caps.dsn and caps.eightbitmime and caps.enhancedstatuscodes
    assert [type(e).__name__ for e in events] == ["Greeting", "EhloDone", "RecipientsDone", "ContentDone",
                                                   "RecipientsDone", "ContentDone", "Closed"]
    assert all(e.reply.positive for e in events if isinstance(e, ContentDone))
    assert events[-1].reply.code == 221
    # MAIL, both RCPTs and DATA went in one write; the sink answered them all
    assert (b"MAIL FROM:<sender@example.com> RET=HDRS ENVID=Q1+2Bx\r\n"
            b"RCPT TO:<one@example.net> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;One+2Bx@example.net\r\n"
            b"RCPT TO:<two@example.net>\r\nDATA\r\n") in wire

    def captured() -> list[bytes]:
        return sorted(p.read_bytes() for p in dump.rglob("*") if p.is_file())

    deadline = time.monotonic() + 5
    while len(captured()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)  # the sink writes its capture files as it goes; poll with a deadline
    files = captured()
    assert len(files) == 2, files
    one = next(f for f in files if b"Subject: one" in f)
    two = next(f for f in files if b"Subject: two" in f)
    # smtp-sink records the commands' arguments as it parsed them, then the unstuffed content
    assert b"X-Mail-Args: <sender@example.com> RET=HDRS ENVID=Q1+2Bx\n" in one
    assert b"X-Rcpt-Args: <one@example.net> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;One+2Bx@example.net" in one
    assert b"X-Rcpt-Args: <two@example.net>\n" in one
    # unstuffed by the sink as it was sent: the lone dot, ".leading dot" and "..two dots" intact
    assert b"Subject: one\n\n.leading dot\nmiddle\n.\n..two dots\nlast line without CRLF\n" in one, one[-200:]
    assert b"X-Mail-Args: <>\n" in two
    assert b"X-Rcpt-Args: <three@example.net> NOTIFY=NEVER" in two
