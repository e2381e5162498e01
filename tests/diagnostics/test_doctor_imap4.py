"""`postroom doctor imap` and `postroom test imap` (Test-ImapConnectivity) against a live server:
for each misconfiguration exactly its check fails with the right fix, the fix makes the doctor
pass again, and the connectivity test logs in and SELECTs INBOX for real.

One server for the module: every test ends with the doctor passing, so the next starts healthy;
but evidence lasts an hour, so the test that leaves an application's failures behind (the
sessions that never start TLS) comes after the other doctor tests.
"""
from __future__ import annotations

import datetime as dt
import json
import shutil
import ssl
import subprocess

import imapclient
import pytest
from imapclient.exceptions import LoginError

from postroom.diagnostics.doctor import IMAP_CHECK_NAMES

from e2e.harness import wait_until

from .conftest import ADDRESS, PASSWORD, make_certificate

pytestmark = pytest.mark.e2e
NOW = dt.datetime.now(dt.timezone.utc)


def doctor(live, *args: str, password: str | None = None) -> tuple[int, dict[str, dict]]:
    """(exit code, checks by name) of `postroom doctor imap ADDRESS ARGS --json`."""
    extra = ("--password-stdin",) if password is not None else ()
    result = live.cli("doctor", "imap", ADDRESS, *args, *extra, "--json",
                      input=None if password is None else password + "\n")
    assert result.exit_code in (0, 1), result.output
    checks = json.loads(result.stdout)
    assert [c["name"] for c in checks] == list(IMAP_CHECK_NAMES), "every check, in the doctor's order"
    return result.exit_code, {c["name"]: c for c in checks}


def failed(checks: dict[str, dict]) -> set[str]:
    return {name for name, check in checks.items() if check["status"] == "fail"}


def healthy(live, *args: str, password: str | None = None) -> dict[str, dict]:
    code, checks = doctor(live, *args, password=password)
    assert code == 0 and not failed(checks), {n: checks[n]["detail"] for n in failed(checks)}
    return checks


def fails_only(live, name: str, *args: str, password: str | None = None) -> dict:
    code, checks = doctor(live, *args, password=password)
    assert failed(checks) == {name}, {n: checks[n]["detail"] for n in failed(checks)}
    assert code == 1
    return checks[name]


def imap(live) -> dict:
    return json.loads(live.ok("imap", "show", "--json").stdout)


def port_of(binding: str) -> str:
    return binding.rsplit(":", 1)[1]


def test_a_healthy_install_passes_and_the_probe_logs_in_after_tls_and_selects_inbox(live):
    checks = healthy(live, password=PASSWORD)
    assert checks["imap4-service"]["detail"].startswith("running on server")
    assert "(SSL)" in checks["client-binding"]["detail"] and "(plain/STARTTLS)" in checks["client-binding"]["detail"]
    probe = checks["probe"]["detail"]
    assert probe.startswith("an application can log in with SSL on 127.0.0.1:") and "STARTTLS on 127.0.0.1:" in probe
    assert "STARTTLS" in probe and "login" in probe and "INBOX: " in probe and "messages" in probe
    # not with plain under secure-login: said, with the login type
    assert "plain on 127.0.0.1:" in probe and "LOGINDISABLED" in probe and "secure-login" in probe
    # the evidence: the doctor's own probes (STARTTLS before they leave a plain port) are none
    assert checks["recent-sessions"] == {"name": "recent-sessions", "status": "pass",
                                         "detail": "no IMAP4 session ended without a login in the last hour",
                                         "fix": None, "page": "/console/servers/EX01/imap4"}
    assert checks["recent-failed-logins"]["detail"] == f"no refused IMAP4 logins for {ADDRESS} in the last hour"
    assert checks["mailbox-imap4"]["detail"] == "IMAP4 is enabled for this mailbox"
    assert checks["login-type"]["page"].endswith("/imap4")


