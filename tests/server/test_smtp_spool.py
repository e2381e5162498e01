"""SMTP content past the spool threshold (server/spool.py): a big message goes through a
spool file into the store and back out through POP3 byte for byte on both backends, the
file is gone after every outcome, what a session holds stays bounded, and a full spool
disk answers 452 4.3.1."""
from __future__ import annotations

import asyncio
import errno
import os
import poplib
import stat
import time
import types

import pytest

from pg_support import fresh_store_url
from postroom.errors import Unavailable
from postroom.model import PopSettings, Server, Service, ServiceStatus, Startup
from postroom.protocol._smtp_content import DataReader
from postroom.server import smtp as smtp_server
from postroom.server import spool as spool_module
from postroom.server.node import Node
from postroom.server.pop3 import Pop3Service
from postroom.server.smtp import SmtpSession
from postroom.storage.postgres import PostgresStore
from postroom.storage.sqlite import SqliteStore
from postroom.web.app import node_admin_app
from waiting import until

from .test_pop3_session import PLAIN, FlakyStore
from .test_smtp_session import ACCEPTED, RCPT_OK, SENDER_OK, START_DATA, Client, connect, connector, run, running

THRESHOLD = spool_module.SPOOL_THRESHOLD
LINE = b"a line of text, long enough to look like mail, with a few words ......\r\n"


def big_message(size: int) -> bytes:
    """Headers, then lines, some starting with a dot (stuffed on the wire), some bare LFs
    (normalised): what the client sends unstuffed, and what the store must hold."""
    body = (LINE + b".dot line\r\n" + b"bare lf line\n") * (size // (len(LINE) + 24) + 1)
    return b"Subject: big\r\nMessage-ID: <big@remote.test>\r\n\r\n" + body[:size] + b"\r\n"


def on_the_wire(message: bytes) -> bytes:
    return message.replace(b"\n.", b"\n..") + b".\r\n"


def stored_form(message: bytes) -> bytes:
    return message.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def spool_files(tmp_path) -> list[str]:
    folder = tmp_path / "spool"
    return sorted(os.listdir(folder)) if folder.exists() else []


async def send_data(client: Client, content: bytes, piece: int = 256 * 1024) -> None:
    assert await client.send(b"MAIL FROM:<sender@remote.test>") == SENDER_OK
    assert await client.send(b"RCPT TO:<alice@example.com>") == RCPT_OK
    assert await client.send(b"DATA") == START_DATA
    for at in range(0, len(content), piece):
        client.writer.write(content[at:at + piece])
        await client.writer.drain()


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request):
    if request.param == "sqlite":
        yield None
    else:
        for url in fresh_store_url():
            yield lambda: PostgresStore(url)


@pytest.fixture
def spools(monkeypatch) -> list[spool_module.Spool]:
    """Every Spool the SMTP sessions make, in order."""
    made: list[spool_module.Spool] = []

    class Recorded(spool_module.Spool):
        def __init__(self, directory: str) -> None:
            super().__init__(directory)
            made.append(self)
    monkeypatch.setattr(smtp_server, "Spool", Recorded)
    return made


def test_a_big_message_round_trips_through_the_spool_into_pop3(tmp_path, backend, spools):
    message = big_message(3 * THRESHOLD)

    async def main():
        big = connector(max_message_size=8 * THRESHOLD)
        async with running(tmp_path, big, store=backend() if backend else None) as env:
            client, _ = await connect(env.port)
            await client.send(b"EHLO client.test")
            await send_data(client, on_the_wire(message))
            assert ACCEPTED.match(await client.reply())
            await until(lambda: not spool_files(tmp_path))  # removed after the delivery
            mode = stat.S_IMODE(os.stat(tmp_path / "spool").st_mode)
            pop = Pop3Service(env.store, env.service.authenticator, "TEST")
            pop.configure(PopSettings(**PLAIN), None, None)
            server = await asyncio.get_running_loop().create_server(pop.protocol_factory(False, "t"), "127.0.0.1", 0)

            def retr(port: int) -> bytes:
                box = poplib.POP3("127.0.0.1", port, timeout=10)
                box.user("alice@example.com")
                box.pass_("pw-1")
                lines = box.retr(1)[1]
                box.quit()
                return b"\r\n".join(lines) + b"\r\n"
            got = await asyncio.to_thread(retr, server.sockets[0].getsockname()[1])
            server.close()
            pop.close_sessions()
            return got, mode

    got, mode = asyncio.run(asyncio.wait_for(main(), 60))
    assert len(spools) == 1 and spools[0].size > 2 * THRESHOLD  # the message went through a file
    assert spools[0].path.startswith(str(tmp_path / "spool")) and not os.path.exists(spools[0].path)
    assert got.split(b"\r\n\tby ")[0].startswith(b"Return-Path: <sender@remote.test>\r\nReceived: from client.test")
    assert got[got.index(b"Subject: big"):] == stored_form(message)
    assert mode == 0o700


