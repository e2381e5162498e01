"""Threads behind SqliteStore: one writer with group commit, a small pool of readers.

sqlite3 blocks, so no query runs on the event loop. Each thread owns its connection (a
connection never crosses threads). A job is a function `fn(conn) -> value`; its result or
error comes back to the caller's asyncio future through `loop.call_soon_threadsafe`.

Group commit: the writer drains every pending write job, runs them one after the other in
one `BEGIN IMMEDIATE` transaction, commits (one fsync) and only then resolves their futures.
If a job fails, or the transaction as a whole breaks (disk full, I/O error), it is rolled
back and the jobs run again one by one, so that each gets its own verdict. Bookkeeping jobs
(`durable=False`) commit without fsync (Writer._sync_for).

Every sqlite3 error is translated here, once, into postroom's closed error set.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import os
import queue
import sqlite3
import threading
from dataclasses import dataclass
from typing import Any, Callable

from ...errors import Conflict, PostroomError, StorageFull, Unavailable, ValidationError
from .check import corrupted, is_corruption

BUSY_TIMEOUT_MS = 5000
MAX_BATCH = 256  # write jobs per group commit


def translate(exc: BaseException, path: str = "") -> BaseException:
    """sqlite3 errors -> postroom errors; postroom errors and others pass unchanged. `path`:
    the database file, named when it is damaged."""
    if not isinstance(exc, sqlite3.Error):
        return exc
    text = str(exc) or type(exc).__name__
    if isinstance(exc, sqlite3.IntegrityError):
        new: PostroomError = Conflict(f"the change clashes with stored data ({text})")
    elif isinstance(exc, sqlite3.DataError):
        new = ValidationError("value", text)
    elif _disk_full(exc):
        new = StorageFull(f"the disk holding the store is full, free some space: {text}")
    elif is_corruption(exc):  # not temporary: say so, and how to restore
        new = corrupted(path or "(unknown file)", text)
    elif "no such table" in text:
        new = Unavailable(f"the store is not initialised (run migrations first): {text}")
    else:  # locked, busy, disk I/O error, cannot open, ...
        new = Unavailable(f"the store is unavailable, try again later: {text}")
    new.__cause__ = exc
    return new


SQLITE_IOERR_SHMSIZE = 4874  # the WAL index (-shm) could not grow: no space for it


def _disk_full(exc: sqlite3.Error) -> bool:
    """SQLITE_FULL (13, "database or disk is full"): the file system has no space left (or the
    database reached its size limit); or no room for the WAL index when the store opens."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and (code & 0xFF == sqlite3.SQLITE_FULL or code == SQLITE_IOERR_SHMSIZE):
        return True
    return "disk is full" in str(exc)


MMAP_BYTES = 1 << 30


def connect(path: str, *, writer: bool) -> sqlite3.Connection:
    if writer:
        parent = os.path.dirname(os.path.abspath(path))
        os.makedirs(parent, exist_ok=True)
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys = ON")
        # Messages are read whole: map the file instead of one pread per page.
        conn.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")
        if writer:
            # Only takes effect when the file is created: 16 KiB pages cut the overflow-page
            # chain of a 1 MiB message by four (faster RETR of large mail).
            conn.execute("PRAGMA page_size = 16384")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise Unavailable(f"cannot use write-ahead logging on {path} (journal mode {mode})")
            conn.execute("PRAGMA synchronous = FULL")
        else:
            conn.execute("PRAGMA query_only = ON")
    except BaseException:
        conn.close()
        raise
    return conn


@dataclass(slots=True)
class Job:
    fn: Callable[[sqlite3.Connection], Any]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    raw: bool = False  # raw jobs manage their own transactions (migrations)
    durable: bool = True  # False: committed without fsync (see Writer._sync_for)


STOP = object()


def settle(job: Job, result: Any = None, error: BaseException | None = None) -> None:
    def resolve() -> None:
        if job.future.done():  # the caller was cancelled
            return
        if error is None:
            job.future.set_result(result)
        else:
            job.future.set_exception(error)

    try:
        job.loop.call_soon_threadsafe(resolve)
    except RuntimeError:  # the caller's loop is closed: nobody is waiting any more
        pass


