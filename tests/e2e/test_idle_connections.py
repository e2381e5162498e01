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
import socket
import time

import pytest

from .harness import Postroom, wait_until

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


# the admin service: connection caps -------------------------------------------------------

HALF_REQUEST = b"GET /api/v1/mailboxes HTTP/1.1\r\nHost: x\r\n"
REFUSED = b"HTTP/1.1 503 "


def admin_connect(port: int, source: str, send: bytes = HALF_REQUEST) -> socket.socket:
    """A connection to the admin port from `source` (any 127.0.0.0/8 address is this host)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))
    sock.sendall(send)
    return sock


def refused_at_once(sock: socket.socket) -> bool:
    """Whether the server answered 503 and closed within a second, without waiting for a request
    (the client sent nothing: its unread bytes would make the close a reset)."""
    sock.settimeout(1.0)
    try:
        data = sock.recv(4096)
        while data and not data.endswith(b"\n\n") and b"\r\n\r\n" not in data:
            data += sock.recv(4096)
        rest = sock.recv(4096)
        while rest:
            data += rest
            rest = sock.recv(4096)
    except (socket.timeout, OSError):
        return False
    return data.startswith(REFUSED)


def answered(port: int, source: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0)) as sock:
        sock.sendall(b"GET /api/v1/mailboxes HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        sock.settimeout(10)
        return sock.recv(4096)


@pytest.fixture
def capped_admin(tmp_path):
    server = Postroom(tmp_path)
    server.init()
    server.cli("web", "set", "--max-connections", "6", "--max-connections-per-source", "3")
    server.start()
    yield server
    server.stop()


def test_admin_connections_beyond_the_caps_are_refused_at_once(capped_admin):
    port = capped_admin.http_port
    held = [admin_connect(port, "127.0.0.1") for _ in range(3)]
    try:
        extra = [admin_connect(port, "127.0.0.1", b"") for _ in range(3)]
        assert all(refused_at_once(sock) for sock in extra), "a 4th connection from one source was not refused"
        assert answered(port, "127.0.0.2").startswith(b"HTTP/1.1 401 ")  # another source still gets in
        held += [admin_connect(port, "127.0.0.3") for _ in range(3)]  # six open: the total cap
        assert refused_at_once(admin_connect(port, "127.0.0.4", b"")), "a 7th connection (total cap 6) was not refused"
        assert not any(refused_at_once(sock) for sock in held[:1])  # the ones admitted stay open
    finally:
        for sock in held:
            sock.close()
    # Freed: a source under its cap is served again.
    wait_until(lambda: answered(port, "127.0.0.1").startswith(b"HTTP/1.1 401 "), 5, "the freed slots")
    text = capped_admin.log_path.read_text()
    # One line per source and reason a minute, however many were refused.
    assert text.count("admin refused a connection from 127.0.0.1: max_connections_per_source=3 reached") == 1, text
    assert text.count("admin refused a connection from 127.0.0.4: max_connections=6 reached") == 1, text


def test_pop3_keeps_serving_while_the_admin_port_is_flooded(tmp_path):
    """The node runs with 256 descriptors (hard limit): 800 half-sent admin requests from 40
    addresses would take them all; the admin service holds at most a quarter (64) and POP3
    logins still succeed, as do the mail services' own connections."""
    flood, limit = 800, 256
    server = Postroom(tmp_path)
    server.init()
    server.new_mailbox("idle@example.com", "pw-idle-1")
    server.cli("pop", "set", "--login-type", "plain-text-login")
    server.file_limit = limit
    server.start()
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as smtp:
        smtp.sendmail("a@example.net", ["idle@example.com"], b"Subject: hi\r\n\r\nhello\r\n")
    sockets: list[socket.socket] = []
    try:
        for number in range(flood):
            try:
                sockets.append(admin_connect(server.http_port, f"127.0.1.{1 + number % 40}"))
            except OSError:  # refused connections the server already closed
                pass
        assert login_time(server.pop_port) < LOGIN_BOUND
        with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as smtp:
            assert smtp.noop()[0] == 250
        assert server.process is not None and server.process.poll() is None
    finally:
        for sock in sockets:
            sock.close()
        server.stop()  # (it was left serving after the test)
    text = server.log_path.read_text()
    assert "at most 64 admin connections are accepted" in text, text[-3000:]
    assert "admin refused a connection from 127.0.1.1: max_connections=64 reached" in text, text[-3000:]
