"""Passwords the admin service checks are login attempts, counted in the same guard as POP3:
the doctor's mailbox password (no oracle for a view-only token: 403, and for an allowed role a
counted, logged, audited attempt that ends in a block) and an admin's own sign-in (Basic,
`/api/v1/session`, the console), per source and per principal, concurrency included.

The app here has a guard whose trusted networks are empty, so the test client (127.0.0.1, or
the address given to its transport) is counted like any outside address."""
from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timezone
from typing import Any, Iterator

import httpx
import pytest

from postroom import auth
from postroom.lockout import AbuseGuard, Policy
from postroom.web import create_app
from waiting import until

from .conftest import MAILBOX_USER, SERVER, Api, basic_auth, error_of

ALICE, ALICE_PASSWORD = MAILBOX_USER
DOCTOR = f"/api/v1/doctor/pop/{ALICE}"
THRESHOLD = 10  # Policy().max_source_failures
PRINCIPAL_THRESHOLD = 20  # Policy().max_mailbox_failures, which admin principals share


@pytest.fixture
def guard() -> AbuseGuard:
    return AbuseGuard(Policy(trusted=(), max_delay=0.05))


@pytest.fixture
def app(store, data_dir, admin_auth, guard) -> Any:
    return create_app(store, SERVER, data_dir, admin_auth, guard=guard)


@pytest.fixture
def checked(monkeypatch) -> list[str]:
    """Every password argon2 verifies in this process (the doctor's, the admin sign-ins')."""
    seen: list[str] = []
    real = auth._argon2_verify

    def counting(password_hash, password):
        seen.append(password)
        return real(password_hash, password)

    monkeypatch.setattr(auth, "_argon2_verify", counting)
    return seen


class AuthLines:
    """The postroom.auth WARNING lines logged so far."""

    def __init__(self, caplog) -> None:
        self.caplog = caplog

    def count(self, line: str) -> int:
        return list(self).count(line)

    def __iter__(self) -> Iterator[str]:
        return iter([r.getMessage() for r in self.caplog.records if r.name == "postroom.auth"])


@pytest.fixture
def auth_lines(caplog) -> Iterator[AuthLines]:
    with caplog.at_level(logging.WARNING, logger="postroom.auth"):
        yield AuthLines(caplog)


def from_address(app: Any, ip: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(ip, 40000)), base_url="http://testserver")


