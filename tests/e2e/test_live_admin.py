"""The article's steps, done with the CLI against a running node: every change applies live."""
from __future__ import annotations

import base64
import poplib
import select
import socket
import ssl

import pytest

from .harness import free_port, port_open, wait_until

pytestmark = pytest.mark.e2e

PASSWORD = "pw-matrix-1"


def send(client: poplib.POP3, line: str) -> None:
    client.sock.sendall(line.encode() + b"\r\n")


def reply(client: poplib.POP3) -> bytes:
    return client.file.readline().rstrip(b"\r\n")


def raw_login(server, mode: str, mechanism: str, user: str = "matrix@example.com", password: str = PASSWORD) -> bytes:
    """Log in the way an application would; return the server's final reply line."""
    context = ssl.create_default_context(cafile=server.cert)
    if mode == "ssl":
        client = poplib.POP3_SSL("127.0.0.1", server.pops_port, context=context, timeout=10)
    else:
        client = poplib.POP3("127.0.0.1", server.pop_port, timeout=10)
        if mode == "stls":
            client.stls(context=context)
    try:
        if mechanism == "USER":
            send(client, f"USER {user}")
            first = reply(client)
            if first.startswith(b"-ERR"):
                return first
            send(client, f"PASS {password}")
            return reply(client)
        token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        send(client, f"AUTH PLAIN {token}")
        return reply(client)
    finally:
        client.close()


EXPECTED = {  # login type -> connection modes where credentials are accepted
    "plain-text-login": {"plain", "stls", "ssl"},
    "plain-text-authentication": {"stls", "ssl"},
    "secure-login": {"stls", "ssl"},
}


def test_login_type_matrix(fresh_server):
    server = fresh_server
    server.new_mailbox("matrix@example.com", PASSWORD)
    for login_type, allowed in EXPECTED.items():
        server.cli("pop", "set", "--login-type", login_type)
        server.wait_applied()
        for mode in ("plain", "stls", "ssl"):
            for mechanism in ("USER", "PLAIN"):
                reply = raw_login(server, mode, mechanism)
                where = f"{login_type} {mode} {mechanism}: {reply!r}"
                if mode in allowed:
                    assert reply.startswith(b"+OK"), where
                else:
                    assert reply.startswith(b"-ERR [AUTH]"), where
                    assert b"STLS" in reply or b"SSL" in reply, where


def test_capa_on_plain_port_under_secure_login_offers_stls_only(server):
    client = poplib.POP3("127.0.0.1", server.pop_port, timeout=10)
    caps = client.capa()
    client.quit()
    assert "STLS" in caps
    assert "USER" not in caps and "SASL" not in caps


def test_pop3_disabled_on_the_mailbox_is_refused_after_the_password(fresh_server):
    server = fresh_server
    server.new_mailbox("feature@example.com", PASSWORD)
    server.cli("mailbox", "set", "feature@example.com", "--pop", "disabled")
    reply = raw_login(server, "ssl", "USER", "feature@example.com")
    assert reply.startswith(b"-ERR") and b"disabled" in reply.lower()
    # A wrong password must not learn that POP3 is disabled.
    wrong = raw_login(server, "ssl", "USER", "feature@example.com", "nope")
    assert b"disabled" not in wrong.lower()
    server.cli("mailbox", "set", "feature@example.com", "--pop", "enabled")
    assert raw_login(server, "ssl", "USER", "feature@example.com").startswith(b"+OK")


def test_service_stop_refuses_connections_and_start_brings_it_back(fresh_server):
    server = fresh_server
    stopped = server.cli_json("service", "stop", "pop3")
    assert stopped["state"] == "stopped" and stopped["listening"] == []
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.pop_port), timeout=2).close()
    started = server.cli_json("service", "start", "pop3")
    assert started["state"] == "running"
    assert port_open(server.pop_port) and port_open(server.pops_port)


def test_disabled_startup_makes_start_fail(fresh_server):
    server = fresh_server
    server.cli("service", "stop", "pop3")
    server.cli("service", "set", "pop3", "--startup", "disabled")
    result = server.cli("service", "start", "pop3", check=False)
    assert result.returncode != 0
    assert "disabled" in result.stderr and "--startup" in result.stderr
    assert not port_open(server.pop_port)


