"""The doctor and the connectivity tests over the REST API, on the web fixtures' dev install
that no node serves: the checks then say so, with 200 (the verdict is in the body). Refused
input names its field; a `host` that is not this machine is refused before any connection.
The role matrix is in test_permissions.py, the CLI's agreement in test_cli_api_parity.py."""
from __future__ import annotations

import socket
import sqlite3

import pytest

from postroom.diagnostics import netinfo
from postroom.diagnostics.doctor import CHECK_NAMES, IMAP_CHECK_NAMES
from postroom.service import doctor as doctor_ops

from .conftest import MAILBOX_USER, SERVER, error_of

ALICE, ALICE_PASSWORD = MAILBOX_USER
DOCTOR = "/api/v1/doctor/pop"
CHECK_KEYS = {"name", "status", "detail", "fix", "page"}


def by_name(checks: list[dict]) -> dict[str, dict]:
    assert [c["name"] for c in checks] == list(CHECK_NAMES), "every check, in the doctor's order"
    assert all(set(c) == CHECK_KEYS and c["status"] in ("pass", "warn", "fail") for c in checks)
    return {c["name"]: c for c in checks}


@pytest.fixture
def connections(monkeypatch) -> list[tuple]:
    """Every TCP connection a probe tries (none is made: they are refused at once)."""
    tried: list[tuple] = []

    def refuse(address, *args, **kwargs):
        tried.append(address)
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(socket, "create_connection", refuse)
    return tried


def test_get_runs_every_check_and_reports_the_missing_node(api, principals, data_dir):
    answer = api.get(f"{DOCTOR}/{ALICE}", headers=principals["view-only"].bearer)
    assert answer.status_code == 200, answer.text
    checks = by_name(answer.json())
    assert {n for n, c in checks.items() if c["status"] == "fail"} == {"pop3-service"}
    assert checks["pop3-service"]["detail"].startswith(f"no node is serving server {SERVER}")
    assert checks["pop3-service"]["fix"] == f"postroom serve --data {data_dir}"
    assert checks["pop3-service"]["page"] == "/console/services"
    assert checks["probe"]["detail"].startswith("not checked")
    assert checks["mailbox-password"]["detail"].startswith("set (not verified")


def test_get_takes_the_application_settings(api, principals):
    answer = api.get(f"{DOCTOR}/{ALICE}?client_mode=plain&port=1110&server={SERVER}",
                     headers=principals["view-only"].bearer)
    checks = by_name(answer.json())
    assert "127.0.0.1:1110 (plain, as given)" in checks["client-binding"]["detail"]
    assert checks["login-type"]["status"] == "fail"  # the dev profile's secure-login refuses a plain client
    assert checks["login-type"]["fix"] == "postroom pop set --login-type plain-text-login"


def test_post_checks_the_password_and_never_returns_it(api, principals):
    headers = principals["recipient-management"].bearer
    right = api.post(f"{DOCTOR}/{ALICE}", headers=headers, json={"password": ALICE_PASSWORD, "client_mode": "ssl"})
    assert right.status_code == 200, right.text
    assert by_name(right.json())["mailbox-password"]["status"] == "pass"
    assert ALICE_PASSWORD not in right.text
    wrong = api.post(f"{DOCTOR}/{ALICE}", headers=headers, json={"password": "not alice's password"})
    check = by_name(wrong.json())["mailbox-password"]
    assert check["status"] == "fail" and check["fix"] == f"postroom mailbox password {ALICE}"
    assert "not alice's password" not in wrong.text


def test_an_unknown_mailbox_is_a_finding_not_an_error(api, principals):
    answer = api.get(f"{DOCTOR}/nobody@example.com", headers=principals["view-only"].bearer)
    check = by_name(answer.json())["mailbox"]
    assert check["status"] == "fail" and check["fix"] == "postroom mailbox new nobody@example.com"


def test_a_password_in_the_url_is_refused(api, principals):
    error = error_of(api.get(f"{DOCTOR}/{ALICE}?password=secret", headers=principals["view-only"].bearer), 400)
    assert error["field"] == "password" and "secret" not in error["message"]


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_bad_client_mode_is_refused(api, principals, method):
    headers = principals["view-only"].bearer
    if method == "GET":
        answer = api.get(f"{DOCTOR}/{ALICE}?client_mode=tls", headers=headers)
    else:
        answer = api.post(f"{DOCTOR}/{ALICE}", headers=headers, json={"client_mode": "tls"})
    error = error_of(answer, 400)
    assert error["field"] == "client_mode" and error["allowed"] == ["plain", "stls", "ssl"]