class _Worker(threading.Thread):
    """A thread with one connection, consuming jobs from a queue until STOP."""

    writer = False

    def __init__(self, name: str, path: str, jobs: queue.SimpleQueue[Any]) -> None:
        super().__init__(name=name, daemon=True)
        self.path = path
        self.jobs = jobs
        self.conn: sqlite3.Connection | None = None
        self.started = concurrent.futures.Future[None]()
        self.stopped = concurrent.futures.Future[None]()

    def run(self) -> None:
        try:
            try:
                self.conn = connect(self.path, writer=self.writer)
            except Exception as exc:  # includes OSError from creating the directory
                error = translate(exc, self.path)
                if not isinstance(error, PostroomError):
                    error = Unavailable(f"cannot open the store {self.path}: {exc}")
                    error.__cause__ = exc
                self.started.set_exception(error)
                return
            self.started.set_result(None)
            self.serve()
        finally:
            if self.conn is not None:
                try:
                    self.conn.close()
                except sqlite3.Error:
                    pass
            self.stopped.set_result(None)

    def serve(self) -> None:
        """The job loop: Reader and Writer each define their own (this base is never run)."""
        raise TypeError(f"{type(self).__name__} must define serve()")


class Reader(_Worker):
    def serve(self) -> None:
        assert self.conn is not None
        while True:
            job = self.jobs.get()
            if job is STOP:
                return
            try:
                result = job.fn(self.conn)
            except Exception as exc:
                settle(job, error=translate(exc, self.path))
            else:
                settle(job, result)


class Writer(_Worker):
    writer = True
    durable = True  # the connection's settings now: synchronous FULL, temp_store DEFAULT (connect)

    def serve(self) -> None:
        while True:
            batch = [self.jobs.get()]
            while len(batch) < MAX_BATCH and batch[-1] is not STOP:
                try:
                    batch.append(self.jobs.get_nowait())
                except queue.Empty:
                    break
            stop = batch[-1] is STOP
            if stop:
                batch.pop()
            start = 0
            while start < len(batch):
                if batch[start].raw:
                    self._run_raw(batch[start])
                    start += 1
                    continue
                end = start
                while end < len(batch) and not batch[end].raw:
                    end += 1
                self._run_group(batch[start:end])
                start = end
            if stop:
                return

    def _rollback(self) -> None:
        assert self.conn is not None
        if self.conn.in_transaction:
            try:
                self.conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass

    def _run_raw(self, job: Job) -> None:
        assert self.conn is not None
        self._sync_for([job])
        try:
            result = job.fn(self.conn)
        except Exception as exc:
            self._rollback()
            settle(job, error=translate(exc, self.path))
        else:
            settle(job, result)

    def _sync_for(self, jobs: list[Job]) -> None:
        """A group of writes that are not durable (bookkeeping whose loss on a power cut undoes
        nothing accepted: a delivery recorded, tracking rows) commits without fsync: WAL keeps
        commits in order, so such a commit is lost only with every later one, and the next
        durable commit makes it durable too. A process crash loses nothing either way.
        Such a group is small, so its statement journals stay in memory: with 16 KiB pages,
        removing a queued message (its recipients, its body) passes SQLite's 64 KiB spill
        threshold and would create, write and delete a temporary file each time. A durable
        write may be big (a mailbox removed whole): its journals spill to a file as before."""
        durable = any(job.durable for job in jobs)
        if durable != self.durable:
            assert self.conn is not None
            self.conn.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
            self.conn.execute(f"PRAGMA temp_store = {'DEFAULT' if durable else 'MEMORY'}")
            self.durable = durable

    def _run_group(self, jobs: list[Job]) -> None:
        """Jobs queued together share one transaction: one commit (one fsync) for them all.
        No savepoint per job: with 16 KiB pages a savepoint journals every page its job changes
        (most of them already changed by the jobs before it), passes SQLite's 64 KiB spill
        threshold and writes a temporary file per group. If a job fails, the transaction is
        rolled back and each job runs again alone, so the one that failed gets its own answer
        and the others commit. Running a job again is safe: a job computes from the
        connection and changes nothing else (at most it notes the mailboxes it changed)."""
        conn = self.conn
        assert conn is not None
        self._sync_for(jobs)
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:  # locked by another process: retrying singly won't help
            for job in jobs:
                settle(job, error=translate(exc, self.path))
            return
        if len(jobs) == 1:
            self._run_alone(jobs[0])
            return
        try:
            results = [job.fn(conn) for job in jobs]
            conn.execute("COMMIT")
        except Exception:
            self._rollback()
            for job in jobs:
                self._run_group([job])
            return
        for job, result in zip(jobs, results):
            settle(job, result)

    def _run_alone(self, job: Job) -> None:
        """A group of one (every write when deliveries do not overlap): its own transaction,
        begun by the caller."""
        conn = self.conn
        assert conn is not None
        try:
            result = job.fn(conn)
            conn.execute("COMMIT")
        except Exception as exc:
            self._rollback()
            settle(job, error=translate(exc, self.path))
        else:
            settle(job, result)
