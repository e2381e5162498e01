"""The console's Security page in a real browser, on a real node: bad POP3 logins block the
source, the page lists the block and the policy, Clear lets the mailbox log in again, and a
policy saved through the page's form applies to the running node.

Loopback is trusted by default (never blocked), so this node trusts no network and blocks
after 3 failures (`postroom security policy set`), as in test_login_blocks_live.py."""
from __future__ import annotations

import poplib
from typing import Iterator

import pytest

from .console_browser import (  # noqa: F401 (fixtures)
    browser_fixture,
    enabled_controls,
    field_error,
    notice,
    page_fixture,
    post_form,
    screenshot,
    sign_in,
    submit,
)
from .harness import Postroom, pop_login_answer, port_open, wait_until

pytestmark = pytest.mark.e2e

APP = "crm@example.com"
VIEWER_PASSWORD = "viewer-password-1"


@pytest.fixture(name="node")
def strict_node(tmp_path) -> Iterator[Postroom]:
    """The `page` fixture's node: one that blocks loopback after 3 failed logins."""
    instance = Postroom(tmp_path, failure_delay=0.05)
    instance.init()
    instance.new_mailbox(APP, "right-pw")
    instance.cli_batch(("pop", "set", "--login-type", "plain-text-login"),  # USER/PASS without TLS: shorter
                       ("security", "policy", "set", "--trusted-networks", "none", "--max-source-failures", "3"))
    instance.start()
    wait_until(lambda: port_open(instance.http_port), 10, "the admin service to answer HTTP")
    yield instance
    instance.stop()


def pop_login(node: Postroom, password: str) -> str:
    return pop_login_answer(poplib.POP3("127.0.0.1", node.pop_port, timeout=10), APP, password)


def test_the_security_page_lists_a_real_block_and_clears_it(page, node):
    # Both admins sign in first: a blocked address may not sign in to the console either.
    node.cli("admin", "new", "viewer", "--roles", "view-only", "--password-stdin", input=VIEWER_PASSWORD + "\n")
    sign_in(page, "viewer", VIEWER_PASSWORD, "/console/security")
    viewer_session = page.context.cookies()
    page.context.clear_cookies()
    sign_in(page, "admin", node.admin_password, "/console/security")
    admin_session = page.context.cookies()
    page.context.clear_cookies()

    for _ in range(3):
        assert pop_login(node, "wrong").startswith("-ERR [AUTH]")
    assert pop_login(node, "right-pw").startswith("-ERR [SYS/TEMP]")
    wait_until(lambda: node.cli_json("security", "blocks"), 5, "the block to reach the store")
    page.goto("/console/sign-in")  # the right admin password is refused from the blocked address
    page.fill("input[name=name]", "admin")
    page.fill("input[name=password]", node.admin_password)
    page.locator("form:has(input[name=password]) [type=submit]").click()
    page.wait_for_load_state()
    assert "Too many failed sign-ins" in page.inner_text("main")

    # a view-only admin sees the block and the policy, and can use nothing
    page.context.add_cookies(viewer_session)
    page.goto("/console/security")
    row = page.locator("tr[data-block-value='127.0.0.1']")
    assert row.is_visible() and "pop3" in row.inner_text() and "EX01" in row.inner_text()
    assert enabled_controls(page) == []
    assert "read-only" in page.locator("main .readonly-reason").first.inner_text().lower()
    screenshot(page, "view-only-security")
    token = page.locator("input[name=csrf_token]").first.get_attribute("value") or ""
    assert post_form(page, "/console/security/blocks/clear", {"csrf_token": token, "value": "127.0.0.1"}).status == 403
    assert [b["value"] for b in node.cli_json("security", "blocks")] == ["127.0.0.1"]
    page.context.clear_cookies()

    page.context.add_cookies(admin_session)
    page.goto("/console/security")
    page.get_by_role("link", name="Security", exact=True).click()
    page.wait_for_load_state()
    assert page.locator("nav a[aria-current=page]").inner_text() == "Security"
    assert page.locator("input[name=max_source_failures]").input_value() == "3"
    assert page.locator("input[name=trusted_networks]").input_value() == "none"
    screenshot(page, "security-blocks")

    answer = submit(page, button="Clear the block on 127.0.0.1", action="/security/blocks/clear")
    assert answer.status == 303
    assert "Block on source 127.0.0.1 cleared" in notice(page)
    assert page.locator("tr.empty").is_visible()
    screenshot(page, "security-cleared")
    assert node.cli_json("security", "blocks") == []
    wait_until(lambda: pop_login(node, "right-pw").startswith("+OK"), 5, "the cleared block to stop applying")
    audit = node.cli_json("log", "audit", "--action", "security.block.clear")
    assert [(e["actor"], e["channel"], e["outcome"]) for e in audit][:2] == [
        ("admin", "console", "success"), ("viewer", "console", "refused")]

    # a stricter policy saved through the form: 2 failures now block, on the running node
    page.locator("input[name=max_source_failures]").fill("2")
    answer = submit(page, "max_source_failures")
    assert answer.status == 303
    assert "failed logins that block a source: 2" in notice(page)
    assert node.cli_json("security", "policy")["max_source_failures"] == 2
    screenshot(page, "security-policy-saved")
    for _ in range(2):
        assert pop_login(node, "wrong").startswith("-ERR [AUTH]")
    assert pop_login(node, "right-pw").startswith("-ERR [SYS/TEMP]")

    # an invalid value is shown next to its field, and nothing is saved
    page.locator("input[name=window]").fill("5s")
    assert submit(page, "window").status == 400
    assert "out of range" in field_error(page, "window")
    assert node.cli_json("security", "policy")["window"] == 900
