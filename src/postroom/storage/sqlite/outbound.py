"""The embedded store's send connectors (organisation-wide, unique by name in any case) and
per-server transport settings; SqliteStore inherits them. Both are configuration: every write
bumps config_version. The SQL is shared with PostgreSQL (storage/sql/outbound.py)."""
from __future__ import annotations

import sqlite3

from ...errors import Conflict, NotFound
from ...model import SendConnector, TransportSettings
from ..notes import AuditNote
from ..sql import outbound as sql
from . import schema
from .workers import SqliteWorkers


class SqliteOutbound(SqliteWorkers):
    async def list_send_connectors(self) -> list[SendConnector]:
        rows = await self._read(lambda conn: conn.execute(sql.LIST_SEND_CONNECTORS).fetchall())
        return [sql.send_connector_row(row) for row in rows]

    async def get_send_connector(self, name: str) -> SendConnector:
        row = await self._read(lambda conn: conn.execute(sql.GET_SEND_CONNECTOR, (name,)).fetchone())
        if row is None:
            raise sql.send_connector_missing(name)
        return sql.send_connector_row(row)

    async def add_send_connector(self, connector: SendConnector, *, audit: AuditNote | None = None) -> None:
        settings = sql.send_connector_settings(connector)

        def write(conn: sqlite3.Connection) -> None:
            taken = conn.execute("SELECT name FROM send_connectors WHERE name = ?", (connector.name,)).fetchone()
            if taken is not None:
                raise Conflict(sql.send_connector_taken(taken[0]))
            conn.execute(sql.INSERT_SEND_CONNECTOR, (connector.name, settings))
            schema.bump_config(conn)
        await self._write(write, audit)

    async def put_send_connector(self, connector: SendConnector, *, audit: AuditNote | None = None) -> None:
        settings = sql.send_connector_settings(connector)

        def write(conn: sqlite3.Connection) -> None:
            if conn.execute(sql.UPDATE_SEND_CONNECTOR, (settings, connector.name)).rowcount == 0:
                raise sql.send_connector_missing(connector.name)
            schema.bump_config(conn)
        await self._write(write, audit)

    async def remove_send_connector(self, name: str, *, audit: AuditNote | None = None) -> None:
        def write(conn: sqlite3.Connection) -> None:
            if conn.execute(sql.DELETE_SEND_CONNECTOR, (name,)).rowcount == 0:
                raise sql.send_connector_missing(name)
            schema.bump_config(conn)
        await self._write(write, audit)

    async def get_transport_settings(self, server: str) -> TransportSettings:
        row = await self._read(lambda conn: conn.execute(sql.GET_TRANSPORT, (server,)).fetchone())
        return sql.transport_settings(server, row)

    async def put_transport_settings(self, server: str, settings: TransportSettings, *,
                                     audit: AuditNote | None = None) -> None:
        text = sql.transport_settings_json(settings)

        def write(conn: sqlite3.Connection) -> None:
            if not schema.server_exists(conn, server):
                raise NotFound("server", server)
            conn.execute(sql.PUT_TRANSPORT, (server, text))
            schema.bump_config(conn)
        await self._write(write, audit)
