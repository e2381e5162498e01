"""The IMAP4 adapter in-process over real sockets: login answers, commands through the engine,
IDLE woken by deliveries, by other sessions and by other processes' writes (the store's feed of
mailbox changes, wired as the node wires it), and never looking at the store on its own; limits
and timeouts."""
from __future__ import annotations

import asyncio
import re
import time
from collections import Counter

from postroom.auth import Authenticator, hash_password
from postroom.model import ImapSettings, LoginType
from postroom.server.imap4 import ImapService
from postroom.storage.sqlite import SqliteStore
from waiting import until

PASSWORD_HASH = hash_password("pw-1")
PLAIN = dict(login_type=LoginType.PLAIN_TEXT_LOGIN)


def message(subject: str) -> bytes:
    return f"From: bob@example.net\r\nSubject: {subject}\r\n\r\nHello.\r\n".encode()


async def start(tmp_path, settings: ImapSettings):
    store = SqliteStore(str(tmp_path / "postroom.db"))
    await store.open()
    await store.migrate()
    await store.add_domain("example.com")
    mailbox = await store.create_mailbox("alice@example.com", "Alice", PASSWORD_HASH)
    await store.create_mailbox("carol@example.com", "Carol", PASSWORD_HASH, imap_enabled=False)
    service = ImapService(store, Authenticator(failure_delay=0.01), "TEST")
    service.configure(settings, None, None)
    await store.watch_mailboxes(service.notifier.changed)  # as the node does
    server = await asyncio.get_running_loop().create_server(service.protocol_factory(False, "test"), "127.0.0.1", 0)
    return store, mailbox, service, server, server.sockets[0].getsockname()[1]


class Conn:
    def __init__(self, reader, writer) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> "Conn":
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        conn = cls(reader, writer)
        conn.greeting = await reader.readline()
        return conn

    async def command(self, line: bytes, tag: bytes | None = None) -> list[bytes]:
        """Send `line` (tagged by its first word) and read up to the tagged reply."""
        tag = tag or line.split(b" ", 1)[0]
        self.writer.write(line + b"\r\n")
        lines = []
        while True:
            reply = await asyncio.wait_for(self.reader.readline(), 5)
            assert reply, f"connection closed after {lines}"
            lines.append(reply)
            if reply.startswith(tag + b" "):
                return lines

    async def login(self, user: bytes = b"alice@example.com") -> list[bytes]:
        return await self.command(b"l LOGIN " + user + b" pw-1")


async def logged_in(tmp_path, count: int):
    """A plain-text-login node with `count` messages (m0, m1, ...) in alice's INBOX, and a
    connection logged in as her: (store, server, connection)."""
    store, mailbox, service, server, port = await start(tmp_path, ImapSettings(**PLAIN))
    for n in range(count):
        await store.deliver(mailbox.id, message(f"m{n}"))
    conn = await Conn.open(port)
    await conn.login()
    return store, server, conn


def test_login_select_fetch_logout(tmp_path):
    async def main():
        store, mailbox, service, server, port = await start(tmp_path, ImapSettings(**PLAIN))
        sent = message("hello")
        await store.deliver(mailbox.id, sent)
        conn = await Conn.open(port)
        assert conn.greeting.startswith(b"* OK [CAPABILITY IMAP4rev1 ")
        assert (await conn.login())[-1].startswith(b"l OK [CAPABILITY IMAP4rev1")
        assert service.per_user["alice@example.com"] == 1
        replies = await conn.command(b"s SELECT INBOX")
        assert b"* 1 EXISTS\r\n" in replies and replies[-1] == b"s OK [READ-WRITE] SELECT completed.\r\n"
        replies = await conn.command(b"f UID FETCH 1:* (FLAGS BODY.PEEK[])")
        assert replies[0] == b"* 1 FETCH (UID 1 FLAGS (\\Recent) BODY[] {%d}\r\n" % len(sent)
        assert b"".join(replies[1:-1]) == sent + b")\r\n"
        assert replies[-1] == b"f OK FETCH completed.\r\n"
        replies = await conn.command(b"x FETCH 5 FLAGS")
        assert replies[-1].startswith(b"x BAD ")
        replies = await conn.command(b"o LOGOUT")
        assert replies[0].startswith(b"* BYE") and replies[-1].startswith(b"o OK")
        assert await asyncio.wait_for(conn.reader.read(), 3) == b""
        await asyncio.sleep(0.05)
        assert not service.sessions and not service.per_user
        server.close()
        await store.close()
    asyncio.run(main())


