"""Message tracking rows for the embedded store, written in batches.

When deliveries do not overlap, each one is its own transaction, and its two tracking rows
dirty the tracking table and its six indexes: ten of the seventeen 16 KiB pages a 2 KB
delivery wrote to the WAL. Tracking is a log, not mail (Exchange buffers its message
tracking log too), so a row waits up to `TRACKING_DELAY` seconds and is written in one
transaction with every row that came in meanwhile. A row keeps the time of its event.

Reads of tracking through this store flush first (an API or console reader sees its own
node's rows at once); closing the store and taking a snapshot flush; another process (the
CLI beside a running node) sees a row within about `TRACKING_DELAY`. A crash can lose the
last `TRACKING_DELAY` seconds of tracking rows, never a message: the delivery itself is
committed before its 250.
"""
from __future__ import annotations

import asyncio
import logging
import sqlite3
from typing import Any, Awaitable, Callable, Sequence

from ...errors import PostroomError
from ..sql import schema as schema_sql
from . import mail

TRACKING_DELAY = 0.1  # seconds a tracking row may wait for others to share its transaction
log = logging.getLogger("postroom.store")

Write = Callable[[Callable[[sqlite3.Connection], Any]], Awaitable[Any]]


class TrackingBuffer:
    """Tracking rows waiting for their batch; `write` runs a job on the store's writer."""

    def __init__(self, write: Write, delay: float = TRACKING_DELAY) -> None:
        self._write = write
        self.delay = delay
        self._rows: list[tuple[Any, ...]] = []  # (at, *tracking_values) in event order
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None

    def add(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Rows checked by `tracking_values`, stamped now; written within `delay` seconds."""
        if not rows:
            return
        at = schema_sql.now()
        self._rows.extend((at, *row) for row in rows)
        if self._timer is None and self._task is None:  # a running batch picks these up too
            self._timer = asyncio.get_running_loop().call_later(self.delay, self._start)

    def _start(self) -> None:
        self._timer = None
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while self._rows:
                rows, self._rows = self._rows, []
                try:
                    await self._write(lambda conn: mail.insert_tracking(conn, rows))
                except PostroomError as exc:  # a log must never fail mail: say so and go on
                    log.warning("message tracking: %d row(s) could not be written: %s", len(rows), exc.message)
        finally:
            self._task = None

    async def flush(self) -> None:
        """Write every waiting row now (and wait for a batch already being written)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._task is None and self._rows:
            self._start()
        if self._task is not None:
            await asyncio.shield(self._task)