def test_binding_changed_live(fresh_server):
    server = fresh_server
    new_port = free_port()
    server.cli("pop", "set", "--bindings", f"127.0.0.1:{new_port}")
    wait_until(lambda: port_open(new_port), 3, "the new binding")
    wait_until(lambda: not port_open(server.pop_port), 3, "the old binding to close")
    client = poplib.POP3("127.0.0.1", new_port, timeout=10)
    assert client.getwelcome().startswith(b"+OK")
    client.quit()


def test_banner_and_certificate_change_live(fresh_server, tmp_path):
    trustme = pytest.importorskip("trustme")
    server = fresh_server
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    pem = tmp_path / "admin-cert.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(pem))
    server.cli("pop", "set", "--certificate", str(pem), "--banner", "Mail for the CRM.")
    server.wait_applied()
    context = ssl.create_default_context()
    ca.configure_trust(context)
    client = poplib.POP3_SSL("127.0.0.1", server.pops_port, context=context, timeout=10)
    assert client.getwelcome() == b"+OK Mail for the CRM."
    client.quit()


def test_connections_from_one_ip_are_limited(fresh_server):
    server = fresh_server
    server.cli("pop", "set", "--max-connections-from-single-ip", "2")
    server.wait_applied()
    held = [socket.create_connection(("127.0.0.1", server.pop_port), timeout=5) for _ in range(2)]
    for sock in held:
        assert sock.recv(100).startswith(b"+OK")
    extra = socket.create_connection(("127.0.0.1", server.pop_port), timeout=5)
    assert extra.recv(100).startswith(b"-ERR [SYS/TEMP]")
    for sock in (*held, extra):
        sock.close()


def test_protocol_log_records_sessions_without_passwords(fresh_server):
    server = fresh_server
    server.new_mailbox("logged@example.com", "secret-pw-42")
    server.cli("pop", "set", "--protocol-log", "enabled")
    server.wait_applied()
    assert raw_login(server, "ssl", "USER", "logged@example.com", "secret-pw-42").startswith(b"+OK")
    assert raw_login(server, "ssl", "PLAIN", "logged@example.com", "secret-pw-42").startswith(b"+OK")
    logs = server.data / "logs" / "pop3"
    # The log is written behind the replies: wait for the last records of both sessions.
    expected = {"USER logged@example.com": 1, '<,"AUTH PLAIN ****"': 1,
                ',"","authenticated as logged@example.com"': 2, ',+,"","TLS negotiated (TLSv1.': 2}

    def log_text() -> str:
        return "".join(p.read_text() for p in logs.glob("*.log"))

    wait_until(lambda: all(log_text().count(marker) >= count for marker, count in expected.items()), 5,
               "both sessions in the protocol log")
    text = log_text()
    assert "secret-pw-42" not in text
    assert base64.b64encode(b"\0logged@example.com\0secret-pw-42").decode() not in text
    assert "#Fields: date-time,connector-id,session-id,sequence-number,local-endpoint,remote-endpoint,event,data," \
           "context" in text
    assert ',"","authenticated as logged@example.com"' in text and ',+,"","TLS negotiated (TLSv1.' in text


def test_failed_login_delay_does_not_block_other_sessions(server):
    server.new_mailbox("slowfail@example.com", "pw-fast-1")
    server.new_mailbox("fastok@example.com", "pw-fast-2")
    context = ssl.create_default_context(cafile=server.cert)
    failing = poplib.POP3_SSL("127.0.0.1", server.pops_port, context=context, timeout=10)
    send(failing, "USER slowfail@example.com")
    reply(failing)
    send(failing, "PASS wrong")  # delayed reply (POSTROOM_AUTH_FAILURE_DELAY)
    ok = raw_login(server, "ssl", "USER", "fastok@example.com", "pw-fast-2")
    assert ok.startswith(b"+OK")
    # The other session logged in while the failing one still waits out its 1 s delay.
    readable, _, _ = select.select([failing.sock], [], [], 0)
    assert not readable and not failing.sock.pending()
    assert reply(failing).startswith(b"-ERR [AUTH]")
    failing.close()


def test_a_second_serve_on_the_same_data_is_refused(fresh_server):
    import subprocess

    from .harness import POSTROOM

    result = subprocess.run([*POSTROOM, "serve", "--data", str(fresh_server.data)], capture_output=True,
                            text=True, timeout=30, env=fresh_server.env)
    assert result.returncode == 4
    assert "already serving" in result.stderr
    assert port_open(fresh_server.pop_port)  # the first node is unaffected
