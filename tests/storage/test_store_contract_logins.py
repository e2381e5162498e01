"""The Store contract, failed-login evidence: record_login_failures, list_login_failures and
remove_login_failures. Runs once per backend (fixtures in conftest.py), through the Store
protocol only."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from postroom.errors import ValidationError
from postroom.model import LoginFailure, PopSettings

from .evidence_contract import BAD_QUERIES, persists_and_needs_an_open_store, refuses_bad_query
from .test_store_contract import SERVER, is_utc_iso, services_for

pytestmark = pytest.mark.store_evidence

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


def failure(minutes: float = 0, mailbox: str = "crm@example.com", reason: str = "bad-credentials",
            service: str = "pop3", remote_ip: str = "192.0.2.7", server: str = "EX01") -> LoginFailure:
    return LoginFailure((T0 + timedelta(minutes=minutes)).isoformat(), server, service, remote_ip, mailbox, reason)


def test_failures_round_trip_oldest_first(store, run):
    async def body():
        assert await store.list_login_failures() == []
        rows = [failure(0), failure(1, reason="tls-required", remote_ip="2001:db8::7"),
                failure(2, service="smtp", reason="mailbox-disabled")]
        await store.record_login_failures(rows[1:])
        await store.record_login_failures(rows[:1])  # recorded late: still ordered by time
        stored = await store.list_login_failures()
        assert [(r.reason, r.service, r.remote_ip) for r in stored] == [
            ("bad-credentials", "pop3", "192.0.2.7"), ("tls-required", "pop3", "2001:db8::7"),
            ("mailbox-disabled", "smtp", "192.0.2.7")]
        assert all(is_utc_iso(r.at) for r in stored)
        assert stored[0].at == T0.isoformat(timespec="microseconds")
    run(body())


def test_a_doctor_password_check_is_evidence_too(store, run):
    """A wrong or refused password given to the doctor or `postroom test` (service doctor)."""
    async def body():
        await store.record_login_failures([failure(0, service="doctor"), failure(1, service="doctor",
                                                                                 reason="blocked")])
        assert [(r.service, r.reason) for r in await store.list_login_failures("crm@example.com")] == [
            ("doctor", "bad-credentials"), ("doctor", "blocked")]
    run(body())


def test_imap4_refusals_are_evidence_too(store, run):
    """The IMAP4 server's refused logins (the doctor's recent-failed-logins for `doctor imap`)."""
    async def body():
        await store.record_login_failures([failure(0, service="imap4", reason="imap-disabled")])
        assert [(r.service, r.reason) for r in await store.list_login_failures("crm@example.com")] == [
            ("imap4", "imap-disabled")]
    run(body())


def test_failures_filter_by_mailbox_ignoring_case_and_by_time(store, run):
    async def body():
        await store.record_login_failures([
            failure(0, "CRM@Example.com"), failure(10, "other@example.com"), failure(20, "crm@example.com"),
            failure(30, "crm@example.com.evil"),
        ])
        assert [r.mailbox for r in await store.list_login_failures("crm@example.com")] == [
            "CRM@Example.com", "crm@example.com"]  # stored as the client sent it
        since = (T0 + timedelta(minutes=10)).isoformat()
        assert [r.mailbox for r in await store.list_login_failures(since=since)] == [
            "other@example.com", "crm@example.com", "crm@example.com.evil"]
        assert [r.at for r in await store.list_login_failures("crm@example.com", since=since)] == [
            (T0 + timedelta(minutes=20)).isoformat(timespec="microseconds")]
        # A time with an offset means the same instant.
        local = (T0 + timedelta(minutes=20)).astimezone(timezone(timedelta(hours=2))).isoformat()
        assert len(await store.list_login_failures(since=local)) == 2
    run(body())


def test_failures_limit_keeps_the_newest(store, run):
    async def body():
        await store.record_login_failures([failure(n, remote_ip=f"192.0.2.{n}") for n in range(10)])
        newest = await store.list_login_failures(limit=3)
        assert [r.remote_ip for r in newest] == ["192.0.2.7", "192.0.2.8", "192.0.2.9"]
    run(body())


def test_failures_are_evidence_not_configuration(store, run):
    async def body():
        version = await store.config_version()
        await store.record_login_failures([failure(0)])
        await store.remove_login_failures(T0.isoformat())
        assert await store.config_version() == version
    run(body())


def test_failures_need_no_server_or_mailbox(store, run):
    async def body():
        # Evidence outlives what it names, and unknown names are exactly what attackers try.
        await store.record_login_failures([failure(0, mailbox="nobody@nowhere.example", server="GONE")])
        await store.record_login_failures([failure(1, mailbox="")])  # AUTH with an empty name
        assert len(await store.list_login_failures()) == 2
        await store.add_server(SERVER, services_for("EX01"), PopSettings())
        assert len(await store.list_login_failures("nobody@nowhere.example")) == 1
    run(body())


def test_failures_long_names_are_cut(store, run):
    async def body():
        await store.record_login_failures([failure(0, mailbox="x" * 500)])
        assert (await store.list_login_failures())[0].mailbox == "x" * 100
    run(body())


def test_remove_failures_before_a_time(store, run):
    async def body():
        await store.record_login_failures([failure(n) for n in range(5)])
        assert await store.remove_login_failures((T0 + timedelta(minutes=3)).isoformat()) == 3
        assert len(await store.list_login_failures()) == 2
        assert await store.remove_login_failures(T0.isoformat()) == 0
    run(body())


def test_nothing_to_record_is_a_no_op(store, run):
    async def body():
        await store.record_login_failures([])
        assert await store.list_login_failures() == []
    run(body())


@pytest.mark.parametrize("bad, field", [
    (failure(0, service="nntp"), "service"),
    (failure(0, reason=""), "reason"),
    (failure(0, remote_ip=""), "remote_ip"),
    (LoginFailure("yesterday", "EX01", "pop3", "192.0.2.7", "a@example.com", "bad-credentials"), "at"),
    (("2024-05-01T12:00:00Z", "EX01", "pop3", "192.0.2.7", "a@example.com", "bad-credentials"), "rows"),
])
def test_a_bad_row_is_refused_and_nothing_is_recorded(store, run, bad, field):
    async def body():
        with pytest.raises(ValidationError) as refused:
            await store.record_login_failures([failure(0), bad])
        assert refused.value.field == field
        assert await store.list_login_failures() == []
    run(body())


@pytest.mark.parametrize("kwargs, field", BAD_QUERIES)
def test_bad_queries_are_refused(store, run, kwargs, field):
    refuses_bad_query(store, run, "list_login_failures", kwargs, field)


def test_failures_persist_and_need_an_open_store(make_store, run):
    persists_and_needs_an_open_store(
        make_store, run, "record_login_failures", "list_login_failures", failure(0),
        lambda r: r.reason, ["bad-credentials"])
