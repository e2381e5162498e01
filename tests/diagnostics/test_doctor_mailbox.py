"""The doctor against a live server, mailbox side: POP3 feature, disabled mailbox, password,
the per-user connection limit, and the evidence of refused logins."""
from __future__ import annotations

import poplib
import ssl

import pytest

from e2e.harness import wait_until

from .conftest import ADDRESS, PASSWORD, assert_healthy, failed, fails_only

pytestmark = pytest.mark.e2e


def stls_login(live, user: str, password: str) -> poplib.POP3:
    client = poplib.POP3("127.0.0.1", int(live.pop()["bindings"][0].rsplit(":", 1)[1]), timeout=10)
    client.stls(context=ssl.create_default_context(cafile=live.server.cert))
    client.user(user)
    client.pass_(password)
    return client


def test_with_the_password_the_probe_logs_in_and_counts_the_messages(live):
    checks = assert_healthy(live, password=PASSWORD)
    assert checks["mailbox-password"]["detail"].startswith("set, and the password given is this mailbox's")
    assert "login" in checks["probe"]["detail"] and "STAT" in checks["probe"]["detail"]
    assert "messages" in checks["probe"]["detail"]


def test_mailbox_pop3_disabled(live):
    live.ok("mailbox", "set", ADDRESS, "--pop", "disabled")
    check = fails_only(live, "mailbox-pop3", password=PASSWORD)
    assert check["fix"] == f"postroom mailbox set {ADDRESS} --pop enabled"
    assert check["page"] == f"/console/mailboxes/{ADDRESS}"
    live.apply(check["fix"])
    assert_healthy(live, password=PASSWORD)


def test_mailbox_disabled(live):
    live.ok("mailbox", "set", ADDRESS, "--disabled")
    check = fails_only(live, "mailbox", password=PASSWORD)
    assert check["fix"] == f"postroom mailbox set {ADDRESS} --enabled"
    live.apply(check["fix"])
    assert_healthy(live, password=PASSWORD)


def test_wrong_password(live):
    check = fails_only(live, "mailbox-password", password="what-the-app-sends")
    assert check["fix"] == f"postroom mailbox password {ADDRESS}"
    _, checks = live.doctor(password="what-the-app-sends")
    assert "login not tried" in checks["probe"]["detail"]  # no second failure for the same cause
    # The fix prompts for the new password; here it comes on standard input.
    live.apply(check["fix"] + " --password-stdin", input="what-the-app-sends\n")
    assert_healthy(live, password="what-the-app-sends")
    live.ok("mailbox", "password", ADDRESS, "--password-stdin", input=PASSWORD + "\n")


def test_per_user_limit_exhausted(live):
    live.ok("pop", "set", "--max-connections-per-user", "1")
    session = stls_login(live, ADDRESS, PASSWORD)  # the application's other poller, still connected
    try:
        # Sessions reach the doctor with the node's heartbeat (once a second).
        wait_until(lambda: "connection-limits" in failed(live.doctor()[1]), 5, "the session to be reported")
        check = fails_only(live, "connection-limits")
        assert "1 of 1 connections per user are in use" in check["detail"] and "127.0.0.1" in check["detail"]
        assert check["fix"] == "postroom pop set --max-connections-per-user 16"
        live.apply(check["fix"])
        checks = assert_healthy(live, password=PASSWORD)
        # The session still holds the mailbox: said, not failed, and the probe does not collide with it.
        assert checks["mailbox-lock"]["status"] == "pass" and "in use right now" in checks["mailbox-lock"]["detail"]
        assert "login not tried" in checks["probe"]["detail"]
    finally:
        session.quit()


def test_no_such_mailbox(live):
    code, checks = live.doctor(address="nobody@example.com")
    assert code == 1 and failed(checks) == {"mailbox"}
    assert checks["mailbox"]["fix"] == "postroom mailbox new nobody@example.com"
    for dependent in ("mailbox-pop3", "mailbox-password"):
        assert checks[dependent]["detail"].startswith("not checked")
    code, checks = live.doctor(address="nobody@elsewhere.example")
    assert checks["mailbox"]["fix"] == ("postroom domain add elsewhere.example && "
                                        "postroom mailbox new nobody@elsewhere.example")


def test_refused_logins_are_evidence_with_their_reasons(live):
    live.ok("mailbox", "set", ADDRESS, "--pop", "disabled")
    try:
        with pytest.raises(poplib.error_proto, match="POP3 access is disabled"):
            stls_login(live, ADDRESS, PASSWORD)
    finally:
        live.ok("mailbox", "set", ADDRESS, "--pop", "enabled")
    with pytest.raises(poplib.error_proto, match="Logon failure"):
        stls_login(live, ADDRESS, "not-the-password")
    plain = poplib.POP3("127.0.0.1", int(live.pop()["bindings"][0].rsplit(":", 1)[1]), timeout=10)
    with pytest.raises(poplib.error_proto, match="AUTH"):
        plain.user(ADDRESS)  # secure-login: refused before STLS
    plain.quit()

    def evidence() -> dict:
        return live.doctor()[1]["recent-failed-logins"]

    # The node stores what it buffered with its next heartbeat.
    wait_until(lambda: "tls-required" in evidence()["detail"], 5, "the refusals to be stored")
    check = evidence()
    assert check["status"] == "warn"  # evidence, not a current failure
    for reason in ("pop3 pop-disabled from 127.0.0.1", "pop3 bad-credentials from 127.0.0.1",
                   "pop3 tls-required from 127.0.0.1"):
        assert reason in check["detail"]
    assert check["fix"] is None  # the causes are gone (POP3 is enabled again)
