"""The outbound queue on the embedded store (statements in storage/sql/queue.py).

Every write runs on the one writer thread, so a claim is atomic without row locks: two
workers of the node never get the same message. A queued message shares its body with the
local copies (message_bodies); a big body is read in pieces through SQLite's incremental
blob I/O, never whole. Tracking rows go through the store's TrackingBuffer, once the
transaction they belong to is committed (as deliver_message's do).
"""
from __future__ import annotations

import sqlite3
from typing import Any, Sequence

from ...model import Claim, MessageStatus, QueuedMessage, QueuedRecipient, QueueInfo, RecipientResult, TrackingEvent
from ...model.queue import check_queue_id
from ..notes import AuditNote
from ..sql import mail as mail_sql
from ..sql import queue as q
from ..sql.values import count_argument
from .records import SqliteRecords
from .tracking import TrackingBuffer


def _message(conn: sqlite3.Connection, message_id: str) -> QueuedMessage:
    row = conn.execute(q.SELECT_MESSAGE, (message_id,)).fetchone()
    if row is None:
        raise q.message_missing(message_id)
    return q.message_row(row)


def _recipients(conn: sqlite3.Connection, message_id: str) -> list[QueuedRecipient]:
    return [q.recipient_row(row) for row in conn.execute(q.SELECT_RECIPIENTS, (message_id,))]


