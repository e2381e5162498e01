"""Live sessions in the service layer (service/sessions.py), against a stand-in node that lists
sessions and answers end requests with the node's own code (live_session_support.py): every
role group lists, ending needs the server right and is audited (refusals too), an unknown or
malformed session is refused clearly, and what was ended or is still pending is said."""
from __future__ import annotations

import time

import pytest
from live_session_support import StandInNode, StandInSession, alice_pop3, anonymous_smtp, report

from postroom.errors import Forbidden, NotFound, ValidationError
from postroom.protocol.pop3 import State as Pop3State
from postroom.service import sessions as session_ops
from postroom.storage import open_store

ROLES = ("organization-management", "server-management", "recipient-management", "view-only")


def ends_audited(run, store) -> list:
    """The audit entries of `session end`, newest first."""
    return [e for e in run(store.list_audit(100)) if e.action == "session.end"]


@pytest.fixture
def node(data_dir):
    """A node of EX01 holding alice's POP3 session EX01-7 and an anonymous SMTP one, EX01-8."""
    sessions = [alice_pop3(), anonymous_smtp()]
    with StandInNode(lambda: open_store(data_dir), "EX01", sessions) as running:
        yield running


@pytest.fixture
def quick(monkeypatch):
    monkeypatch.setattr(session_ops, "CONFIRM_TIMEOUT", 0.3)  # a node that never answers: waiting is the behaviour


@pytest.mark.parametrize("role", ROLES)
def test_every_role_group_lists_the_sessions_of_every_server(context, node, run, role):
    view = run(session_ops.list_sessions(context(role)))
    assert [(s["id"], s["service"], s["user"], s["source"], s["state"], s["server"]) for s in view["sessions"]] == [
        ("EX01-7", "pop3", "alice@example.com", "192.0.2.10", "authenticated", "EX01"),
        ("EX01-8", "smtp", None, "198.51.100.4", "greeted", "EX01")]  # oldest first
    assert view["sessions"][1]["connector"] == "Default EX01" and view["sessions"][0]["tls"] is True
    assert view["servers"] == [{"server": "EX01", "serving": True, "sessions": {"pop3": 1, "imap4": 0, "smtp": 1},
                                "listed": {"pop3": 1, "imap4": 0, "smtp": 1}, "truncated": False}]


def test_filters_and_their_refusals(context, node, run):
    ctx = context("view-only")
    assert [s["id"] for s in run(session_ops.list_sessions(ctx, service="SMTP"))["sessions"]] == ["EX01-8"]
    assert [s["id"] for s in run(session_ops.list_sessions(ctx, user="ALICE@example.com"))["sessions"]] == ["EX01-7"]
    assert run(session_ops.list_sessions(ctx, server="EX01", user="bob@example.com"))["sessions"] == []
    with pytest.raises(ValidationError) as refused:
        run(session_ops.list_sessions(ctx, service="admin"))
    assert refused.value.message == "service: 'admin' is not a service with live sessions (allowed: pop3, imap4, smtp)"
    with pytest.raises(ValidationError, match="user: 'alice' is not an email address"):
        run(session_ops.list_sessions(ctx, user="alice"))
    with pytest.raises(NotFound, match="server 'EX09' does not exist"):
        run(session_ops.list_sessions(ctx, server="EX09"))
    with pytest.raises(Forbidden):
        run(session_ops.list_sessions(context()))


def test_a_server_without_a_live_node_lists_nothing(context, store, run):
    async def gone_a_minute():
        await store.put_node_report(report("EX01", [alice_pop3()], heartbeat=time.time() - 60))
    run(gone_a_minute())
    view = run(session_ops.list_sessions(context("view-only")))
    assert view == {"sessions": [], "servers": [{"server": "EX01", "serving": False,
                                                 "sessions": {"pop3": 0, "imap4": 0, "smtp": 0},
                                                 "listed": {"pop3": 0, "imap4": 0, "smtp": 0}, "truncated": False}]}
    with pytest.raises(NotFound, match="live session 'EX01-7' does not exist"):
        run(session_ops.end_sessions(context("server-management"), "EX01-7"))


