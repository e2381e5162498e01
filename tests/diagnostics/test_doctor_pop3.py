"""The doctor against a live server, POP3 side: for each misconfiguration, exactly its check
fails with the right fix, and running that fix makes the doctor pass again.

One server for the module: every test ends with the doctor passing, so the next starts healthy.
"""
from __future__ import annotations

import datetime as dt
import subprocess
import sys

import pytest

from postroom.diagnostics.doctor import CHECK_NAMES

from e2e.harness import wait_until

from .conftest import assert_healthy, failed, fails_only, make_certificate

pytestmark = pytest.mark.e2e
NOW = dt.datetime.now(dt.timezone.utc)


def test_a_healthy_install_passes_every_check_in_the_articles_order(live):
    code, checks = live.doctor()
    assert code == 0
    assert tuple(checks) == CHECK_NAMES
    assert {c["status"] for c in checks.values()} == {"pass"}, {n: c["detail"] for n, c in checks.items()}
    assert "(SSL)" in checks["client-binding"]["detail"] and "(plain/STLS)" in checks["client-binding"]["detail"]
    assert "TLS handshake" in checks["probe"]["detail"] and "login not tried" in checks["probe"]["detail"]


def test_human_output_names_the_fix_and_the_console_page(live):
    live.ok("service", "stop", "pop3")
    try:
        result = live.cli("doctor", "pop", "crm@example.com")
        assert result.exit_code == 1
        assert "FAIL  pop3-service: the pop3 service is stopped" in result.stdout
        assert "fix: postroom service start pop3" in result.stdout
        assert "console: /console/services" in result.stdout
        assert result.stdout.rstrip().endswith("failed")
    finally:
        live.ok("service", "start", "pop3")


def test_service_stopped(live):
    live.ok("service", "stop", "pop3")
    check = fails_only(live, "pop3-service")
    assert check["fix"] == "postroom service start pop3" and check["page"] == "/console/services"
    _, checks = live.doctor()
    for dependent in ("pop3-bindings", "connection-limits", "mailbox-lock", "probe"):
        assert checks[dependent]["status"] == "warn" and checks[dependent]["detail"].startswith("not checked")
    live.apply(check["fix"])
    assert_healthy(live)


def test_startup_disabled(live):
    live.ok("service", "set", "pop3", "--startup", "disabled")
    check = fails_only(live, "pop3-startup")
    assert check["fix"] == "postroom service set pop3 --startup automatic"
    live.apply(check["fix"])
    assert_healthy(live)


def test_startup_manual_is_a_warning(live):
    live.ok("service", "set", "pop3", "--startup", "manual")
    code, checks = live.doctor()
    assert code == 0 and checks["pop3-startup"]["status"] == "warn"
    live.apply(checks["pop3-startup"]["fix"])
    assert live.doctor()[1]["pop3-startup"]["status"] == "pass"


def test_stopped_and_disabled_fix_does_both_steps(live):
    live.ok("service", "stop", "pop3")
    live.ok("service", "set", "pop3", "--startup", "disabled")
    code, checks = live.doctor()
    assert checks["pop3-service"]["fix"] == ("postroom service set pop3 --startup automatic && "
                                             "postroom service start pop3")
    live.apply(checks["pop3-service"]["fix"])
    assert_healthy(live)


def test_binding_the_application_uses_was_removed(live):
    pop = live.pop()
    ssl_binding = pop["ssl_bindings"][0]
    port = ssl_binding.rsplit(":", 1)[1]
    app = ("--host", "127.0.0.1", "--port", port, "--client-mode", "ssl")
    assert_healthy(live, *app)
    live.ok("pop", "set", "--ssl-bindings", "")
    check = fails_only(live, "client-binding", *app)
    assert f"no SSL binding serves 127.0.0.1:{port}" in check["detail"]
    assert check["fix"] == f"postroom pop set --ssl-bindings 127.0.0.1:{port}"
    live.apply(check["fix"])
    assert_healthy(live, *app)


