"""SQL for SqliteStore's SMTP side: receive connectors, messages and message tracking.

Messages: a body (`message_bodies`, the wire-form octets) is stored once however many
mailboxes receive it; each mailbox gets an entry (`messages`: id, UIDL, size, arrival) that
points at it. The trigger of migration 0002 removes a body with its last entry.

Every function here runs on a store thread with the connection it is given; none commits.
"""
from __future__ import annotations

import json
import sqlite3
import uuid
from datetime import datetime, timezone
from typing import Any, Sequence

from ..errors import Conflict, NotFound, ValidationError
from ..model import MessageInfo, ReceiveConnector, TrackingEvent, TrackingEventId, enum_value
from . import _sqlite_schema as schema
from ._values import read_spooled, wire
from .base import SpooledBody

# receive connectors --------------------------------------------------------------------------

def connector_settings(connector: ReceiveConnector) -> str:
    """The JSON to store, after checking the connector the way it will be read back."""
    if not isinstance(connector, ReceiveConnector):
        raise ValidationError("connector", f"must be a ReceiveConnector, not {type(connector).__name__}")
    checked = ReceiveConnector.from_dict(connector.to_dict())
    return json.dumps(checked.to_dict())


def server_connectors(server: str, connectors: Sequence[ReceiveConnector]) -> list[tuple[ReceiveConnector, str]]:
    """A new server's connectors with their JSON: each on that server, no name twice."""
    rows: list[tuple[ReceiveConnector, str]] = []
    names: set[str] = set()
    for connector in connectors:
        settings = connector_settings(connector)
        if connector.server != server:
            raise ValidationError("connectors", f"{connector.name!r} belongs to {connector.server}, not {server}")
        if connector.name.casefold() in names:
            raise ValidationError("connectors", f"{connector.name!r} is listed twice")
        names.add(connector.name.casefold())
        rows.append((connector, settings))
    return rows


def connector_row(row: Sequence[Any]) -> ReceiveConnector:
    server, name, settings = row
    data = json.loads(settings)
    data["server"], data["name"] = server, name  # the key columns are the truth
    return ReceiveConnector.from_dict(data)


def connector_missing(server: str, name: str) -> NotFound:
    return NotFound("receive connector", f"{name} on server {server}")


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
                spooled: SpooledBody | None = None) -> int:
    """Store one body, `head` then (`spooled`'s file then) `data`; its id. A bound BLOB is
    copied twice before it reaches its pages (the bound value, then the record): for a
    large body, a zeroblob reserves the pages and the blob handle writes the octets into
    them, the parts one after the other (no joined copy either; a spooled file in 1 MiB
    pieces)."""
    size = len(head) + len(data) + (spooled.size if spooled else 0)
    if size < IN_PLACE_FROM and spooled is None:
        value = head + bytes(data) if head else data
        return conn.execute("INSERT INTO message_bodies (size, data) VALUES (?, ?)", (size, value)).lastrowid
    body_id = conn.execute("INSERT INTO message_bodies (size, data) VALUES (?, zeroblob(?))", (size, size)).lastrowid
    with conn.blobopen("message_bodies", "data", body_id) as blob:
        blob.write(head)
        if spooled is not None:
            for piece in read_spooled(spooled):
                blob.write(piece)
        blob.write(data)
    return body_id


def store_message(conn: sqlite3.Connection, mailbox_ids: Sequence[int], data: bytes | memoryview,
                  head: bytes = b"", spooled: SpooledBody | None = None) -> list[MessageInfo]:
    """One body (`head`, `spooled`'s file, then `data`), one entry per mailbox id (in
    order). NotFound if a mailbox is gone; the caller's transaction (the writer's per-job
    savepoint) then drops the body too."""
    size, received_at = len(head) + len(data) + (spooled.size if spooled else 0), schema.now()
    body_id = insert_body(conn, data, head, spooled)
    infos = []
    for mailbox_id in mailbox_ids:
        uidl = uuid.uuid4().hex
        try:
            cursor = conn.execute(
                "INSERT INTO messages (mailbox_id, body_id, uidl, size, received_at) VALUES (?, ?, ?, ?, ?)",
                (mailbox_id, body_id, uidl, size, received_at),
            )
        except sqlite3.IntegrityError as exc:
            if "FOREIGN KEY" in str(exc):
                raise NotFound("mailbox", str(mailbox_id)) from exc
            raise
        infos.append(MessageInfo(cursor.lastrowid, uidl, size, received_at))
    return infos


def restore_message(conn: sqlite3.Connection, mailbox_id: int, info: MessageInfo, data: bytes) -> MessageInfo:
    """One message with the UIDL and arrival time it had in another store (moving a store)."""
    body_id = insert_body(conn, data)
    try:
        cursor = conn.execute(
            "INSERT INTO messages (mailbox_id, body_id, uidl, size, received_at) VALUES (?, ?, ?, ?, ?)",
            (mailbox_id, body_id, info.uidl, len(data), info.received_at),
        )
    except sqlite3.IntegrityError as exc:
        if "FOREIGN KEY" in str(exc):
            raise NotFound("mailbox", str(mailbox_id)) from exc
        raise Conflict(f"a message with UIDL {info.uidl} is already stored") from exc
    return MessageInfo(cursor.lastrowid, info.uidl, len(data), info.received_at)


