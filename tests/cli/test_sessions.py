"""`postroom session list|end` as an administrator types them (doveadm who / kick), against a
stand-in node that lists sessions and answers end requests with the node's own code: the table,
the notes on servers without a node or with a cut list, --json, what `end` prints, and clear
errors with exit codes."""
from __future__ import annotations

import re

import pytest
from live_session_support import StandInNode, alice_pop3, anonymous_smtp

from postroom.server import live_sessions
from postroom.service import sessions as session_ops
from postroom.storage import open_store

from .conftest import Admin, flat


def node(admin: Admin, *sessions, answering: bool = True) -> StandInNode:
    return StandInNode(lambda: open_store(str(admin.data)), "EX01", list(sessions or (alice_pop3(), anonymous_smtp())),
                       answering=answering)


def test_without_a_node_nothing_is_listed_and_it_says_why(admin: Admin) -> None:
    out = admin.ok("session", "list").stdout
    assert flat(out) == "No live session. EX01: no node is serving this server (`postroom serve`): no session listed."
    assert admin.json("session", "list") == {"sessions": [], "servers": [
        {"server": "EX01", "serving": False, "sessions": {"pop3": 0, "imap4": 0, "smtp": 0},
         "listed": {"pop3": 0, "imap4": 0, "smtp": 0},
         "truncated": False}]}


def test_the_table_shows_who_is_connected_oldest_first(admin: Admin) -> None:
    with node(admin):
        table = flat(admin.ok("session", "list").stdout)
        rows = admin.json("session", "list")["sessions"]
        only_smtp = flat(admin.ok("session", "list", "--service", "smtp").stdout)
        nobody = admin.ok("session", "list", "--user", "bob@example.com").stdout
    assert re.search(r"id\W+service\W+user\W+source\W+since\W+state\W+server", table)
    assert f"EX01-7 │ pop3 │ alice@example.com │ 192.0.2.10 │ {rows[0]['since']} │ authenticated │ EX01" in table
    assert f"EX01-8 │ smtp │ - │ 198.51.100.4 │ {rows[1]['since']} │ greeted │ EX01" in table
    assert table.index("EX01-7") < table.index("EX01-8") and "no node" not in table
    assert "EX01-8" in only_smtp and "EX01-7" not in only_smtp
    assert nobody.strip() == "No live session matches."
    assert set(rows[0]) == {"id", "server", "service", "user", "source", "since", "state", "tls", "listener",
                            "connector", "idle_seconds"}


def test_a_cut_list_says_so(admin: Admin, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live_sessions, "MAX_LISTED", 1)
    with node(admin, alice_pop3(), alice_pop3(number=9)):
        out = flat(admin.ok("session", "list").stdout)
    assert ("EX01: its node listed the oldest 1 of its 2 pop3 sessions (`session end --user` reaches them all)."
            in out)


def test_end_says_what_it_ended_and_is_audited(admin: Admin) -> None:
    with node(admin) as running:
        out = admin.ok("session", "end", "EX01-7").stdout
        by_user = admin("session", "end", "--user", "alice@example.com")
    assert out.strip() == "Ended pop3 session EX01-7 of alice@example.com from 192.0.2.10 on EX01"
    assert running.sessions[0].ended and not running.sessions[1].ended
    assert by_user.exit_code == 3 and "live session of 'alice@example.com' does not exist" in by_user.stderr
    entry = next(e for e in admin.audit() if e["target"] == "session/EX01-7")
    assert (entry["actor"], entry["channel"], entry["action"], entry["outcome"]) == (
        "local-operator", "cli", "session.end", "success")


def test_end_by_mailbox_and_json(admin: Admin) -> None:
    with node(admin):
        view = admin.json("session", "end", "--user", "Alice@Example.com")
    assert [(s["id"], s["service"], s["server"]) for s in view["ended"]] == [("EX01-7", "pop3", "EX01")]
    assert view["pending"] == []


def test_a_node_that_has_not_answered_yet_is_named(admin: Admin, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session_ops, "CONFIRM_TIMEOUT", 0.3)  # the node never answers: the wait is the behaviour
    with node(admin, answering=False):
        out = flat(admin.ok("session", "end", "EX01-8").stdout)
    assert out == ("Asked the node serving EX01 to end it; it has not answered yet (it ends the session when it "
                   "next looks at the store).")


def test_errors_name_the_field_and_exit_non_zero(admin: Admin) -> None:
    with node(admin):
        assert "error: live session 'EX01-99' does not exist" in flat(
            admin.fails(3, "session", "end", "EX01-99").stderr)
        assert "session: 'seven' is not a session id: SERVER-NUMBER, e.g. EX01-42" in flat(
            admin.fails(2, "session", "end", "seven").stderr)
        assert "session: name one session" in flat(admin.fails(2, "session", "end").stderr)
        assert "not both" in flat(admin.fails(2, "session", "end", "EX01-7", "--user", "alice@example.com").stderr)
        assert "user: 'alice' is not an email address" in flat(
            admin.fails(2, "session", "end", "--user", "alice").stderr)
        assert "service: 'admin' is not a service with live sessions (allowed: pop3, imap4, smtp)" in flat(
            admin.fails(2, "session", "list", "--service", "admin").stderr)
        assert "server 'EX09' does not exist" in flat(admin.fails(3, "session", "list", "--server", "EX09").stderr)