def test_login_refusals_say_more_only_with_the_right_password(tmp_path):
    async def main():
        store, mailbox, service, server, port = await start(tmp_path, ImapSettings(**PLAIN))
        conn = await Conn.open(port)
        replies = await conn.command(b"c LOGIN carol@example.com pw-1")
        assert replies == [b"c NO [AUTHORIZATIONFAILED] IMAP4 access is disabled for this mailbox.\r\n"]
        replies = await conn.command(b"d SELECT INBOX")
        assert replies[-1].startswith(b"d BAD ")  # still not logged in
        replies = await conn.command(b"a LOGIN carol@example.com wrong")
        assert replies == [b"a NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"]
        conn = await Conn.open(port)
        replies = await conn.command(b"b LOGIN nobody@example.com pw-1")
        assert replies == [b"b NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"]
        server.close()
        await store.close()
    asyncio.run(main())


def test_per_user_connection_limit(tmp_path):
    async def main():
        store, mailbox, service, server, port = await start(
            tmp_path, ImapSettings(max_connections_per_user=1, **PLAIN))
        first, second = await Conn.open(port), await Conn.open(port)
        assert (await first.login())[-1].startswith(b"l OK")
        assert (await second.login())[-1] == b"l NO [LIMIT] Too many connections for this mailbox.\r\n"
        server.close()
        await store.close()
    asyncio.run(main())


def test_idle_is_woken_by_a_delivery_and_by_another_session(tmp_path):
    async def main():
        store, mailbox, service, server, port = await start(tmp_path, ImapSettings(**PLAIN))
        await store.deliver(mailbox.id, message("one"))
        idler, other = await Conn.open(port), await Conn.open(port)
        for conn in (idler, other):
            await conn.login()
            await conn.command(b"s SELECT INBOX")
        idler.writer.write(b"i IDLE\r\n")
        assert await asyncio.wait_for(idler.reader.readline(), 5) == b"+ idling\r\n"
        started = time.monotonic()
        await store.deliver(mailbox.id, message("two"))  # the store tells the notifier (storage/changes.py)
        assert await asyncio.wait_for(idler.reader.readline(), 5) == b"* 2 EXISTS\r\n"
        assert await asyncio.wait_for(idler.reader.readline(), 5) == b"* 2 RECENT\r\n"  # it selected first
        assert time.monotonic() - started < 0.5  # woken, not polled
        await other.command(b"t STORE 1 +FLAGS (\\Flagged)")
        assert await asyncio.wait_for(idler.reader.readline(), 5) == b"* 1 FETCH (FLAGS (\\Flagged \\Recent))\r\n"
        await other.command(b"u STORE 2 +FLAGS.SILENT (\\Deleted)")
        await other.command(b"v EXPUNGE")
        lines = [await asyncio.wait_for(idler.reader.readline(), 5) for _ in range(2)]
        assert lines == [b"* 2 FETCH (FLAGS (\\Deleted \\Recent))\r\n", b"* 2 EXPUNGE\r\n"] or \
            lines[-1] == b"* 2 EXPUNGE\r\n"
        idler.writer.write(b"DONE\r\n")
        assert await asyncio.wait_for(idler.reader.readline(), 5) == b"i OK IDLE terminated.\r\n"
        replies = await idler.command(b"f FETCH 1:* UID")
        assert replies == [b"* 1 FETCH (UID 1)\r\n", b"f OK FETCH completed.\r\n"]
        server.close()
        await store.close()
    asyncio.run(main())


def test_idle_hears_another_process_writing_the_store(tmp_path):
    """The CLI beside the node (here a second store object on the same file) delivers: the store's
    feed finds it (a check of the database a few times a second) and wakes the idling session."""
    async def main():
        store, mailbox, service, server, port = await start(tmp_path, ImapSettings(**PLAIN))
        idler = await Conn.open(port)
        await idler.login()
        await idler.command(b"s SELECT INBOX")
        idler.writer.write(b"i IDLE\r\n")
        assert await asyncio.wait_for(idler.reader.readline(), 5) == b"+ idling\r\n"
        other = SqliteStore(str(tmp_path / "postroom.db"))
        await other.open()
        await other.deliver(mailbox.id, message("from another process"))
        assert await asyncio.wait_for(idler.reader.readline(), 3) == b"* 1 EXISTS\r\n"
        await other.close()
        server.close()
        await store.close()
    asyncio.run(main())


