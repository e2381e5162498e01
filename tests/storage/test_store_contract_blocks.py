"""The Store contract, login blocks (BlockStore): shared by every node, replaced by (kind,
value), gone once expired or lifted. Every backend must pass it, through the Store protocol only."""
from __future__ import annotations

import time

import pytest

from postroom.model import Block, PopSettings

from .test_store_contract import SERVER, services_for

pytestmark = pytest.mark.store_blocks


def block(kind: str, value: str, until_in: float = 600, failures: int = 10) -> Block:
    now = time.time()
    return Block(kind, value, now - 1, now + until_in, failures, "pop3")


def test_blocks_round_trip_oldest_first_replaced_by_kind_and_value(store, run):
    async def body():
        await store.add_server(SERVER, services_for(SERVER.name), PopSettings())
        version = await store.config_version()
        await store.add_blocks(SERVER.name, [block("source", "192.0.2.7"), block("mailbox", "alice@example.com")])
        await store.add_blocks("EX02", [block("source", "192.0.2.7", failures=25)])  # replaces it
        listed = await store.list_blocks()
        assert sorted((b.kind, b.value, b.failures, b.server) for b in listed) == [
            ("mailbox", "alice@example.com", 10, SERVER.name), ("source", "192.0.2.7", 25, "EX02")]
        assert [b.since for b in listed] == sorted(b.since for b in listed)
        assert await store.config_version() == version  # not configuration
    run(body())


def test_expired_blocks_are_not_listed_and_go_with_the_next_add(store, run):
    async def body():
        await store.add_blocks(SERVER.name, [block("source", "192.0.2.1", until_in=-5), block("source", "192.0.2.2")])
        assert [b.value for b in await store.list_blocks()] == ["192.0.2.2"]
        await store.add_blocks(SERVER.name, [])
        assert await store.remove_blocks(None) == 1  # the expired one was removed by add_blocks
    run(body())


def test_remove_blocks_by_value_of_any_kind_or_all(store, run):
    async def body():
        await store.add_blocks(SERVER.name, [block("source", "192.0.2.7"), block("mailbox", "192.0.2.7"),
                                             block("mailbox", "bob@example.com"), block("admin", "root")])
        assert await store.remove_blocks(" 192.0.2.7 ") == 2
        assert await store.remove_blocks("nobody@example.com") == 0
        assert sorted(b.value for b in await store.list_blocks()) == ["bob@example.com", "root"]
        assert await store.remove_blocks() == 2
        assert await store.list_blocks() == []
    run(body())


def test_blocks_are_shared_through_the_store(make_store, run):
    async def body():
        one, two = make_store(), make_store()
        await one.open()
        await one.migrate()
        await two.open()
        try:
            await one.add_blocks(SERVER.name, [block("source", "198.51.100.4")])
            assert [b.value for b in await two.list_blocks()] == ["198.51.100.4"]
        finally:
            await one.close()
            await two.close()
    run(body())
