"""The Store contract, activity counters: what nodes add per 10-minute bucket and the dashboard
reads back. Every backend must pass it, through the Store protocol only."""
from __future__ import annotations

import pytest

from postroom.errors import NotFound, Unavailable, ValidationError
from postroom.model import PopSettings, Server

from .test_store_contract import SERVER, services_for

pytestmark = pytest.mark.store_evidence

OTHER = Server("EX02", "ex02.example.com")
B0 = "2024-05-01T12:00:00.000000+00:00"
B1 = "2024-05-01T12:10:00.000000+00:00"
B2 = "2024-05-01T12:20:00.000000+00:00"


async def servers(store, *names: Server) -> None:
    for server in names:
        await store.add_server(server, services_for(server.name), PopSettings())


def test_counts_add_up_per_server_bucket_and_kind(store, run):
    async def body():
        await servers(store, SERVER, OTHER)
        await store.add_activity("EX01", {(B0, "pop3-login-ok"): 3, (B0, "pop3-login-failed"): 1})
        await store.add_activity("EX01", {(B0, "pop3-login-ok"): 2, (B1, "smtp-delivered"): 5})
        await store.add_activity("EX02", {(B0, "pop3-login-ok"): 7})
        assert await store.list_activity("EX01", B0) == [
            ("EX01", B0, "pop3-login-failed", 1), ("EX01", B0, "pop3-login-ok", 5), ("EX01", B1, "smtp-delivered", 5),
        ]
        assert await store.list_activity("EX02", B0) == [("EX02", B0, "pop3-login-ok", 7)]
        every = await store.list_activity(None, B0)
        assert [row[0] for row in every] == ["EX01", "EX01", "EX01", "EX02"], "ordered by server, bucket, kind"
    run(body())


def test_since_is_a_time_and_buckets_come_back_in_the_stored_form(store, run):
    async def body():
        await servers(store, SERVER)
        # the same bucket spelled three ways is one counter
        await store.add_activity("EX01", {("2024-05-01T12:10:00Z", "smtp-delivered"): 1,
                                          ("2024-05-01T14:10:00+02:00", "smtp-delivered"): 2})
        await store.add_activity("EX01", {(B1, "smtp-delivered"): 3, (B0, "smtp-delivered"): 1,
                                          (B2, "smtp-delivered"): 1})
        assert await store.list_activity("EX01", B1) == [("EX01", B1, "smtp-delivered", 6),
                                                         ("EX01", B2, "smtp-delivered", 1)]
        assert await store.list_activity("EX01", "2024-05-01T12:00:01Z") == await store.list_activity("EX01", B1)
        assert len(await store.list_activity("EX01", "2024-05-01T14:00:00+02:00")) == 3, "an offset is honoured"
        assert await store.list_activity("EX01", "2024-05-02T00:00:00Z") == []
    run(body())


def test_activity_is_not_configuration(store, run):
    async def body():
        await servers(store, SERVER)
        version = await store.config_version()
        await store.add_activity("EX01", {(B0, "pop3-login-ok"): 1})
        assert await store.config_version() == version
    run(body())


def test_nothing_to_add_is_a_no_op(store, run):
    async def body():
        await servers(store, SERVER)
        await store.add_activity("EX01", {})
        await store.add_activity("EX01", {(B0, "pop3-login-ok"): 0})
        assert await store.list_activity(None, B0) == []
    run(body())


def test_refused_counts_store_nothing(store, run):
    async def body():
        await servers(store, SERVER)
        with pytest.raises(NotFound):
            await store.add_activity("EX09", {(B0, "pop3-login-ok"): 1})
        for bad in ({(B0, "pop3-login-ok"): -1}, {(B0, "pop3-login-ok"): 1.5}, {(B0, "pop3-login-ok"): True},
                    {(B0, ""): 1}, {("yesterday", "pop3-login-ok"): 1}, {B0: 1}, [((B0, "pop3-login-ok"), 1)]):
            with pytest.raises(ValidationError):
                await store.add_activity("EX01", bad)
        # one bad entry refuses the whole mapping
        with pytest.raises(ValidationError):
            await store.add_activity("EX01", {(B0, "pop3-login-ok"): 1, (B1, "pop3-login-ok"): -1})
        with pytest.raises(ValidationError):
            await store.list_activity("EX01", "not a time")
        assert await store.list_activity(None, B0) == []
    run(body())


def test_counters_survive_reopening(make_store, run):
    async def body():
        first = make_store()
        await first.open()
        await first.migrate()
        await servers(first, SERVER)
        await first.add_activity("EX01", {(B0, "smtp-delivered"): 4})
        await first.close()
        with pytest.raises(Unavailable):
            await first.add_activity("EX01", {(B0, "smtp-delivered"): 1})
        second = make_store()
        await second.open()
        try:
            assert await second.list_activity("EX01", B0) == [("EX01", B0, "smtp-delivered", 4)]
        finally:
            await second.close()
    run(body())