@pytest.mark.parametrize("disk", ["fast", "slow"])
def test_session_memory_stays_bounded_for_an_eight_megabyte_message(tmp_path, monkeypatch, disk):
    if disk == "slow":  # each piece takes 50 ms to write: the session must stop reading meanwhile
        def slow_write(fd, data):
            time.sleep(0.05)  # the slow disk is the behaviour under test
            return os.write(fd, data)
        monkeypatch.setattr(spool_module, "os", types.SimpleNamespace(**{**vars(os), "write": slow_write}))
    peak = {"buffer": 0, "held": 0}
    pump = SmtpSession.pump

    def watched(self):
        pump(self)
        reader = getattr(getattr(self.conn, "_phase", None), "reader", None)  # white-box: DATA's reader
        if reader is not None:
            peak["buffer"] = max(peak["buffer"], len(reader._buf))
            peak["held"] = max(peak["held"], reader.held)
    monkeypatch.setattr(SmtpSession, "pump", watched)
    message = big_message(8 << 20)

    async def main():
        async with running(tmp_path, connector(max_message_size=16 << 20)) as env:
            client, _ = await connect(env.port)
            await client.send(b"EHLO client.test")
            await send_data(client, on_the_wire(message), piece=1 << 20)
            assert ACCEPTED.match(await client.reply())
            mailbox = await env.store.get_mailbox("alice@example.com")
            [info] = await env.store.list_messages(mailbox.id)
            stored = await env.store.read_message(mailbox.id, info.id)
            assert stored[stored.index(b"Subject: big"):] == stored_form(message)
            await until(lambda: not spool_files(tmp_path))

    run(main())
    # One reserved megabyte (SIZE unknown: grown from 16 KiB), doubled at most once past the
    # threshold before the piece goes to the spool; never the message's 8 MB.
    assert 0 < peak["held"] <= THRESHOLD + 512 * 1024  # (0: the reader was not found, nothing was measured)
    assert peak["buffer"] <= 2 * (THRESHOLD + DataReader.MIN_ROOM) + 512 * 1024


