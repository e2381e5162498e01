"""The scale-out store's messages: SMTP delivery, imports and moving a store (DeliveryStore),
and what POP3 reads and deletes (MailStore). PostgresStore inherits them.

Every delivery goes to the mailbox's INBOX under its next UID, taken under the INBOX row's
lock (folders.py: commits in UID order); POP3 sees the INBOX only, and its deletion is an
expunge for IMAP4 sessions (the INBOX's highest_modseq moves).
"""
from __future__ import annotations

import uuid
from typing import Sequence

import asyncpg

from ...errors import Conflict, NotFound
from ...model import MessageInfo, OutboundSubmission, TrackingEvent
from ..notes import AuditNote, SpooledBody
from ..sql import folders as folders_sql
from ..sql import mail as mail_sql
from ..sql import queue as queue_sql
from ..sql import schema as schema_sql
from ..sql.values import count_argument, spooled_body, wire, wire_parts
from .base import PostgresBase, dollar
from .body import copy_spooled_body
from .folders import lock_inboxes, record_expunged, take_uids
from .queue import insert_submission
from .records import insert_tracking


class PostgresMessages(PostgresBase):
    async def deliver(self, mailbox_id: int, data: bytes) -> MessageInfo:
        data = wire(data)
        structure = await folders_sql.structure(data)
        return (await self._transaction(lambda conn: _store_message(conn, [mailbox_id], data, structure),
                                        changes={mailbox_id}))[0]

    async def deliver_message(self, mailbox_ids: Sequence[int], data: bytes | memoryview,
                              tracking: Sequence[TrackingEvent] = (), *, head: bytes = b"",
                              spooled: SpooledBody | None = None,
                              outbound: OutboundSubmission | None = None) -> list[MessageInfo]:
        queued = None if outbound is None else queue_sql.Submission(outbound)
        ids = mail_sql.mailbox_ids(mailbox_ids, outbound=queued is not None)
        (head, parts), spooled = wire_parts(head, data), spooled_body(spooled)
        rows = [mail_sql.tracking_values(event) for event in tracking]
        # A message only queued for remote recipients needs no structure.
        structure = await folders_sql.delivered_structure(head, parts, spooled) if ids else None

        async def write(conn: asyncpg.Connection) -> list[MessageInfo]:  # all or nothing
            if spooled is None:
                body = await _insert_body(conn, head + parts if head else bytes(parts), structure)  # one bytea
            else:
                body = await copy_spooled_body(conn, head, spooled, parts, structure)
            infos = await _store_message(conn, ids, body)
            if queued is not None:  # the queued copy: same body, same transaction
                await insert_submission(conn, queued, *body, infos[0].received_at if infos else schema_sql.now())
            await insert_tracking(conn, rows)
            return infos
        return await self._transaction(write, changes=set(ids))

    async def deliver_many(self, mailbox_id: int, messages: Sequence[bytes]) -> list[MessageInfo]:
        bodies = [wire(data) for data in messages]
        if not bodies:
            self._check_open()
            return []
        structures = [await folders_sql.structure(data) for data in bodies]

        async def write(conn: asyncpg.Connection) -> list[MessageInfo]:
            return [(await _store_message(conn, [mailbox_id], data, structure))[0]
                    for data, structure in zip(bodies, structures)]
        return await self._transaction(write, changes={mailbox_id})

    async def restore_messages(self, mailbox_id: int,
                               messages: Sequence[tuple[MessageInfo, bytes]]) -> list[MessageInfo]:
        rows = mail_sql.restored(messages)
        if not rows:
            self._check_open()
            return []
        structures = [await folders_sql.structure(data) for _, data in rows]

        async def write(conn: asyncpg.Connection) -> list[MessageInfo]:
            body_ids = await conn.fetch(
                "INSERT INTO message_bodies (size, data, structure)"
                " SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::text[]) RETURNING id",
                [len(data) for _, data in rows], [data for _, data in rows], structures)
            folder_id = (await lock_inboxes(conn, [mailbox_id]))[mailbox_id]
            first, modseq = await take_uids(conn, folder_id, len(rows))
            try:
                ids = await conn.fetch(
                    "INSERT INTO messages (mailbox_id, body_id, uidl, size, received_at, folder_id, uid, flags, modseq)"
                    " SELECT $1, b, u, s, r, $6, $7 + n - 1, '', $8"
                    " FROM unnest($2::bigint[], $3::text[], $4::bigint[], $5::text[])"
                    " WITH ORDINALITY AS t (b, u, s, r, n)"
                    " ORDER BY n RETURNING id",
                    mailbox_id, [row[0] for row in body_ids], [info.uidl for info, _ in rows],
                    [len(data) for _, data in rows], [info.received_at for info, _ in rows], folder_id, first, modseq)
            except asyncpg.UniqueViolationError as exc:
                raise Conflict(f"a message with this UIDL is already stored ({exc.detail})") from None
            return [MessageInfo(row[0], info.uidl, len(data), info.received_at)
                    for row, (info, data) in zip(ids, rows)]
        return await self._transaction(write)

    # POP3: the INBOX only ------------------------------------------------------------------
    async def list_messages(self, mailbox_id: int) -> list[MessageInfo]:
        rows = await self._fetch(
            f"SELECT id, uidl, size, received_at FROM messages WHERE {folders_sql.INBOX_WHERE} ORDER BY uid",
            mailbox_id)
        return [MessageInfo(*row) for row in rows]

    async def read_message(self, mailbox_id: int, message_id: int, size: int | None = None) -> bytes:
        """Any folder's message (IMAP4 reads them all); POP3 asks only for what it listed."""
        # With `size`: the body is stored EXTERNAL (uncompressed), so only the TOAST chunks of its start are read.
        whole = count_argument(size, "size", optional=True) is None
        data = await self._fetchval(
            f"SELECT {'b.data' if whole else 'substring(b.data FROM 1 FOR ?)'} FROM messages m"
            " JOIN message_bodies b ON b.id = m.body_id WHERE m.id = ? AND m.mailbox_id = ?",
            *(() if whole else (size,)), message_id, mailbox_id)
        if data is None:
            raise NotFound("message", str(message_id))
        return data

    async def delete_messages(self, mailbox_id: int, message_ids: Sequence[int], *,
                              audit: AuditNote | None = None) -> int:
        ids = sorted({int(message_id) for message_id in message_ids})
        if not ids:
            self._check_open()
            return 0

        changes: set[int] = set()

        async def write(conn: asyncpg.Connection) -> int:  # all or none, with its audit entry if any
            # The INBOX row first, as IMAP4's expunge takes it: never the other order, never a deadlock.
            inbox = await conn.fetchval(dollar(f"{folders_sql.INBOX_ID} FOR UPDATE"), mailbox_id)
            if inbox is None:
                return 0
            gone = [row[0] for row in await conn.fetch(
                "DELETE FROM messages WHERE folder_id = $1 AND id = ANY($2::bigint[]) RETURNING uid", inbox, ids)]
            if gone:  # an expunge for IMAP4 sessions on the INBOX
                await record_expunged(conn, inbox, gone)
                changes.add(mailbox_id)
            return len(gone)
        return await self._transaction(write, audit, changes)

    async def mailbox_usage(self, mailbox_id: int) -> tuple[int, int]:
        row = await self._fetchrow(
            f"SELECT count(*), coalesce(sum(size), 0) FROM messages WHERE {folders_sql.INBOX_WHERE}", mailbox_id)
        assert row is not None  # an aggregate without GROUP BY always answers one row
        return int(row[0]), int(row[1])


