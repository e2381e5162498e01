"""Message tracking retention: rows older than 30 days go, a batch at a time, once an hour per
node, in a task of its own; a running node prunes soon after it starts."""
from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timedelta, timezone

from postroom.errors import Unavailable
from postroom.model import PopSettings, Server, Service, ServiceStatus, Startup, TrackingEvent, TrackingEventId
from postroom.server import retention
from postroom.server.node import Node
from postroom.server.retention import TrackingRetention, prune_tracking
from postroom.storage.sqlite import SqliteStore
from postroom.web.app import node_admin_app
from waiting import until


def row(queue_id: str) -> TrackingEvent:
    return TrackingEvent(TrackingEventId.RECEIVE, "TEST", "SMTP", queue_id, "<m@example.net>", "bob@example.net",
                         "alice@example.com", "250 2.6.0", 100, "192.0.2.7", "Default TEST")


async def store_with_rows(tmp_path, count: int) -> SqliteStore:
    store = SqliteStore(str(tmp_path / "postroom.db"))
    await store.open()
    await store.migrate()
    await store.append_tracking([row(f"Q{i}") for i in range(count)])
    return store


class Counting:
    """A store that counts and can hold remove_tracking (or fail it)."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store
        self.batches: list[int] = []
        self.hold: asyncio.Event | None = None
        self.down = False
        self.calls = 0  # batches tried, failed ones included

    async def remove_tracking(self, before: str, limit: int = 5000) -> int:
        self.calls += 1
        if self.down:
            raise Unavailable("database is locked")
        if self.hold is not None:
            await self.hold.wait()
        removed = await self.store.remove_tracking(before, limit)
        self.batches.append(removed)
        return removed

    async def remove_idle_queues(self, limit: int = 1000) -> int:
        return await self.store.remove_idle_queues(limit)


def test_rows_older_than_thirty_days_go_a_batch_at_a_time(tmp_path):
    async def main():
        store = await store_with_rows(tmp_path, 5)
        counting = Counting(store)
        try:
            now = datetime.now(timezone.utc)
            assert await prune_tracking(counting, now) == 0
            assert await prune_tracking(counting, now + timedelta(days=29, hours=23)) == 0
            assert len(await store.list_tracking()) == 5
            counting.batches.clear()
            assert await prune_tracking(counting, now + timedelta(days=30, minutes=1), batch=2) == 5
            assert counting.batches == [2, 2, 1]  # stops at the first batch that is not full
            assert await store.list_tracking() == []
        finally:
            await store.close()

    asyncio.run(main())


async def settled(keeper: TrackingRetention) -> None:
    """Wait for the pruning the last tick started, if it started one (a tick that starts none
    leaves the earlier, finished task in place: nothing to wait for)."""
    await until(lambda: keeper._task is None or keeper._task.done(), what="the pruning to end")


def test_one_pruning_at_a_time_then_once_an_hour_and_a_failure_waits_for_the_next(tmp_path, caplog):
    async def main():
        store = await store_with_rows(tmp_path, 1)
        counting = Counting(store)
        clock = [time.time()]
        keeper = TrackingRetention(counting, "TEST", clock=lambda: clock[0])
        try:
            counting.hold = asyncio.Event()
            keeper.tick()  # due at once after start
            await until(lambda: counting.calls == 1, what="the first pruning to start")
            keeper.tick()  # still running: no second one
            counting.hold.set()
            await settled(keeper)
            assert counting.batches == [0]  # one pruning ran; the row is younger than 30 days
            clock[0] += 10
            keeper.tick()
            await settled(keeper)
            assert counting.batches == [0] and counting.calls == 1  # not due yet
            clock[0] += retention.PRUNE_INTERVAL
            counting.down = True
            keeper.tick()  # due, and the store is away
            await settled(keeper)
            assert counting.calls == 2
            clock[0] += 10
            counting.down = False
            keeper.tick()
            await settled(keeper)
            assert counting.batches == [0] and counting.calls == 2  # after a failure the next try is an hour later
            clock[0] += retention.PRUNE_INTERVAL + timedelta(days=31).total_seconds()
            keeper.tick()
            await settled(keeper)
            assert counting.batches == [0, 1]
            assert await store.list_tracking() == []
        finally:
            await keeper.stop()
            await store.close()

    with caplog.at_level(logging.INFO, logger="postroom.node"):
        asyncio.run(main())
    messages = [r.getMessage() for r in caplog.records]
    assert "node TEST cannot remove old message-tracking rows: database is locked" in messages
    assert "node TEST removed 1 message-tracking row(s) older than 30 days" in messages


def test_a_running_node_prunes_soon_after_it_starts(tmp_path):
    async def main():
        store = await store_with_rows(tmp_path, 3)
        services = [Service("TEST", name, Startup.MANUAL, ServiceStatus.STOPPED) for name in ("pop3", "smtp", "admin")]
        await store.add_server(Server("TEST", "test.example.com"), services, PopSettings())  # nothing listens
        node = Node(store, str(tmp_path), "TEST", admin_app=node_admin_app)
        node.retention.max_age = timedelta(0)  # every row is too old
        await node.start()
        try:
            async def pruned() -> bool:
                return await store.list_tracking() == []

            await until(pruned, 6, "the node to prune the old rows")
        finally:
            await node.stop()
            await store.close()

    asyncio.run(asyncio.wait_for(main(), 20))
