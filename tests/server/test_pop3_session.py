"""The POP3 adapter in-process: timeouts and store failures, with settings outside the CLI's ranges."""
from __future__ import annotations

import asyncio
import logging

from postroom.auth import Authenticator, hash_password
from postroom.errors import Unavailable
from postroom.model import LoginType, PopSettings
from postroom.server.pop3 import Pop3Service
from postroom.storage.sqlite import SqliteStore
from waiting import until

PASSWORD_HASH = hash_password("pw-1")


class FlakyStore:
    """Delegates to a real store, failing the named method the chosen way."""

    def __init__(self, store, method: str, error: Exception) -> None:
        self._store, self._method, self._error = store, method, error

    def __getattr__(self, name):
        if name == self._method:
            async def fail(*args, **kwargs):
                raise self._error
            return fail
        return getattr(self._store, name)


async def start_service(tmp_path, settings: PopSettings, wrap=None):
    """A store with alice@example.com and a POP3 listener on a free port: (store, server, port, service)."""
    store = SqliteStore(str(tmp_path / "postroom.db"))
    await store.open()
    await store.migrate()
    await store.add_domain("example.com")
    await store.create_mailbox("alice@example.com", "Alice", PASSWORD_HASH)
    service = Pop3Service(wrap(store) if wrap else store, Authenticator(failure_delay=0.01), "TEST")
    service.configure(settings, None, None)
    server = await asyncio.get_running_loop().create_server(service.protocol_factory(False, "test"), "127.0.0.1", 0)
    return store, server, server.sockets[0].getsockname()[1], service


async def start(tmp_path, settings: PopSettings, wrap=None):
    store, server, port, _ = await start_service(tmp_path, settings, wrap)
    return store, server, port


async def converse(port: int, *lines: bytes) -> list[bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    replies = [await reader.readline()]
    for line in lines:
        writer.write(line + b"\r\n")
        replies.append(await reader.readline())
    return replies, reader, writer


PLAIN = dict(login_type=LoginType.PLAIN_TEXT_LOGIN)


def test_idle_before_login_is_disconnected(tmp_path):
    async def main():
        store, server, port = await start(tmp_path, PopSettings(preauthenticated_timeout=1, **PLAIN))
        replies, reader, writer = await converse(port)
        assert replies[0].startswith(b"+OK")
        assert await asyncio.wait_for(reader.readline(), 3) == b"-ERR Disconnected for inactivity.\r\n"
        assert await asyncio.wait_for(reader.read(), 3) == b""
        server.close()
        await store.close()

    asyncio.run(main())


def test_idle_after_login_uses_the_authenticated_timeout(tmp_path):
    async def main():
        settings = PopSettings(preauthenticated_timeout=1, authenticated_timeout=3, **PLAIN)
        store, server, port = await start(tmp_path, settings)
        replies, reader, writer = await converse(port, b"USER alice@example.com", b"PASS pw-1")
        assert replies[-1].startswith(b"+OK")
        # Past the pre-login timeout, the session is still there...
        await asyncio.sleep(1.5)  # the pre-login timeout must elapse: time is what is tested
        writer.write(b"NOOP\r\n")
        assert await reader.readline() == b"+OK\r\n"
        # ...and goes after the authenticated one, releasing the mailbox lock.
        assert await asyncio.wait_for(reader.readline(), 5) == b"-ERR Disconnected for inactivity.\r\n"
        await until(lambda: store.try_lock_mailbox(1, "probe"), what="the mailbox lock to be released")
        server.close()
        await store.close()

    asyncio.run(main())


def test_store_unavailable_at_login_is_a_temporary_error(tmp_path):
    async def main():
        store, server, port = await start(tmp_path, PopSettings(**PLAIN),
                                          wrap=lambda s: FlakyStore(s, "list_messages",
                                                                    Unavailable("database is locked")))
        replies, reader, writer = await converse(port, b"USER alice@example.com", b"PASS pw-1")
        assert replies[-1].startswith(b"-ERR [SYS/TEMP]")
        writer.close()
        # the failed login left no lock behind
        await until(lambda: store.try_lock_mailbox(1, "probe"), what="the mailbox to be free")
        server.close()
        await store.close()

    asyncio.run(main())


def test_unexpected_failure_answers_with_a_reference_not_a_traceback(tmp_path, caplog):
    async def main():
        store, server, port = await start(tmp_path, PopSettings(**PLAIN),
                                          wrap=lambda s: FlakyStore(s, "find_mailbox", KeyError("boom")))
        replies, reader, writer = await converse(port, b"USER alice@example.com", b"PASS pw-1")
        assert replies[-1].startswith(b"-ERR [SYS/TEMP] Internal error, ref ")
        assert b"KeyError" not in replies[-1] and b"boom" not in replies[-1]
        assert await asyncio.wait_for(reader.read(), 3) == b""
        server.close()
        await store.close()

    with caplog.at_level(logging.ERROR, logger="postroom.pop3"):
        asyncio.run(main())
    assert any("ref" in r.getMessage() and r.exc_info for r in caplog.records)


def test_total_and_per_user_connection_limits(tmp_path):
    async def main():
        settings = PopSettings(max_connections=2, max_connections_per_user=1, **PLAIN)
        store, server, port = await start(tmp_path, settings)
        first, _, first_writer = await converse(port, b"USER alice@example.com", b"PASS pw-1")
        assert first[-1].startswith(b"+OK")
        # A second session for the same mailbox hits the per-user limit before the lock.
        second, _, second_writer = await converse(port, b"USER alice@example.com", b"PASS pw-1")
        assert second[-1].startswith(b"-ERR [SYS/TEMP] Too many connections for this user")
        # The server-wide limit (2) is now reached: a third connection is turned away at once.
        third, reader, _ = await converse(port)
        assert third[0] == b"-ERR [SYS/TEMP] Too many connections, try again later.\r\n"
        assert await asyncio.wait_for(reader.read(), 3) == b""
        for writer in (first_writer, second_writer):
            writer.close()
        server.close()
        await store.close()

    asyncio.run(main())


def test_a_message_removed_during_the_session_is_a_permanent_error(tmp_path):
    async def main():
        store, server, port = await start(tmp_path, PopSettings(**PLAIN))
        mailbox = await store.get_mailbox("alice@example.com")
        await store.deliver(mailbox.id, b"Subject: one\r\n\r\nbody\r\n")
        replies, reader, writer = await converse(port, b"USER alice@example.com", b"PASS pw-1")
        assert replies[-1].startswith(b"+OK")
        await store.remove_mailbox("alice@example.com")  # an administrator removes it meanwhile
        writer.write(b"RETR 1\r\n")
        assert (await reader.readline()).startswith(b"-ERR [SYS/PERM]")
        writer.write(b"NOOP\r\n")
        assert await reader.readline() == b"+OK\r\n"  # the session goes on
        writer.close()
        server.close()
        await store.close()

    asyncio.run(main())