def test_human_output_and_exit_code_when_the_service_is_stopped(live):
    live.ok("service", "stop", "imap4")
    try:
        result = live.cli("doctor", "imap", ADDRESS)
        assert result.exit_code == 1
        assert "FAIL  imap4-service: the imap4 service is stopped" in result.stdout
        assert "fix: postroom service start imap4" in result.stdout
        assert "console: /console/services" in result.stdout
        _, checks = doctor(live)
        assert failed(checks) == {"imap4-service"}
        for dependent in ("imap4-bindings", "connection-limits", "probe"):
            assert checks[dependent]["detail"].startswith("not checked")
        live.apply(checks["imap4-service"]["fix"])
    finally:
        live.ok("service", "start", "imap4")
    healthy(live)


def test_startup_disabled(live):
    live.ok("service", "set", "imap4", "--startup", "disabled")
    check = fails_only(live, "imap4-startup")
    assert check["fix"] == "postroom service set imap4 --startup automatic"
    live.apply(check["fix"])
    healthy(live)


def test_the_binding_the_application_uses_was_removed(live):
    settings = imap(live)
    port = port_of(settings["ssl_bindings"][0])
    app = ("--host", "127.0.0.1", "--port", port, "--client-mode", "ssl")
    healthy(live, *app)
    live.ok("imap", "set", "--ssl-bindings", "")
    check = fails_only(live, "client-binding", *app)
    assert f"no SSL binding serves 127.0.0.1:{port}" in check["detail"]
    assert check["fix"] == f"postroom imap set --ssl-bindings 127.0.0.1:{port}"
    live.apply(check["fix"])
    healthy(live, *app)


def test_ssl_client_on_a_plain_binding(live):
    port = port_of(imap(live)["bindings"][0])
    check = fails_only(live, "client-binding", "--client-mode", "ssl", "--port", port)
    assert "plain/STARTTLS binding" in check["detail"] and check["fix"] is None


def test_imap_disabled_for_the_mailbox_and_the_refused_login_as_evidence(live):
    live.ok("mailbox", "set", ADDRESS, "--imap", "disabled")
    try:
        check = fails_only(live, "mailbox-imap4")
        assert "NO [AUTHORIZATIONFAILED] IMAP4 access is disabled" in check["detail"]
        assert check["fix"] == f"postroom mailbox set {ADDRESS} --imap enabled"
        port = int(port_of(imap(live)["ssl_bindings"][0]))
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        with imapclient.IMAPClient("127.0.0.1", port, ssl=True, ssl_context=context, timeout=10) as client:
            with pytest.raises(LoginError):
                client.login(ADDRESS, PASSWORD)
        # The node stores what it buffered with its next heartbeat.
        wait_until(lambda: "imap-disabled" in doctor(live)[1]["recent-failed-logins"]["detail"], 5,
                   "the refusal to be stored")
        recent = doctor(live)[1]["recent-failed-logins"]
        assert recent["status"] == "warn" and "imap4 imap-disabled from 127.0.0.1" in recent["detail"]
        assert recent["fix"] == check["fix"]
        live.apply(check["fix"])
    finally:
        live.ok("mailbox", "set", ADDRESS, "--imap", "enabled")
    healthy(live)


