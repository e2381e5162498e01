"""The Store contract, POP3 and IMAP4 sessions that ended without a login (the doctor's evidence
beside failed logins): record_ended_sessions, list_ended_sessions and remove_ended_sessions.
Runs once per backend (fixtures in conftest.py), through the Store protocol only."""
from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest

from postroom.errors import ValidationError
from postroom.model import NOT_IMAP4, NOT_POP3, TLS_NOT_STARTED, TLS_REQUIRED, EndedSessions

from .evidence_contract import BAD_QUERIES, persists_and_needs_an_open_store, refuses_bad_query
from .test_store_contract import is_utc_iso

pytestmark = pytest.mark.store_evidence

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


def ended(minutes: float = 0, *, server: str = "EX01", remote_ip: str = "192.0.2.7", reason: str = TLS_NOT_STARTED,
          count: int = 12, mailbox: str = "", first_minutes: float | None = None, **changes) -> EndedSessions:
    at = T0 + timedelta(minutes=minutes)
    first = at if first_minutes is None else T0 + timedelta(minutes=first_minutes)
    row = EndedSessions(at.isoformat(), first.isoformat(), server, "pop3", remote_ip, "0.0.0.0:110", "none", reason,
                        "CAPA QUIT", mailbox, count)
    return dataclasses.replace(row, **changes)


def test_ended_sessions_round_trip_oldest_first(store, run):
    async def body():
        assert await store.list_ended_sessions() == []
        rows = [ended(0, first_minutes=-5), ended(1, reason=TLS_REQUIRED, mailbox="crm@example.com", count=3,
                                                  commands="CAPA USER QUIT", remote_ip="2001:db8::7"),
                ended(2, tls="stls", reason="quit", binding="[::]:110", count=1)]
        await store.record_ended_sessions(rows[1:])
        await store.record_ended_sessions(rows[:1])  # recorded late: still ordered by time
        stored = await store.list_ended_sessions()
        assert stored == [dataclasses.replace(r, at=r.at.replace("+00:00", ".000000+00:00"),
                                              first_at=r.first_at.replace("+00:00", ".000000+00:00")) for r in rows]
        assert all(is_utc_iso(r.at) and is_utc_iso(r.first_at) for r in stored)
        assert stored[0].first_at == (T0 - timedelta(minutes=5)).isoformat(timespec="microseconds")
    run(body())


def test_imap4_sessions_are_kept_beside_pop3s(store, run):
    """Both Client Access services record them; each row says whose it is, and POP3's rows and
    reasons are what they always were."""
    async def body():
        imap = dict(service="imap4", binding="0.0.0.0:143")
        rows = [ended(0, reason=NOT_POP3, commands="? ?"),
                ended(1, **imap, reason=TLS_REQUIRED, commands="CAPABILITY LOGIN LOGOUT", mailbox="crm@example.com"),
                ended(2, **imap, tls="stls", reason="logout"),
                ended(3, **imap, reason=NOT_IMAP4, commands="? ?")]
        await store.record_ended_sessions(rows)
        stored = await store.list_ended_sessions("EX01")
        assert [(r.service, r.binding, r.tls, r.reason, r.commands, r.mailbox) for r in stored] == [
            (r.service, r.binding, r.tls, r.reason, r.commands, r.mailbox) for r in rows]
        assert [r.service for r in stored] == ["pop3", "imap4", "imap4", "imap4"]
        # The doctor of each protocol asks for its own (a flood of one's rows hides none of the other's).
        assert [r.reason for r in await store.list_ended_sessions("EX01", service="imap4", limit=2)] == [
            "logout", NOT_IMAP4]
        assert [r.reason for r in await store.list_ended_sessions(service="pop3")] == [NOT_POP3]
        assert await store.list_ended_sessions("EX02", service="imap4") == []
    run(body())


