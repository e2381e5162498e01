"""The admin service on a real node: the REST API over HTTPS and loopback HTTP with curl,
live start/stop and binding changes, and the audit trail of API changes."""
from __future__ import annotations

import json
import poplib
import subprocess

import pytest

from .harness import free_port, port_open, require_tool, wait_until

pytestmark = pytest.mark.e2e


def curl(*args: str) -> tuple[int, dict, str]:
    """(status, JSON body, headers) of one curl request."""
    result = subprocess.run([require_tool("curl"), "-sS", "-i", "--max-time", "10", *args],
                            capture_output=True, text=True, timeout=20)
    assert result.returncode == 0, result.stderr
    head, _, body = result.stdout.partition("\n\n")  # text mode: CRLF reads as LF
    status = int(head.split()[1])
    return status, json.loads(body) if body.strip() else {}, head


def test_https_with_the_server_certificate_and_basic_credentials(fresh_server):
    base = f"https://localhost:{fresh_server.https_port}/api/v1"
    status, body, _ = curl("--cacert", fresh_server.cert, "-u", f"admin:{fresh_server.admin_password}",
                           f"{base}/servers/EX01/services")
    assert status == 200
    admin = next(s for s in body if s["name"] == "admin")
    assert admin["state"] == "running"
    assert f"127.0.0.1:{fresh_server.https_port} (HTTPS)" in admin["listening"]
    assert f"127.0.0.1:{fresh_server.http_port} (HTTP)" in admin["listening"]


def test_no_credentials_and_wrong_password_get_401(fresh_server):
    base = f"http://127.0.0.1:{fresh_server.http_port}/api/v1"
    status, body, head = curl(f"{base}/mailboxes")
    assert status == 401 and body["error"]["code"] == "unauthenticated"
    assert "www-authenticate: bearer" in head.lower()
    status, wrong_password, _ = curl("-u", "admin:wrong", f"{base}/mailboxes")
    assert status == 401
    status, unknown_name, _ = curl("-u", "nobody:wrong", f"{base}/mailboxes")
    assert status == 401 and unknown_name == wrong_password  # which part was wrong is not told


def test_a_token_change_applies_live_and_is_audited(fresh_server):
    token = fresh_server.cli_json("admin", "token", "new", "admin", "--description", "e2e")["token"]
    base = f"http://127.0.0.1:{fresh_server.http_port}/api/v1"
    status, body, _ = curl("-X", "PATCH", "-H", f"Authorization: Bearer {token}",
                           "-H", "Content-Type: application/json",
                           "--data", '{"banner": "Changed through the API"}', f"{base}/servers/EX01/pop-settings")
    assert status == 200 and body["banner"] == "Changed through the API"

    def greeting() -> bytes:
        client = poplib.POP3("127.0.0.1", fresh_server.pop_port, timeout=5)
        try:
            return client.getwelcome()
        finally:
            client.quit()
    wait_until(lambda: b"Changed through the API" in greeting(), 3, "the new POP3 banner")
    entry = fresh_server.cli_json("log", "audit", "--action", "pop.set", "--limit", "1")[0]
    assert (entry["actor"], entry["channel"], entry["outcome"]) == ("admin", "api", "success")
    assert entry["after"] == {"banner": "Changed through the API"}


def test_stop_start_and_rebinding_apply_live(fresh_server):
    fresh_server.cli("service", "stop", "admin")
    wait_until(lambda: not port_open(fresh_server.http_port), 2, "the admin service to stop listening")
    fresh_server.cli("service", "start", "admin")
    wait_until(lambda: port_open(fresh_server.http_port), 2, "the admin service to listen again")
    old = fresh_server.http_port
    fresh_server.http_port = free_port()
    fresh_server.cli("web", "set", "--http-bindings", f"127.0.0.1:{fresh_server.http_port}")
    wait_until(lambda: port_open(fresh_server.http_port) and not port_open(old), 2, "the new HTTP binding")
    status, _, _ = curl("-u", f"admin:{fresh_server.admin_password}",
                        f"http://127.0.0.1:{fresh_server.http_port}/api/v1/domains")
    assert status == 200


def test_plain_http_is_refused_off_loopback(fresh_server):
    result = fresh_server.cli("web", "set", "--http-bindings", "0.0.0.0:8089", check=False)
    assert result.returncode == 2 and "http-bindings" in result.stderr and "loopback" in result.stderr
