"""The classic case, end to end: an application that does not use TLS under secure-login. curl
without --ssl-reqd reads CAPA, finds no USER and gives up before sending a name, so it leaves
no refused login; `postroom doctor pop` on default options still fails, naming it and the fix."""
from __future__ import annotations

import subprocess

import pytest

from .harness import doctor_lines, require_tool, wait_until

pytestmark = pytest.mark.e2e
ADDRESS = "app@example.com"


def test_curl_without_ssl_reqd_is_named_by_the_doctor_on_default_options(fresh_server):
    curl = require_tool("curl")
    fresh_server.new_mailbox(ADDRESS, "pw-app-1")
    before = fresh_server.cli("doctor", "pop", ADDRESS, check=False)
    assert before.returncode == 0, before.stdout  # nothing has gone wrong yet
    for _ in range(2):  # the application polls
        done = subprocess.run([curl, "--silent", "--show-error", "--max-time", "10", "--user", f"{ADDRESS}:pw-app-1",
                               f"pop3://127.0.0.1:{fresh_server.pop_port}/"], capture_output=True, text=True)
        assert done.returncode != 0  # curl: no login it knows is offered

    def doctor() -> subprocess.CompletedProcess[str]:
        return fresh_server.cli("doctor", "pop", ADDRESS, check=False)

    wait_until(lambda: "2 sessions from 127.0.0.1" in " ".join(doctor_lines(doctor().stdout)), 5,
               "the sessions to reach the doctor")
    result = doctor()
    assert result.returncode == 1, result.stdout
    lines = doctor_lines(result.stdout)
    fail = next(line for line in lines if line.startswith("FAIL"))
    assert fail.startswith("FAIL  recent-sessions: in the last hour, 2 sessions from 127.0.0.1 connected to the "
                           f"plain port {fresh_server.pop_port} (127.0.0.1:{fresh_server.pop_port}) and ended "
                           "without starting TLS, so no login was offered (sent: CAPA")
    assert "the login type secure-login requires TLS before any login. Set the application to STLS on port " \
           f"{fresh_server.pop_port} or to SSL on port {fresh_server.pops_port}" in fail
    assert lines[lines.index(fail) + 1] == "      fix: postroom pop set --login-type plain-text-login"
    assert sum(line.startswith("FAIL") for line in lines) == 1
    assert lines[-1].endswith("1 failed")
    # The probe says which ways would have worked for it.
    probe = next(line for line in lines if line.startswith("PASS  probe: "))
    assert f"an application can log in with SSL on 127.0.0.1:{fresh_server.pops_port} or STLS on " \
           f"127.0.0.1:{fresh_server.pop_port}; not with plain on 127.0.0.1:{fresh_server.pop_port}" in probe
