"""A real node blocks a source after repeated bad logins and lifts it when an admin clears the
block from another process (`postroom security blocks --clear`), within about a second; a
change of the login block policy (`postroom security policy set`) applies to the running node.

Loopback is trusted by default (never blocked), so these nodes trust no network
(`postroom security policy set --trusted-networks none`)."""
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
    yield from node(tmp_path, "--max-source-failures", "3")


def node(tmp_path, *policy: str):
    instance = Postroom(tmp_path, failure_delay=0.05)
    instance.init()
    instance.new_mailbox("crm@example.com", "right-pw")
    instance.cli_batch(("pop", "set", "--login-type", "plain-text-login"),  # USER/PASS without TLS: shorter
                       ("security", "policy", "set", "--trusted-networks", "none", *policy))
    instance.start()
    yield instance
    instance.stop()


@pytest.fixture
def default_policy_server(tmp_path):
    """The default thresholds (10 failures from a source), loopback untrusted."""
    yield from node(tmp_path)


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


def test_a_policy_change_applies_to_the_running_node_without_a_restart(default_policy_server: Postroom) -> None:
    server = default_policy_server
    pid = server.process.pid
    for _ in range(3):  # 3 of the default 10: no block
        assert pop_login(server, "wrong").startswith("-ERR [AUTH]")

    # 4 failures now block a source; the command returns once this server's node applied it
    server.cli("security", "policy", "set", "--max-source-failures", "4")
    assert pop_login(server, "wrong").startswith("-ERR [AUTH]")  # the 4th: starts the block
    assert pop_login(server, "right-pw").startswith("-ERR [SYS/TEMP]")
    wait_until(lambda: server.cli_json("security", "blocks"), 5, "the block to reach the store")
    [block] = server.cli_json("security", "blocks")
    assert (block["kind"], block["value"], block["failures"]) == ("source", "127.0.0.1", 4)

    # trusting loopback again lets it in at once, block or not
    server.cli("security", "policy", "set", "--trusted-networks", "127.0.0.0/8,::1")
    assert pop_login(server, "right-pw").startswith("+OK")
    assert server.process.poll() is None and server.process.pid == pid, "no restart"
    log = server.log_path.read_text()
    assert "POSTROOM_TRUSTED_NETWORKS" not in log  # nothing set it: no warning about retired variables
