"""Requests to end live sessions (`postroom session end`; sqlite schema 13, postgresql schema 8),
shared by both backends: the statements, the checks of a request, row conversions.

A request lives a day at most: each new request removes those made a day before it, answered
or not (a node that has not answered by then is gone, and a node started since ignores them).
Not configuration: nothing here bumps config_version."""
from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any, Mapping, Sequence

from ...errors import NotFound, ValidationError
from ...model import SessionEndRequest
from .values import utc_iso

KEEP = timedelta(days=1)
MAX_TEXT = 320  # a mailbox address at most; a session id and an admin's name are shorter
MAX_ENDED = 10_000  # sessions one answer may list
COLUMNS = "id, server, session, mailbox, seen_at, requested_at, requested_by, done_at, ended"
INSERT = ("INSERT INTO session_end_requests (server, session, mailbox, seen_at, requested_at, requested_by)"
          " VALUES (?, ?, ?, ?, ?, ?)")  # PostgreSQL adds RETURNING id; SQLite reads lastrowid
PRUNE = "DELETE FROM session_end_requests WHERE requested_at < ?"
PENDING = f"SELECT {COLUMNS} FROM session_end_requests WHERE server = ? AND done_at IS NULL ORDER BY id"
GET = f"SELECT {COLUMNS} FROM session_end_requests WHERE id = ?"
FINISH = "UPDATE session_end_requests SET done_at = ?, ended = ? WHERE id = ?"


def _text(field: str, value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_TEXT:
        raise ValidationError(field, f"{value!r} is not a non-empty text of at most {MAX_TEXT} characters")
    return value


def request_values(request: Any) -> tuple[Any, ...]:
    """One request, checked, as INSERT takes it."""
    if not isinstance(request, SessionEndRequest):
        raise ValidationError("requests", f"must be SessionEndRequest values, not {type(request).__name__}")
    if (request.session is None) == (request.mailbox is None):
        raise ValidationError("requests", "a request ends one session or the sessions of one mailbox: give exactly "
                                          "one of session and mailbox")
    target = ("session", request.session) if request.session is not None else ("mailbox", request.mailbox)
    _text(*target)
    if isinstance(request.seen_at, bool) or not isinstance(request.seen_at, (int, float)):
        raise ValidationError("seen_at", f"{request.seen_at!r} is not a time (seconds since the epoch)")
    return (_text("server", request.server), request.session, request.mailbox, float(request.seen_at),
            utc_iso(request.requested_at, "requested_at"), _text("requested_by", request.requested_by))


def prune_before(values: Sequence[tuple[Any, ...]]) -> str:
    """Requests made before this (a day before the newest request stored now) go."""
    newest = max(row[4] for row in values)
    return utc_iso(datetime.fromisoformat(newest) - KEEP)


def request_id(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63:
        raise ValidationError("request_id", f"{value!r} is not a request id")
    return value


def answer_values(request: Any, done_at: Any, ended: Any) -> tuple[str, str, int]:
    """FINISH's parameters, checked: the sessions ended are stored as the node listed them."""
    if not isinstance(ended, Sequence) or isinstance(ended, (str, bytes)) or len(ended) > MAX_ENDED \
            or not all(isinstance(entry, Mapping) for entry in ended):
        raise ValidationError("ended", f"must be a list of at most {MAX_ENDED} session descriptions")
    text = json.dumps([dict(entry) for entry in ended], default=str)
    return utc_iso(done_at, "done_at"), text, request_id(request)


def request_row(row: Sequence[Any]) -> SessionEndRequest:
    return SessionEndRequest(server=row[1], session=row[2], mailbox=row[3], seen_at=float(row[4]),
                             requested_at=row[5], requested_by=row[6], id=int(row[0]), done_at=row[7],
                             ended=tuple(json.loads(row[8] or "[]")))


def request_missing(request: int) -> NotFound:
    return NotFound("session end request", str(request))
