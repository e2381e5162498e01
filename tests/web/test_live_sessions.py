"""Live sessions through the REST API (/api/v1/live-sessions) and the console (/console/sessions),
against a stand-in node that lists sessions and answers end requests with the node's own code:
what each role group may read and do, the one JSON error shape, the page and its End buttons."""
from __future__ import annotations

import re
from html import unescape

import pytest
from live_session_support import StandInNode, alice_pop3, anonymous_smtp

from postroom.storage import open_store

from .conftest import ROLE_GROUPS, error_of
from .test_console_pages_ops import console, csrf, notice_after, post  # noqa: F401 (fixture)

L = "/api/v1/live-sessions"


@pytest.fixture
def node(data_dir):
    with StandInNode(lambda: open_store(data_dir), "EX01", [alice_pop3(), anonymous_smtp()]) as running:
        yield running


@pytest.mark.parametrize("role", ROLE_GROUPS)
def test_every_role_group_lists_the_live_sessions(api, principals, node, role):
    answer = api.get(L, headers=principals[role].bearer)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [(s["id"], s["service"], s["user"], s["source"], s["state"]) for s in body["sessions"]] == [
        ("EX01-7", "pop3", "alice@example.com", "192.0.2.10", "authenticated"),
        ("EX01-8", "smtp", None, "198.51.100.4", "greeted")]
    assert body["servers"][0]["serving"] is True
    assert [s["id"] for s in api.get(L, params={"service": "smtp"}, headers=principals[role].bearer).json()[
        "sessions"]] == ["EX01-8"]


@pytest.mark.parametrize("role", ("organization-management", "server-management"))
def test_ending_by_id_and_by_mailbox(api, principals, node, run, store, role):
    who = principals[role].bearer
    answer = api.delete(f"{L}/EX01-8", headers=who)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"ended": [{**answer.json()["ended"][0], "id": "EX01-8", "server": "EX01",
                                        "service": "smtp", "user": None, "source": "198.51.100.4"}], "pending": []}
    answer = api.delete(L, params={"user": "alice@example.com"}, headers=who)
    assert [s["id"] for s in answer.json()["ended"]] == ["EX01-7"]
    assert all(s.ended for s in node.sessions)
    entries = [(e.actor, e.channel, e.target) for e in run(store.list_audit(10)) if e.action == "session.end"]
    assert entries == [(principals[role].name, "api", "mailbox/alice@example.com"),
                       (principals[role].name, "api", "session/EX01-8")]


def test_refusals_use_the_one_error_shape(api, principals, node):
    org = principals["organization-management"].bearer
    missing = error_of(api.delete(f"{L}/EX01-99", headers=org), 404)
    assert (missing["code"], missing["message"]) == ("not_found", "live session 'EX01-99' does not exist")
    malformed = error_of(api.delete(f"{L}/seven", headers=org), 400)
    assert malformed["field"] == "session" and "SERVER-NUMBER" in malformed["message"]
    assert error_of(api.delete(L, headers=org), 400)["field"] == "user"
    assert error_of(api.get(L, params={"service": "admin"}, headers=org), 400)["allowed"] == ["pop3", "imap4", "smtp"]
    refused = error_of(api.delete(f"{L}/EX01-7", headers=principals["view-only"].bearer), 403)
    assert "server-config" in refused["message"]
    assert not node.sessions[0].ended


def test_the_console_page_lists_sessions_read_only_for_a_viewer(console, node):
    page = unescape(console("view-only").get("/console/sessions").text)
    assert re.findall(r'<tr data-session="([^"]+)">', page) == ["EX01-7", "EX01-8"]
    assert '<td class="user">alice@example.com</td>' in page and '<td class="state">authenticated</td>' in page
    assert "smtp (Default EX01)" in page and "EX01: 1 POP3 and 1 SMTP sessions." in " ".join(page.split())
    assert 'disabled aria-label="End session EX01-7"' in page
    assert "Read-only: changing this needs the organization-management or server-management role group." in page
    assert '<a href="/console/sessions" aria-current="page">Live sessions</a>' in page


def test_the_console_ends_a_session_and_shows_refusals(console, node, run, store):
    manager = console("server-management")
    token = csrf(manager, "/console/sessions")
    notice = notice_after(manager, post(manager, "/console/sessions/end", token, id="EX01-7"))
    assert notice == "Ended pop3 session EX01-7 of alice@example.com from 192.0.2.10 on EX01."
    assert [e.channel for e in run(store.list_audit(10)) if e.action == "session.end"] == ["console"]
    answer = post(manager, "/console/sessions/end", token, id="EX01-99")
    assert answer.status_code == 404 and "Not ended: live session 'EX01-99' does not exist" in unescape(answer.text)
    viewer = console("view-only")
    answer = post(viewer, "/console/sessions/end", csrf(viewer, "/console/sessions"), user="alice@example.com")
    assert answer.status_code == 403 and "may not do this" in unescape(answer.text)
    assert not node.sessions[1].ended
