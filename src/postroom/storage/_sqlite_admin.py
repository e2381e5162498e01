"""SQL for SqliteStore's admin side: admin principals, API tokens, console sessions, the admin
service's settings and the audit log (schema 3).

Admin names compare case-insensitively (COLLATE NOCASE columns). Tokens and sessions point at
their admin by foreign key with ON DELETE CASCADE, so removing an admin removes them. Times
are kept as ISO-8601 UTC text in one format (`utc_iso`), so that comparing text compares time.
None of these writes is configuration except the web settings (the caller bumps for those).

Every function here runs on a store thread with the connection it is given; none commits.
"""
from __future__ import annotations

import json
import sqlite3
from typing import Any, Sequence

from ..errors import NotFound, ValidationError
from ..model import AUDIT_CHANNELS, AUDIT_OUTCOMES, Admin, ApiToken, AuditEntry, WebSession, WebSettings
from . import _sqlite_schema as schema
from ._sqlite_mail import utc_iso

ADMIN_COLUMNS = "name, password_hash, roles, created_at"
TOKEN_COLUMNS = "id, admin, secret_hash, description, created_at, expires_at, last_used_at"
SESSION_COLUMNS = "id_hash, admin, csrf_token, created_at, expires_at"
AUDIT_COLUMNS = "id, at, actor, action, target, before, after, channel, outcome, detail"
_AUDIT_INSERT = AUDIT_COLUMNS.removeprefix("id, ")  # the store sets the id
ADMIN_CHANGES = ("password_hash", "roles")


def run(conn: sqlite3.Connection, sql: str, *params: Any) -> int:
    """One statement; how many rows it changed (never the cursor: it must not leave the thread)."""
    return conn.execute(sql, params).rowcount


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


def insert_admin(conn: sqlite3.Connection, name: str, hash_: str | None, roles: str) -> Admin:
    created_at = schema.now()
    try:
        conn.execute(f"INSERT INTO admins ({ADMIN_COLUMNS}) VALUES (?, ?, ?, ?)", (name, hash_, roles, created_at))
    except sqlite3.IntegrityError as exc:
        raise schema.unique_violation(exc, f"admin {name} already exists") from exc
    return admin_row((name, hash_, roles, created_at))


def find_admin(conn: sqlite3.Connection, name: str) -> Admin | None:
    row = conn.execute(f"SELECT {ADMIN_COLUMNS} FROM admins WHERE name = ?", (name,)).fetchone()
    return None if row is None else admin_row(row)


def stored_admin_name(conn: sqlite3.Connection, name: str) -> str:
    """The admin's name as stored (tokens and sessions keep that spelling); NotFound if absent."""
    row = conn.execute("SELECT name FROM admins WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise NotFound("admin", name)
    return row[0]


def update_admin(conn: sqlite3.Connection, name: str, columns: dict[str, Any]) -> Admin:
    if columns:
        assignments = ", ".join(f"{column} = ?" for column in columns)
        conn.execute(f"UPDATE admins SET {assignments} WHERE name = ?", [*columns.values(), name])
    admin = find_admin(conn, name)
    if admin is None:
        raise NotFound("admin", name)
    return admin


def delete_admin(conn: sqlite3.Connection, name: str) -> None:
    # Its tokens and sessions go by ON DELETE CASCADE (foreign keys are on in every connection).
    if conn.execute("DELETE FROM admins WHERE name = ?", (name,)).rowcount == 0:
        raise NotFound("admin", name)


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


def insert_token(conn: sqlite3.Connection, values: tuple[Any, ...]) -> ApiToken:
    id_, admin, secret_hash, description, created_at, expires_at, last_used_at = values
    row = (id_, stored_admin_name(conn, admin), secret_hash, description, created_at or schema.now(),
           expires_at, last_used_at)
    try:
        conn.execute(f"INSERT INTO api_tokens ({TOKEN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)", row)
    except sqlite3.IntegrityError as exc:
        raise schema.unique_violation(exc, f"API token {id_} already exists") from exc
    return ApiToken(*row)


def list_tokens(conn: sqlite3.Connection, admin: str | None) -> list[ApiToken]:
    sql = f"SELECT {TOKEN_COLUMNS} FROM api_tokens"
    if admin is None:
        rows = conn.execute(f"{sql} ORDER BY admin, created_at, id").fetchall()
    else:
        rows = conn.execute(f"{sql} WHERE admin = ? ORDER BY created_at, id", (admin,)).fetchall()
    return [ApiToken(*row) for row in rows]


# console sessions ----------------------------------------------------------------------------

def session_values(session: WebSession) -> tuple[Any, ...]:
    if not isinstance(session, WebSession):
        raise ValidationError("session", f"must be a WebSession, not {type(session).__name__}")
    return (_text(session.id_hash, "id_hash"), session.admin, _text(session.csrf_token, "csrf_token"),
            _time(session.created_at, "created_at"), _time(session.expires_at, "expires_at"))


def insert_session(conn: sqlite3.Connection, values: tuple[Any, ...]) -> None:
    id_hash, admin, *rest = values
    try:
        conn.execute(f"INSERT INTO web_sessions ({SESSION_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
                     (id_hash, stored_admin_name(conn, admin), *rest))
    except sqlite3.IntegrityError as exc:
        raise schema.unique_violation(exc, "a console session with this id already exists") from exc


# the admin service's settings (configuration: the caller bumps config_version) ---------------

def web_settings_json(settings: WebSettings) -> str:
    """The JSON to store, after checking the settings the way they will be read back."""
    if not isinstance(settings, WebSettings):
        raise ValidationError("web", f"must be WebSettings, not {type(settings).__name__}")
    return json.dumps(WebSettings.from_dict(settings.to_dict()).to_dict())


def write_web_settings(conn: sqlite3.Connection, server: str, text: str) -> None:
    if not schema.server_exists(conn, server):
        raise NotFound("server", server)
    conn.execute(
        "INSERT INTO web_settings (server, settings) VALUES (?, ?)"
        " ON CONFLICT (server) DO UPDATE SET settings = excluded.settings",
        (server, text),
    )


def read_web_settings(conn: sqlite3.Connection, server: str) -> WebSettings:
    row = conn.execute(
        "SELECT w.settings FROM servers s LEFT JOIN web_settings w ON w.server = s.name WHERE s.name = ?",
        (server,),
    ).fetchone()
    if row is None:
        raise NotFound("server", server)
    return WebSettings.from_dict(json.loads(row[0])) if row[0] is not None else WebSettings()


# audit ---------------------------------------------------------------------------------------

def _choice(value: Any, field: str, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise ValidationError(field, f"{value!r} is not one of them", list(allowed))
    return value


def insert_audit(conn: sqlite3.Connection, actor: str, action: str, target: str, before: str | None,
                 after: str | None, channel: str, outcome: str, detail: str | None) -> AuditEntry:
    row = (schema.now(), actor, action, target, before, after, channel, outcome, detail)
    cursor = conn.execute(
        f"INSERT INTO audit ({_AUDIT_INSERT}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", row
    )
    return audit_row((cursor.lastrowid, *row))


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
    return AuditEntry(id_, at, actor, action, target, schema.from_json(before), schema.from_json(after),
                      channel, outcome, detail)