@pytest.mark.parametrize("body, field", [
    ({"client_mode": "ssl", "pasword": "typo"}, "pasword"),  # unknown fields are refused
    ({"port": "995"}, "port"),  # strict: a number is a JSON number
])
def test_a_malformed_body_is_refused(api, principals, body, field):
    error = error_of(api.post(f"{DOCTOR}/{ALICE}", headers=principals["view-only"].bearer, json=body), 400)
    assert error["field"] == field


def test_an_unknown_server_is_not_found(api, principals):
    error_of(api.get(f"{DOCTOR}/{ALICE}?server=EX99", headers=principals["view-only"].bearer), 404)


# host: only this machine ---------------------------------------------------------------------

FOREIGN = ["203.0.113.7", "8.8.8.8", "::ffff:8.8.8.8", "0.0.0.0", "::", "name.that.does.not.resolve.invalid", "a b",
           "x" * 300]


@pytest.mark.parametrize("host", FOREIGN)
def test_a_host_that_is_not_this_machine_is_refused_before_any_connection(api, principals, connections, host):
    headers = principals["organization-management"].bearer
    answers = [
        api.get(f"{DOCTOR}/{ALICE}", params={"host": host}, headers=headers),
        api.post(f"{DOCTOR}/{ALICE}", json={"host": host, "password": ALICE_PASSWORD}, headers=headers),
        api.post(f"/api/v1/test/pop/{ALICE}", json={"host": host, "password": ALICE_PASSWORD}, headers=headers),
        api.post(f"/api/v1/test/smtp/{ALICE}", json={"host": host, "password": ALICE_PASSWORD, "light": True,
                                                     "port": 25}, headers=headers),
    ]
    for answer in answers:
        error = error_of(answer, 400)
        assert error["field"] == "host" and "is not this machine" in error["message"]
    assert connections == []


def own_addresses() -> list[str]:
    return ["127.0.0.1", "::1", "::ffff:127.0.0.1", "localhost", "127.1", "LOCALHOST.",
            *sorted(a for a in netinfo.local_addresses() if not a.startswith("fe80"))]


@pytest.mark.parametrize("host", own_addresses())
def test_this_machine_is_accepted(api, principals, host):
    answer = api.get(f"{DOCTOR}/{ALICE}", params={"host": host, "port": 1995}, headers=principals["view-only"].bearer)
    assert answer.status_code == 200, answer.text
    assert f"{host}:1995" in by_name(answer.json())["client-binding"]["detail"]


def test_the_servers_fqdn_is_accepted_whatever_it_resolves_to(api, principals, data_dir, connections):
    with sqlite3.connect(f"{data_dir}/postroom.db") as conn:
        conn.execute("UPDATE servers SET fqdn = 'mail.example.invalid' WHERE name = ?", (SERVER,))
    answer = api.get(f"{DOCTOR}/{ALICE}", params={"host": "MAIL.example.invalid."},
                     headers=principals["view-only"].bearer)
    assert answer.status_code == 200, answer.text
    assert connections == []  # no node: nothing to probe


def test_the_local_operator_may_name_any_host(run, operator, connections):
    """The CLI's --host is unrestricted (service/doctor.py): it runs as whoever owns the install."""
    checks = by_name(run(doctor_ops.doctor_pop(operator, ALICE, host="203.0.113.7", port=995)))
    assert "203.0.113.7:995" in checks["client-binding"]["detail"]


# the connectivity tests ----------------------------------------------------------------------

@pytest.mark.parametrize("kind, scenarios", [("pop", ["Connect", "Log on"]),
                                             ("smtp", ["Connect", "Start TLS", "Authenticate"])])
def test_a_light_test_answers_the_scenarios(api, principals, connections, kind, scenarios):
    answer = api.post(f"/api/v1/test/{kind}/{ALICE}", json={"password": ALICE_PASSWORD, "light": True},
                      headers=principals["recipient-management"].bearer)
    assert answer.status_code == 200, answer.text
    rows = answer.json()
    assert [r["scenario"] for r in rows] == scenarios
    assert rows[0] == {"scenario": "Connect", "result": "Failure", "latency_ms": rows[0]["latency_ms"],
                       "error": "connect: Connection refused"}
    assert {r["result"] for r in rows[1:]} == {"Skipped"}
    assert [c[0] for c in connections] == ["127.0.0.1"]  # the dev profile's loopback bindings
    assert ALICE_PASSWORD not in answer.text