class CountingStore:
    """The store, with every call a session makes counted by name."""

    def __init__(self, store) -> None:
        self.store = store
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str):
        value = getattr(self.store, name)
        if not callable(value):
            return value

        def counted(*args, **kwargs):
            self.calls[name] += 1
            return value(*args, **kwargs)
        return counted


def test_idling_sessions_make_no_store_query_while_nothing_changes(tmp_path):
    """Twenty sessions idle for three seconds on a node where nothing happens: not one store
    query (the old design looked once a second per session: 60 here). A delivery then costs
    each of them one look."""
    async def main():
        store, mailbox, service, server, port = await start(tmp_path, ImapSettings(max_connections_per_user=20,
                                                                                   **PLAIN))
        counting = service.store = CountingStore(store)
        idlers = [await Conn.open(port) for _ in range(20)]
        for idler in idlers:
            await idler.login()
            await idler.command(b"s SELECT INBOX")
            idler.writer.write(b"i IDLE\r\n")
            assert await asyncio.wait_for(idler.reader.readline(), 5) == b"+ idling\r\n"
        await asyncio.sleep(0.2)  # the look each session makes as it starts idling
        counting.calls.clear()
        await asyncio.sleep(3.0)  # the time itself is what is tested: nothing may happen in it
        assert counting.calls == Counter()
        await store.deliver(mailbox.id, message("wake up"))
        for idler in idlers:
            assert await asyncio.wait_for(idler.reader.readline(), 5) == b"* 1 EXISTS\r\n"
        assert sum(counting.calls.values()) >= 20
        server.close()
        await store.close()
    asyncio.run(main())


def test_timeouts_before_and_after_login(tmp_path):
    async def main():
        settings = ImapSettings(preauthenticated_timeout=1, authenticated_timeout=2, **PLAIN)
        store, mailbox, service, server, port = await start(tmp_path, settings)
        conn = await Conn.open(port)
        assert await asyncio.wait_for(conn.reader.readline(), 3) == b"* BYE Disconnected for inactivity.\r\n"
        conn = await Conn.open(port)
        await conn.login()
        await asyncio.sleep(1.3)  # past the pre-login timeout: still there
        assert (await conn.command(b"n NOOP"))[-1] == b"n OK NOOP completed.\r\n"
        assert await asyncio.wait_for(conn.reader.readline(), 4) == b"* BYE Disconnected for inactivity.\r\n"
        server.close()
        await store.close()
    asyncio.run(main())


def test_append_literal_and_folder_commands_over_the_wire(tmp_path):
    async def main():
        store, mailbox, service, server, port = await start(tmp_path, ImapSettings(**PLAIN))
        conn = await Conn.open(port)
        await conn.login()
        body = message("appended")
        conn.writer.write(b"a APPEND Drafts (\\Draft) {%d}\r\n" % len(body))
        assert await asyncio.wait_for(conn.reader.readline(), 5) == b"+ Ready for literal data\r\n"
        replies = await conn.command(body, tag=b"a")
        assert re.fullmatch(rb"a OK \[APPENDUID \d+ 1\] APPEND completed.\r\n", replies[-1])
        replies = await conn.command(b'c CREATE "Old/Stuff"')
        assert replies == [b"c OK CREATE completed.\r\n"]
        replies = await conn.command(b'l LIST "" "Old*"')
        assert replies == [b'* LIST (\\HasChildren) "/" Old\r\n', b'* LIST (\\HasNoChildren) "/" Old/Stuff\r\n',
                           b"l OK LIST completed.\r\n"]
        replies = await conn.command(b"s STATUS Drafts (MESSAGES UIDNEXT)")
        assert replies[0] == b"* STATUS Drafts (MESSAGES 1 UIDNEXT 2)\r\n"
        server.close()
        await store.close()
    asyncio.run(main())


