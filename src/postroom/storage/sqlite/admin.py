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
from typing import Any, Callable

from ...errors import NotFound
from ...model import Admin, ApiToken, AuditEntry, WebSettings
from ..notes import AuditNote
from ..sql import schema as schema_sql
from ..sql.admin import ADMIN_COLUMNS, AUDIT_INSERT, SESSION_COLUMNS, TOKEN_COLUMNS, admin_row, audit_row, note_values
from . import schema


def run(conn: sqlite3.Connection, sql: str, *params: Any) -> int:
    """One statement; how many rows it changed (never the cursor: it must not leave the thread)."""
    return conn.execute(sql, params).rowcount


# admin principals ----------------------------------------------------------------------------

def insert_admin(conn: sqlite3.Connection, name: str, hash_: str | None, roles: str) -> Admin:
    created_at = schema_sql.now()
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

def insert_token(conn: sqlite3.Connection, values: tuple[Any, ...]) -> ApiToken:
    id_, admin, secret_hash, description, created_at, expires_at, last_used_at = values
    row = (id_, stored_admin_name(conn, admin), secret_hash, description, created_at or schema_sql.now(),
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

def insert_session(conn: sqlite3.Connection, values: tuple[Any, ...]) -> None:
    id_hash, admin, *rest = values
    try:
        conn.execute(f"INSERT INTO web_sessions ({SESSION_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
                     (id_hash, stored_admin_name(conn, admin), *rest))
    except sqlite3.IntegrityError as exc:
        raise schema.unique_violation(exc, "a console session with this id already exists") from exc


# the admin service's settings (configuration: the caller bumps config_version) ---------------

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

def insert_audit(conn: sqlite3.Connection, actor: str, action: str, target: str, before: str | None,
                 after: str | None, channel: str, outcome: str, detail: str | None) -> AuditEntry:
    row = (schema_sql.now(), actor, action, target, before, after, channel, outcome, detail)
    cursor = conn.execute(
        f"INSERT INTO audit ({AUDIT_INSERT}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", row
    )
    return audit_row((cursor.lastrowid, *row))


def audited(fn: Callable[[sqlite3.Connection], Any], note: AuditNote) -> Callable[[sqlite3.Connection], Any]:
    """`fn`, then the insert of its audit entry, in the one transaction the
    writer runs the job in: if either fails, both are rolled back."""
    def write(conn: sqlite3.Connection) -> Any:
        result = fn(conn)
        insert_audit(conn, *note_values(note, result))
        return result
    return write
