"""The console's Live sessions page in a real browser, on a real node: a poplib session logged in
is listed with its user and source, End closes it (poplib gets -ERR, its deletion is not
applied), and a view-only admin sees the list with every control disabled."""
from __future__ import annotations

import poplib

import pytest

from .console_browser import (  # noqa: F401 (fixtures)
    browser_fixture,
    enabled_controls,
    node_fixture,
    notice,
    page_fixture,
    screenshot,
    sign_in,
    submit,
)
from .harness import wait_until

pytestmark = pytest.mark.e2e
ADDRESS, PASSWORD = "poller@example.com", "poller-password-1"
VIEWER_PASSWORD = "viewer-password-1"


def login(node) -> poplib.POP3_SSL:
    return node.pop_login(ADDRESS, PASSWORD, timeout=10)


def test_the_live_sessions_page_lists_a_poplib_session_and_ends_it(page, node, tmp_path):
    node.new_mailbox(ADDRESS, PASSWORD)
    node.import_messages(ADDRESS, b"Subject: keep\r\n\r\nbody\r\n", folder=tmp_path / "mail")
    node.cli("admin", "new", "viewer", "--roles", "view-only", "--password-stdin", input=VIEWER_PASSWORD + "\n")
    client = login(node)
    client.dele(1)
    wait_until(lambda: [r for r in node.cli_json("session", "list")["sessions"] if r["user"] == ADDRESS], 5,
               "the node to list the session")

    sign_in(page, "viewer", VIEWER_PASSWORD, "/console/sessions")
    row = page.locator("tr[data-session]", has_text=ADDRESS)
    assert row.is_visible() and "127.0.0.1" in row.inner_text() and "authenticated" in row.inner_text()
    assert enabled_controls(page) == []
    screenshot(page, "view-only-live-sessions")
    page.context.clear_cookies()

    sign_in(page, "admin", node.admin_password, "/console/sessions")
    session_id = row.get_attribute("data-session")
    screenshot(page, "live-sessions")
    answer = submit(page, button=f"End session {session_id}", action="/console/sessions/end")
    assert answer.status == 303
    assert notice(page) == f"Ended pop3 session {session_id} of {ADDRESS} from 127.0.0.1 on EX01."
    assert client.file.readline() == b"-ERR [SYS/TEMP] session ended by an administrator\r\n"
    client.close()
    again = login(node)
    assert again.stat()[0] == 1  # the DELE was not applied
    again.quit()