class SqliteQueue(SqliteRecords):
    """QueueStore for SqliteStore (which sets `_tracking`)."""

    _tracking: TrackingBuffer

    async def claim_due(self, holder: str, now: str, lease_seconds: int, limit: int) -> list[Claim]:
        holder, at, until, limit = q.claim_arguments(holder, now, lease_seconds, limit)

        def write(conn: sqlite3.Connection) -> tuple[list[Claim], list[tuple[Any, ...]]]:
            picked = conn.execute(q.claim_candidates(lock=False), (at, at, limit)).fetchall()
            poison, claimed = q.split_candidates(picked, holder)
            tracking: list[tuple[Any, ...]] = []
            if poison:
                messages = [q.message_row(row) for row in conn.execute(q.claimed_messages(len(poison)), poison)]
                pending = [q.recipient_row(row) for row in conn.execute(q.pending_recipients(len(poison)), poison)]
                conn.execute(q.poison_statement(len(poison)), poison)
                tracking = q.poison_tracking(holder, messages, pending)
            if not claimed:
                return [], tracking
            conn.execute(q.lease_statement(len(claimed)), (holder, until, holder, *claimed))
            messages = [q.message_row(row) for row in conn.execute(q.claimed_messages(len(claimed)), claimed)]
            due: dict[str, list[QueuedRecipient]] = {message_id: [] for message_id in claimed}
            for row in conn.execute(q.due_recipients(len(claimed)), (at, *claimed)):
                recipient = q.recipient_row(row)
                due[recipient.message_id].append(recipient)
            return [Claim(message, due[message.id]) for message in messages], tracking
        claims, tracking = await self._write(write)
        self._tracking.add(tracking)
        return claims

    async def extend_lease(self, message_id: str, holder: str, now: str, lease_seconds: int) -> bool:
        check_queue_id(message_id)
        until = q.lease_until(q.now_or(now), lease_seconds)
        return bool(await self._write(lambda conn: conn.execute(q.EXTEND_LEASE, (until, message_id, holder)).rowcount))

    async def extend_leases(self, holder: str, now: str, lease_seconds: int) -> int:
        holder, at, until, _ = q.claim_arguments(holder, now, lease_seconds, 0)
        return int(await self._write(lambda conn: conn.execute(q.EXTEND_LEASES, (until, holder)).rowcount))

    async def release_claim(self, message_id: str, holder: str) -> None:
        check_queue_id(message_id)
        await self._write(lambda conn: conn.execute(q.RELEASE, (message_id, holder)))

    async def finish_attempt(self, message_id: str, holder: str, results: Sequence[RecipientResult],
                             tracking: Sequence[TrackingEvent] = ()) -> bool:
        check_queue_id(message_id)
        checked = q.attempt_results(results)
        rows = [mail_sql.tracking_values(event) for event in tracking]

        def write(conn: sqlite3.Connection) -> bool:
            message = _message(conn, message_id)
            if message.lease_holder != holder:
                raise q.holder_lost(message_id, holder, message.lease_holder)
            attempt = q.Attempt(message_id, _recipients(conn, message_id), checked)
            for statement, rows in attempt.writes():
                conn.executemany(statement, rows)
            if attempt.done:
                conn.execute(q.REMOVE_MESSAGE, (message_id,))
            else:
                conn.execute(q.END_LEASE, (message_id,))
            return attempt.done
        done = await self._write_gathered(write)  # lost on a power cut: sent again, never lost
        self._tracking.add(rows)
        return bool(done)

    async def set_delay_notified(self, message_id: str, addresses: Sequence[str]) -> None:
        check_queue_id(message_id)
        found = q.notified_addresses(addresses)

        def write(conn: sqlite3.Connection) -> None:
            _message(conn, message_id)
            conn.executemany("UPDATE queue_recipients SET delay_notified = 1 WHERE message_id = ? AND address = ?",
                             [(message_id, address) for address in found])
        await self._write(write)

    # the viewer ------------------------------------------------------------------------------
    async def list_queues(self, now: str | None = None) -> list[QueueInfo]:
        at = q.now_or(now)

        def read(conn: sqlite3.Connection) -> list[QueueInfo]:
            rows = conn.execute(q.queue_list_query(), (at, at)).fetchall()
            return q.queue_infos(rows, conn.execute(q.POISON_COUNT).fetchone())
        return await self._read(read)

    async def list_queued_messages(self, queue: str | None = None, status: str | None = None,
                                   limit: int = 1000) -> list[QueuedMessage]:
        sql, params = q.messages_query(queue, status, limit)
        return [q.message_row(row) for row in await self._read(lambda conn: conn.execute(sql, params).fetchall())]

    async def get_queued_message(self, message_id: str) -> tuple[QueuedMessage, list[QueuedRecipient]]:
        check_queue_id(message_id)
        return await self._read(lambda conn: (_message(conn, message_id), _recipients(conn, message_id)))

    async def read_queued_body(self, message_id: str, offset: int = 0, size: int | None = None) -> bytes:
        check_queue_id(message_id)
        count_argument(offset, "offset")
        count_argument(size, "size", optional=True)

        def read(conn: sqlite3.Connection) -> bytes:
            conn.execute("BEGIN")  # one snapshot: the message may go meanwhile
            try:
                row = conn.execute(q.SELECT_BODY, (message_id,)).fetchone()
                if row is None:
                    raise q.message_missing(message_id)
                start, length = q.read_range(offset, size, row[1])
                if not length:
                    return b""
                # Incremental blob I/O: only the pages of this piece are read, never the whole body.
                with conn.blobopen("message_bodies", "data", row[0], readonly=True) as blob:
                    blob.seek(start)
                    return blob.read(length)
            finally:
                conn.execute("COMMIT")
        return await self._read(read)

    async def queue_counts(self) -> dict[str, int]:
        return q.counts(await self._read(lambda conn: conn.execute(q.COUNTS).fetchall()))

    # admin actions ---------------------------------------------------------------------------
    async def _set_queue_suspended(self, name: str, suspended: bool, audit: AuditNote | None) -> None:
        name = q.queue_name(name)

        def write(conn: sqlite3.Connection) -> None:
            if conn.execute(q.SET_QUEUE_SUSPENDED, (suspended, name)).rowcount == 0:
                raise q.queue_missing(name)
        await self._write(write, audit)

    async def suspend_queue(self, name: str, *, audit: AuditNote | None = None) -> None:
        await self._set_queue_suspended(name, True, audit)

    async def resume_queue(self, name: str, *, audit: AuditNote | None = None) -> None:
        await self._set_queue_suspended(name, False, audit)

    async def retry_queue(self, name: str, *, now: str | None = None, audit: AuditNote | None = None) -> int:
        name, at = q.queue_name(name), q.now_or(now)

        def write(conn: sqlite3.Connection) -> int:
            if conn.execute("SELECT 1 FROM queues WHERE name = ?", (name,)).fetchone() is None:
                raise q.queue_missing(name)
            return conn.execute(q.RETRY_QUEUE, (at, name, at)).rowcount
        return int(await self._write(write, audit))

    async def remove_idle_queues(self, limit: int = 1000) -> int:
        count = count_argument(limit, "limit")
        return int(await self._write(lambda conn: conn.execute(q.REMOVE_IDLE_QUEUES, (count,)).rowcount))

    async def suspend_message(self, message_id: str, *, audit: AuditNote | None = None) -> None:
        check_queue_id(message_id)

        def write(conn: sqlite3.Connection) -> None:
            q.message_status_change(_message(conn, message_id).status, MessageStatus.SUSPENDED, message_id)
            conn.execute(q.SET_MESSAGE_STATUS, (MessageStatus.SUSPENDED.value, message_id))
        await self._write(write, audit)

    async def resume_message(self, message_id: str, *, audit: AuditNote | None = None) -> None:
        check_queue_id(message_id)

        def write(conn: sqlite3.Connection) -> None:
            _message(conn, message_id)
            conn.execute(q.RESUME_MESSAGE, (message_id,))
        await self._write(write, audit)

    async def remove_message(self, message_id: str, *,
                             audit: AuditNote | None = None) -> tuple[QueuedMessage, list[QueuedRecipient]]:
        check_queue_id(message_id)

        def write(conn: sqlite3.Connection) -> tuple[QueuedMessage, list[QueuedRecipient]]:
            found = _message(conn, message_id), _recipients(conn, message_id)
            conn.execute(q.REMOVE_MESSAGE, (message_id,))
            return found
        return await self._write(write, audit)
