"""Failed-login evidence, shared by both backends: which mailbox was tried, from where, on
which service, and why the login was refused; and the POP3 and IMAP4 sessions that ended
without a login (counted by kind: from where, on which binding, how far TLS got, why, what they
sent): the row checks and the query builders. Not configuration: nothing here bumps config_version."""
from __future__ import annotations

from typing import Any, Sequence

from ...errors import ValidationError
from ...model import EndedSessions, LoginFailure
from .values import utc_iso

SERVICES = ("pop3", "imap4", "smtp", "doctor")  # doctor: a password given to `postroom doctor` or `test`
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


def _newest(table: str, columns: str, equal: dict[str, Any], since: Any, limit: Any) -> tuple[str, list[Any]]:
    """The newest `limit` rows of `table` matching `equal` (column: text, None: any) and
    `since`, newest first (the caller reverses them)."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValidationError("limit", f"{limit!r} is not a whole number >= 1")
    where, params = [], []
    for column, value in equal.items():
        if value is not None:
            where.append(f"{column} = ?")
            params.append(_text(column, value, MAX_MAILBOX if column == "mailbox" else MAX_TEXT, empty=True))
    if since is not None:
        where.append("at >= ?")
        params.append(utc_iso(since, "since"))
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    return f"SELECT {columns} FROM {table}{clause} ORDER BY at DESC, id DESC LIMIT ?", [*params, limit]


def query(mailbox: str | None, since: Any, limit: Any) -> tuple[str, list[Any]]:
    """The newest `limit` matching failures, newest first (the caller reverses them)."""
    return _newest("login_failures", COLUMNS, {"mailbox": mailbox}, since, limit)  # mailbox: a case-blind column


def row_to_failure(row: Sequence[Any]) -> LoginFailure:
    return LoginFailure(*row)


# POP3 and IMAP4 sessions that ended without a login -----------------------------------------
SESSION_SERVICES = ("pop3", "imap4")  # the column has no CHECK constraint on either backend: this is the rule
SESSION_TLS = ("none", "stls", "ssl")
SESSION_COLUMNS = "at, first_at, server, service, remote_ip, binding, tls, reason, commands, mailbox, count"
SESSION_MARKS = ", ".join("?" * len(SESSION_COLUMNS.split(", ")))


def ended_values(row: Any) -> tuple[Any, ...]:
    """One EndedSessions row, checked, in stored form."""
    if not isinstance(row, EndedSessions):
        raise ValidationError("rows", f"must be EndedSessions rows, not {type(row).__name__}")
    if row.service not in SESSION_SERVICES:
        raise ValidationError("service", f"{row.service!r} is not a service whose sessions are kept",
                              list(SESSION_SERVICES))
    if row.tls not in SESSION_TLS:
        raise ValidationError("tls", f"{row.tls!r} is not a TLS state", list(SESSION_TLS))
    if isinstance(row.count, bool) or not isinstance(row.count, int) or not 1 <= row.count <= 2**31 - 1:
        raise ValidationError("count", f"{row.count!r} is not a whole number >= 1")
    at, first_at = utc_iso(row.at, "at"), utc_iso(row.first_at, "first_at")
    if first_at > at:
        raise ValidationError("first_at", f"{row.first_at!r} is after the last session's end ({row.at!r})")
    return (at, first_at, _text("server", row.server, MAX_TEXT), row.service,
            _text("remote_ip", row.remote_ip, MAX_TEXT), _text("binding", row.binding, MAX_TEXT), row.tls,
            _text("reason", row.reason, MAX_TEXT), _text("commands", row.commands, MAX_TEXT, empty=True),
            _text("mailbox", row.mailbox, MAX_MAILBOX, empty=True), row.count)


def ended_query(server: str | None, service: str | None, since: Any, limit: Any) -> tuple[str, list[Any]]:
    """The newest `limit` matching rows (by the last session's end), newest first."""
    return _newest("ended_sessions", SESSION_COLUMNS, {"server": server, "service": service}, since, limit)


def row_to_ended(row: Sequence[Any]) -> EndedSessions:
    return EndedSessions(*row)