def test_the_connections_per_user_are_used_up(live):
    """IMAP4 sessions share a mailbox up to --max-connections-per-user: the node reports them,
    and at the limit the next login is refused, which the doctor names with its fix."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    port = int(port_of(imap(live)["ssl_bindings"][0]))
    live.ok("imap", "set", "--max-connections-per-user", "1")
    try:
        with imapclient.IMAPClient("127.0.0.1", port, ssl=True, ssl_context=context, timeout=10) as client:
            client.login(ADDRESS, PASSWORD)
            wait_until(lambda: "connection-limits" in failed(doctor(live)[1]), 5, "the node to report the session")
            check = fails_only(live, "connection-limits", password=PASSWORD)
            assert check["detail"].startswith(f"1 of 1 connections per user are in use for {ADDRESS} (from 127.0.0.1)")
            assert "NO [LIMIT] Too many connections for this mailbox." in check["detail"]
            assert check["fix"] == "postroom imap set --max-connections-per-user 16"
            probe = doctor(live, password=PASSWORD)[1]["probe"]["detail"]
            assert "login not tried: the login would be refused (see connection-limits)" in probe
            client.logout()
    finally:
        live.ok("imap", "set", "--max-connections-per-user", "16")
    healthy(live)


def test_a_wrong_password_fails_the_mailbox_password_check(live):
    _, checks = doctor(live, password="not-the-password")
    assert failed(checks) == {"mailbox-password"}
    assert "NO [AUTHENTICATIONFAILED]" in checks["mailbox-password"]["detail"]
    assert "login not tried" in checks["probe"]["detail"]


def test_an_expired_certificate_of_its_own(live, tmp_path):
    expired = make_certificate(tmp_path / "expired.pem", ["localhost", "127.0.0.1"],
                               not_before=NOW - dt.timedelta(days=400), not_after=NOW - dt.timedelta(days=1))
    live.ok("imap", "set", "--certificate", expired)
    check = fails_only(live, "certificate")
    assert "expired on" in check["detail"]
    assert check["fix"] == "postroom imap set --certificate postroom"
    live.apply(check["fix"])
    healthy(live)


def test_the_classic_application_that_does_not_use_tls(live):
    """curl imap:// without --ssl-reqd, under secure-login: the server says LOGINDISABLED, curl
    gives up without a login. The node records those sessions, so the doctor names the cause
    and both fixes (the better one: STARTTLS or SSL in the application) without being told how
    the application connects; told, `login-type` fails and the evidence agrees as a warning. A
    LOGIN before STARTTLS (NO [PRIVACYREQUIRED]) is evidence too, and a refused login.
    The evidence stays for an hour: the last of the doctor's tests."""
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    settings = imap(live)
    port, ssl_port = port_of(settings["bindings"][0]), port_of(settings["ssl_bindings"][0])
    plain = ("--client-mode", "plain", "--port", port)
    doctor(live, *plain)  # the doctor's own probe on the plain port: never counted below
    url = f"imap://127.0.0.1:{port}/"
    for _ in range(3):
        answer = subprocess.run([curl, "-sS", "-u", f"{ADDRESS}:{PASSWORD}", "--max-time", "10", url],
                                capture_output=True, timeout=30)
        assert answer.returncode != 0 and answer.stdout == b""  # refused: nothing listed
    wait_until(lambda: "3 sessions" in doctor(live)[1]["recent-sessions"]["detail"], 5, "the sessions to be stored")
    check = fails_only(live, "recent-sessions")
    assert check["detail"].startswith(
        f"in the last hour, 3 sessions from 127.0.0.1 connected to the plain port {port} (127.0.0.1:{port}) and "
        "ended without starting TLS, so no login was offered (sent: CAPABILITY; last at ")
    assert check["detail"].endswith(
        " UTC): the login type secure-login requires TLS before any login. Set the application to STARTTLS on port "
        f"{port} or to SSL on port {ssl_port}; only if it cannot use TLS at all, the fix lets it log in with the "
        "password in clear")
    assert check["fix"] == "postroom imap set --login-type plain-text-login"
    assert check["page"] == "/console/servers/EX01/imap4"
    # POP3's doctor has its own evidence: IMAP4's sessions are not POP3's application
    assert "127.0.0.1" not in live.doctor()[1]["recent-sessions"]["detail"]

    # A client that sends LOGIN before STARTTLS: refused, logged, stored as a refused login.
    client = imapclient.IMAPClient("127.0.0.1", int(port), ssl=False, timeout=10)
    with pytest.raises(LoginError, match="PRIVACYREQUIRED"):
        client.login(ADDRESS, PASSWORD)
    client.logout()
    wait_until(lambda: "tls-required" in doctor(live)[1]["recent-failed-logins"]["detail"], 5,
               "the refusal to be stored")
    checks = doctor(live)[1]
    assert f"1 session from 127.0.0.1 connected to the plain port {port} (127.0.0.1:{port}) and tried to log in " \
           f"as {ADDRESS} before starting TLS, refused with NO [PRIVACYREQUIRED] (sent: " in \
           checks["recent-sessions"]["detail"]
    assert "imap4 tls-required from 127.0.0.1" in checks["recent-failed-logins"]["detail"]

    # Told how the application connects: login-type names the cause, the evidence says "see login-type".
    check = fails_only(live, "login-type", *plain)
    assert check["detail"].startswith("login type secure-login advertises LOGINDISABLED before TLS and refuses "
                                      "LOGIN and AUTHENTICATE with NO [PRIVACYREQUIRED], and the application logs "
                                      "in on the plain port without STARTTLS")
    assert f"STARTTLS on 127.0.0.1:{port}" in check["detail"] and "SSL on 127.0.0.1:" in check["detail"]
    assert check["fix"] == "postroom imap set --login-type plain-text-login"
    assert doctor(live, *plain)[1]["recent-sessions"]["status"] == "warn"
    result = live.cli("doctor", "imap", ADDRESS, *plain)
    assert result.exit_code == 1 and "FAIL  login-type: login type secure-login" in result.stdout
    assert "fix: postroom imap set --login-type plain-text-login" in result.stdout
    live.apply(check["fix"])
    try:
        checks = healthy(live, *plain, password=PASSWORD)
        assert checks["login-type"]["status"] == "warn"  # the password now crosses in clear
        assert "login" in checks["probe"]["detail"] and "INBOX" in checks["probe"]["detail"]
        # the sessions would log in now: the evidence is a warning
        assert checks["recent-sessions"]["status"] == "warn"
        assert "the login type is plain-text-login now" in checks["recent-sessions"]["detail"]
        listed = subprocess.run([curl, "-sS", "-u", f"{ADDRESS}:{PASSWORD}", "--max-time", "10", url],
                                capture_output=True, timeout=30)
        assert listed.returncode == 0 and b"INBOX" in listed.stdout, listed.stderr
    finally:
        live.ok("imap", "set", "--login-type", "secure-login")
    assert failed(doctor(live)[1]) == {"recent-sessions"}  # the last hour's evidence stays


