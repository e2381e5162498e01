"""The outbound queue on PostgreSQL (statements in storage/sql/queue.py).

Several nodes share the queue. A claim locks the messages it takes with SELECT ... FOR
UPDATE SKIP LOCKED (a row another node is claiming is skipped, not waited for) and gives
each a lease: two nodes never get the same message, and a node that dies leaves leases that
run out, after which another node claims the message again. A queued body is read in pieces
with substring() on its bytea (stored EXTERNAL, uncompressed: PostgreSQL fetches only the
TOAST chunks of the piece).
"""
from __future__ import annotations

from typing import Sequence

import asyncpg

from ...model import Claim, MessageStatus, QueuedMessage, QueuedRecipient, QueueInfo, RecipientResult, TrackingEvent
from ...model.queue import check_queue_id
from ..notes import AuditNote
from ..sql import mail as mail_sql
from ..sql import queue as q
from ..sql.values import count_argument
from .base import QUEUE_ROWS_LOCK, dollar, rowcount
from .records import PostgresRecords, insert_tracking


async def insert_submission(conn: asyncpg.Connection, submission: q.Submission, body_id: int, size: int,
                            at: str) -> None:
    """The queued message and its recipients (in the delivery's transaction), pointing at `body_id`."""
    at = submission.at or at
    await conn.execute("SELECT pg_advisory_xact_lock_shared($1, $2)", *QUEUE_ROWS_LOCK)  # see remove_idle_queues
    await conn.executemany(dollar(q.INSERT_QUEUE), submission.queue_rows())
    try:
        await conn.execute(dollar(q.INSERT_MESSAGE), *submission.message_row(body_id, size, at))
    except asyncpg.UniqueViolationError:
        raise q.queue_id_taken(submission.id) from None
    await conn.executemany(dollar(q.INSERT_RECIPIENT), submission.recipient_rows(at))


async def _message(conn: asyncpg.Connection, message_id: str, lock: bool = False) -> QueuedMessage:
    row = await conn.fetchrow(dollar(q.SELECT_MESSAGE + (" FOR UPDATE" if lock else "")), message_id)
    if row is None:
        raise q.message_missing(message_id)
    return q.message_row(tuple(row))


async def _recipients(conn: asyncpg.Connection, message_id: str) -> list[QueuedRecipient]:
    return [q.recipient_row(tuple(row)) for row in await conn.fetch(dollar(q.SELECT_RECIPIENTS), message_id)]


