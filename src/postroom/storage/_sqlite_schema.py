"""SQL helpers for SqliteStore: numbered migrations, row conversions, small statements."""
from __future__ import annotations

import json
import re
import sqlite3
from datetime import datetime, timezone
from importlib import resources
from typing import Any, Sequence

from ..errors import Conflict, Unavailable
from ..model import Mailbox, Service, ServiceStatus, Startup
from . import _sqlite_threads as threads

MAILBOX_COLUMNS = "id, address, display_name, password_hash, enabled, pop_enabled, imap_enabled, created_at"


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def to_json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, default=str)


def from_json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def unique_violation(exc: sqlite3.IntegrityError, message: str) -> Exception:
    return Conflict(message) if "UNIQUE" in str(exc) else threads.translate(exc)


def mailbox_row(row: Sequence[Any]) -> Mailbox:
    return Mailbox(row[0], row[1], row[2], row[3], bool(row[4]), bool(row[5]), bool(row[6]), row[7])


def service_row(row: Sequence[Any]) -> Service:
    return Service(row[0], row[1], Startup(row[2]), ServiceStatus(row[3]))


def bump_config(conn: sqlite3.Connection) -> None:
    conn.execute("UPDATE config_state SET version = version + 1 WHERE id = 1")


def server_exists(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM servers WHERE name = ?", (name,)).fetchone() is not None


def search_clause(search: str | None) -> tuple[str, list[Any]]:
    if not search:
        return "", []
    pattern = "%" + re.sub(r"([\\%_])", r"\\\1", search) + "%"
    return " WHERE address LIKE ? ESCAPE '\\' OR display_name LIKE ? ESCAPE '\\'", [pattern, pattern]


MIGRATION_FILE = re.compile(r"(\d+)_[A-Za-z0-9_]+\.sql")


def migrations(dialect: str = "sqlite") -> list[tuple[int, str, str]]:
    """(version, file name, script) of migrations/DIALECT/NNNN_name.sql, in order."""
    folder = resources.files("postroom.storage").joinpath("migrations", dialect)
    found = []
    for entry in folder.iterdir():
        match = MIGRATION_FILE.fullmatch(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    versions = [version for version, _, _ in found]
    if len(set(versions)) != len(versions):
        raise Unavailable(f"duplicate migration numbers in {versions}")
    return found


def statements(script: str) -> list[str]:
    """Split a migration script into statements (triggers' BEGIN ... END stay whole)."""
    found, buffer = [], ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            found.append(buffer.strip())
            buffer = ""
    leftover = "\n".join(l for l in buffer.splitlines() if not l.strip().startswith("--")).strip()
    if leftover:
        raise Unavailable(f"incomplete SQL statement in a migration: {leftover[:60]!r}")
    return found


def migrate(conn: sqlite3.Connection) -> list[int]:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations"
        " (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    applied = []
    for version, name, script in migrations():
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
