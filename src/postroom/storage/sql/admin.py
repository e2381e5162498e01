"""The admin side, shared by both backends: admin principals, API tokens, console sessions,
the admin service's settings and the audit log: column lists, checks, row conversions and
query builders (`?` placeholders; see storage/sql).

Times are kept as ISO-8601 UTC text in one format (`utc_iso`), so that comparing text
compares time.
"""
from __future__ import annotations

import json
from typing import Any, Sequence

from ...errors import ValidationError
from ...model import AUDIT_CHANNELS, AUDIT_OUTCOMES, Admin, ApiToken, AuditEntry, WebSession, WebSettings
from ..notes import AuditNote
from .schema import from_json, to_json
from .values import utc_iso

ADMIN_COLUMNS = "name, password_hash, roles, created_at"
TOKEN_COLUMNS = "id, admin, secret_hash, description, created_at, expires_at, last_used_at"
SESSION_COLUMNS = "id_hash, admin, csrf_token, created_at, expires_at"
AUDIT_COLUMNS = "id, at, actor, action, target, before, after, channel, outcome, detail"
AUDIT_INSERT = AUDIT_COLUMNS.removeprefix("id, ")  # the store sets the id
ADMIN_CHANGES = ("password_hash", "roles")


def _text(value: Any, field: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise ValidationError(field, f"{value!r} is not a non-empty text")
    return value


def _time(value: Any, field: str, *, optional: bool = False) -> str | None:
    return None if value is None and optional else utc_iso(value, field)


# admin principals ----------------------------------------------------------------------------

def roles_json(roles: Any) -> str:
    """Role groups as given (the service layer checks them), as a JSON list of text."""
    if isinstance(roles, str) or not isinstance(roles, (list, tuple)):
        raise ValidationError("roles", f"{roles!r} is not a list of role groups")
    for role in roles:
        _text(role, "roles")
    return json.dumps(list(roles))


def password_hash(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ValidationError("password_hash", f"{value!r} is not a password hash")
    return value


def admin_row(row: Sequence[Any]) -> Admin:
    return Admin(row[0], row[1], tuple(json.loads(row[2])), row[3])


def admin_changes(changes: dict[str, Any]) -> dict[str, Any]:
    """update_admin's keyword arguments -> column values."""
    columns = {}
    for name, value in changes.items():
        if name not in ADMIN_CHANGES:
            raise ValidationError(name, "cannot be changed on an admin", list(ADMIN_CHANGES))
        columns[name] = roles_json(value) if name == "roles" else password_hash(value)
    return columns


# API tokens ----------------------------------------------------------------------------------

def token_values(token: ApiToken) -> tuple[Any, ...]:
    """The columns of a new token, checked; created_at stays None when not given."""
    if not isinstance(token, ApiToken):
        raise ValidationError("token", f"must be an ApiToken, not {type(token).__name__}")
    if not isinstance(token.description, str):
        raise ValidationError("description", f"{token.description!r} is not text")
    return (_text(token.id, "id"), token.admin, _text(token.secret_hash, "secret_hash"), token.description,
            _time(token.created_at or None, "created_at", optional=True),
            _time(token.expires_at, "expires_at", optional=True),
            _time(token.last_used_at, "last_used_at", optional=True))


# console sessions ----------------------------------------------------------------------------

def session_values(session: WebSession) -> tuple[Any, ...]:
    if not isinstance(session, WebSession):
        raise ValidationError("session", f"must be a WebSession, not {type(session).__name__}")
    return (_text(session.id_hash, "id_hash"), session.admin, _text(session.csrf_token, "csrf_token"),
            _time(session.created_at, "created_at"), _time(session.expires_at, "expires_at"))


# the admin service's settings ---------------------------------------------------------------

def web_settings_json(settings: WebSettings) -> str:
    """The JSON to store, after checking the settings the way they will be read back."""
    if not isinstance(settings, WebSettings):
        raise ValidationError("web", f"must be WebSettings, not {type(settings).__name__}")
    return json.dumps(WebSettings.from_dict(settings.to_dict()).to_dict())


# audit ---------------------------------------------------------------------------------------

def _choice(value: Any, field: str, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise ValidationError(field, f"{value!r} is not one of them", list(allowed))
    return value


def audit_fields(channel: Any, outcome: Any, detail: Any) -> tuple[str, str, str | None]:
    if detail is not None and not isinstance(detail, str):
        raise ValidationError("detail", f"{detail!r} is not text")
    return _choice(channel, "channel", AUDIT_CHANNELS), _choice(outcome, "outcome", AUDIT_OUTCOMES), detail


def audit_query(limit: int, *, target: str | None, actor: str | None, action: str | None,
                channel: str | None, outcome: str | None, since: Any) -> tuple[str, list[Any]]:
    """The newest `limit` matching entries, newest first."""
    where, params = [], []
    if channel is not None:
        _choice(channel, "channel", AUDIT_CHANNELS)
    if outcome is not None:
        _choice(outcome, "outcome", AUDIT_OUTCOMES)
    for column, value in (("target", target), ("actor", actor), ("action", action),
                          ("channel", channel), ("outcome", outcome)):
        if value is not None:
            if not isinstance(value, str):
                raise ValidationError(column, f"{value!r} is not text")
            where.append(f"{column} = ?")
            params.append(value)
    if since is not None:
        where.append("at >= ?")
        params.append(utc_iso(since))
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    return f"SELECT {AUDIT_COLUMNS} FROM audit{clause} ORDER BY id DESC LIMIT ?", [*params, limit]


def audit_row(row: Sequence[Any]) -> AuditEntry:
    id_, at, actor, action, target, before, after, channel, outcome, detail = row
    return AuditEntry(id_, at, actor, action, target, from_json(before), from_json(after),
                      channel, outcome, detail)


def audit_note(note: Any) -> AuditNote:
    """A write's `audit` argument, checked before anything is written."""
    if not isinstance(note, AuditNote):
        raise ValidationError("audit", f"must be an AuditNote, not {type(note).__name__}")
    _choice(note.channel, "channel", AUDIT_CHANNELS)
    return note


def note_values(note: AuditNote, result: Any) -> tuple[Any, ...]:
    """The audit columns after `at` (AUDIT_INSERT's order) of a change's note; a function
    `after` is given what the write returned."""
    after = note.after(result) if callable(note.after) else note.after
    return (note.actor, note.action, note.target, to_json(note.before), to_json(after), note.channel, "success", None)
