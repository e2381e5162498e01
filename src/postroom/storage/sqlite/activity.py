"""SQL for SqliteStore's activity counters (schema 4): per server, 10-minute bucket and kind,
how many POP3 logins succeeded or failed and how many SMTP messages were accepted.

Nodes add to the counters about once a second; the console's dashboard reads the last day.
Buckets are kept in the store's one ISO-8601 UTC form (`utc_iso`), so comparing text
compares time. Not configuration: nothing here bumps config_version.

Every function here runs on a store thread with the connection it is given; none commits.
"""
from __future__ import annotations

import sqlite3

from ...errors import NotFound
from ..sql.activity import Row
from . import schema


def add_activity(conn: sqlite3.Connection, server: str, rows: list[Row]) -> None:
    if not schema.server_exists(conn, server):
        raise NotFound("server", server)
    conn.executemany(
        "INSERT INTO activity (server, bucket, kind, count) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (server, bucket, kind) DO UPDATE SET count = count + excluded.count",
        [(server, bucket, kind, count) for bucket, kind, count in rows],
    )
