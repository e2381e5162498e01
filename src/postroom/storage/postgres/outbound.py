"""PostgresStore's send connectors (organisation-wide, unique by name in any case: citext) and
per-server transport settings. Both are configuration: every write bumps config_version. The
SQL is shared with the embedded store (storage/sql/outbound.py)."""
from __future__ import annotations

import asyncpg

from ...errors import Conflict, NotFound
from ...model import SendConnector, TransportSettings
from ..notes import AuditNote
from ..sql import outbound as sql
from .base import PostgresBase, bump_config, dollar, server_exists


class PostgresOutbound(PostgresBase):
    async def list_send_connectors(self) -> list[SendConnector]:
        return [sql.send_connector_row(row) for row in await self._fetch(sql.LIST_SEND_CONNECTORS)]

    async def get_send_connector(self, name: str) -> SendConnector:
        row = await self._fetchrow(sql.GET_SEND_CONNECTOR, name)
        if row is None:
            raise sql.send_connector_missing(name)
        return sql.send_connector_row(row)

    async def add_send_connector(self, connector: SendConnector, *, audit: AuditNote | None = None) -> None:
        settings = sql.send_connector_settings(connector)

        async def write(conn: asyncpg.Connection) -> None:
            added = await conn.fetchval("INSERT INTO send_connectors (name, settings) VALUES ($1, $2)"
                                        " ON CONFLICT DO NOTHING RETURNING 1", connector.name, settings)
            if added is None:
                taken = await conn.fetchval("SELECT name FROM send_connectors WHERE name = $1", connector.name)
                raise Conflict(sql.send_connector_taken(str(taken or connector.name)))
            await bump_config(conn)
        await self._transaction(write, audit)

    async def put_send_connector(self, connector: SendConnector, *, audit: AuditNote | None = None) -> None:
        settings = sql.send_connector_settings(connector)

        async def write(conn: asyncpg.Connection) -> None:
            changed = await conn.fetchval(dollar(sql.UPDATE_SEND_CONNECTOR) + " RETURNING 1", settings, connector.name)
            if changed is None:
                raise sql.send_connector_missing(connector.name)
            await bump_config(conn)
        await self._transaction(write, audit)

    async def remove_send_connector(self, name: str, *, audit: AuditNote | None = None) -> None:
        async def write(conn: asyncpg.Connection) -> None:
            if await conn.fetchval(dollar(sql.DELETE_SEND_CONNECTOR) + " RETURNING 1", name) is None:
                raise sql.send_connector_missing(name)
            await bump_config(conn)
        await self._transaction(write, audit)

    async def get_transport_settings(self, server: str) -> TransportSettings:
        return sql.transport_settings(server, await self._fetchrow(sql.GET_TRANSPORT, server))

    async def put_transport_settings(self, server: str, settings: TransportSettings, *,
                                     audit: AuditNote | None = None) -> None:
        text = sql.transport_settings_json(settings)

        async def write(conn: asyncpg.Connection) -> None:
            if not await server_exists(conn, server):
                raise NotFound("server", server)
            await conn.execute(dollar(sql.PUT_TRANSPORT), server, text)
            await bump_config(conn)
        await self._transaction(write, audit)
