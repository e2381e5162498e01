"""Password guessing in parallel: the block must hold under concurrency. A burst of wrong
POP3 logins or SMTP AUTHs from one untrusted source gets at most the source's threshold of
password checks (failures recorded plus checks in flight), and the right password sent in
the middle of the burst is refused like a blocked login, before its password is checked."""
from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

from auth_support import CountingExecutor
from postroom.auth import Authenticator
from postroom.lockout import AbuseGuard, Policy
from waiting import until

from .test_login_blocks import Clock, pop_login, pop_node
from .test_smtp_session import AUTH_OK, BAD_CREDENTIALS, connect, connector, plain, running

THRESHOLD = 10  # Policy().max_source_failures
# The default thresholds, with loopback (the tests' source) untrusted and short delays.
UNTRUSTED = Policy(trusted=(), max_delay=0.05)
BURST = 60
TEMPORARY_POP = b"-ERR [SYS/TEMP] The mailbox is temporarily unavailable; try again later.\r\n"
TEMPORARY_SMTP = b"454 4.7.0 Temporary authentication failure, try again later\r\n"


async def burst(login, right, executor: CountingExecutor) -> tuple[list[bytes], bytes]:
    """BURST wrong logins at once, and the right one once the first checks are running (in
    the middle of the burst): the wrong ones' replies and the right one's."""
    first = [asyncio.ensure_future(login(b"wrong-%d" % i)) for i in range(BURST // 2)]
    await until(lambda: executor.calls >= THRESHOLD, 10, "the first checks to start", interval=0.002)
    middle = asyncio.ensure_future(login(right))
    rest = [asyncio.ensure_future(login(b"wrong-%d" % i)) for i in range(BURST // 2, BURST)]
    wrong = await asyncio.gather(*first, *rest)
    return wrong, await middle


def test_concurrent_pop3_guesses_check_at_most_the_threshold(tmp_path, caplog):
    async def main():
        store, node, _, server, port = await pop_node(tmp_path, Clock())
        executor = CountingExecutor()
        node.pop3.authenticator = Authenticator(failure_delay=0.001, executor=executor)
        node.guard = node.pop3.guard = AbuseGuard(UNTRUSTED)

        async def login(password: bytes) -> bytes:
            return (await pop_login(port, b"alice@example.com", password))[0]

        try:
            wrong, right = await burst(login, b"pw-1", executor)
        finally:
            server.close()
            await store.close()
        assert right == TEMPORARY_POP
        assert executor.calls <= THRESHOLD
        assert sum(r.startswith(b"-ERR [AUTH]") for r in wrong) == executor.calls
        assert sum(r == TEMPORARY_POP for r in wrong) == BURST - executor.calls
        assert node.guard.in_flight == {}  # every reservation was released

    with caplog.at_level(logging.WARNING, logger="postroom.auth"):
        asyncio.run(asyncio.wait_for(main(), 30))
    lines = [r.getMessage() for r in caplog.records if r.name == "postroom.auth"]
    refused = [line for line in lines if line.endswith("reason=blocked")]
    assert len(refused) == BURST + 1 - sum(line.endswith("reason=bad-credentials") for line in lines)
    assert any(line.startswith("postroom auth block: kind=source value=127.0.0.1 failures=10") for line in lines)


def test_concurrent_smtp_auth_guesses_check_at_most_the_threshold(tmp_path):
    async def main():
        cap = replace(connector(auth=("basic",), permission_groups=("users",)),
                      max_inbound_connections=500, max_inbound_connections_per_source=500)
        async with running(tmp_path, cap) as env:
            executor = CountingExecutor()
            env.service.authenticator = Authenticator(failure_delay=0.001, executor=executor)
            env.service.guard = AbuseGuard(UNTRUSTED)

            async def login(password: bytes) -> bytes:
                client, _ = await connect(env.port)
                try:
                    await client.send(b"EHLO client.example")
                    return await client.send(b"AUTH PLAIN " + plain("alice@example.com", password.decode()))
                finally:
                    client.writer.close()

            wrong, right = await burst(login, b"pw-1", executor)
            assert right == TEMPORARY_SMTP
            assert executor.calls <= THRESHOLD
            assert sum(r == BAD_CREDENTIALS for r in wrong) == executor.calls
            assert sum(r == TEMPORARY_SMTP for r in wrong) == BURST - executor.calls
            assert AUTH_OK not in wrong
            assert env.service.guard.in_flight == {}

    asyncio.run(asyncio.wait_for(main(), 30))