def mailbox_password(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 200, answer.text
    return next(c for c in answer.json() if c["name"] == "mailbox-password")


def blocks(api: Api, principals) -> list[tuple[str, str, str]]:
    listed = api.get("/api/v1/security/blocks", headers=principals["view-only"].bearer).json()
    return sorted((b["kind"], b["value"], b["service"]) for b in listed if b["value"] != "192.0.2.7")


async def burst(checked: list[str], send, right) -> tuple[list[Any], Any]:
    """40 wrong attempts at once, the right one once the first checks are under way."""
    first = [asyncio.ensure_future(send(f"wrong-{i}")) for i in range(20)]
    await until(lambda: len(checked) >= THRESHOLD, 10, "the first checks to start", interval=0.002)
    middle = asyncio.ensure_future(send(right))
    rest = [asyncio.ensure_future(send(f"wrong-{i}")) for i in range(20, 40)]
    return await asyncio.gather(*first, *rest), await middle


# the doctor ------------------------------------------------------------------------------------
def test_view_only_may_diagnose_but_not_check_a_password(api, principals, run, store, checked):
    viewer = principals["view-only"].bearer
    assert api.get(DOCTOR, headers=viewer).status_code == 200
    for path, body in ((DOCTOR, {"password": ALICE_PASSWORD}),
                       (f"/api/v1/test/pop/{ALICE}", {"password": ALICE_PASSWORD, "light": True}),
                       (f"/api/v1/test/smtp/{ALICE}", {"password": ALICE_PASSWORD, "light": True})):
        error = error_of(api.post(path, headers=viewer, json=body), 403)
        assert "'recipients' right" in error["message"]
    assert checked == []
    refused = [(e.action, e.target, e.outcome) for e in run(store.list_audit(3))]
    assert refused == [("test.smtp", f"mailbox/{ALICE}", "refused"), ("test.pop", f"mailbox/{ALICE}", "refused"),
                       ("doctor.password-check", f"mailbox/{ALICE}", "refused")]


def test_doctor_guesses_are_counted_blocked_logged_and_audited(api, principals, run, store, checked, auth_lines):
    admin = principals["recipient-management"].bearer
    for i in range(THRESHOLD):
        assert mailbox_password(api.post(DOCTOR, headers=admin, json={"password": f"guess-{i}"}))["status"] == "fail"
    assert blocks(api, principals) == [("source", "127.0.0.1", "doctor")]
    refused = mailbox_password(api.post(DOCTOR, headers=admin, json={"password": ALICE_PASSWORD}))
    assert refused["status"] == "fail" and "was not checked" in refused["detail"]
    assert refused["fix"] == "postroom security blocks"
    assert ALICE_PASSWORD not in checked and len(checked) == THRESHOLD  # refused before the check
    light = api.post(f"/api/v1/test/pop/{ALICE}", headers=admin, json={"password": ALICE_PASSWORD, "light": True})
    assert light.status_code == 200  # no node here: Connect fails first; the audit says the password was blocked
    assert len(checked) == THRESHOLD
    entries = [e for e in run(store.list_audit(100)) if e.action in ("doctor.password-check", "test.pop")]
    assert [e.after for e in entries] == [{"light": True, "result": "Failure", "password": "blocked"},
                                          {"result": "blocked"}] + [{"result": "fail"}] * THRESHOLD
    assert all(e.actor == "recipient" and e.target == f"mailbox/{ALICE}" for e in entries)
    evidence = run(store.list_login_failures(ALICE))
    assert [(r.service, r.remote_ip, r.reason) for r in evidence][-3:] == [
        ("doctor", "127.0.0.1", "bad-credentials"), ("doctor", "127.0.0.1", "blocked"),
        ("doctor", "127.0.0.1", "blocked")]
    line = f"postroom auth failure: service=doctor remote=127.0.0.1 user={ALICE} reason="
    assert auth_lines.count(line + "bad-credentials") == THRESHOLD
    assert auth_lines.count(line + "blocked") == 2
    assert "postroom auth block: kind=source value=127.0.0.1 failures=10 seconds=900 service=doctor" in list(auth_lines)


def test_concurrent_doctor_guesses_check_at_most_the_threshold(app, api, principals, run, checked):
    admin = principals["recipient-management"].bearer

    async def send(password: str) -> dict[str, Any]:
        return mailbox_password(await api.client.post(DOCTOR, headers=admin, json={"password": password}))

    wrong, right = run(burst(checked, send, ALICE_PASSWORD))
    assert len(checked) <= THRESHOLD and ALICE_PASSWORD not in checked
    assert right["status"] == "fail" and "was not checked" in right["detail"]
    assert sum("is not this mailbox's" in c["detail"] for c in wrong) == len(checked)


# admin sign-in ---------------------------------------------------------------------------------
def test_concurrent_basic_guesses_check_at_most_the_threshold(app, api, principals, run, store, guard, checked,
                                                              auth_lines):
    org = principals["organization-management"]

    async def send(password: str) -> httpx.Response:
        return await api.client.get("/api/v1/session", headers=basic_auth(org.name, password))

    wrong, right = run(burst(checked, send, org.password))
    assert len(checked) <= THRESHOLD and org.password not in checked
    error = error_of(right, 429)
    assert error["code"] == "too_many_attempts" and "try again in" in error["message"]
    assert 0 < int(right.headers["Retry-After"]) <= 900
    assert sorted({r.status_code for r in wrong}) == [401, 429]
    assert sum(r.status_code == 401 for r in wrong) == len(checked)
    assert blocks(api, principals) == [("source", "127.0.0.1", "admin")]
    assert auth_lines.count("postroom auth failure: service=admin remote=127.0.0.1 user=org "
                            "reason=bad-credentials") == len(checked)
    assert "postroom auth failure: service=admin remote=127.0.0.1 user=org reason=blocked" in list(auth_lines)
    # signing in with the session form, or the console's, is refused the same way while blocked
    session = api.post("/api/v1/session", json={"name": org.name, "password": org.password})
    assert error_of(session, 429)["code"] == "too_many_attempts"
    console = api.post("/console/sign-in", data={"name": org.name, "password": org.password, "next": "/console/"})
    assert console.status_code == 429 and "Too many failed sign-ins" in console.text
    assert "postroom_session" not in console.cookies
    assert len(checked) <= THRESHOLD
    # lifted through the API (a server setting change), the right password works again
    operator = principals["server-management"].bearer
    assert api.delete("/api/v1/security/blocks/127.0.0.1", headers=operator).status_code == 200
    guard.adopt(run(store.list_blocks()))  # what a node's heartbeat does within a second
    assert guard.blocked("127.0.0.1", "org", "admin") is None
    assert api.get("/api/v1/session", headers=org.basic).status_code == 200


def test_a_principal_is_blocked_by_a_spread_attack_and_the_name_is_not_revealed(app, api, principals, run, checked):
    org = principals["organization-management"]

    async def attack() -> list[int]:
        statuses = []
        for i in range(PRINCIPAL_THRESHOLD):  # one guess from each of 20 addresses
            async with from_address(app, f"203.0.113.{i + 1}") as client:
                statuses.append((await client.get("/api/v1/session", headers=basic_auth("ORG", f"x{i}"))).status_code)
        async with from_address(app, "198.51.100.9") as client:  # an address with no failures of its own
            statuses.append((await client.get("/api/v1/session", headers=org.basic)).status_code)
            for name in ("nobody", "nobody"):  # an unknown name is counted and refused alike
                statuses.append((await client.post("/api/v1/session", json={"name": name,
                                                                            "password": "x"})).status_code)
        return statuses

    statuses = run(attack())
    assert statuses == [401] * PRINCIPAL_THRESHOLD + [429, 401, 401]
    assert ("admin", "org", "admin") in blocks(api, principals)
    assert not any(kind == "mailbox" for kind, _, _ in blocks(api, principals))  # admin names are their own kind
    assert org.password not in checked


# the CLI: no node in the process ---------------------------------------------------------------
def test_the_cli_doctor_counts_with_the_stores_blocks_and_failures(run, store, operator, checked):
    """The local operator's checks count from loopback in a guard built from the store: its
    blocks apply, the mailbox's recent failures (any node's) count, and a block started here is
    written to the store for the nodes."""
    from postroom.model import Block, LoginFailure, LoginPolicy
    from postroom.service import doctor as doctor_ops

    run(store.put_login_policy(LoginPolicy(trusted_networks=())))  # the stored policy, as a node applies it
    now = time.time()
    at = datetime.fromtimestamp(now - 60, timezone.utc).isoformat()
    run(store.record_login_failures([LoginFailure(at, SERVER, "pop3", "127.0.0.1", ALICE, "bad-credentials")]
                                    * (THRESHOLD - 1)))

    def doctor(password: str) -> dict[str, Any]:
        context = type(operator)(store, operator.caller, SERVER, operator.data_dir)  # a new CLI command each time
        checks = run(doctor_ops.doctor_pop(context, ALICE, password=password))
        return next(c for c in checks if c["name"] == "mailbox-password")

    assert doctor("guess")["status"] == "fail"  # the tenth failure from loopback, with the nodes' nine
    assert [(b.kind, b.value, b.service) for b in run(store.list_blocks()) if b.value != "192.0.2.7"] == [
        ("source", "127.0.0.1", "doctor")]
    assert "was not checked" in doctor(ALICE_PASSWORD)["detail"]  # the next command adopts the stored block
    assert checked == ["guess"]
    run(store.remove_blocks("127.0.0.1"))
    run(store.add_blocks(SERVER, [Block("mailbox", ALICE, now, now + 60, 20, "pop3")]))
    assert "was not checked" in doctor(ALICE_PASSWORD)["detail"]
    assert checked == ["guess"]
