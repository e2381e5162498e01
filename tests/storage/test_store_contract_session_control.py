"""The Store contract, requests to end live sessions (SessionControl): stored with their audit
entry or not at all, taken by the node of their server oldest first, answered once, kept a day.
Every backend must pass it, through the Store protocol only."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from audit_support import refuse_audit_inserts

from postroom.errors import NotFound, PostroomError, ValidationError
from postroom.model import PopSettings, Server, SessionEndRequest
from postroom.storage import AuditNote

from .test_store_contract import SERVER, services_for

pytestmark = pytest.mark.store_sessions
OTHER = Server("EX02", "ex02.example.com")


def at(minutes_ago: float = 0) -> str:
    return (datetime.now(timezone.utc) - timedelta(minutes=minutes_ago)).isoformat()


def by_id(server: str = "EX01", session: str = "EX01-7", minutes_ago: float = 0) -> SessionEndRequest:
    return SessionEndRequest(server, session=session, seen_at=1_700_000_000.5, requested_at=at(minutes_ago),
                             requested_by="alice-admin")


async def servers(store) -> None:
    for server in (SERVER, OTHER):
        await store.add_server(server, services_for(server.name), PopSettings())


def test_a_request_is_taken_by_its_server_and_answered_once(store, run):
    async def body():
        await servers(store)
        version = await store.config_version()
        stored = await store.request_session_ends([
            by_id(), SessionEndRequest("EX02", mailbox="bob@example.com", seen_at=5.0, requested_at=at(),
                                       requested_by="alice-admin"), by_id(session="EX01-9")])
        assert [(r.server, r.session, r.mailbox, r.done_at, r.ended) for r in stored] == [
            ("EX01", "EX01-7", None, None, ()), ("EX02", None, "bob@example.com", None, ()),
            ("EX01", "EX01-9", None, None, ())]
        assert stored[0].seen_at == 1_700_000_000.5 and stored[0].requested_by == "alice-admin"
        assert len({r.id for r in stored}) == 3
        assert await store.config_version() == version  # not configuration
        pending = await store.pending_session_ends("EX01")
        assert [r.session for r in pending] == ["EX01-7", "EX01-9"]  # oldest first, this server's only
        ended = [{"id": "EX01-7", "service": "pop3", "user": "alice@example.com", "tls": True, "idle_seconds": 1.5}]
        await store.finish_session_end(pending[0].id, at(), ended)
        answered = await store.get_session_end(pending[0].id)
        assert answered.done_at is not None and answered.ended == tuple(ended)
        assert [r.session for r in await store.pending_session_ends("EX01")] == ["EX01-9"]
        assert [r.mailbox for r in await store.pending_session_ends("EX02")] == ["bob@example.com"]
        assert await store.pending_session_ends("EX03") == []
    run(body())


def test_the_audit_entry_commits_with_the_requests_or_nothing_is_stored(store, run):
    async def body():
        await servers(store)
        note = AuditNote("alice-admin", "session.end", "session/EX01-7", {"sessions": [{"id": "EX01-7"}]}, None, "api")
        await store.request_session_ends([by_id()], audit=note)
        entry = (await store.list_audit(1))[0]
        assert (entry.action, entry.target, entry.channel, entry.before) == (
            "session.end", "session/EX01-7", "api", {"sessions": [{"id": "EX01-7"}]})
        await refuse_audit_inserts(store)
        with pytest.raises(PostroomError):
            await store.request_session_ends([by_id(session="EX01-8")], audit=note)
        assert [r.session for r in await store.pending_session_ends("EX01")] == ["EX01-7"]
    run(body())


def test_refusals_store_nothing(store, run):
    async def body():
        await servers(store)
        with pytest.raises(NotFound, match="server 'EX09' does not exist"):
            await store.request_session_ends([by_id(), by_id(server="EX09")])
        for bad in (SessionEndRequest("EX01", seen_at=1.0, requested_at=at(), requested_by="a"),
                    SessionEndRequest("EX01", session="EX01-1", mailbox="a@example.com", seen_at=1.0,
                                      requested_at=at(), requested_by="a"),
                    SessionEndRequest("EX01", session="EX01-1", seen_at=1.0, requested_at="yesterday",
                                      requested_by="a"),
                    SessionEndRequest("EX01", session="EX01-1", seen_at=1.0, requested_at=at(), requested_by="")):
            with pytest.raises(ValidationError):
                await store.request_session_ends([by_id(), bad])
        with pytest.raises(ValidationError):
            await store.request_session_ends([])
        assert await store.pending_session_ends("EX01") == []
        with pytest.raises(NotFound):
            await store.get_session_end(12345)
        with pytest.raises(NotFound):
            await store.finish_session_end(12345, at(), [])
    run(body())


def test_requests_live_a_day(store, run):
    async def body():
        await servers(store)
        old = (await store.request_session_ends([by_id(session="EX01-1", minutes_ago=25 * 60)]))[0]
        kept = (await store.request_session_ends([by_id(session="EX01-2", minutes_ago=23 * 60)]))[0]
        assert [r.session for r in await store.pending_session_ends("EX01")] == ["EX01-1", "EX01-2"]
        await store.request_session_ends([by_id(session="EX01-3")])  # a new request clears the day-old ones
        assert [r.session for r in await store.pending_session_ends("EX01")] == ["EX01-2", "EX01-3"]
        with pytest.raises(NotFound):
            await store.get_session_end(old.id)
        assert (await store.get_session_end(kept.id)).session == "EX01-2"
    run(body())
