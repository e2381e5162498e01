"""Failed-login evidence, shared by both backends: which mailbox was tried, from where, on
which service, and why the login was refused: the row checks and the query builder.
Not configuration: nothing here bumps config_version."""
from __future__ import annotations

from typing import Any, Sequence

from ...errors import ValidationError
from ...model import LoginFailure
from .values import utc_iso

SERVICES = ("pop3", "smtp", "doctor")  # doctor: a password given to `postroom doctor` or `test`
MAX_MAILBOX = 100  # what a session keeps of the name a client sent
MAX_TEXT = 200
COLUMNS = "at, server, service, remote_ip, mailbox, reason"


def _text(field: str, value: Any, limit: int, *, empty: bool = False) -> str:
    if not isinstance(value, str) or (not value and not empty):
        raise ValidationError(field, f"{value!r} is not a non-empty text")
    return value[:limit]


def failure_values(row: Any) -> tuple[str, ...]:
    """One LoginFailure, checked, in stored form."""
    if not isinstance(row, LoginFailure):
        raise ValidationError("rows", f"must be LoginFailure rows, not {type(row).__name__}")
    if row.service not in SERVICES:
        raise ValidationError("service", f"{row.service!r} is not a service that logs in", list(SERVICES))
    return (utc_iso(row.at, "at"), _text("server", row.server, MAX_TEXT), row.service,
            _text("remote_ip", row.remote_ip, MAX_TEXT), _text("mailbox", row.mailbox, MAX_MAILBOX, empty=True),
            _text("reason", row.reason, MAX_TEXT))


def query(mailbox: str | None, since: Any, limit: Any) -> tuple[str, list[Any]]:
    """The newest `limit` matching rows, newest first (the caller reverses them)."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValidationError("limit", f"{limit!r} is not a whole number >= 1")
    where, params = [], []
    if mailbox is not None:
        where.append("mailbox = ?")  # COLLATE NOCASE column
        params.append(_text("mailbox", mailbox, MAX_MAILBOX, empty=True))
    if since is not None:
        where.append("at >= ?")
        params.append(utc_iso(since, "since"))
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    return f"SELECT {COLUMNS} FROM login_failures{clause} ORDER BY at DESC, id DESC LIMIT ?", [*params, limit]


def row_to_failure(row: Sequence[Any]) -> LoginFailure:
    return LoginFailure(*row)
