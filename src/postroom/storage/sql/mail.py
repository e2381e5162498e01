"""Receive connectors, messages and message tracking: the checks, row conversions and query
builders both backends use (`?` placeholders; see storage/sql)."""
from __future__ import annotations

import json
from typing import Any, Sequence

from ...errors import NotFound, ValidationError
from ...model import MessageInfo, ReceiveConnector, TrackingEvent, TrackingEventId, enum_value
from .values import utc_iso, wire

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


# messages ------------------------------------------------------------------------------------

def restored(messages: Sequence[tuple[MessageInfo, bytes]]) -> list[tuple[MessageInfo, bytes]]:
    """restore_messages' argument, checked: wire-form bodies, text UIDLs, ISO-8601 arrival times."""
    checked = []
    for info, data in messages:
        if not isinstance(info, MessageInfo) or not isinstance(info.uidl, str) or not info.uidl:
            raise ValidationError("messages", f"{info!r} is not a MessageInfo with a UIDL")
        checked.append((MessageInfo(0, info.uidl, 0, utc_iso(info.received_at, "received_at")), wire(data)))
    return checked


def mailbox_ids(values: Sequence[int], *, outbound: bool = False) -> list[int]:
    """deliver_message's mailbox ids, checked: at least one, unless the message is also queued."""
    ids = list(values)
    if not ids and not outbound:
        raise ValidationError("mailbox_ids", "needs at least one mailbox (or remote recipients: outbound)")
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
    return TrackingEvent(TrackingEventId(event_id), **dict(zip(TRACKING_COLUMNS[1:], rest)), at=at, id=id_)