def test_ended_sessions_filter_by_server_and_time(store, run):
    async def body():
        await store.record_ended_sessions([ended(0), ended(10, server="EX02"), ended(20), ended(30, server="ex01")])
        assert [r.at[11:16] for r in await store.list_ended_sessions("EX01")] == ["12:00", "12:20"]  # names are exact
        since = (T0 + timedelta(minutes=10)).isoformat()
        assert [r.server for r in await store.list_ended_sessions(since=since)] == ["EX02", "EX01", "ex01"]
        assert len(await store.list_ended_sessions("EX01", since=since)) == 1
        # A time with an offset means the same instant.
        local = (T0 + timedelta(minutes=20)).astimezone(timezone(timedelta(hours=2))).isoformat()
        assert len(await store.list_ended_sessions(since=local)) == 2
    run(body())


def test_ended_sessions_limit_keeps_the_newest(store, run):
    async def body():
        await store.record_ended_sessions([ended(n, remote_ip=f"192.0.2.{n}") for n in range(10)])
        assert [r.remote_ip for r in await store.list_ended_sessions(limit=3)] == [
            "192.0.2.7", "192.0.2.8", "192.0.2.9"]
    run(body())


def test_ended_sessions_are_evidence_not_configuration(store, run):
    async def body():
        version = await store.config_version()
        await store.record_ended_sessions([ended(0, server="NOT-A-SERVER")])  # evidence outlives what it names
        await store.remove_ended_sessions(T0.isoformat())
        assert await store.config_version() == version
        assert len(await store.list_ended_sessions("NOT-A-SERVER")) == 1
    run(body())


def test_ended_sessions_texts_are_cut_to_their_limits(store, run):
    async def body():
        await store.record_ended_sessions([ended(0, mailbox="x" * 500, commands="CAPA " * 100)])
        row = (await store.list_ended_sessions())[0]
        assert row.mailbox == "x" * 100 and len(row.commands) == 200
    run(body())


def test_remove_ended_sessions_before_a_time(store, run):
    async def body():
        await store.record_ended_sessions([ended(n) for n in range(5)])
        assert await store.remove_ended_sessions((T0 + timedelta(minutes=3)).isoformat()) == 3
        assert len(await store.list_ended_sessions()) == 2
        assert await store.remove_ended_sessions(T0.isoformat()) == 0
    run(body())


def test_nothing_to_record_is_a_no_op(store, run):
    async def body():
        await store.record_ended_sessions([])
        assert await store.list_ended_sessions() == []
    run(body())


@pytest.mark.parametrize("bad, field", [
    (ended(0, service="smtp"), "service"),  # SMTP sessions are not kept (nor "IMAP4": names are exact)
    (ended(0, service="IMAP4"), "service"),
    (ended(0, tls="tls"), "tls"),
    (ended(0, count=0), "count"),
    (ended(0, count=True), "count"),
    (ended(0, reason=""), "reason"),
    (ended(0, remote_ip=""), "remote_ip"),
    (ended(0, binding=""), "binding"),
    (ended(0, first_minutes=1), "first_at"),
    (ended(0, at="yesterday"), "at"),
    (("2024-05-01T12:00:00Z",) * 11, "rows"),
])
def test_a_bad_row_is_refused_and_nothing_is_recorded(store, run, bad, field):
    async def body():
        with pytest.raises(ValidationError) as refused:
            await store.record_ended_sessions([ended(0), bad])
        assert refused.value.field == field
        assert await store.list_ended_sessions() == []
    run(body())


@pytest.mark.parametrize("kwargs, field", BAD_QUERIES)
def test_bad_queries_are_refused(store, run, kwargs, field):
    refuses_bad_query(store, run, "list_ended_sessions", kwargs, field)


def test_ended_sessions_persist_and_need_an_open_store(make_store, run):
    persists_and_needs_an_open_store(
        make_store, run, "record_ended_sessions", "list_ended_sessions", ended(0),
        lambda r: (r.reason, r.count), [(TLS_NOT_STARTED, 12)])