HOLDER = "import socket, sys, time; s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); " \
         "print(s.getsockname()[1], flush=True); time.sleep(60)"


def test_port_held_by_another_process_names_it_how_to_stop_it_then_a_standard_port(live):
    holder = subprocess.Popen([sys.executable, "-c", HOLDER], stdout=subprocess.PIPE, text=True)
    try:
        taken = int(holder.stdout.readline())
        live.ok("pop", "set", "--bindings", f"127.0.0.1:{taken}")
        check = fails_only(live, "pop3-bindings")
        detail = check["detail"]
        named = f"127.0.0.1:{taken} (plain/STLS) is held by another process: pid {holder.pid} ("
        stop = f"Stop it: `kill {holder.pid}` (and keep it from starting again); postroom retries every few seconds"
        assert named in detail and stop in detail and "import socket" in detail  # its command line
        port = 110 if "port 110, POP3's standard plain/STLS port" in detail else 1110
        assert detail.index(named) < detail.index(stop) < detail.index(f"Or move this binding to port {port}")
        assert check["fix"] == f"postroom pop set --bindings 127.0.0.1:{port}"
    finally:
        holder.kill()
        holder.wait()
    # Stopped: postroom takes the port on its next try, nothing else to do.
    wait_until(lambda: not failed(live.doctor()[1]), 10, "postroom to listen on the freed port")


def test_secure_login_with_a_plain_port_client(live):
    plain = ("--client-mode", "plain", "--port", live.pop()["bindings"][0].rsplit(":", 1)[1])
    check = fails_only(live, "login-type", *plain)
    assert check["fix"] == "postroom pop set --login-type plain-text-login"
    assert "STLS on" in check["detail"]  # the better fix is named too
    live.apply(check["fix"])
    checks = assert_healthy(live, *plain)
    assert checks["login-type"]["status"] == "warn"  # the password still crosses in clear
    live.ok("pop", "set", "--login-type", "secure-login")


def test_ssl_client_on_a_plain_binding(live):
    port = live.pop()["bindings"][0].rsplit(":", 1)[1]
    check = fails_only(live, "client-binding", "--client-mode", "ssl", "--port", port)
    assert "plain/STLS binding" in check["detail"] and check["fix"] is None


def test_certificate_expired(live, tmp_path):
    expired = make_certificate(tmp_path / "expired.pem", ["localhost", "127.0.0.1"],
                               not_before=NOW - dt.timedelta(days=400), not_after=NOW - dt.timedelta(days=1))
    live.ok("pop", "set", "--certificate", expired)
    check = fails_only(live, "certificate")
    assert "expired on" in check["detail"]
    assert check["fix"] == "postroom pop set --certificate postroom"
    live.apply(check["fix"])
    assert_healthy(live)


def test_certificate_expiring_soon_is_a_warning(live, tmp_path):
    soon = make_certificate(tmp_path / "soon.pem", ["localhost", "127.0.0.1"],
                            not_before=NOW - dt.timedelta(days=60), not_after=NOW + dt.timedelta(days=10))
    live.ok("pop", "set", "--certificate", soon)
    code, checks = live.doctor()
    assert code == 0 and checks["certificate"]["status"] == "warn" and "in 9 days" in checks["certificate"]["detail"]
    live.apply(checks["certificate"]["fix"])


def test_certificate_name_mismatch(live, tmp_path):
    other = make_certificate(tmp_path / "other.pem", ["mail.other.example"],
                             not_before=NOW - dt.timedelta(days=1), not_after=NOW + dt.timedelta(days=90))
    live.ok("pop", "set", "--certificate", other)
    check = fails_only(live, "certificate-names", "--host", "localhost")
    assert "(mail.other.example) do not include localhost" in check["detail"]
    assert check["fix"] == "postroom pop set --certificate postroom"
    live.apply(check["fix"])
    assert_healthy(live, "--host", "localhost")
