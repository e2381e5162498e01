"""How long a node keeps message tracking: 30 days, Exchange's MessageTrackingLogMaxAge default;
and the outbound queue's rows of next hops no mail waits for, removed at the same rhythm.

Every node prunes once an hour (and once soon after it starts), oldest rows first, in bounded
batches (`Store.remove_tracking`), in a task of its own: a first pruning of a long history
never holds the store in one long write, and the node's heartbeat never waits for it. Nodes
sharing a store prune the same rows; a row removed by one is simply not there for the others.
"""
from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timedelta, timezone
from typing import Callable, Protocol

from ..errors import PostroomError
from ..storage import EvidenceStore
from .evidence import PRUNE_INTERVAL  # one pruning rhythm for the node's logs

log = logging.getLogger("postroom.node")
TRACKING_MAX_AGE = timedelta(days=30)
BATCH = 5000  # rows per statement


class RetainedStore(EvidenceStore, Protocol):
    async def remove_idle_queues(self, limit: int = 1000) -> int: ...


async def prune_tracking(store: EvidenceStore, now: datetime, max_age: timedelta = TRACKING_MAX_AGE,
                         batch: int = BATCH) -> int:
    """Remove the tracking rows older than `max_age` at `now`, a batch at a time; how many."""
    cutoff = (now - max_age).isoformat()
    removed = 0
    while True:
        count = await store.remove_tracking(cutoff, batch)
        removed += count
        if count < batch:
            return removed


class TrackingRetention:
    """Starts a pruning when one is due and none is running (`tick`, from the node's loop)."""

    def __init__(self, store: RetainedStore, server: str, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.server = server
        self.clock = clock
        self.max_age = TRACKING_MAX_AGE
        self._last: float | None = None
        self._task: asyncio.Task[None] | None = None

    def tick(self) -> None:
        if self._task is not None and not self._task.done():
            return
        now = self.clock()
        if self._last is not None and now - self._last < PRUNE_INTERVAL:
            return
        self._last = now
        self._task = asyncio.get_running_loop().create_task(self._prune(now))

    async def _prune(self, now: float) -> None:
        try:
            removed = await prune_tracking(self.store, datetime.fromtimestamp(now, timezone.utc), self.max_age)
            idle = await self.store.remove_idle_queues(BATCH)
        except PostroomError as exc:  # the store is away: the next pruning catches up
            log.warning("node %s cannot remove old message-tracking rows: %s", self.server, exc.message)
            return
        if removed:
            log.info("node %s removed %d message-tracking row(s) older than %d days", self.server, removed,
                     self.max_age.days)
        if idle:
            log.info("node %s removed %d empty outbound queue(s)", self.server, idle)

    async def stop(self) -> None:
        """Cancel a pruning in progress (a batch already sent completes in the store)."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