def test_appendlimit_is_the_max_message_size_setting_and_a_bigger_append_is_refused(tmp_path):
    """APPENDLIMIT (RFC 7889) says ImapSettings.max_message_size; a bigger APPEND gets NO [TOOBIG]
    before its literal is sent (the client never gets "+"), and the session goes on."""
    async def main():
        settings = ImapSettings(**PLAIN, max_message_size=65536)
        store, mailbox, service, server, port = await start(tmp_path, settings)
        conn = await Conn.open(port)
        assert b" APPENDLIMIT=65536" in (await conn.login())[-1]
        assert (await conn.command(b"c CAPABILITY"))[0].endswith(b" APPENDLIMIT=65536 COMPRESS=DEFLATE\r\n")
        replies = await conn.command(b"a APPEND Drafts {65537}")
        assert replies == [b"a NO [TOOBIG] The message is too big: 65537 octets, the limit is 65536.\r\n"]
        body = message("fits")
        conn.writer.write(b"b APPEND Drafts {%d}\r\n" % len(body))
        assert await asyncio.wait_for(conn.reader.readline(), 5) == b"+ Ready for literal data\r\n"
        assert (await conn.command(body, tag=b"b"))[-1].startswith(b"b OK [APPENDUID ")
        service.configure(settings.with_changes(max_message_size="1MB"), None, None)  # live, for new sessions
        conn = await Conn.open(port)
        assert b" APPENDLIMIT=1048576" in (await conn.login())[-1]
        server.close()
        await store.close()
    asyncio.run(main())


def test_protocol_log_masks_credentials_and_never_logs_message_content(tmp_path):
    from postroom.server.protocol_log import ProtocolLog

    async def main():
        settings = ImapSettings(protocol_log=True, **PLAIN)
        store, mailbox, service, server, port = await start(tmp_path, settings)
        await store.deliver(mailbox.id, message("secret-subject"))
        plog = ProtocolLog(str(tmp_path / "logs"), "IMAP4")
        service.configure(settings, None, plog)
        conn = await Conn.open(port)
        await conn.command(b"a LOGIN alice@example.com wrong-pw")
        await conn.login()
        await conn.command(b"s SELECT INBOX")
        await conn.command(b"f FETCH 1 BODY[]")
        await conn.command(b"o LOGOUT")
        await until(lambda: not service.sessions, what="the session to end")
        server.close()
        await store.close()
        plog.close()

    asyncio.run(main())
    [path] = (tmp_path / "logs").glob("IMAP4-*.log")
    text = path.read_text()
    assert "pw-1" not in text and "wrong-pw" not in text and "secret-subject" not in text
    assert "a LOGIN ****" in text and "l LOGIN ****" in text and "f FETCH 1 BODY[]" in text
    assert "authenticated as alice@example.com" in text and "authentication failed (bad-credentials)" in text
    assert "* 1 FETCH (" in text and "BODY[] {" in text
    assert "s OK [READ-WRITE] SELECT completed" in text and "* 1 EXISTS" in text, "every reply line, tagged ones too"
    assert "f OK FETCH completed" in text


def test_stopping_node_says_bye_to_idle_and_idling_sessions(tmp_path):
    async def main():
        store, mailbox, service, server, port = await start(tmp_path, ImapSettings(**PLAIN))
        waiting, idling = await Conn.open(port), await Conn.open(port)
        await waiting.login()
        await idling.login()
        await idling.command(b"s SELECT INBOX")
        idling.writer.write(b"i IDLE\r\n")
        assert await asyncio.wait_for(idling.reader.readline(), 5) == b"+ idling\r\n"
        service.drain_sessions()
        for conn in (waiting, idling):
            assert await asyncio.wait_for(conn.reader.readline(), 5) == b"* BYE Server shutting down.\r\n"
            assert await asyncio.wait_for(conn.reader.read(), 5) == b""
        await until(lambda: not service.sessions, what="the sessions to end")
        server.close()
        await store.close()
    asyncio.run(main())


def test_append_of_a_big_message_and_fetching_it_back(tmp_path):
    async def main():
        store, mailbox, service, server, port = await start(tmp_path, ImapSettings(**PLAIN))
        conn = await Conn.open(port)
        await conn.login()
        body = message("big") + b"0123456789abcdef" * 4096 * 48 + b"\r\n"  # 3 MiB: far past any buffer
        conn.writer.write(b"a APPEND INBOX {%d+}\r\n" % len(body) + body + b"\r\n")
        replies = await conn.command(b"n NOOP")
        assert re.fullmatch(rb"a OK \[APPENDUID \d+ 1\] APPEND completed.\r\n", replies[0])
        await conn.command(b"s SELECT INBOX")
        conn.writer.write(b"f FETCH 1 BODY.PEEK[]\r\n")
        head = await asyncio.wait_for(conn.reader.readline(), 5)
        assert head == b"* 1 FETCH (BODY[] {%d}\r\n" % len(body)
        assert await asyncio.wait_for(conn.reader.readexactly(len(body)), 10) == body
        assert await asyncio.wait_for(conn.reader.readline(), 5) == b")\r\n"
        server.close()
        await store.close()
    asyncio.run(main())
