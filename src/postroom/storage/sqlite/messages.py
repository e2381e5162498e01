"""The embedded store's messages: SMTP delivery, imports and moving a store (DeliveryStore),
and what POP3 reads and deletes (MailStore). SqliteStore inherits them; the SQL is in mail.py.

Every delivery goes to the mailbox's INBOX under its next UID; POP3 sees the INBOX only,
and its deletion is an expunge for IMAP4 sessions (the INBOX's highest_modseq moves).
"""
from __future__ import annotations

import sqlite3
from typing import Sequence

from ...errors import NotFound
from ...model import MessageInfo, OutboundSubmission, TrackingEvent
from ..notes import AuditNote, SpooledBody
from ..sql import folders as folders_sql
from ..sql import mail as mail_sql
from ..sql import queue as queue_sql
from ..sql.values import count_argument, spooled_body, wire_parts
from ..sql.values import wire as _wire
from . import mail
from .tracking import TrackingBuffer
from .workers import SqliteWorkers

_DELETE_CHUNK = 500


class SqliteMessages(SqliteWorkers):
    _tracking: TrackingBuffer  # SqliteStore's: tracking rows go in batches

    async def deliver(self, mailbox_id: int, data: bytes) -> MessageInfo:
        data = _wire(data)
        structure = await folders_sql.structure(data)
        return (await self._write(lambda conn: mail.store_message(conn, [mailbox_id], data, structure=structure),
                                  changes={mailbox_id}))[0]

    async def deliver_message(self, mailbox_ids: Sequence[int], data: bytes | memoryview,
                              tracking: Sequence[TrackingEvent] = (), *, head: bytes = b"",
                              spooled: SpooledBody | None = None,
                              outbound: OutboundSubmission | None = None) -> list[MessageInfo]:
        queued = None if outbound is None else queue_sql.Submission(outbound)
        ids = mail_sql.mailbox_ids(mailbox_ids, outbound=queued is not None)
        (head, data), spooled = wire_parts(head, data), spooled_body(spooled)
        rows = [mail_sql.tracking_values(event) for event in tracking]
        # Described before the write (never on the writer thread); a message only queued
        # for remote recipients needs no structure.
        structure = await folders_sql.delivered_structure(head, data, spooled) if ids else None
        # One writer job: the local entries and the queued message share the transaction
        # (and its group commit) and the body.
        infos = await self._write(lambda conn: mail.store_message(conn, ids, data, head, spooled, queued, structure),
                                  changes=set(ids))
        self._tracking.add(rows)  # only once the message is stored: a refused delivery leaves none
        return infos

    async def deliver_many(self, mailbox_id: int, messages: Sequence[bytes]) -> list[MessageInfo]:
        wire = [_wire(data) for data in messages]
        if not wire:
            self._check_open()
            return []
        structures = [await folders_sql.structure(data) for data in wire]
        return await self._write(lambda conn: [mail.store_message(conn, [mailbox_id], data, structure=structure)[0]
                                               for data, structure in zip(wire, structures)], changes={mailbox_id})

    async def restore_messages(self, mailbox_id: int,
                               messages: Sequence[tuple[MessageInfo, bytes]]) -> list[MessageInfo]:
        rows = mail_sql.restored(messages)
        if not rows:
            self._check_open()
            return []
        structures = [await folders_sql.structure(data) for _, data in rows]
        return await self._write(lambda conn: [mail.restore_message(conn, mailbox_id, *row, structure)
                                               for row, structure in zip(rows, structures)])

    # POP3: the INBOX only ------------------------------------------------------------------
    async def list_messages(self, mailbox_id: int) -> list[MessageInfo]:
        rows = await self._read(lambda conn: conn.execute(
            f"SELECT id, uidl, size, received_at FROM messages WHERE {folders_sql.INBOX_WHERE} ORDER BY uid",
            (mailbox_id,)).fetchall())
        return [MessageInfo(*row) for row in rows]

    async def read_message(self, mailbox_id: int, message_id: int, size: int | None = None) -> bytes:
        """Any folder's message (IMAP4 reads them all); POP3 asks only for what it listed."""
        size = count_argument(size, "size", optional=True)
        data = await self._read(lambda conn: mail.read_body(conn, mailbox_id, message_id, size))
        if data is None:
            raise NotFound("message", str(message_id))
        return data

    async def delete_messages(self, mailbox_id: int, message_ids: Sequence[int], *,
                              audit: AuditNote | None = None) -> int:
        ids = sorted({int(message_id) for message_id in message_ids})
        changes: set[int] = set()

        def write(conn: sqlite3.Connection) -> int:  # one transaction: all or none
            row = conn.execute(folders_sql.INBOX_ID, (mailbox_id,)).fetchone()
            if row is None:
                return 0
            gone = []
            for start in range(0, len(ids), _DELETE_CHUNK):
                chunk = ids[start:start + _DELETE_CHUNK]
                where = f"WHERE folder_id = ? AND id IN ({', '.join('?' * len(chunk))})"
                gone += [uid for (uid,) in conn.execute(f"SELECT uid FROM messages {where}", [row[0], *chunk])]
                conn.execute(f"DELETE FROM messages {where}", [row[0], *chunk])
            if gone:  # an expunge for IMAP4 sessions on the INBOX
                mail.record_expunged(conn, row[0], gone)
                changes.add(mailbox_id)
            return len(gone)
        if not ids:
            self._check_open()
            return 0
        return await self._write(write, audit, changes)

    async def mailbox_usage(self, mailbox_id: int) -> tuple[int, int]:
        count, total = await self._read(lambda conn: conn.execute(
            f"SELECT count(*), coalesce(sum(size), 0) FROM messages WHERE {folders_sql.INBOX_WHERE}", (mailbox_id,)
        ).fetchone())
        return count, total
