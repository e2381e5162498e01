"""The embedded store's requests to end live sessions (`postroom session end`); SqliteStore
inherits them. The SQL is shared with PostgreSQL (storage/sql/sessions.py). Not configuration:
nothing here bumps config_version."""
from __future__ import annotations

import sqlite3
from typing import Any, Mapping, Sequence

from ...errors import NotFound, ValidationError
from ...model import SessionEndRequest
from ..notes import AuditNote
from ..sql import sessions as sql
from . import schema
from .workers import SqliteWorkers


class SqliteSessions(SqliteWorkers):
    async def request_session_ends(self, requests: Sequence[SessionEndRequest], *,
                                   audit: AuditNote | None = None) -> list[SessionEndRequest]:
        values = [sql.request_values(request) for request in requests]
        if not values:
            raise ValidationError("requests", "no request to store")

        def write(conn: sqlite3.Connection) -> list[SessionEndRequest]:
            for server in {row[0] for row in values}:
                if not schema.server_exists(conn, server):
                    raise NotFound("server", server)
            conn.execute(sql.PRUNE, (sql.prune_before(values),))
            ids = [conn.execute(sql.INSERT, row).lastrowid for row in values]
            return [sql.request_row(conn.execute(sql.GET, (i,)).fetchone()) for i in ids]
        return await self._write(write, audit)

    async def pending_session_ends(self, server: str) -> list[SessionEndRequest]:
        rows = await self._read(lambda conn: conn.execute(sql.PENDING, (server,)).fetchall())
        return [sql.request_row(row) for row in rows]

    async def finish_session_end(self, request_id: int, done_at: str, ended: Sequence[Mapping[str, Any]]) -> None:
        values = sql.answer_values(request_id, done_at, ended)

        def write(conn: sqlite3.Connection) -> None:
            if not conn.execute(sql.FINISH, values).rowcount:
                raise sql.request_missing(request_id)
        await self._write(write)

    async def get_session_end(self, request_id: int) -> SessionEndRequest:
        wanted = sql.request_id(request_id)
        row = await self._read(lambda conn: conn.execute(sql.GET, (wanted,)).fetchone())
        if row is None:
            raise sql.request_missing(request_id)
        return sql.request_row(row)