# SQL run inside the transactions above ---------------------------------------------------

async def _store_message(conn: asyncpg.Connection, mailbox_ids: Sequence[int],
                         data: bytes | tuple[int, int], structure: str | None = None) -> list[MessageInfo]:
    """One body (the octets, or (id, size) of one already written), one entry per mailbox
    id (in order), each in its mailbox's INBOX under the INBOX's next UID; NotFound if a
    mailbox is gone (the caller's transaction then drops the body too). The INBOX rows are
    locked after the body is written (as late as can be: several in mailbox order first), and
    stay locked to the commit."""
    received_at = schema_sql.now()
    body_id, size = data if isinstance(data, tuple) else await _insert_body(conn, data, structure)
    if len(set(mailbox_ids)) > 1:
        await lock_inboxes(conn, mailbox_ids)
    infos = []
    for mailbox_id in mailbox_ids:
        uidl = uuid.uuid4().hex
        new_id = await conn.fetchval(_DELIVER, mailbox_id, body_id, uidl, size, received_at)
        if new_id is None:
            raise NotFound("mailbox", str(mailbox_id))
        infos.append(MessageInfo(new_id, uidl, size, received_at))
    return infos


# One round trip per entry: the INBOX's next UID (its row locked to the commit) and the entry.
_DELIVER = ("WITH inbox AS (UPDATE folders SET uidnext = uidnext + 1, highest_modseq = highest_modseq + 1"
            " WHERE mailbox_id = $1 AND name = 'INBOX' RETURNING id, uidnext - 1 AS uid, highest_modseq)"
            f" INSERT INTO messages ({folders_sql.ENTRY_COLUMNS})"
            " SELECT $1, $2, $3, $4, $5, id, uid, '', highest_modseq FROM inbox RETURNING id")


async def _insert_body(conn: asyncpg.Connection, data: bytes, structure: str | None) -> tuple[int, int]:
    """One body row; (its id, its size)."""
    body_id = await conn.fetchval("INSERT INTO message_bodies (size, data, structure) VALUES ($1, $2, $3)"
                                  " RETURNING id", len(data), data, structure)
    return body_id, len(data)
