"""Failed-login blocks in the POP3 and SMTP adapters: a blocked source gets the protocol's
temporary refusal before any password check and is closed, is served again once the block
expires (fake clock) or is lifted through the service layer, and every failure leaves one
fail2ban-friendly log line."""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace

from postroom.auth import Authenticator, hash_password
from postroom.lockout import AbuseGuard, Policy
from postroom.model import LoginType, PopSettings
from postroom.server.node import Node
from postroom.service import LOCAL_OPERATOR, Context, security
from postroom.storage.sqlite import SqliteStore
from postroom.web.app import node_admin_app

from .test_smtp_session import AUTH_OK, BAD_CREDENTIALS, connect, connector, plain, running

PASSWORD_HASH = hash_password("pw-1")
STRICT = Policy(max_source_failures=3, trusted=())  # loopback (these tests' source) untrusted


class Clock:
    now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class CountingAuthenticator(Authenticator):
    """Counts password checks, so a test can see a refusal came before any."""

    checks = 0

    async def check(self, address, password, password_hash):
        self.checks += 1
        return await super().check(address, password, password_hash)


async def pop_login(port: int, user: bytes, password: bytes) -> tuple[bytes, bool]:
    """The PASS reply, and whether the server then closed the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        await reader.readline()
        writer.write(b"USER " + user + b"\r\nPASS " + password + b"\r\n")
        assert (await asyncio.wait_for(reader.readline(), 5)).startswith(b"+OK")
        reply = await asyncio.wait_for(reader.readline(), 5)
        writer.write(b"QUIT\r\n")
        rest = await asyncio.wait_for(reader.read(), 5)
        return reply, not rest.startswith(b"+OK")
    finally:
        writer.close()


async def pop_node(tmp_path, clock: Clock):
    store = SqliteStore(str(tmp_path / "postroom.db"))
    await store.open()
    await store.migrate()
    await store.add_domain("example.com")
    await store.create_mailbox("alice@example.com", "Alice", PASSWORD_HASH)
    authenticator = CountingAuthenticator(failure_delay=0.01)
    node = Node(store, str(tmp_path), "TEST", admin_app=node_admin_app, authenticator=authenticator)
    node.guard = node.pop3.guard = node.smtp.guard = AbuseGuard(STRICT, clock=clock)
    node.pop3.configure(PopSettings(login_type=LoginType.PLAIN_TEXT_LOGIN), None, None)
    server = await asyncio.get_running_loop().create_server(node.pop3.protocol_factory(False, "test"), "127.0.0.1", 0)
    return store, node, authenticator, server, server.sockets[0].getsockname()[1]


def test_pop3_blocked_source_refused_before_the_password_check_until_expiry(tmp_path, caplog):
    async def main():
        clock = Clock()
        store, node, authenticator, server, port = await pop_node(tmp_path, clock)
        for _ in range(3):
            reply, _ = await pop_login(port, b"alice@example.com", b"wrong")
            assert reply.startswith(b"-ERR [AUTH]")
        checks = authenticator.checks
        # Blocked: the right password, an unknown name: the same temporary refusal, then closed.
        for user in (b"alice@example.com", b"nobody@example.com"):
            reply, closed = await pop_login(port, user, b"pw-1")
            assert reply == b"-ERR [SYS/TEMP] The mailbox is temporarily unavailable; try again later.\r\n"
            assert closed
        assert authenticator.checks == checks  # no password was checked
        clock.now += 901  # the block (15 min) expires
        reply, _ = await pop_login(port, b"alice@example.com", b"pw-1")
        assert reply.startswith(b"+OK")
        server.close()
        await store.close()

    with caplog.at_level(logging.WARNING, logger="postroom.auth"):
        asyncio.run(asyncio.wait_for(main(), 20))
    lines = [r.getMessage() for r in caplog.records if r.name == "postroom.auth"]
    assert lines.count("postroom auth failure: service=pop3 remote=127.0.0.1 user=alice@example.com "
                       "reason=bad-credentials") == 3
    assert "postroom auth failure: service=pop3 remote=127.0.0.1 user=nobody@example.com reason=blocked" in lines
    assert any(line.startswith("postroom auth block: kind=source value=127.0.0.1 failures=3") for line in lines)


def test_a_block_lifted_through_the_service_layer_stops_applying(tmp_path):
    async def main():
        clock = Clock()
        clock.now = time.time()  # blocks go through the store, which expires by wall time
        store, node, _, server, port = await pop_node(tmp_path, clock)
        for _ in range(3):
            await pop_login(port, b"alice@example.com", b"wrong")
        await node.sync_blocks()  # the heartbeat writes the block
        ctx = Context(store, LOCAL_OPERATOR, "TEST", str(tmp_path))
        [listed] = await security.list_blocks(ctx)
        assert (listed["kind"], listed["value"], listed["failures"], listed["service"]) == (
            "source", "127.0.0.1", 3, "pop3")
        assert (await pop_login(port, b"alice@example.com", b"pw-1"))[0].startswith(b"-ERR [SYS/TEMP]")
        lifted = await security.clear_block(ctx, "127.0.0.1")
        assert [b["value"] for b in lifted] == ["127.0.0.1"]
        assert (await store.list_audit(1))[0].action == "security.block.clear"
        await node.sync_blocks()  # the next heartbeat reads the removal
        assert (await pop_login(port, b"alice@example.com", b"pw-1"))[0].startswith(b"+OK")
        assert await security.list_blocks(ctx) == []
        server.close()
        await store.close()

    asyncio.run(asyncio.wait_for(main(), 20))


def test_smtp_auth_blocked_source_gets_454_and_is_closed(tmp_path):
    async def main():
        async with running(tmp_path, connector(auth=("basic",), permission_groups=("users",))) as env:
            clock = Clock()
            env.service.guard = AbuseGuard(replace(STRICT, max_source_failures=2), clock=clock)
            client, _ = await connect(env.port)
            await client.send(b"EHLO client.example")
            for _ in range(2):
                assert await client.send(b"AUTH PLAIN " + plain("alice@example.com", "wrong")) == BAD_CREDENTIALS
            client, _ = await connect(env.port)
            await client.send(b"EHLO client.example")
            answer = await client.send(b"AUTH PLAIN " + plain("alice@example.com", "pw-1"))
            assert answer == b"454 4.7.0 Temporary authentication failure, try again later\r\n"
            assert await client.closed()
            clock.now += 901
            client, _ = await connect(env.port)
            await client.send(b"EHLO client.example")
            assert await client.send(b"AUTH PLAIN " + plain("alice@example.com", "pw-1")) == AUTH_OK

    asyncio.run(asyncio.wait_for(main(), 20))
