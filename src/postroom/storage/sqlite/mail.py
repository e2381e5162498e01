"""SQL for SqliteStore's SMTP side: receive connectors, messages and message tracking.

Messages: a body (`message_bodies`, the wire-form octets) is stored once however many
mailboxes receive it; each mailbox gets an entry (`messages`: id, UIDL, size, arrival) that
points at it. The trigger of migration 0002 removes a body with its last entry.

Every function here runs on a store thread with the connection it is given; none commits.
"""
from __future__ import annotations

import sqlite3
import uuid
from typing import Any, Sequence

from ...errors import Conflict, NotFound
from ...model import MessageInfo, ReceiveConnector
from ..notes import SpooledBody
from ..sql import folders as folders_sql
from ..sql import queue as queue_sql
from ..sql import schema as schema_sql
from ..sql.mail import TRACKING_COLUMNS, connector_missing, connector_row
from ..sql.values import read_spooled
from . import schema
from .schema import inserted_id

# receive connectors --------------------------------------------------------------------------

def find_connector(conn: sqlite3.Connection, server: str, name: str) -> ReceiveConnector | None:
    row = conn.execute(
        "SELECT server, name, settings FROM receive_connectors WHERE server = ? AND name = ?", (server, name)
    ).fetchone()
    return None if row is None else connector_row(row)


def insert_connector(conn: sqlite3.Connection, connector: ReceiveConnector, settings: str) -> None:
    """NotFound without its server; Conflict if the name (in any case) is taken there."""
    server, name = connector.server, connector.name
    if not schema.server_exists(conn, server):
        raise NotFound("server", server)
    taken = conn.execute(
        "SELECT name FROM receive_connectors WHERE server = ? AND name = ?", (server, name)
    ).fetchone()
    if taken is not None:
        raise Conflict(f"receive connector {taken[0]!r} already exists on server {server}")
    conn.execute("INSERT INTO receive_connectors (server, name, settings) VALUES (?, ?, ?)", (server, name, settings))


def update_connector(conn: sqlite3.Connection, connector: ReceiveConnector, settings: str) -> None:
    """Replace the properties; the stored name keeps its case. NotFound if absent."""
    cursor = conn.execute(
        "UPDATE receive_connectors SET settings = ? WHERE server = ? AND name = ?",
        (settings, connector.server, connector.name),
    )
    if cursor.rowcount == 0:
        raise connector_missing(connector.server, connector.name)


def delete_connector(conn: sqlite3.Connection, server: str, name: str) -> None:
    if conn.execute("DELETE FROM receive_connectors WHERE server = ? AND name = ?", (server, name)).rowcount == 0:
        raise connector_missing(server, name)


def list_connectors(conn: sqlite3.Connection, server: str | None) -> list[ReceiveConnector]:
    columns = "SELECT server, name, settings FROM receive_connectors"
    if server is None:
        rows = conn.execute(f"{columns} ORDER BY server, name").fetchall()
    else:
        rows = conn.execute(f"{columns} WHERE server = ? ORDER BY name", (server,)).fetchall()
        if not rows and not schema.server_exists(conn, server):
            raise NotFound("server", server)
    return [connector_row(row) for row in rows]


# messages ------------------------------------------------------------------------------------

IN_PLACE_FROM = 16 * 1024  # bodies at least this big are written straight into their pages


def insert_body(conn: sqlite3.Connection, data: bytes | memoryview, head: bytes = b"",
                spooled: SpooledBody | None = None, structure: str | None = None) -> int:
    """Store one body, `head` then (`spooled`'s file then) `data`; its id. A bound BLOB is
    copied twice before it reaches its pages (the bound value, then the record): for a
    large body, a zeroblob reserves the pages and the blob handle writes the octets into
    them, the parts one after the other (no joined copy either; a spooled file in 1 MiB
    pieces). `structure`: its IMAP4 structure (JSON; storage/sql/folders.py), beside it in
    message_structures (never after the BLOB: see migration 14)."""
    size = len(head) + len(data) + (spooled.size if spooled else 0)
    if size < IN_PLACE_FROM and spooled is None:
        value = head + bytes(data) if head else data
        body_id = inserted_id(conn.execute("INSERT INTO message_bodies (size, data) VALUES (?, ?)", (size, value)))
        if structure is not None:
            conn.execute("INSERT INTO message_structures (body_id, structure) VALUES (?, ?)", (body_id, structure))
        return body_id
    body_id = inserted_id(conn.execute("INSERT INTO message_bodies (size, data) VALUES (?, zeroblob(?))",
                                       (size, size)))
    if structure is not None:
        conn.execute("INSERT INTO message_structures (body_id, structure) VALUES (?, ?)", (body_id, structure))
    with conn.blobopen("message_bodies", "data", body_id) as blob:
        blob.write(head)
        if spooled is not None:
            for piece in read_spooled(spooled):
                blob.write(piece)
        blob.write(data)
    return body_id


def take_uids(conn: sqlite3.Connection, folder_id: int, count: int) -> tuple[int, int]:
    """`count` new UIDs of the folder: (the first, the modseq they are stored with). One
    writer: the UIDs commit in the order they are taken."""
    conn.execute(folders_sql.TAKE_UIDS, (count, folder_id))
    uidnext, modseq = conn.execute("SELECT uidnext, highest_modseq FROM folders WHERE id = ?",
                                   (folder_id,)).fetchone()
    return uidnext - count, modseq


