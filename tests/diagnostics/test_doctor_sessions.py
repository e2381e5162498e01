"""The doctor on default options (no --client-mode): every binding probed every way, the
evidence of POP3 sessions that ended without a login, and "did you mean" for an unknown mailbox.

One server for the module. Evidence lasts an hour, so the test that leaves an application's
failures behind comes last.
"""
from __future__ import annotations

import poplib
import re

import pytest

from e2e.harness import doctor_lines, wait_until
from postroom.diagnostics.probe import client_context

from .conftest import ADDRESS, PASSWORD, assert_healthy, failed

pytestmark = pytest.mark.e2e


def ports(live) -> tuple[int, int]:
    pop = live.pop()
    return int(pop["bindings"][0].rsplit(":", 1)[1]), int(pop["ssl_bindings"][0].rsplit(":", 1)[1])


def test_without_a_client_mode_every_binding_is_probed_and_the_ways_that_work_are_named(live):
    plain, ssl_port = ports(live)
    checks = assert_healthy(live)
    assert checks["client-binding"]["detail"] == (
        "how the application connects was not given (--client-mode): each way an application could use "
        f"127.0.0.1:{ssl_port} (SSL), 127.0.0.1:{plain} (plain/STLS) is probed (see probe)")
    probe = checks["probe"]["detail"]
    assert probe.startswith(f"an application can log in with SSL on 127.0.0.1:{ssl_port} or STLS on 127.0.0.1:{plain}; "
                            f"not with plain on 127.0.0.1:{plain}: no login is offered before TLS (login type "
                            "secure-login) (")
    assert f"127.0.0.1:{plain}: connect" in probe and "STLS" in probe and "login not tried: no password" in probe
    assert checks["login-type"]["detail"] == (
        f"login type secure-login: applications log in after STLS on 127.0.0.1:{plain}, SSL on "
        f"127.0.0.1:{ssl_port}; plain logins on 127.0.0.1:{plain} are refused")


def test_with_the_password_the_login_is_tried_once_on_the_first_way_that_works(live):
    plain, ssl_port = ports(live)
    probe = assert_healthy(live, password=PASSWORD)["probe"]["detail"]
    logins = [m.start() for m in re.finditer(r"login \d+\.\d ms; STAT \d+\.\d ms \(0 messages, 0 octets\)", probe)]
    assert len(logins) == 1 and "login not tried" not in probe, probe
    # on the SSL binding, the first that works
    assert probe.index(f"127.0.0.1:{ssl_port}: connect") < logins[0] < probe.index(f"127.0.0.1:{plain}: connect")


def test_the_doctors_own_probes_are_not_evidence_of_an_application(live):
    plain, _ = ports(live)
    live.doctor()  # every way, plain included
    live.doctor("--client-mode", "plain", "--port", str(plain))  # the application said to use plain
    # A session of a kind the probes never leave, after them: once it is in, so are they.
    client = poplib.POP3("127.0.0.1", plain, timeout=10)
    client.stls(context=client_context(False))
    for _ in range(10):  # NOOP is not valid before a login: the tenth error ends the session
        with pytest.raises(poplib.error_proto):
            client.noop()
    client.close()
    wait_until(lambda: "protocol-errors" in live.doctor()[1]["recent-sessions"]["detail"], 5,
               "the session to be stored")
    check = live.doctor()[1]["recent-sessions"]
    assert check["status"] == "pass" and "tls-not-started" not in check["detail"], check
    assert check["detail"].startswith("none for want of TLS in the last hour; ")


def test_an_unknown_mailbox_names_the_closest_address_and_creating_it_comes_last(live):
    result = live.cli("doctor", "pop", "cmr@example.com")
    assert result.exit_code == 1
    out = "\n".join(doctor_lines(result.stdout))
    assert ("FAIL  mailbox: there is no mailbox cmr@example.com: every login gets -ERR [AUTH] Logon failure. "
            f"Did you mean {ADDRESS}? Then correct the address in the application (and check that one: "
            f"postroom doctor pop {ADDRESS}). Only if cmr@example.com is the address you want, create it "
            "(the fix)") in out
    assert out.index("Did you mean") < out.index("fix: postroom mailbox new cmr@example.com")
    code, checks = live.doctor(address="nobody-like-it@example.com")
    assert "Did you mean" not in checks["mailbox"]["detail"]


def test_an_application_that_never_starts_tls_fails_with_the_fix(live):
    """poplib as an application set to plain POP3 under secure-login: CAPA has no USER, it quits."""
    plain, ssl_port = ports(live)
    for _ in range(3):
        client = poplib.POP3("127.0.0.1", plain, timeout=10)
        assert "USER" not in client.capa()
        client.quit()
    wait_until(lambda: "3 sessions" in live.doctor()[1]["recent-sessions"]["detail"], 5, "the sessions to be stored")
    result = live.cli("doctor", "pop", ADDRESS)
    assert result.exit_code == 1
    lines = doctor_lines(result.stdout)
    fail = next(line for line in lines if line.startswith("FAIL  recent-sessions: "))
    assert fail.startswith(
        f"FAIL  recent-sessions: in the last hour, 3 sessions from 127.0.0.1 connected to the plain port {plain} "
        f"(127.0.0.1:{plain}) and ended without starting TLS, so no login was offered (sent: CAPA QUIT; last at ")
    assert fail.endswith(
        " UTC): the login type secure-login requires TLS before any login. Set the application to STLS on port "
        f"{plain} or to SSL on port {ssl_port}; only if it cannot use TLS at all, the fix lets it log in with the "
        "password in clear")
    following = lines[lines.index(fail) + 1:lines.index(fail) + 3]
    assert following == ["      fix: postroom pop set --login-type plain-text-login",
                         "      console: /console/servers/EX01/pop3"]
    assert [line[:4] for line in lines if line.startswith("FAIL")] == ["FAIL"]  # the one failure
    # The last resort, applied: the sessions would log in now, so the evidence is a warning.
    live.apply("postroom pop set --login-type plain-text-login")
    code, checks = live.doctor()
    assert code == 0 and checks["recent-sessions"]["status"] == "warn"
    assert "the login type is plain-text-login now" in checks["recent-sessions"]["detail"]
    live.ok("pop", "set", "--login-type", "secure-login")
    assert failed(live.doctor()[1]) == {"recent-sessions"}
