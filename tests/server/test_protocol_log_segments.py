"""The protocol log of a dialogue does not depend on how TCP cut it up: each command line is
logged as the core reads it, credentials redacted by one rule for POP3 and SMTP.

The session is driven in-process through the buffered-protocol calls a transport makes
(get_buffer/buffer_updated), so each segmentation is exactly the one named: one byte per
read, every command in one read, each command cut inside its line, the whole dialogue in one
read (pipelined)."""
from __future__ import annotations

import asyncio
import csv
import re
import time

from postroom.auth import hash_password
from postroom.model import LoginType, PopSettings
from postroom.server.protocol_log import ProtocolLog

from .test_pop3_session import start_service
from .test_smtp_session import BINDING, connector, plain, running

SECRET = "pw NOOP hunter2"  # a password with spaces whose tail looks like a command
WRONG = "bad RETR hunter3"
ADDRESS = "dave@example.com"
QUEUE_ID = re.compile(r"\b[0-9A-F]{12}\b")  # differs per message


class Wire:
    """The transport side of one connection: collects what the session writes."""

    def __init__(self, session) -> None:
        self.session, self.out, self.closing = session, bytearray(), False

    def get_extra_info(self, name, default=None):
        return {"peername": ("192.0.2.7", 40000)}.get(name, default)

    def write(self, data) -> None:
        self.out += data

    def writelines(self, chunks) -> None:
        for chunk in chunks:
            self.out += chunk

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        if not self.closing:
            self.closing = True
            asyncio.get_running_loop().call_soon(self.session.connection_lost, None)

    abort = close

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def feed(session, data: bytes) -> None:
    """One read of `data`, as a transport does it: into the buffer the session hands out."""
    while data:
        room = session.get_buffer(len(data))
        n = min(len(room), len(data))
        room[:n] = data[:n]
        session.buffer_updated(n)
        data = data[n:]


async def until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.005)


def one_byte(line: bytes) -> list[bytes]:
    return [line[i:i + 1] for i in range(len(line))]


def inside(line: bytes) -> list[bytes]:
    cut = min(len(line) - 2, 8)  # inside the line, before its CRLF (PASS: after "PASS pw ")
    return [line[:cut], line[cut:]]


LOCKSTEP = {"one byte per read": one_byte, "one command per read": lambda line: [line], "cut inside lines": inside}
SEGMENTATIONS = [*LOCKSTEP.items(), ("the whole dialogue in one read", None)]


async def converse(session, dialogue: list[bytes], split) -> bytes:
    """Send the dialogue and wait for the connection to end; what the server wrote. `split`
    None: the whole dialogue in one read; else each command cut by `split`, sent once the
    reply to the previous one is complete."""
    wire = Wire(session)
    session.connection_made(wire)
    if split is None:
        feed(session, b"".join(dialogue))
    else:
        for command in dialogue:
            before = len(wire.out)
            for piece in split(command):
                feed(session, piece)
            await until(lambda: wire.closing or (len(wire.out) > before and wire.out.endswith(b"\r\n")))
    await until(lambda: session.finished)
    return bytes(wire.out)


def log_rows(directory) -> list[tuple[str, str, str]]:
    [path] = directory.glob("*.log")
    text = path.read_text()
    assert "hunter2" not in text and "hunter3" not in text  # no part of a password, however cut
    rows = list(csv.reader(t for t in text.splitlines() if not t.startswith("#")))
    return [(r[6], QUEUE_ID.sub("<id>", r[7]), QUEUE_ID.sub("<id>", r[8])) for r in rows]


def check(logs: dict[str, list[tuple[str, str, str]]]) -> None:
    received = {name: [r for r in rows if r[0] == "<"] for name, rows in logs.items()}
    first = received["one command per read"]
    assert first and all(lines == first for lines in received.values()), received
    # Sent in lockstep, the whole log (replies and notes interleaved) is the same too.
    assert logs["one byte per read"] == logs["one command per read"] == logs["cut inside lines"]


POP3_DIALOGUE = [b"CAPA\r\n", b"AUTH PLAIN\r\n", plain(ADDRESS, WRONG) + b"\r\n", b"USER " + ADDRESS.encode() + b"\r\n",
                 b"PASS " + SECRET.encode() + b"\r\n", b"STAT\r\n", b"QUIT\r\n"]


def test_pop3_logs_the_same_lines_whatever_the_segmentation(tmp_path):
    async def main(directory, split) -> bytes:
        settings = PopSettings(login_type=LoginType.PLAIN_TEXT_LOGIN, protocol_log=True)
        store, server, _, service = await start_service(tmp_path / directory.name, settings)
        await store.create_mailbox(ADDRESS, "Dave", hash_password(SECRET))
        plog = ProtocolLog(str(directory), "POP3")
        service.configure(settings, None, plog)
        try:
            return await converse(service.protocol_factory(False, "127.0.0.1:110")(), POP3_DIALOGUE, split)
        finally:
            server.close()
            plog.close()
            await store.close()

    logs = {}
    for name, split in SEGMENTATIONS:
        directory = tmp_path / name.replace(" ", "-")
        directory.mkdir()
        replies = asyncio.run(main(directory, split))
        assert replies.count(b"\r\n-ERR") == 1 and replies.count(b"\r\n+OK") >= 5, replies  # wrong, then right
        logs[name] = log_rows(directory)
    check(logs)
    received = [data for event, data, _ in logs["one command per read"] if event == "<"]
    assert received == ["CAPA", "AUTH PLAIN", "****", f"USER {ADDRESS}", "PASS ****", "STAT", "QUIT"]


SMTP_DIALOGUE = [b"EHLO client.example\r\n", b"AUTH PLAIN\r\n", plain(ADDRESS, SECRET) + b"\r\n",
                 b"MAIL FROM:<dave@example.com>\r\n", b"RCPT TO:<bob@example.com>\r\n", b"DATA\r\n",
                 b"Subject: hunter2\r\n\r\nbody\r\n.\r\n", b"QUIT\r\n"]


def test_smtp_logs_the_same_lines_whatever_the_segmentation(tmp_path):
    async def main(directory, split) -> bytes:
        plog = ProtocolLog(str(directory), "SMTP", connector_id="Test")
        client = connector(auth=("basic",), permission_groups=("anonymous", "users"), protocol_log=True)
        async with running(directory, client, plog=plog) as env:
            await env.store.create_mailbox(ADDRESS, "Dave", hash_password(SECRET))
            try:
                return await converse(env.service.protocol_factory(BINDING)(), SMTP_DIALOGUE, split)
            finally:
                plog.close()

    logs = {}
    for name, split in SEGMENTATIONS:
        directory = tmp_path / name.replace(" ", "-")
        directory.mkdir()
        replies = asyncio.run(main(directory, split))
        assert b"235 2.7.0" in replies and b"250 2.6.0" in replies and replies.endswith(
            b"221 2.0.0 mx.test closing connection\r\n"), replies
        logs[name] = log_rows(directory)
    check(logs)
    received = [data for event, data, _ in logs["one command per read"] if event == "<"]
    assert received == ["EHLO client.example", "AUTH PLAIN", "****", "MAIL FROM:<dave@example.com>",
                        "RCPT TO:<bob@example.com>", "DATA", "QUIT"]