def test_bdat_chunks_past_the_threshold_are_spooled_and_stored_exactly(tmp_path, spools):
    first = b"Subject: chunked\r\n\r\n" + b"bare lf line\n" * (THRESHOLD // 13) + b"ends in CR\r"
    second = b"\n.not unstuffed in BDAT\r\n" + b"y" * THRESHOLD + b"\n"

    async def main():
        async with running(tmp_path, connector(max_message_size=4 * THRESHOLD)) as env:
            client, _ = await connect(env.port)
            await client.send(b"EHLO client.test")
            assert await client.send(b"MAIL FROM:<s@remote.test>") == SENDER_OK
            assert await client.send(b"RCPT TO:<alice@example.com>") == RCPT_OK
            client.writer.write(b"BDAT %d\r\n" % len(first) + first)
            assert (await client.reply()).startswith(b"250 2.0.0")
            client.writer.write(b"BDAT %d LAST\r\n" % len(second) + second)
            assert ACCEPTED.match(await client.reply())
            mailbox = await env.store.get_mailbox("alice@example.com")
            [info] = await env.store.list_messages(mailbox.id)
            return await env.store.read_message(mailbox.id, info.id)

    stored = asyncio.run(asyncio.wait_for(main(), 30))
    assert stored[stored.index(b"Subject: chunked"):] == stored_form(first + second)
    assert len(spools) == 1 and spools[0].size > THRESHOLD and not os.path.exists(spools[0].path)


def test_the_spool_file_goes_after_a_refusal_a_drop_and_an_rset(tmp_path):
    async def main():
        limited = connector(max_message_size=2 * THRESHOLD)
        def failing(store):
            return FlakyStore(store, "deliver_message", Unavailable("store down"))

        async with running(tmp_path, limited, wrap=failing) as env:
            # The store refuses: 451, and the file is gone.
            client, _ = await connect(env.port)
            await client.send(b"EHLO client.test")
            await send_data(client, on_the_wire(big_message(int(1.5 * THRESHOLD))))
            assert (await client.reply()).startswith(b"451 4.3.0")
            await until(lambda: not spool_files(tmp_path))
            # Too big: 552 once the end comes, and the file is gone.
            await send_data(client, on_the_wire(big_message(3 * THRESHOLD)))
            assert (await client.reply()).startswith(b"552 5.3.4")
            await until(lambda: not spool_files(tmp_path))
            # BDAT chunks spooled, then RSET.
            assert await client.send(b"MAIL FROM:<s@remote.test>") == SENDER_OK
            assert await client.send(b"RCPT TO:<alice@example.com>") == RCPT_OK
            chunk = b"x" * (THRESHOLD + 100)
            client.writer.write(b"BDAT %d\r\n" % len(chunk) + chunk)
            assert (await client.reply()).startswith(b"250 2.0.0")
            await until(lambda: len(spool_files(tmp_path)) == 1)
            assert (await client.send(b"RSET")).startswith(b"250")
            await until(lambda: not spool_files(tmp_path))
            # The client drops the connection mid-DATA.
            await send_data(client, big_message(int(1.5 * THRESHOLD)))
            await until(lambda: len(spool_files(tmp_path)) == 1)
            client.writer.close()
            await until(lambda: not spool_files(tmp_path))

    run(main())


def test_a_full_spool_disk_answers_452_and_the_session_goes_on(tmp_path, monkeypatch):
    def no_space(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(spool_module, "os", types.SimpleNamespace(**{**vars(os), "write": no_space}))

    async def main():
        async with running(tmp_path, connector(max_message_size=4 * THRESHOLD)) as env:
            client, _ = await connect(env.port)
            await client.send(b"EHLO client.test")
            await send_data(client, on_the_wire(big_message(2 * THRESHOLD)))
            assert await client.reply() == b"452 4.3.1 Insufficient system storage\r\n"
            await until(lambda: not spool_files(tmp_path))
            mailbox = await env.store.get_mailbox("alice@example.com")
            assert await env.store.list_messages(mailbox.id) == []
            # A small message needs no spool: still accepted.
            assert ACCEPTED.match(await client.mail([b"alice@example.com"]))

    run(main())


def test_a_starting_node_removes_what_a_crash_left_in_its_spool(tmp_path):
    (tmp_path / "spool").mkdir()
    (tmp_path / "spool" / "feedface.msg").write_bytes(b"half a message")

    async def main():
        store = SqliteStore(str(tmp_path / "postroom.db"))
        await store.open()
        await store.migrate()
        services = [Service("TEST", name, Startup.MANUAL, ServiceStatus.STOPPED) for name in ("pop3", "smtp", "admin")]
        await store.add_server(Server("TEST", "test.example.com"), services, PopSettings())  # nothing listens
        node = Node(store, str(tmp_path), "TEST", admin_app=node_admin_app)
        await node.start()
        try:
            assert spool_files(tmp_path) == []
        finally:
            await node.stop()
            await store.close()

    asyncio.run(asyncio.wait_for(main(), 20))


def test_orphans_from_a_crash_are_removed_at_start(tmp_path):
    folder = tmp_path / "data" / "spool"
    assert spool_module.clear_orphans(str(folder)) == 0  # made, 0700
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    (folder / "0123abcd.msg").write_bytes(b"half a message")
    (folder / "README").write_text("not ours")
    assert spool_module.clear_orphans(str(folder)) == 1
    assert sorted(os.listdir(folder)) == ["README"]