# postroom test imap (Test-ImapConnectivity) ----------------------------------------------------
def scenarios(live, *args: str, password: str = PASSWORD) -> tuple[int, list[dict]]:
    result = live.cli("test", "imap", ADDRESS, *args, "--password-stdin", "--json", input=password + "\n")
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)


def messages(live) -> int:
    return json.loads(live.ok("mailbox", "show", ADDRESS, "--json").stdout)["messages"]


@pytest.mark.parametrize("mode", ["ssl", "stls", "starttls"])
def test_imap_light_logs_in_and_selects_inbox(live, mode):
    code, rows = scenarios(live, "--light", "--client-mode", mode)
    assert code == 0, rows
    assert [(r["scenario"], r["result"]) for r in rows] == [("Connect", "Success"), ("Log on", "Success")]
    assert all(r["latency_ms"] > 0 and r["error"] is None for r in rows)


def test_imap_full_sends_finds_fetches_and_deletes_a_test_message(live):
    before = messages(live)
    code, rows = scenarios(live)
    assert code == 0, rows
    assert [r["scenario"] for r in rows] == ["Connect", "Log on", "Send test message", "Retrieve test message",
                                             "Delete test message"]
    assert {r["result"] for r in rows} == {"Success"}
    assert messages(live) == before  # expunged again


def test_imap_test_table_and_a_wrong_password(live):
    result = live.cli("test", "imap", ADDRESS, "--light", "--password-stdin", input="wrong-password\n")
    assert result.exit_code == 1
    assert "Scenario" in result.stdout and "Latency(ms)" in result.stdout
    assert "Failure" in result.stdout and "not sent to the server" in result.stdout


def test_imap_plain_client_under_secure_login_never_sends_the_password(live):
    port = port_of(imap(live)["bindings"][0])
    code, rows = scenarios(live, "--light", "--client-mode", "plain", "--port", port)
    assert code == 1
    assert rows[1]["result"] == "Failure"
    assert rows[1]["error"] == "login: not sent: the password would cross the network in clear"
