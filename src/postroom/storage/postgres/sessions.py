"""The PostgreSQL store's requests to end live sessions (`postroom session end`), which reach
the node serving their server on whichever host it runs; PostgresStore inherits them. The SQL
is shared with the embedded store (storage/sql/sessions.py). Not configuration: nothing here
bumps config_version."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import asyncpg

from ...errors import NotFound, ValidationError
from ...model import SessionEndRequest
from ..notes import AuditNote
from ..sql import sessions as sql
from .base import PostgresBase, dollar, server_exists


class PostgresSessions(PostgresBase):
    async def request_session_ends(self, requests: Sequence[SessionEndRequest], *,
                                   audit: AuditNote | None = None) -> list[SessionEndRequest]:
        values = [sql.request_values(request) for request in requests]
        if not values:
            raise ValidationError("requests", "no request to store")

        async def write(conn: asyncpg.Connection) -> list[SessionEndRequest]:
            for server in sorted({row[0] for row in values}):
                if not await server_exists(conn, server):
                    raise NotFound("server", server)
            await conn.execute(dollar(sql.PRUNE), sql.prune_before(values))
            stored = []
            for row in values:
                new_id = await conn.fetchval(dollar(sql.INSERT) + " RETURNING id", *row)
                stored.append(sql.request_row(await conn.fetchrow(dollar(sql.GET), new_id)))
            return stored
        return await self._transaction(write, audit)

    async def pending_session_ends(self, server: str) -> list[SessionEndRequest]:
        return [sql.request_row(row) for row in await self._fetch(sql.PENDING, server)]

    async def finish_session_end(self, request_id: int, done_at: str, ended: Sequence[Mapping[str, Any]]) -> None:
        values = sql.answer_values(request_id, done_at, ended)
        if not await self._execute(sql.FINISH, *values):
            raise sql.request_missing(request_id)

    async def get_session_end(self, request_id: int) -> SessionEndRequest:
        row = await self._fetchrow(sql.GET, sql.request_id(request_id))
        if row is None:
            raise sql.request_missing(request_id)
        return sql.request_row(row)
