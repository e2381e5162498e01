"""PROXY protocol on a live node: behind a (simulated) load balancer the node sees the client
named in the header (v1 and v2, plain, implicit TLS and SMTP), refuses connections that are
not from a configured balancer or carry no header, and goes back to direct clients live."""
from __future__ import annotations

import poplib
import socket
import ssl
from typing import Iterator

import pytest

from postroom.protocol.proxy import v1_header, v2_header

from .harness import Postroom, wait_until

pytestmark = pytest.mark.e2e
ADDRESS, PASSWORD = "lb@example.com", "pw-behind-lb-1"
CLIENT_POP, CLIENT_SMTP = "203.0.113.7", "198.51.100.9"


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Postroom]:
    server = Postroom(tmp_path_factory.mktemp("proxy"), failure_delay=0.05)
    server.init()
    server.new_mailbox(ADDRESS, PASSWORD)
    server.cli("pop", "set", "--proxy-protocol", "enabled", "--proxy-trusted-networks", "127.0.0.1")
    server.cli("connector", "set", "Default EX01", "--proxy-protocol", "enabled",
               "--proxy-trusted-networks", "127.0.0.0/8")
    server.start()
    yield server
    server.stop()


class Lines:
    """A tiny line client over a socket (plain or TLS) that the test wrote a header to."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.buffer = sock, b""

    def line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError(f"closed after {self.buffer!r}")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def ask(self, command: bytes) -> bytes:
        self.sock.sendall(command + b"\r\n")
        return self.line()


def through_balancer(port: int, header: bytes, context: ssl.SSLContext | None = None) -> Lines:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(header)
    if context is not None:  # the header comes first, then the TLS handshake
        sock = context.wrap_socket(sock, server_hostname="localhost")
    return Lines(sock)


def closed_without_a_word(port: int, first: bytes = b"") -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        if first:
            sock.sendall(first)
        try:
            return sock.recv(100) == b""
        except ConnectionResetError:
            return True


def test_pop3_sees_the_client_named_by_a_v1_header(node):
    client = through_balancer(node.pop_port, v1_header(CLIENT_POP, 50000, "127.0.0.1", node.pop_port))
    assert client.line().startswith(b"+OK")
    assert client.ask(b"USER " + ADDRESS.encode()).startswith(b"-ERR")  # secure-login: not before STLS
    wait_until(lambda: f"remote={CLIENT_POP} user={ADDRESS}" in node.log_path.read_text(), 5,
               "the refused login to be logged with the client's address")


def test_pop3s_reads_the_v2_header_before_the_tls_handshake(node):
    context = ssl.create_default_context(cafile=node.cert)
    client = through_balancer(node.pops_port, v2_header("2001:db8::77", 50001, "::1", node.pops_port), context)
    assert client.line().startswith(b"+OK")
    assert client.ask(b"USER " + ADDRESS.encode()).startswith(b"+OK")
    assert client.ask(b"PASS " + PASSWORD.encode()).startswith(b"+OK")
    assert client.ask(b"QUIT").startswith(b"+OK")
    client = through_balancer(node.pops_port, v2_header("2001:db8::77", 50003, "::1", node.pops_port), context)
    client.line()
    client.ask(b"USER " + ADDRESS.encode())
    assert client.ask(b"PASS wrong-password").startswith(b"-ERR")
    wait_until(lambda: f"remote=2001:db8::77 user={ADDRESS}" in node.log_path.read_text(), 5,
               "the refused login to be logged with the IPv6 client's address")


def test_smtp_tracking_and_received_header_name_the_client(node):
    client = through_balancer(node.smtp_port, v2_header(CLIENT_SMTP, 40000, "192.0.2.1", 25))
    assert client.line().startswith(b"220")
    client.sock.sendall(b"EHLO sender.example\r\n")
    while not client.line().startswith(b"250 "):
        pass
    assert client.ask(b"MAIL FROM:<someone@example.net>").startswith(b"250")
    assert client.ask(f"RCPT TO:<{ADDRESS}>".encode()).startswith(b"250")
    assert client.ask(b"DATA").startswith(b"354")
    assert client.ask(b"Subject: via the balancer\r\n\r\nHello.\r\n.").startswith(b"250")
    client.ask(b"QUIT")
    def received() -> list[dict]:  # tracking rows are written in batches: poll
        return [e for e in node.cli_json("log", "tracking", "--recipient", ADDRESS) if e["event_id"] == "RECEIVE"]
    wait_until(received, 10, "the RECEIVE row")
    assert {e["client_ip"] for e in received()} == {CLIENT_SMTP}

    context = ssl.create_default_context(cafile=node.cert)
    pop = through_balancer(node.pops_port, v1_header(CLIENT_POP, 50002, "127.0.0.1", node.pops_port), context)
    pop.line()
    pop.ask(b"USER " + ADDRESS.encode())
    pop.ask(b"PASS " + PASSWORD.encode())
    assert pop.ask(b"RETR 1").startswith(b"+OK")
    message = b""
    while (line := pop.line()) != b".":
        message += line + b"\r\n"
    assert f"[{CLIENT_SMTP}]".encode() in message.split(b"Subject:")[0]  # the Received header
    pop.ask(b"QUIT")


def test_a_connection_without_a_header_or_not_from_a_balancer_is_dropped(node):
    assert closed_without_a_word(node.pop_port, b"USER alice\r\n")  # a client that skipped the balancer
    assert closed_without_a_word(node.smtp_port, b"EHLO direct.example\r\n")
    node.cli("pop", "set", "--proxy-trusted-networks", "10.0.0.5")  # 127.0.0.1 is no balancer now
    try:
        wait_until(lambda: closed_without_a_word(node.pop_port), 3, "the new balancer list to apply")
        assert "not a configured load balancer" in node.log_path.read_text()
    finally:
        node.cli("pop", "set", "--proxy-trusted-networks", "127.0.0.1")


def test_turning_it_off_serves_direct_clients_again(node):
    node.cli("pop", "set", "--proxy-protocol", "disabled")
    try:
        def direct_greeting() -> bool:
            try:
                client = poplib.POP3("127.0.0.1", node.pop_port, timeout=5)
            except (OSError, poplib.error_proto):
                return False
            client.quit()
            return True
        wait_until(direct_greeting, 3, "POP3 to listen without the PROXY protocol")
    finally:
        node.cli("pop", "set", "--proxy-protocol", "enabled")
