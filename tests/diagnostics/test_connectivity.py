"""`postroom test pop|smtp` (Test-PopConnectivity) against a live server, and who may run what."""
from __future__ import annotations

import asyncio
import datetime as dt
import json

import pytest

from postroom.errors import Forbidden
from postroom.service import Caller, Context
from postroom.service import doctor as doctor_ops
from postroom.storage import open_store

from .conftest import ADDRESS, PASSWORD, make_certificate

pytestmark = pytest.mark.e2e


def scenarios(live, kind: str, *args: str, password: str = PASSWORD) -> tuple[int, list[dict]]:
    result = live.cli("test", kind, ADDRESS, *args, "--password-stdin", "--json", input=password + "\n")
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)


def messages(live) -> int:
    return json.loads(live.ok("mailbox", "show", ADDRESS, "--json").stdout)["messages"]


def test_pop_light_logs_in_only(live):
    before = messages(live)
    code, rows = scenarios(live, "pop", "--light")
    assert code == 0
    assert [(r["scenario"], r["result"]) for r in rows] == [("Connect", "Success"), ("Log on", "Success")]
    assert all(r["latency_ms"] > 0 and r["error"] is None for r in rows)
    assert messages(live) == before


@pytest.mark.parametrize("mode", ["ssl", "stls"])
def test_pop_full_sends_retrieves_and_deletes_a_test_message(live, mode):
    before = messages(live)
    code, rows = scenarios(live, "pop", "--client-mode", mode)
    assert code == 0, rows
    assert [r["scenario"] for r in rows] == ["Connect", "Log on", "Send test message", "Retrieve test message",
                                             "Delete test message"]
    assert {r["result"] for r in rows} == {"Success"}
    assert messages(live) == before  # deleted again


def test_smtp_full_and_light(live):
    code, rows = scenarios(live, "smtp")
    assert code == 0, rows
    assert [r["scenario"] for r in rows] == ["Connect", "Start TLS", "Authenticate", "Submit test message",
                                             "Retrieve test message", "Delete test message"]
    code, rows = scenarios(live, "smtp", "--light")
    assert code == 0 and [r["scenario"] for r in rows] == ["Connect", "Start TLS", "Authenticate"]


def test_a_failure_names_the_reply_and_skips_the_rest(live):
    live.ok("mailbox", "set", ADDRESS, "--pop", "disabled")
    try:
        code, rows = scenarios(live, "pop")
    finally:
        live.ok("mailbox", "set", ADDRESS, "--pop", "enabled")
    assert code == 1
    assert [r["result"] for r in rows] == ["Success", "Failure", "Skipped", "Skipped", "Skipped"]
    assert rows[1]["error"].startswith("login: -ERR [AUTH] POP3 access is disabled")


def test_a_wrong_password_is_a_counted_login_attempt_and_is_not_sent(live):
    """Checked against the store first, as a login attempt from the caller (the CLI: loopback):
    a wrong password fails the login scenario without reaching the server, and is audited."""
    code, rows = scenarios(live, "pop", password="wrong-password")
    assert code == 1
    assert [r["result"] for r in rows] == ["Success", "Failure", "Skipped", "Skipped", "Skipped"]
    assert rows[1]["error"] == (f"login: the password given is not {ADDRESS}'s: every login with it is refused "
                                "(not sent to the server)")
    code, rows = scenarios(live, "smtp", "--light", password="wrong-password")
    assert code == 1 and rows[2]["error"].startswith(f"AUTH: the password given is not {ADDRESS}'s")
    entry = json.loads(live.ok("log", "audit", "--action", "test.smtp", "--json").stdout)[0]
    assert (entry["actor"], entry["after"]) == ("local-operator", {"light": True, "result": "Failure",
                                                                   "password": "fail"})
    assert "wrong-password" not in json.dumps(entry)


def test_the_certificate_is_verified_unless_told_to_trust_any(live, tmp_path):
    now = dt.datetime.now(dt.timezone.utc)
    other = make_certificate(tmp_path / "other.pem", ["mail.other.example"],
                             not_before=now - dt.timedelta(days=1), not_after=now + dt.timedelta(days=30))
    live.ok("pop", "set", "--certificate", other)
    try:
        code, rows = scenarios(live, "pop", "--light", "--host", "127.0.0.1")
        assert code == 1 and rows[0]["result"] == "Failure"
        assert rows[0]["error"].startswith("TLS handshake: certificate refused")
        code, rows = scenarios(live, "pop", "--light", "--host", "127.0.0.1", "--trust-any-certificate")
        assert code == 0
    finally:
        live.ok("pop", "set", "--certificate", "postroom")


def test_table_output_has_exchanges_columns(live):
    result = live.cli("test", "pop", ADDRESS, "--light", "--password-stdin", input=PASSWORD + "\n")
    assert result.exit_code == 0
    header = result.stdout.splitlines()[1]
    for column in ("Scenario", "Result", "Latency(ms)", "Error"):
        assert column in header


def _as(live, roles: set[str], action):
    async def body():
        store = open_store(str(live.server.data))
        await store.open()
        try:
            return await action(Context(store, Caller("someone", frozenset(roles), "api"), "EX01",
                                        str(live.server.data)))
        finally:
            await store.close()
    return asyncio.run(body())


def test_view_only_may_diagnose_but_not_check_a_password(live):
    viewer = {"view-only"}
    checks = _as(live, viewer, lambda ctx: doctor_ops.doctor_pop(ctx, ADDRESS))
    assert not [c for c in checks if c["status"] == "fail"]
    with pytest.raises(Forbidden):
        _as(live, viewer, lambda ctx: doctor_ops.doctor_pop(ctx, ADDRESS, password=PASSWORD))
    with pytest.raises(Forbidden):
        _as(live, viewer, lambda ctx: doctor_ops.pop_connectivity(ctx, ADDRESS, PASSWORD, light=True))
    rows = _as(live, {"recipient-management"},
               lambda ctx: doctor_ops.pop_connectivity(ctx, ADDRESS, PASSWORD, light=True))
    assert {r["result"] for r in rows} == {"Success"}
    with pytest.raises(Forbidden):
        _as(live, {"recipient-management"}, lambda ctx: doctor_ops.smtp_connectivity(ctx, ADDRESS, PASSWORD))
    with pytest.raises(Forbidden):  # delivering needs server-management, checking the password recipients
        _as(live, {"server-management"}, lambda ctx: doctor_ops.smtp_connectivity(ctx, ADDRESS, PASSWORD))
    refused = json.loads(live.ok("log", "audit", "--outcome", "refused", "--json").stdout)
    assert [(e["action"], e["actor"], e["target"]) for e in refused[:4]] == [
        ("test.smtp", "someone", f"mailbox/{ADDRESS}"), ("test.smtp", "someone", f"mailbox/{ADDRESS}"),
        ("test.pop", "someone", f"mailbox/{ADDRESS}"), ("doctor.password-check", "someone", f"mailbox/{ADDRESS}")]


def test_organization_management_may_run_the_full_test_and_it_is_audited(live):
    rows = _as(live, {"organization-management"},
               lambda ctx: doctor_ops.smtp_connectivity(ctx, ADDRESS, PASSWORD))
    assert {r["result"] for r in rows} == {"Success"}
    entry = json.loads(live.ok("log", "audit", "--action", "test.smtp", "--json").stdout)[0]
    assert entry["actor"] == "someone" and entry["outcome"] == "success"
    assert entry["after"] == {"light": False, "result": "Success", "password": "pass"}
    assert PASSWORD not in json.dumps(entry)
