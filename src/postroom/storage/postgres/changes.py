"""The scale-out store's mailbox change feed (the MailboxChanges role, storage/changes.py).

Every write that changes a mailbox sends a notification in its transaction (base.py
`_transaction(..., changes=...)`: "ORIGIN ID,ID,..." on the schema's channel), which PostgreSQL
delivers at the commit to every listening connection. A watching store keeps one listener
connection of its own (never a pooled one): its own writes are reported as they return, so it
passes over the notifications that carry its own origin. When the listener connection is lost
(PostgreSQL restarted, the backend terminated, the network), it connects again with a growing
delay, and once it listens again reports None: a change may have been missed meanwhile. A
quiet connection is checked every KEEPALIVE seconds, so a silent loss is found too.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

import asyncpg

from ..changes import ChangeCallback
from ..sql.changes import read_payload
from .base import CHANNEL, CONNECT_TIMEOUT, PostgresBase, translate

log = logging.getLogger("postroom.store")
RETRY_FIRST, RETRY_MAX = 0.1, 5.0  # seconds between attempts to listen again, doubling
KEEPALIVE = 15.0  # seconds: a listener connection without traffic is checked this often
# The channel to listen on; the connection is named after it in pg_stat_activity.
_NAMED = f"SELECT {CHANNEL} FROM set_config('application_name', {CHANNEL}, false)"


class PostgresChanges(PostgresBase):
    async def watch_mailboxes(self, changed: ChangeCallback) -> None:
        self._check_open()
        self._signal.callback = changed
        if self._signal.feeding:
            return
        listening = asyncio.get_running_loop().create_future()
        self._signal.start(self._listen(listening))
        await asyncio.wait([listening], timeout=CONNECT_TIMEOUT + 1)  # listening, or retrying

    async def unwatch_mailboxes(self) -> None:
        await self._signal.stop()

    async def close(self) -> None:
        await self.unwatch_mailboxes()
        await super().close()

    async def _listen(self, listening: asyncio.Future[None]) -> None:
        """Listen, and listen again whenever the connection is lost (see the module's doc)."""
        delay, missed = RETRY_FIRST, False
        while True:
            conn: Any = None
            try:
                conn = await asyncpg.connect(self.url, timeout=CONNECT_TIMEOUT)
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _: lost.set())
                await conn.add_listener(await conn.fetchval(_NAMED), self._notified)
                if missed:
                    log.warning("listening for mailbox changes again: every idling session looks")
                    self._signal(None)
                delay, missed = RETRY_FIRST, True
                if not listening.done():
                    listening.set_result(None)
                await _until_lost(conn, lost)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                error = translate(exc, self.url)
                log.warning("cannot listen for mailbox changes (retrying in %.1f s): %s", delay,
                            getattr(error, "message", error))
                missed = True
                if not listening.done():
                    listening.set_result(None)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
            finally:
                if conn is not None:
                    conn.terminate()

    def _notified(self, conn: Any, pid: int, channel: str, payload: str) -> None:
        origin, ids = read_payload(payload)
        if origin != self._signal.origin:  # our own writes were reported as they returned
            self._signal(ids)


async def _until_lost(conn: Any, lost: asyncio.Event) -> None:
    """Returns when the connection is gone: closed under it, or not answering a check."""
    while not lost.is_set():
        try:
            await asyncio.wait_for(lost.wait(), KEEPALIVE)
        except asyncio.TimeoutError:
            await conn.fetchval("SELECT 1", timeout=CONNECT_TIMEOUT)  # raises when it is gone
    raise ConnectionError("the listener connection was closed")
