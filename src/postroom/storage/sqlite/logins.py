"""SQL for SqliteStore's failed-login evidence (schema 5): which mailbox was tried, from where,
on which service, and why the login was refused; and the POP3 sessions that ended without a
login (schema 12), counted by kind.

Nodes write what they buffered about once a second; the doctor reads one mailbox's last hour.
Times are kept in the store's one ISO-8601 UTC form (`utc_iso`), so comparing text compares
time. Not configuration: nothing here bumps config_version.

Every function here runs on a store thread with the connection it is given; none commits.
"""
from __future__ import annotations

import sqlite3
from typing import Sequence

from ..sql.logins import COLUMNS, SESSION_COLUMNS, SESSION_MARKS


def insert(conn: sqlite3.Connection, rows: Sequence[tuple[str, ...]]) -> None:
    conn.executemany(f"INSERT INTO login_failures ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)", rows)


def prune(conn: sqlite3.Connection, before: str) -> int:
    return conn.execute("DELETE FROM login_failures WHERE at < ?", (before,)).rowcount


def insert_ended(conn: sqlite3.Connection, rows: Sequence[tuple[object, ...]]) -> None:
    conn.executemany(f"INSERT INTO ended_sessions ({SESSION_COLUMNS}) VALUES ({SESSION_MARKS})", rows)


def prune_ended(conn: sqlite3.Connection, before: str) -> int:
    return conn.execute("DELETE FROM ended_sessions WHERE at < ?", (before,)).rowcount
