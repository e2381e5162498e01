"""Slow clients: a client trickling one byte a second, never completing a command, is cut off
by the timeouts and told so, on POP3 (before and after login) and SMTP (before and during DATA).

POP3's timeouts count from the last complete command, not from the last byte; SMTP's
connection timeout caps a session's total time (Exchange's ConnectionTimeout). The CLI's
shortest POP3 timeout is Exchange's 30 s, so the live POP3 test takes ~31 s; the in-process
tests check the same with one-second timeouts.
"""
from __future__ import annotations

import asyncio
import base64
import poplib
import socket
import ssl
import threading
import time

import pytest

from postroom.auth import Authenticator, hash_password
from postroom.model import LoginType, PopSettings
from postroom.server.pop3 import Pop3Service
from postroom.storage.sqlite import SqliteStore

from .harness import Postroom, wait_until

pytestmark = pytest.mark.e2e
POP_IDLE = b"-ERR Disconnected for inactivity.\r\n"
SMTP_TIMEOUT = b"421 4.4.2 "


def read_reply(sock: socket.socket, timeout: float = 10) -> bytes:
    """One CRLF-ended line (or several, for a multi-line SMTP reply: up to the last one)."""
    sock.settimeout(timeout)
    data = b""
    while True:
        data += sock.recv(4096)
        lines = data.split(b"\r\n")
        if len(lines) > 1 and not (len(lines[-2]) > 3 and lines[-2][3:4] == b"-"):
            return data


