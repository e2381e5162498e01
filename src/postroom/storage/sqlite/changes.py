"""The embedded store's mailbox change feed (the MailboxChanges role, storage/changes.py).

One node serves an embedded store, and its own writes are reported as they return (workers.py
`_write(..., changes=...)`). Other processes write it too (the CLI: `mailbox import`, a message
deleted): the feed asks the writer connection for `PRAGMA data_version` every CHECK_INTERVAL,
which moves only when another connection committed (never for the writer's own commits), so a
node that is left alone costs one cheap pragma per check, whatever its sessions. When it moved,
one read of the folders table gives each mailbox's mark (storage/sql/changes.py), and the
mailboxes whose mark moved since the last read are reported.
"""
from __future__ import annotations

import asyncio
import logging
import sqlite3

from ...errors import PostroomError
from ..changes import ChangeCallback
from ..sql.changes import MAILBOX_MARKS, Marks, changed_marks
from .workers import SqliteWorkers

log = logging.getLogger("postroom.store")
CHECK_INTERVAL = 0.25  # seconds between looks for other processes' writes


def _data_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA data_version").fetchone()[0])


def _marks(conn: sqlite3.Connection) -> Marks:
    return {row[0]: tuple(row[1:]) for row in conn.execute(MAILBOX_MARKS)}


class SqliteChanges(SqliteWorkers):
    async def watch_mailboxes(self, changed: ChangeCallback) -> None:
        self._check_open()
        self._signal.callback = changed
        if self._signal.feeding:
            return
        # In this order: a commit after the version was read shows in the marks or moves the version.
        version = await self._submit(self._writes, _data_version, True)  # raw: outside any transaction
        marks = await self._read(_marks)
        self._signal.start(self._watch(version, marks))

    async def unwatch_mailboxes(self) -> None:
        await self._signal.stop()

    async def close(self) -> None:
        await self.unwatch_mailboxes()
        await super().close()

    async def _watch(self, version: int, marks: Marks) -> None:
        failing = False
        while True:
            await asyncio.sleep(CHECK_INTERVAL)
            try:
                now = await self._submit(self._writes, _data_version, True)
                if now == version:
                    continue
                latest = await self._read(_marks)
            except PostroomError as exc:
                if self._state != "open":
                    return
                if not failing:
                    log.warning("cannot look for other processes' mailbox changes: %s", exc.message)
                failing = True
                continue
            if failing:
                failing = False
                log.warning("looking for other processes' mailbox changes again")
            version, changed, marks = now, changed_marks(marks, latest), latest
            self._signal(changed)
