"""The thread plumbing under SqliteStore: one writer thread (group commit) and reader threads,
each with its own connection; a job is a function of a connection, awaited on the loop.

A full disk must not keep the store from opening: in WAL mode SQLite needs room for its
shared-memory index (`-shm`, 32 KiB) the first time the database is opened after a clean
close. So the store keeps a small reserve file beside the database (CockroachDB's "ballast
file"), made whenever there is ample room and given up when opening fails for want of space.
"""
from __future__ import annotations

import asyncio
import logging
import os
import queue
import sqlite3
from typing import Any, Callable

from ...errors import StorageFull, Unavailable
from ..notes import AuditNote
from ..sql.admin import audit_note
from ..sql.changes import ChangeSignal
from . import admin, threads
from .locks import MailboxLockFiles

READERS = 2
RESERVE_BYTES = 1 << 20
GATHER_SECONDS = 0.02  # how long a bookkeeping write may wait for others to share its transaction
log = logging.getLogger("postroom.storage")


def reserve_path(path: str) -> str:
    return path + "-reserve"


def keep_reserve(path: str) -> None:
    """Make the reserve if it is missing and the disk has room for it many times over."""
    reserve = reserve_path(path)
    if os.path.exists(reserve):
        return
    try:
        stat = os.statvfs(os.path.dirname(os.path.abspath(path)))
        if stat.f_bavail * stat.f_frsize < 8 * RESERVE_BYTES:
            return
        with open(reserve, "wb") as handle:
            handle.write(b"\0" * RESERVE_BYTES)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError:  # the reserve is a precaution: without it the store works all the same
        try:
            os.unlink(reserve)
        except OSError:
            pass


def release_reserve(path: str) -> bool:
    """Give up the reserve (the disk is full); whether there was one."""
    try:
        os.unlink(reserve_path(path))
    except OSError:
        return False
    log.warning("the disk holding %s is full: released its %d KiB reserve so the store can open",
                path, RESERVE_BYTES // 1024)
    return True


class SqliteWorkers:
    """Opens and closes the worker threads; `_read`/`_write` run a job on them."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._state = "new"
        self._writes: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._reads: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._workers: list[threads._Worker] = []
        self._locks = MailboxLockFiles(path)  # the POP3 mailbox lock (locks.py)
        self._claimed: str | None = None
        self._signal = ChangeSignal()  # mailbox changes: to the node watching (changes.py)
        self._gathering: list[threads.Job] = []  # bookkeeping writes waiting for their batch
        self._gather_timer: asyncio.TimerHandle | None = None

    # lifecycle ---------------------------------------------------------------------------
    async def open(self) -> None:
        if self._state == "open":
            return
        try:
            await self._start_workers()
        except StorageFull:
            if not release_reserve(self.path):
                raise
            await self._start_workers()
        self._state = "open"
        keep_reserve(self.path)

    async def _start_workers(self) -> None:
        self._writes, self._reads = queue.SimpleQueue(), queue.SimpleQueue()
        writer = threads.Writer("postroom-sqlite-writer", self.path, self._writes)
        self._workers = [writer]
        writer.start()
        try:
            await asyncio.wrap_future(writer.started)  # creates the file and turns WAL on
            for number in range(READERS):
                reader = threads.Reader(f"postroom-sqlite-reader-{number}", self.path, self._reads)
                self._workers.append(reader)
                reader.start()
                await asyncio.wrap_future(reader.started)
        except BaseException:
            await self._stop_workers()
            raise

    async def close(self) -> None:
        if self._state != "open":
            self._state = "closed"
            return
        self._state = "closed"  # from now on every call raises Unavailable
        self._release_gathered()
        await self._stop_workers()
        self._locks.release_all()
        self._claimed = None

    async def _stop_workers(self) -> None:
        """The readers first, then the writer: the last connection to close checkpoints the WAL
        and removes it and its index (-wal, -shm), but only when it closes alone (two closing at
        once each see the other and leave both files, and the next open then needs no room for
        the index: see the reserve above)."""
        for group in ([w for w in self._workers if not w.writer], [w for w in self._workers if w.writer]):
            for worker in group:
                (self._writes if worker.writer else self._reads).put(threads.STOP)
            for worker in group:
                await asyncio.wrap_future(worker.stopped)
                worker.join()
        self._workers = []

    def _check_open(self) -> None:
        if self._state != "open":
            raise Unavailable("the store is closed" if self._state == "closed" else "the store is not open")

    async def _submit(self, target: queue.SimpleQueue[Any], fn: Callable[[sqlite3.Connection], Any], raw: bool,
                      durable: bool = True) -> Any:
        self._check_open()
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        target.put(threads.Job(fn, loop, future, raw, durable))
        return await future

    async def _write_gathered(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        """A bookkeeping write (not durable: see `_write`) that waits up to GATHER_SECONDS for
        others: they reach the writer together and share one transaction, so the pages they
        all touch (a queue table's leaf, its indexes) go to the log once, not once each. For
        the end of a delivery attempt: a few messages a second each pay a commit of their own."""
        self._check_open()
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._gathering.append(threads.Job(fn, loop, future, False, False))
        if self._gather_timer is None:
            self._gather_timer = loop.call_later(GATHER_SECONDS, self._release_gathered)
        return await future

    def _release_gathered(self) -> None:
        if self._gather_timer is not None:
            self._gather_timer.cancel()
            self._gather_timer = None
        jobs, self._gathering = self._gathering, []
        for job in jobs:  # put in one go: the writer takes them as one group
            self._writes.put(job)

    async def _read(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        return await self._submit(self._reads, fn, False)

    async def _write(self, fn: Callable[[sqlite3.Connection], Any], audit: AuditNote | None = None,
                     changes: set[int] | None = None, durable: bool = True) -> Any:
        """One transaction (shared with other pending writes: group commit), durable on return
        (with `durable=False`: committed, and durable with the next durable commit; for
        bookkeeping a power cut may undo, never for mail accepted or removed).
        With `audit`, the entry is inserted after `fn` in the same transaction: both or neither.
        `changes`: the mailboxes `fn` changed (it adds them), reported once it committed."""
        if audit is not None:
            fn = admin.audited(fn, audit_note(audit))
        result = await self._submit(self._writes, fn, False, durable)
        if changes:
            self._signal(changes)
        return result
