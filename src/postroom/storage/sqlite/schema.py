"""SQL helpers for SqliteStore: applying the numbered migrations, small statements."""
from __future__ import annotations

import sqlite3

from ...errors import Conflict, Unavailable
from ..sql.schema import migrations, now
from . import threads


def unique_violation(exc: sqlite3.IntegrityError, message: str) -> BaseException:
    return Conflict(message) if "UNIQUE" in str(exc) else threads.translate(exc)


def inserted_id(cursor: sqlite3.Cursor) -> int:
    """The rowid the INSERT just run on `cursor` made (sqlite3 has None only before any INSERT)."""
    rowid = cursor.lastrowid
    assert rowid is not None, "no row inserted"
    return rowid


def bump_config(conn: sqlite3.Connection) -> None:
    conn.execute("UPDATE config_state SET version = version + 1 WHERE id = 1")


def server_exists(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM servers WHERE name = ?", (name,)).fetchone() is not None


def statements(script: str) -> list[str]:
    """Split a migration script into statements (triggers' BEGIN ... END stay whole)."""
    found, buffer = [], ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            found.append(buffer.strip())
            buffer = ""
    leftover = "\n".join(line for line in buffer.splitlines() if not line.strip().startswith("--")).strip()
    if leftover:
        raise Unavailable(f"incomplete SQL statement in a migration: {leftover[:60]!r}")
    return found


def migrate(conn: sqlite3.Connection) -> list[int]:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations"
        " (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    applied = []
    for version, name, script in migrations("sqlite"):
        conn.execute("BEGIN IMMEDIATE")  # several processes may migrate at once: check inside
        try:
            done = conn.execute("SELECT 1 FROM schema_migrations WHERE version = ?", (version,)).fetchone()
            if not done:
                for statement in statements(script):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (version, name, now()),
                )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        if not done:
            applied.append(version)
    return applied