def record_expunged(conn: sqlite3.Connection, folder_id: int, uids: Sequence[int]) -> int:
    """The folder's messages with these UIDs were just removed: the folder takes its next modseq,
    the UIDs go in the record of expunged UIDs with it (pruned to its bound, storage/sql/
    folders.py); that modseq. One writer: nothing else runs between the removal and this."""
    conn.execute(folders_sql.BUMP_MODSEQ, (folder_id,))
    modseq = conn.execute("SELECT highest_modseq FROM folders WHERE id = ?", (folder_id,)).fetchone()[0]
    conn.executemany(folders_sql.INSERT_EXPUNGED, folders_sql.expunged_rows(folder_id, modseq, uids))
    point = conn.execute(folders_sql.PRUNE_POINT, (folder_id, folders_sql.EXPUNGE_RECORD)).fetchone()
    if point is not None:
        conn.execute(folders_sql.PRUNE, (folder_id, point[0]))
        conn.execute(folders_sql.RAISE_FLOOR, (point[0], folder_id, point[0]))
    return int(modseq)


def insert_entry(conn: sqlite3.Connection, mailbox_id: int, body_id: int, uidl: str, size: int,
                 received_at: str) -> int:
    """A mailbox entry in its INBOX, under the INBOX's next UID; its id. Two statements (the
    delivery hot path): take the UID, then insert the entry with it."""
    if conn.execute(_TAKE_INBOX_UID, (mailbox_id,)).rowcount == 0:
        raise NotFound("mailbox", str(mailbox_id))
    try:
        return inserted_id(conn.execute(_INSERT_INBOX_ENTRY, (mailbox_id, body_id, uidl, size, received_at,
                                                              mailbox_id)))
    except sqlite3.IntegrityError as exc:
        raise Conflict(f"a message with UIDL {uidl} is already stored") from exc


_TAKE_INBOX_UID = ("UPDATE folders SET uidnext = uidnext + 1, highest_modseq = highest_modseq + 1"
                   " WHERE mailbox_id = ? AND name = 'INBOX'")
_INSERT_INBOX_ENTRY = (f"INSERT INTO messages ({folders_sql.ENTRY_COLUMNS}) SELECT ?, ?, ?, ?, ?, id, uidnext - 1, '',"
                       " highest_modseq FROM folders WHERE mailbox_id = ? AND name = 'INBOX'")


def store_message(conn: sqlite3.Connection, mailbox_ids: Sequence[int], data: bytes | memoryview,
                  head: bytes = b"", spooled: SpooledBody | None = None,
                  outbound: queue_sql.Submission | None = None, structure: str | None = None) -> list[MessageInfo]:
    """One body (`head`, `spooled`'s file, then `data`), one entry per mailbox id (in
    order, each in its mailbox's INBOX), and with `outbound` the queued message pointing at
    the same body. NotFound if a mailbox is gone; the caller's transaction (rolled back by
    the writer) then drops the body too."""
    size, received_at = len(head) + len(data) + (spooled.size if spooled else 0), schema_sql.now()
    body_id = insert_body(conn, data, head, spooled, structure)
    if outbound is not None:
        insert_submission(conn, outbound, body_id, size, received_at)
    infos = []
    for mailbox_id in mailbox_ids:
        uidl = uuid.uuid4().hex
        infos.append(MessageInfo(insert_entry(conn, mailbox_id, body_id, uidl, size, received_at), uidl, size,
                                 received_at))
    return infos


def insert_submission(conn: sqlite3.Connection, submission: queue_sql.Submission, body_id: int, size: int,
                      at: str) -> None:
    """The queued message and its recipients (outbound queue), pointing at `body_id`."""
    at = submission.at or at
    conn.executemany(queue_sql.INSERT_QUEUE, submission.queue_rows())
    try:
        conn.execute(queue_sql.INSERT_MESSAGE, submission.message_row(body_id, size, at))
    except sqlite3.IntegrityError as exc:
        if "UNIQUE" in str(exc) or "PRIMARY KEY" in str(exc):
            raise queue_sql.queue_id_taken(submission.id) from exc
        raise
    conn.executemany(queue_sql.INSERT_RECIPIENT, submission.recipient_rows(at))


def restore_message(conn: sqlite3.Connection, mailbox_id: int, info: MessageInfo, data: bytes,
                    structure: str | None = None) -> MessageInfo:
    """One message with the UIDL and arrival time it had in another store (moving a store)."""
    body_id = insert_body(conn, data, structure=structure)
    return MessageInfo(insert_entry(conn, mailbox_id, body_id, info.uidl, len(data), info.received_at),
                       info.uidl, len(data), info.received_at)


def read_body(conn: sqlite3.Connection, mailbox_id: int, message_id: int, size: int | None = None) -> bytes | None:
    if size is None:
        row = conn.execute(
            "SELECT b.data FROM messages m JOIN message_bodies b ON b.id = m.body_id"
            " WHERE m.id = ? AND m.mailbox_id = ?", (message_id, mailbox_id)
        ).fetchone()
        return None if row is None else bytes(row[0])
    conn.execute("BEGIN")  # one snapshot: the message may go between the lookup and the read
    try:
        row = conn.execute("SELECT body_id FROM messages WHERE id = ? AND mailbox_id = ?",
                           (message_id, mailbox_id)).fetchone()
        if row is None:
            return None
        if not size:
            return b""
        # Incremental blob I/O: only the pages of the start are read, never the whole body.
        with conn.blobopen("message_bodies", "data", row[0], readonly=True) as blob:
            return blob.read(size)
    finally:
        conn.execute("COMMIT")


# message tracking ----------------------------------------------------------------------------

def insert_tracking(conn: sqlite3.Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """Rows as (at, *tracking_values(event)): each keeps the time of its event."""
    if not rows:
        return
    marks = ", ".join("?" * (len(TRACKING_COLUMNS) + 1))
    conn.executemany(f"INSERT INTO message_tracking (at, {', '.join(TRACKING_COLUMNS)}) VALUES ({marks})", rows)