class PostgresQueue(PostgresRecords):
    """QueueStore for PostgresStore."""

    async def claim_due(self, holder: str, now: str, lease_seconds: int, limit: int) -> list[Claim]:
        holder, at, until, limit = q.claim_arguments(holder, now, lease_seconds, limit)

        async def write(conn: asyncpg.Connection) -> list[Claim]:
            picked = await conn.fetch(dollar(q.claim_candidates(lock=True)), at, at, limit)
            poison, claimed = q.split_candidates(picked, holder)
            if poison:
                messages = [q.message_row(tuple(row))
                            for row in await conn.fetch(dollar(q.claimed_messages(len(poison))), *poison)]
                pending = [q.recipient_row(tuple(row))
                           for row in await conn.fetch(dollar(q.pending_recipients(len(poison))), *poison)]
                await conn.execute(dollar(q.poison_statement(len(poison))), *poison)
                await insert_tracking(conn, q.poison_tracking(holder, messages, pending))
            if not claimed:
                return []
            await conn.execute(dollar(q.lease_statement(len(claimed))), holder, until, holder, *claimed)
            messages = [q.message_row(tuple(row))
                        for row in await conn.fetch(dollar(q.claimed_messages(len(claimed))), *claimed)]
            due: dict[str, list[QueuedRecipient]] = {message_id: [] for message_id in claimed}
            for row in await conn.fetch(dollar(q.due_recipients(len(claimed))), at, *claimed):
                recipient = q.recipient_row(tuple(row))
                due[recipient.message_id].append(recipient)
            return [Claim(message, due[message.id]) for message in messages]
        return await self._transaction(write)

    async def extend_lease(self, message_id: str, holder: str, now: str, lease_seconds: int) -> bool:
        check_queue_id(message_id)
        until = q.lease_until(q.now_or(now), lease_seconds)
        return bool(await self._execute(q.EXTEND_LEASE, until, message_id, holder))

    async def extend_leases(self, holder: str, now: str, lease_seconds: int) -> int:
        holder, at, until, _ = q.claim_arguments(holder, now, lease_seconds, 0)
        return int(await self._execute(q.EXTEND_LEASES, until, holder))

    async def release_claim(self, message_id: str, holder: str) -> None:
        check_queue_id(message_id)
        await self._execute(q.RELEASE, message_id, holder)

    async def finish_attempt(self, message_id: str, holder: str, results: Sequence[RecipientResult],
                             tracking: Sequence[TrackingEvent] = ()) -> bool:
        check_queue_id(message_id)
        checked = q.attempt_results(results)
        rows = [mail_sql.tracking_values(event) for event in tracking]

        async def write(conn: asyncpg.Connection) -> bool:
            message = await _message(conn, message_id, lock=True)  # a claim meanwhile waits for this verdict
            if message.lease_holder != holder:
                raise q.holder_lost(message_id, holder, message.lease_holder)
            attempt = q.Attempt(message_id, await _recipients(conn, message_id), checked)
            for statement, changed in attempt.writes():
                await conn.executemany(dollar(statement), changed)
            await conn.execute(dollar(q.REMOVE_MESSAGE if attempt.done else q.END_LEASE), message_id)
            await insert_tracking(conn, rows)
            return attempt.done
        return await self._transaction(write, durable=False)  # lost in a crash: sent again, never lost

    async def set_delay_notified(self, message_id: str, addresses: Sequence[str]) -> None:
        check_queue_id(message_id)
        found = q.notified_addresses(addresses)

        async def write(conn: asyncpg.Connection) -> None:
            await _message(conn, message_id)
            await conn.execute("UPDATE queue_recipients SET delay_notified = true"
                               " WHERE message_id = $1 AND address = ANY($2::text[])", message_id, found)
        await self._transaction(write)

    # the viewer ------------------------------------------------------------------------------
    async def list_queues(self, now: str | None = None) -> list[QueueInfo]:
        at = q.now_or(now)

        async def read(conn: asyncpg.Connection) -> list[QueueInfo]:
            rows = await conn.fetch(dollar(q.queue_list_query()), at, at)
            poison = await conn.fetchrow(q.POISON_COUNT)
            return q.queue_infos([tuple(row) for row in rows], tuple(poison) if poison else ())
        return await self._transaction(read)  # one snapshot for both

    async def list_queued_messages(self, queue: str | None = None, status: str | None = None,
                                   limit: int = 1000) -> list[QueuedMessage]:
        sql, params = q.messages_query(queue, status, limit)
        return [q.message_row(tuple(row)) for row in await self._fetch(sql, *params)]

    async def get_queued_message(self, message_id: str) -> tuple[QueuedMessage, list[QueuedRecipient]]:
        check_queue_id(message_id)

        async def read(conn: asyncpg.Connection) -> tuple[QueuedMessage, list[QueuedRecipient]]:
            return await _message(conn, message_id), await _recipients(conn, message_id)
        return await self._transaction(read)

    async def read_queued_body(self, message_id: str, offset: int = 0, size: int | None = None) -> bytes:
        check_queue_id(message_id)
        count_argument(offset, "offset")
        count_argument(size, "size", optional=True)

        # One statement: the size and the piece from one snapshot (the message may go meanwhile).
        piece = "substring(b.data FROM ?)" if size is None else "substring(b.data FROM ? FOR ?)"
        row = await self._fetchrow(
            f"SELECT m.size, {piece} FROM queue_messages m JOIN message_bodies b ON b.id = m.body_id WHERE m.id = ?",
            *((offset + 1,) if size is None else (offset + 1, size)), message_id)
        if row is None:
            raise q.message_missing(message_id)
        q.read_range(offset, size, row[0])  # an offset past the end is refused, as on SQLite
        return bytes(row[1])

    async def queue_counts(self) -> dict[str, int]:
        return q.counts([tuple(row) for row in await self._fetch(q.COUNTS)])

    # admin actions ---------------------------------------------------------------------------
    async def _set_queue_suspended(self, name: str, suspended: bool, audit: AuditNote | None) -> None:
        name = q.queue_name(name)

        async def write(conn: asyncpg.Connection) -> None:
            if rowcount(await conn.execute(dollar(q.SET_QUEUE_SUSPENDED), suspended, name)) == 0:
                raise q.queue_missing(name)
        await self._transaction(write, audit)

    async def suspend_queue(self, name: str, *, audit: AuditNote | None = None) -> None:
        await self._set_queue_suspended(name, True, audit)

    async def resume_queue(self, name: str, *, audit: AuditNote | None = None) -> None:
        await self._set_queue_suspended(name, False, audit)

    async def retry_queue(self, name: str, *, now: str | None = None, audit: AuditNote | None = None) -> int:
        name, at = q.queue_name(name), q.now_or(now)

        async def write(conn: asyncpg.Connection) -> int:
            if await conn.fetchval("SELECT 1 FROM queues WHERE name = $1", name) is None:
                raise q.queue_missing(name)
            return rowcount(await conn.execute(dollar(q.RETRY_QUEUE), at, name, at))
        return await self._transaction(write, audit)

    async def remove_idle_queues(self, limit: int = 1000) -> int:
        async def write(conn: asyncpg.Connection) -> int:
            # exclusive against every delivery queuing mail now (each holds the lock shared):
            # a queue row such a delivery found is not removed under its recipients
            await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", *QUEUE_ROWS_LOCK)
            return rowcount(await conn.execute(dollar(q.REMOVE_IDLE_QUEUES), count_argument(limit, "limit")))
        return await self._transaction(write)

    async def suspend_message(self, message_id: str, *, audit: AuditNote | None = None) -> None:
        check_queue_id(message_id)

        async def write(conn: asyncpg.Connection) -> None:
            message = await _message(conn, message_id, lock=True)
            q.message_status_change(message.status, MessageStatus.SUSPENDED, message_id)
            await conn.execute(dollar(q.SET_MESSAGE_STATUS), MessageStatus.SUSPENDED.value, message_id)
        await self._transaction(write, audit)

    async def resume_message(self, message_id: str, *, audit: AuditNote | None = None) -> None:
        check_queue_id(message_id)

        async def write(conn: asyncpg.Connection) -> None:
            await _message(conn, message_id, lock=True)
            await conn.execute(dollar(q.RESUME_MESSAGE), message_id)
        await self._transaction(write, audit)

    async def remove_message(self, message_id: str, *,
                             audit: AuditNote | None = None) -> tuple[QueuedMessage, list[QueuedRecipient]]:
        check_queue_id(message_id)

        async def write(conn: asyncpg.Connection) -> tuple[QueuedMessage, list[QueuedRecipient]]:
            found = await _message(conn, message_id, lock=True), await _recipients(conn, message_id)
            await conn.execute(dollar(q.REMOVE_MESSAGE), message_id)
            return found
        return await self._transaction(write, audit)