def trickle(sock: socket.socket, payload: bytes, limit: float) -> tuple[bytes, float, bool]:
    """Send `payload` one byte a second (then `x`s) until the server closes or `limit` seconds
    pass: (what the server sent meanwhile, seconds until it closed, whether it closed)."""
    started = time.monotonic()
    received = b""
    index = 0
    while time.monotonic() - started < limit:
        byte = payload[index:index + 1] or b"x"
        index += 1
        try:
            sock.sendall(byte)
        except OSError:  # already closed by the server (reset or broken pipe)
            return received, time.monotonic() - started, True
        next_byte = time.monotonic() + 1.0
        while (left := next_byte - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                chunk = sock.recv(4096)
            except socket.timeout:
                break
            except OSError:
                return received, time.monotonic() - started, True
            if not chunk:
                return received, time.monotonic() - started, True
            received += chunk
    return received, time.monotonic() - started, False


# live server: SMTP ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def smtp_server(tmp_path_factory):
    """Connection timeout 3 s, inactivity 2 s on the Default connector (set with the CLI)."""
    instance = Postroom(tmp_path_factory.mktemp("slow-smtp"))
    instance.init()
    instance.new_mailbox("slow@example.com", "pw-slow-1")
    instance.cli("connector", "set", "Default EX01", "--connection-timeout", "3",
                 "--connection-inactivity-timeout", "2")
    instance.start()
    yield instance
    instance.stop()


def stat(server: Postroom, user: str, password: str) -> int:
    client = poplib.POP3_SSL("127.0.0.1", server.pops_port, timeout=10,
                             context=ssl.create_default_context(cafile=server.cert))
    client.user(user)
    client.pass_(password)
    count = client.stat()[0]
    client.quit()
    return count


def test_smtp_trickle_before_data_is_cut_off_by_the_connection_timeout(smtp_server):
    with socket.create_connection(("127.0.0.1", smtp_server.smtp_port), timeout=10) as sock:
        connected = time.monotonic()
        assert read_reply(sock).startswith(b"220 ")
        received, _, closed = trickle(sock, b"EHLO slow.example.net", limit=12)
        elapsed = time.monotonic() - connected
    assert closed, f"a client trickling a byte a second was still connected after 12 s (got {received!r})"
    assert received.startswith(SMTP_TIMEOUT) and received.endswith(b"\r\n") and received.count(b"\r\n") == 1, received
    assert elapsed < 6, f"cut off after {elapsed:.1f}s, the connection timeout is 3s"


def test_smtp_trickle_during_data_is_cut_off_and_nothing_is_delivered(smtp_server):
    with socket.create_connection(("127.0.0.1", smtp_server.smtp_port), timeout=10) as sock:
        connected = time.monotonic()
        assert read_reply(sock).startswith(b"220 ")
        for command, code in ((b"EHLO slow.example.net", b"250"), (b"MAIL FROM:<a@example.net>", b"250"),
                              (b"RCPT TO:<slow@example.com>", b"250"), (b"DATA", b"354")):
            sock.sendall(command + b"\r\n")
            assert read_reply(sock).split(b"\r\n")[-2].startswith(code + b" "), command
        content = b"Subject: slow\r\n\r\nline one\r\nline two\r\nline three\r\n"
        received, _, closed = trickle(sock, content, limit=12)
        elapsed = time.monotonic() - connected
    assert closed, f"a client trickling DATA a byte a second was still connected after 12 s (got {received!r})"
    assert received.startswith(SMTP_TIMEOUT) and received.count(b"\r\n") == 1, received
    assert elapsed < 6, f"cut off after {elapsed:.1f}s, the connection timeout is 3s"
    assert stat(smtp_server, "slow@example.com", "pw-slow-1") == 0  # no partial message


# live server: POP3 ---------------------------------------------------------------------

def test_pop3_trickle_before_and_after_login_is_cut_off(tmp_path):
    """Both POP3 timeouts at the CLI's shortest (30 s), run side by side: a byte a second that
    never completes a command does not count as activity."""
    server = Postroom(tmp_path)
    server.init()
    server.new_mailbox("trickle@example.com", "pw-trickle-1")
    server.cli("pop", "set", "--login-type", "plain-text-login", "--preauthenticated-timeout", "30",
               "--authenticated-timeout", "30")
    server.start()
    results: dict[str, tuple[bytes, float, bool]] = {}

    def before_login() -> None:
        with socket.create_connection(("127.0.0.1", server.pop_port), timeout=10) as sock:
            assert read_reply(sock).startswith(b"+OK")
            results["before"] = trickle(sock, b"USER trickle@example.com", limit=45)

    def after_login() -> None:
        with socket.create_connection(("127.0.0.1", server.pop_port), timeout=10) as sock:
            assert read_reply(sock).startswith(b"+OK")
            sock.sendall(b"USER trickle@example.com\r\n")
            assert read_reply(sock).startswith(b"+OK")
            sock.sendall(b"PASS pw-trickle-1\r\n")
            assert read_reply(sock).startswith(b"+OK")
            results["after"] = trickle(sock, b"STAT", limit=45)

    try:
        threads = [threading.Thread(target=before_login), threading.Thread(target=after_login)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert server.process is not None and server.process.poll() is None
    finally:
        server.stop()
    for name in ("before", "after"):
        received, elapsed, closed = results[name]
        assert closed, f"{name} login: a client trickling a byte a second was still connected after 45 s"
        assert received == POP_IDLE, (name, received)
        assert 28 < elapsed < 36, f"{name} login: cut off after {elapsed:.1f}s, the timeout is 30s"


# in process: POP3 with one-second timeouts (below the CLI's range) ----------------------

async def _pop3_service(tmp_path, settings: PopSettings):
    store = SqliteStore(str(tmp_path / "postroom.db"))
    await store.open()
    await store.migrate()
    await store.add_domain("example.com")
    await store.create_mailbox("alice@example.com", "Alice", hash_password("pw-1"))
    service = Pop3Service(store, Authenticator(failure_delay=0.01), "TEST")
    service.configure(settings, None, None)
    server = await asyncio.get_running_loop().create_server(service.protocol_factory(False, "test"), "127.0.0.1", 0)
    return store, server, server.sockets[0].getsockname()[1]


async def _trickle(reader, writer, payload: bytes, limit: float, pace: float = 0.25) -> tuple[bytes, float]:
    """Async trickle, `pace` seconds a byte: (what came back, seconds until EOF)."""
    started = asyncio.get_running_loop().time()
    received = b""
    for index in range(int(limit / pace)):
        if not writer.is_closing():
            writer.write(payload[index:index + 1] or b"x")
        try:
            chunk = await asyncio.wait_for(reader.read(4096), pace)
        except asyncio.TimeoutError:
            continue
        except ConnectionError:
            break
        if not chunk:
            break
        received += chunk
    else:
        raise AssertionError(f"still connected after {limit}s of trickling (got {received!r})")
    return received, asyncio.get_running_loop().time() - started


@pytest.mark.parametrize("logged_in", [False, True], ids=["before-login", "after-login"])
def test_pop3_trickle_in_process_is_cut_off_after_the_timeout(tmp_path, logged_in):
    async def main():
        settings = PopSettings(login_type=LoginType.PLAIN_TEXT_LOGIN, preauthenticated_timeout=1,
                               authenticated_timeout=2)
        store, server, port = await _pop3_service(tmp_path, settings)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            assert (await reader.readline()).startswith(b"+OK")
            if logged_in:
                for line in (b"USER alice@example.com", b"PASS pw-1"):
                    writer.write(line + b"\r\n")
                    assert (await reader.readline()).startswith(b"+OK")
            # Complete commands keep the session alive past the timeout...
            for _ in range(3):
                await asyncio.sleep(0.6 if not logged_in else 1.2)  # the pace of a slow client is the test
                writer.write(b"NOOP\r\n" if logged_in else b"CAPA\r\n")
                reply = await asyncio.wait_for(reader.readline(), 2)
                assert reply.startswith(b"+OK"), reply
                if not logged_in:
                    while (await reader.readline()) != b".\r\n":
                        pass
            # ...a byte every quarter second that never ends a command does not.
            received, elapsed = await _trickle(reader, writer, b"STAT" if logged_in else b"USER alice", limit=8)
            assert received == POP_IDLE
            timeout = 2 if logged_in else 1
            assert timeout - 0.3 < elapsed < timeout + 1.5, elapsed
            writer.close()
        finally:
            server.close()
            await store.close()

    asyncio.run(main())


# live server: the admin service (HTTP) --------------------------------------------------

@pytest.fixture(scope="module")
def admin_server(tmp_path_factory):
    """Request read timeout and keep-alive timeout of 2 s (web settings, set with the CLI)."""
    instance = Postroom(tmp_path_factory.mktemp("slow-admin"))
    instance.init()
    instance.cli("web", "set", "--request-timeout", "2", "--keep-alive-timeout", "2")
    instance.start()
    yield instance
    instance.stop()


def wait_closed(sock: socket.socket, limit: float) -> tuple[bytes, float, bool]:
    """Read until the server closes or `limit` seconds pass: (what it sent, seconds, closed)."""
    started = time.monotonic()
    received = b""
    while (left := limit - (time.monotonic() - started)) > 0:
        sock.settimeout(left)
        try:
            chunk = sock.recv(4096)
        except socket.timeout:
            break
        except OSError:  # reset
            return received, time.monotonic() - started, True
        if not chunk:
            return received, time.monotonic() - started, True
        received += chunk
    return received, time.monotonic() - started, False


def stalled_body(server: Postroom) -> bytes:
    """A signed-in POST whose body stops after 10 of its 100 bytes (the API waits for the rest)."""
    credentials = base64.b64encode(f"admin:{server.admin_password}".encode())
    return (b"POST /api/v1/domains HTTP/1.1\r\nHost: x\r\nAuthorization: Basic " + credentials +
            b"\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"domain\":")


@pytest.mark.parametrize("sent", [
    lambda server: b"GET /api/v1/mailboxes HTTP/1.1\r\nHost: x\r\n",  # headers never finished
    lambda server: b"",  # nothing at all after connecting
    stalled_body,
], ids=["half-headers", "silent", "stalled-body"])
def test_admin_request_not_completed_is_closed_after_the_read_timeout(admin_server, sent):
    with socket.create_connection(("127.0.0.1", admin_server.http_port), timeout=10) as sock:
        sock.sendall(sent(admin_server))
        received, elapsed, closed = wait_closed(sock, 12)
    assert closed, f"an unfinished request was still open after 12 s (got {received!r})"
    assert 1.5 < elapsed < 5, f"closed after {elapsed:.1f}s, the request timeout is 2s"
    assert received.startswith(b"HTTP/1.1 408 "), received
    wait_until(lambda: "request_timeout=2s" in admin_server.log_path.read_text(), 5, "the timeout's log line")


def test_admin_trickled_request_is_closed_after_the_read_timeout(admin_server):
    """A byte a second keeps no request alive: the timeout runs from its first byte."""
    with socket.create_connection(("127.0.0.1", admin_server.http_port), timeout=10) as sock:
        received, elapsed, closed = trickle(sock, b"GET /api/v1/mailboxes HTTP/1.1\r\nHost: x\r\n", limit=12)
    assert closed and elapsed < 5, (received, elapsed)
    assert received.startswith(b"HTTP/1.1 408 "), received


def test_admin_idle_keep_alive_connection_is_closed(admin_server):
    with socket.create_connection(("127.0.0.1", admin_server.http_port), timeout=10) as sock:
        sock.sendall(b"GET /api/v1/mailboxes HTTP/1.1\r\nHost: x\r\n\r\n")
        answer, _, _ = wait_closed(sock, 1)
        assert answer.startswith(b"HTTP/1.1 401 "), answer  # answered, and kept alive
        received, elapsed, closed = wait_closed(sock, 12)
    assert closed and received == b"", (received, elapsed)
    assert elapsed < 4, f"an idle keep-alive connection closed after {elapsed:.1f}s, the timeout is 2s"


def test_admin_request_sent_in_time_is_answered(admin_server):
    """The timeout ends a request that never completes, not a slow one that does: the second
    request on a kept-alive connection, sent in two parts a second apart, is answered."""
    with socket.create_connection(("127.0.0.1", admin_server.http_port), timeout=10) as sock:
        for _ in range(2):
            sock.sendall(b"GET /api/v1/mailboxes HTTP/1.1\r\n")
            time.sleep(1.0)  # part of what is measured: a pause inside the request, under the timeout
            sock.sendall(b"Host: x\r\n\r\n")
            answer, _, closed = wait_closed(sock, 1)
            assert answer.startswith(b"HTTP/1.1 401 ") and not closed, answer