@pytest.mark.parametrize("how", ["id", "user"])
def test_ending_needs_the_server_right_and_a_refusal_is_audited(context, node, run, store, how):
    args, kwargs = (("EX01-7",), {}) if how == "id" else ((), {"user": "alice@example.com"})
    target = "session/EX01-7" if how == "id" else "mailbox/alice@example.com"
    for role in ("view-only", "recipient-management"):
        with pytest.raises(Forbidden, match="server-config"):
            run(session_ops.end_sessions(context(role), *args, **kwargs))
    assert not node.sessions[0].ended
    assert [(e.target, e.outcome) for e in ends_audited(run, store)] == [(target, "refused")] * 2
    result = run(session_ops.end_sessions(context("server-management", name="srv"), *args, **kwargs))
    assert [(s["id"], s["user"], s["source"], s["server"]) for s in result["ended"]] == [
        ("EX01-7", "alice@example.com", "192.0.2.10", "EX01")]
    assert result["pending"] == [] and node.sessions[0].ended and not node.sessions[1].ended
    entry = ends_audited(run, store)[0]
    assert (entry.actor, entry.target, entry.outcome) == ("srv", target, "success")
    assert entry.before == {"sessions": [{"id": "EX01-7", "server": "EX01", "service": "pop3",
                                          "user": "alice@example.com", "source": "192.0.2.10"}]}


def test_unknown_and_malformed_sessions_are_refused_clearly(context, node, run, store):
    ctx = context("organization-management")
    with pytest.raises(NotFound) as missing:
        run(session_ops.end_sessions(ctx, "EX01-99"))
    assert missing.value.message == "live session 'EX01-99' does not exist"
    with pytest.raises(NotFound, match="live session 'EX02-7' does not exist"):
        run(session_ops.end_sessions(ctx, "EX02-7"))  # no such server
    with pytest.raises(NotFound, match="live session of 'bob@example.com' does not exist"):
        run(session_ops.end_sessions(ctx, user="Bob@Example.com"))
    with pytest.raises(ValidationError) as malformed:
        run(session_ops.end_sessions(ctx, "seven"))
    assert malformed.value.field == "session" and "SERVER-NUMBER, e.g. EX01-42" in malformed.value.message
    for args, kwargs in (((), {}), (("EX01-7",), {"user": "alice@example.com"})):
        with pytest.raises(ValidationError, match="name one session"):
            run(session_ops.end_sessions(ctx, *args, **kwargs))
    assert ends_audited(run, store) == []  # nothing asked, nothing noted
    assert not node.sessions[0].ended


def test_a_node_that_does_not_answer_in_time_is_named(context, data_dir, run, quick):
    with StandInNode(lambda: open_store(data_dir), "EX01", [alice_pop3()], answering=False):
        result = run(session_ops.end_sessions(context("server-management"), user="alice@example.com"))
    assert result == {"ended": [], "pending": ["EX01"]}


def test_a_session_the_node_did_not_list_is_still_asked_for_when_its_list_was_cut(context, data_dir, store, run,
                                                                                   monkeypatch):
    from postroom.server import live_sessions
    monkeypatch.setattr(live_sessions, "MAX_LISTED", 1)
    hidden = [StandInSession(f"EX01-{n}", "pop3", "carol@example.com", "192.0.2.30", Pop3State.TRANSACTION, age=n)
              for n in (3, 5)]
    with StandInNode(lambda: open_store(data_dir), "EX01", [alice_pop3(), *hidden]) as node:
        view = run(session_ops.list_sessions(context("view-only")))
        assert [s["id"] for s in view["sessions"]] == ["EX01-7"] and view["servers"][0]["truncated"] is True
        assert view["servers"][0]["sessions"]["pop3"] == 3 and view["servers"][0]["listed"]["pop3"] == 1
        result = run(session_ops.end_sessions(context("server-management"), "EX01-3"))
        assert [s["id"] for s in result["ended"]] == ["EX01-3"] and node.sessions[1].ended
        with pytest.raises(NotFound, match="live session 'EX01-4' does not exist"):
            run(session_ops.end_sessions(context("server-management"), "EX01-4"))
    assert [e.target for e in ends_audited(run, store)] == ["session/EX01-4", "session/EX01-3"]  # both were asked
