"""PostgresStore's Client Access settings per server: POP3's (Exchange's Get-/Set-PopSettings)
and IMAP4's (Get-/Set-ImapSettings). Configuration: a write bumps config_version. The IMAP4 SQL
is shared with the embedded store (storage/sql/imap_settings.py)."""
from __future__ import annotations

import json

import asyncpg

from ...errors import NotFound
from ...model import ImapSettings, PopSettings
from ..notes import AuditNote
from ..sql import imap_settings as imap_sql
from .base import PostgresBase, bump_config, dollar, server_exists


async def write_imap_settings(conn: asyncpg.Connection, server: str, text: str) -> None:
    """Inside a transaction (add_server's, or put_imap_settings's)."""
    await conn.execute(dollar(imap_sql.PUT), server, text)


class PostgresClientAccess(PostgresBase):
    async def get_pop_settings(self, server: str) -> PopSettings:
        text = await self._fetchval("SELECT settings FROM pop_settings WHERE server = ?", server)
        if text is None:
            raise NotFound("server", server)
        return PopSettings.from_dict(json.loads(text))

    async def put_pop_settings(self, server: str, settings: PopSettings, *, audit: AuditNote | None = None) -> None:
        text = json.dumps(settings.to_dict())

        async def write(conn: asyncpg.Connection) -> None:
            if not await server_exists(conn, server):
                raise NotFound("server", server)
            await conn.execute(
                "INSERT INTO pop_settings (server, settings) VALUES ($1, $2)"
                " ON CONFLICT (server) DO UPDATE SET settings = excluded.settings", server, text)
            await bump_config(conn)
        await self._transaction(write, audit)

    async def get_imap_settings(self, server: str) -> ImapSettings:
        return imap_sql.settings_row(server, await self._fetchrow(imap_sql.GET, server))

    async def put_imap_settings(self, server: str, settings: ImapSettings, *, audit: AuditNote | None = None) -> None:
        text = imap_sql.settings_json(settings)

        async def write(conn: asyncpg.Connection) -> None:
            if not await server_exists(conn, server):
                raise NotFound("server", server)
            await write_imap_settings(conn, server, text)
            await bump_config(conn)
        await self._transaction(write, audit)
