"""`postroom serve --log-format json` (here through POSTROOM_LOG_FORMAT): every line the node
writes is one JSON object; POP3 records name their session and peer, admin records their
request id."""
from __future__ import annotations

import json
import poplib
import re
import ssl

import httpx

from .harness import Postroom, pop_login_answer, wait_until


def pop_login(client: poplib.POP3, password: str) -> str:
    return pop_login_answer(client, "crm@example.com", password)


def lines(server: Postroom) -> list[dict]:
    text = server.log_path.read_text(encoding="utf-8")
    parsed = []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            entry = json.loads(line)
        except ValueError:
            raise AssertionError(f"line {number} of the log is not JSON: {line!r}\n{text}") from None
        assert isinstance(entry, dict) and {"time", "level", "logger", "message"} <= set(entry), line
        parsed.append(entry)
    return parsed


def auth_failures(server: Postroom) -> list[dict]:
    return [e for e in lines(server) if e["logger"] == "postroom.auth" and "auth failure" in e["message"]]


def test_json_lines_carry_session_and_request_ids(tmp_path) -> None:
    server = Postroom(tmp_path, failure_delay=0.05)
    server.env["POSTROOM_LOG_FORMAT"] = "json"
    server.init()
    server.new_mailbox("crm@example.com", "right-pw")
    server.start()
    try:
        # Over plain POP3 the default secure-login refuses USER/PASS (answered without a task) ...
        assert pop_login(poplib.POP3("127.0.0.1", server.pop_port, timeout=10), "wrong").startswith("-ERR")
        # ... over TLS the password is checked and is wrong (answered by the session's task).
        context = ssl.create_default_context(cafile=server.cert)
        context.check_hostname = False
        tls = poplib.POP3_SSL("127.0.0.1", server.pops_port, context=context, timeout=10)
        assert pop_login(tls, "wrong").startswith("-ERR [AUTH]")
        wait_until(lambda: len(auth_failures(server)) >= 2, 5, "both failures to be logged")

        response = httpx.get(f"http://127.0.0.1:{server.http_port}/api/v1/domains?token=hunter2",
                             auth=("admin", server.admin_password), headers={"X-Request-Id": "e2e-req-1"},
                             timeout=10)
        assert response.status_code == 200 and response.headers["X-Request-Id"] == "e2e-req-1"
        generated = httpx.get(f"http://127.0.0.1:{server.http_port}/api/v1/domains", timeout=10)
        assert generated.status_code == 401
        new_id = generated.headers["X-Request-Id"]
        assert re.fullmatch(r"[0-9a-f]{32}", new_id)
        wait_until(lambda: sum(e["logger"] == "postroom.admin.access" for e in lines(server)) >= 2, 5,
                   "the access lines")
    finally:
        server.stop()

    entries = lines(server)  # every line, including the shutdown's, is JSON
    refused, failed = auth_failures(server)
    for entry in (refused, failed):
        assert entry["service"] == "pop3" and entry["remote_ip"] == "127.0.0.1", entry
        assert re.fullmatch(r"EX01-\d+", entry["session"]), entry
        assert entry["level"] == "WARNING" and "service=pop3 remote=127.0.0.1" in entry["message"]
    assert "reason=bad-credentials" in failed["message"]
    assert refused["session"] != failed["session"]

    access = {e["request_id"]: e for e in entries if e["logger"] == "postroom.admin.access"}
    mine = access["e2e-req-1"]
    assert (mine["method"], mine["path"], mine["status"], mine["remote_ip"]) == ("GET", "/api/v1/domains", 200,
                                                                                  "127.0.0.1")
    assert mine["service"] == "admin" and mine["duration_ms"] >= 0
    assert access[new_id]["status"] == 401
    assert "hunter2" not in server.log_path.read_text()
    assert any(e["logger"] == "postroom" and "serving from" in e["message"] for e in entries)
    assert not any("Traceback" in e["message"] or "exception" in e for e in entries)