def test_a_full_test_is_audited(api, principals, run, store, connections):
    answer = api.post(f"/api/v1/test/pop/{ALICE}", json={"password": ALICE_PASSWORD},
                      headers=principals["organization-management"].bearer)
    assert [r["scenario"] for r in answer.json()] == ["Connect", "Log on", "Send test message",
                                                      "Retrieve test message", "Delete test message"]
    entry = run(store.list_audit(1))[0]
    assert (entry.actor, entry.action, entry.channel, entry.after) == (
        "org", "test.pop", "api", {"light": False, "result": "Failure", "password": "pass"})


def test_a_test_needs_the_password(api, principals):
    error = error_of(api.post(f"/api/v1/test/smtp/{ALICE}", json={"light": True},
                              headers=principals["view-only"].bearer), 400)
    assert error["field"] == "password"


# IMAP4: the same doctor and test, /doctor/imap and /test/imap ----------------------------------

def imap_checks(checks: list[dict]) -> dict[str, dict]:
    assert [c["name"] for c in checks] == list(IMAP_CHECK_NAMES), "every IMAP4 check, in the doctor's order"
    assert all(set(c) == CHECK_KEYS and c["status"] in ("pass", "warn", "fail") for c in checks)
    return {c["name"]: c for c in checks}


def test_imap_get_runs_every_check_and_reports_the_missing_node(api, principals, data_dir):
    answer = api.get(f"/api/v1/doctor/imap/{ALICE}", headers=principals["view-only"].bearer)
    assert answer.status_code == 200, answer.text
    checks = imap_checks(answer.json())
    assert {n for n, c in checks.items() if c["status"] == "fail"} == {"imap4-service"}
    assert checks["imap4-service"]["fix"] == f"postroom serve --data {data_dir}"
    assert checks["mailbox-imap4"]["detail"] == "IMAP4 is enabled for this mailbox"
    assert checks["recent-sessions"]["detail"] == "no IMAP4 session ended without a login in the last hour"


def test_imap_get_takes_the_application_settings(api, principals):
    answer = api.get(f"/api/v1/doctor/imap/{ALICE}?client_mode=plain&port=1143&server={SERVER}",
                     headers=principals["view-only"].bearer)
    checks = imap_checks(answer.json())
    assert "127.0.0.1:1143 (plain, as given)" in checks["client-binding"]["detail"]
    assert checks["login-type"]["status"] == "fail"  # the dev profile's secure-login refuses a plain client
    assert "LOGINDISABLED" in checks["login-type"]["detail"]
    assert checks["login-type"]["fix"] == "postroom imap set --login-type plain-text-login"
    assert checks["login-type"]["page"] == f"/console/servers/{SERVER}/imap4"


def test_imap_post_checks_the_password_and_a_url_password_is_refused(api, principals):
    headers = principals["recipient-management"].bearer
    wrong = api.post(f"/api/v1/doctor/imap/{ALICE}", headers=headers, json={"password": "not alice's password"})
    check = imap_checks(wrong.json())["mailbox-password"]
    assert check["status"] == "fail" and "NO [AUTHENTICATIONFAILED]" in check["detail"]
    error = error_of(api.get(f"/api/v1/doctor/imap/{ALICE}?password=secret", headers=headers), 400)
    assert error["field"] == "password"


def test_imap_host_that_is_not_this_machine_is_refused(api, principals, connections):
    headers = principals["organization-management"].bearer
    for answer in (api.get(f"/api/v1/doctor/imap/{ALICE}", params={"host": "203.0.113.7"}, headers=headers),
                   api.post(f"/api/v1/test/imap/{ALICE}", json={"host": "203.0.113.7", "password": ALICE_PASSWORD},
                            headers=headers)):
        assert error_of(answer, 400)["field"] == "host"
    assert connections == []


def test_imap_light_and_full_tests_answer_the_scenarios_and_are_audited(api, principals, run, store, connections):
    light = api.post(f"/api/v1/test/imap/{ALICE}", json={"password": ALICE_PASSWORD, "light": True},
                     headers=principals["recipient-management"].bearer)
    assert light.status_code == 200, light.text
    rows = light.json()
    assert [(r["scenario"], r["result"]) for r in rows] == [("Connect", "Failure"), ("Log on", "Skipped")]
    assert rows[0]["error"] == "connect: Connection refused"
    full = api.post(f"/api/v1/test/imap/{ALICE}", json={"password": ALICE_PASSWORD},
                    headers=principals["organization-management"].bearer)
    assert [r["scenario"] for r in full.json()] == ["Connect", "Log on", "Send test message",
                                                    "Retrieve test message", "Delete test message"]
    entry = run(store.list_audit(1))[0]
    assert (entry.action, entry.after) == ("test.imap", {"light": False, "result": "Failure", "password": "pass"})
    assert ALICE_PASSWORD not in light.text + full.text