def restored(messages: Sequence[tuple[MessageInfo, bytes]]) -> list[tuple[MessageInfo, bytes]]:
    """restore_messages' argument, checked: wire-form bodies, text UIDLs, ISO-8601 arrival times."""
    checked = []
    for info, data in messages:
        if not isinstance(info, MessageInfo) or not isinstance(info.uidl, str) or not info.uidl:
            raise ValidationError("messages", f"{info!r} is not a MessageInfo with a UIDL")
        checked.append((MessageInfo(0, info.uidl, 0, utc_iso(info.received_at, "received_at")), wire(data)))
    return checked


def read_body(conn: sqlite3.Connection, mailbox_id: int, message_id: int) -> bytes | None:
    row = conn.execute(
        "SELECT b.data FROM messages m JOIN message_bodies b ON b.id = m.body_id"
        " WHERE m.id = ? AND m.mailbox_id = ?", (message_id, mailbox_id)
    ).fetchone()
    return None if row is None else bytes(row[0])


def mailbox_ids(values: Sequence[int]) -> list[int]:
    ids = list(values)
    if not ids:
        raise ValidationError("mailbox_ids", "needs at least one mailbox")
    for value in ids:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError("mailbox_ids", f"{value!r} is not a mailbox id")
    return ids


# message tracking ----------------------------------------------------------------------------

TRACKING_COLUMNS = ("event_id", "server", "source", "queue_id", "message_id", "sender", "recipient",
                    "status", "size", "client_ip", "connector")
_TEXT_COLUMNS = tuple(c for c in TRACKING_COLUMNS if c not in ("event_id", "size"))


def tracking_values(event: TrackingEvent) -> tuple[Any, ...]:
    """The columns of one row (without `at` and `id`, which the store sets), checked."""
    if not isinstance(event, TrackingEvent):
        raise ValidationError("tracking", f"must be a TrackingEvent, not {type(event).__name__}")
    for name in _TEXT_COLUMNS:
        if not isinstance(getattr(event, name), str):
            raise ValidationError(name, f"{getattr(event, name)!r} is not text")
    if isinstance(event.size, bool) or not isinstance(event.size, int) or event.size < 0:
        raise ValidationError("size", f"{event.size!r} is not a whole number >= 0")
    event_id = enum_value(TrackingEventId, "event_id", event.event_id).value
    return (event_id, *(getattr(event, name) for name in TRACKING_COLUMNS[1:]))


def insert_tracking(conn: sqlite3.Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """Rows as (at, *tracking_values(event)): each keeps the time of its event."""
    if not rows:
        return
    marks = ", ".join("?" * (len(TRACKING_COLUMNS) + 1))
    conn.executemany(f"INSERT INTO message_tracking (at, {', '.join(TRACKING_COLUMNS)}) VALUES ({marks})", rows)


def utc_iso(value: Any, field: str = "since") -> str:
    """An ISO-8601 time in the stored form (UTC, microseconds), so text order is time order.
    A time without an offset is taken as UTC."""
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip())
        except ValueError:
            raise ValidationError(field, f"{value!r} is not an ISO-8601 time like 2024-05-01T12:00:00Z") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


def tracking_query(*, sender: str | None, recipient: str | None, message_id: str | None,
                   queue_id: str | None, event_id: Any, since: Any, limit: int) -> tuple[str, list[Any]]:
    """The newest `limit` matching rows, newest first (the caller reverses them)."""
    where, params = [], []
    for column, value in (("sender", sender), ("recipient", recipient),
                          ("message_id", message_id), ("queue_id", queue_id)):
        if value is not None:
            if not isinstance(value, str):
                raise ValidationError(column, f"{value!r} is not text")
            where.append(f"{column} = ?")  # sender and recipient: COLLATE NOCASE columns
            params.append(value)
    if event_id is not None:
        text = event_id.upper() if isinstance(event_id, str) else event_id
        where.append("event_id = ?")
        params.append(enum_value(TrackingEventId, "event_id", text).value)
    if since is not None:
        where.append("at >= ?")
        params.append(utc_iso(since))
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    sql = f"SELECT id, at, {', '.join(TRACKING_COLUMNS)} FROM message_tracking{clause} ORDER BY id DESC LIMIT ?"
    return sql, [*params, limit]


# Oldest first, one bounded batch per statement (see Store.remove_tracking).
REMOVE_TRACKING = ("DELETE FROM message_tracking WHERE id IN"
                   " (SELECT id FROM message_tracking WHERE at < ? ORDER BY at LIMIT ?)")


def tracking_row(row: Sequence[Any]) -> TrackingEvent:
    id_, at, event_id, *rest = row
    return TrackingEvent(TrackingEventId(event_id), *rest, at=at, id=id_)
