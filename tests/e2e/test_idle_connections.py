"""5,000 idle connections on the POP3 port of a live server (loopback): each is greeted, they
stay open, and a new login (poplib USER/PASS/STAT/QUIT) is still served within 2 s.

The POP3 connection limits keep Exchange's defaults (2147483647, unlimited) and are checked
here, not raised: the default install must take 5,000 connections. The process fd limit must
hold both ends (10,000 descriptors, plus some): the test skips when it cannot.
"""
from __future__ import annotations

import asyncio
import poplib
import resource
import smtplib
import time

import pytest

from .harness import Postroom

pytestmark = pytest.mark.e2e
IDLE = 5000
LOGIN_BOUND = 2.0  # seconds: a correctness bound for a login under load, not a benchmark


def login_time(port: int) -> float:
    started = time.monotonic()
    client = poplib.POP3("127.0.0.1", port, timeout=10)
    client.user("idle@example.com")
    client.pass_("pw-idle-1")
    assert client.stat()[0] == 1
    client.quit()
    return time.monotonic() - started


async def open_idle(port: int, count: int) -> list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """`count` connections, each greeted by the server (+OK), at most 200 connecting at once."""
    gate = asyncio.Semaphore(200)

    async def one():
        async with gate:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            greeting = await asyncio.wait_for(reader.readline(), 30)
            assert greeting.startswith(b"+OK"), greeting
            return reader, writer

    return list(await asyncio.gather(*(one() for _ in range(count))))


def test_five_thousand_idle_connections_do_not_stop_a_new_login(tmp_path):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = 2 * IDLE + 500  # the test's end and the server's (it inherits this limit)
    if soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            pytest.skip(f"the fd limit ({hard}) is below {needed}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    server = Postroom(tmp_path)
    server.init()
    server.new_mailbox("idle@example.com", "pw-idle-1")
    server.cli("pop", "set", "--login-type", "plain-text-login")
    settings = server.cli_json("pop", "show")
    assert settings["max_connections"] > IDLE and settings["max_connections_from_single_ip"] > IDLE
    server.start()
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as smtp:
        smtp.sendmail("a@example.net", ["idle@example.com"], b"Subject: hi\r\n\r\nhello\r\n")
    try:
        baseline = login_time(server.pop_port)

        async def main() -> tuple[float, float, int]:
            loop = asyncio.get_running_loop()
            started = time.monotonic()
            connections = await open_idle(server.pop_port, IDLE)
            opened = time.monotonic() - started
            try:
                await asyncio.sleep(0.5)  # let the server settle with all of them open
                elapsed = await loop.run_in_executor(None, login_time, server.pop_port)
                # Every idle connection is still open: nothing was dropped to make room.
                alive = 0
                for reader, writer in connections:
                    writer.write(b"NOOP\r\n")
                for reader, writer in connections:
                    reply = await asyncio.wait_for(reader.readline(), 10)
                    alive += reply.startswith(b"-ERR")  # NOOP before login: answered, not closed
                return opened, elapsed, alive
            finally:
                for _, writer in connections:
                    writer.transport.abort()

        opened, elapsed, alive = asyncio.run(main())
        assert alive == IDLE, f"only {alive} of {IDLE} idle connections were still served"
        assert elapsed < LOGIN_BOUND, (f"a login took {elapsed:.2f}s with {IDLE} idle connections open "
                                       f"(opening them took {opened:.1f}s; a login alone {baseline:.2f}s)")
        assert server.process is not None and server.process.poll() is None, server.log_path.read_text()[-2000:]
        # The server is still fine once they are gone.
        assert login_time(server.pop_port) < LOGIN_BOUND
    finally:
        server.stop()
