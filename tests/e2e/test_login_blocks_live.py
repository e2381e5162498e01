"""A real node blocks a source after repeated bad logins and lifts it when an admin clears the
block from another process (`postroom security blocks --clear`), within about a second.

Loopback is trusted by default (never blocked), so this node trusts no network and blocks
after 3 failures (POSTROOM_TRUSTED_NETWORKS, POSTROOM_AUTH_MAX_FAILURES)."""
from __future__ import annotations

import base64
import poplib
import re
import smtplib
import time

import pytest

from .harness import Postroom, pop_login_answer, wait_until

# The filter documented in docs/operations.md for fail2ban (its <HOST> becomes this group).
FAIL2BAN = re.compile(r"postroom auth failure: service=\S+ remote=(?P<host>\S+) user=\S* reason=\S+$")


@pytest.fixture
def strict_server(tmp_path):
    instance = Postroom(tmp_path, failure_delay=0.05)
    instance.env.update(POSTROOM_TRUSTED_NETWORKS="none", POSTROOM_AUTH_MAX_FAILURES="3")
    instance.init()
    instance.new_mailbox("crm@example.com", "right-pw")
    instance.cli("pop", "set", "--login-type", "plain-text-login")  # USER/PASS without TLS: shorter
    instance.start()
    yield instance
    instance.stop()


def pop_login(server: Postroom, password: str) -> str:
    return pop_login_answer(poplib.POP3("127.0.0.1", server.pop_port, timeout=10), "crm@example.com", password)


def test_bad_logins_block_the_source_until_an_admin_clears_it(strict_server: Postroom) -> None:
    server = strict_server
    for _ in range(3):
        assert pop_login(server, "wrong").startswith("-ERR [AUTH]")
    assert pop_login(server, "right-pw").startswith("-ERR [SYS/TEMP]")  # blocked, right password or not
    with smtplib.SMTP("127.0.0.1", server.submission_port, timeout=10) as smtp:  # SMTP AUTH too
        smtp.starttls()
        smtp.ehlo()
        code, _ = smtp.docmd("AUTH", "PLAIN " + base64.b64encode(b"\0crm@example.com\0right-pw").decode())
        assert code == 454

    wait_until(lambda: server.cli_json("security", "blocks"), 5, "the block to reach the store")
    [block] = server.cli_json("security", "blocks")
    assert (block["kind"], block["value"], block["failures"]) == ("source", "127.0.0.1", 3)
    assert server.cli("security", "blocks", "--clear", "127.0.0.1").returncode == 0
    cleared = time.monotonic()
    wait_until(lambda: pop_login(server, "right-pw").startswith("+OK"), 5, "the cleared block to stop applying")
    assert time.monotonic() - cleared < 2.5
    assert server.cli_json("security", "blocks") == []

    log = server.log_path.read_text()
    hosts = [m.group("host") for m in map(FAIL2BAN.search, log.splitlines()) if m]
    assert hosts.count("127.0.0.1") >= 5  # 3 bad passwords, 2 refused while blocked
    assert "postroom auth failure: service=pop3 remote=127.0.0.1 user=crm@example.com reason=bad-credentials" in log
