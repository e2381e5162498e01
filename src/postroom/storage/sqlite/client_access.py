"""The embedded store's Client Access settings per server: POP3's (Exchange's
Get-/Set-PopSettings) and IMAP4's (Get-/Set-ImapSettings); SqliteStore inherits them.
Configuration: a write bumps config_version. The IMAP4 SQL is shared with PostgreSQL
(storage/sql/imap_settings.py)."""
from __future__ import annotations

import json
import sqlite3

from ...errors import NotFound
from ...model import ImapSettings, PopSettings
from ..notes import AuditNote
from ..sql import imap_settings as imap_sql
from . import schema
from .workers import SqliteWorkers


def write_imap_settings(conn: sqlite3.Connection, server: str, text: str) -> None:
    """Inside a write transaction (add_server's, or put_imap_settings's)."""
    conn.execute(imap_sql.PUT, (server, text))


class SqliteClientAccess(SqliteWorkers):
    async def get_pop_settings(self, server: str) -> PopSettings:
        row = await self._read(lambda conn: conn.execute(
            "SELECT settings FROM pop_settings WHERE server = ?", (server,)
        ).fetchone())
        if row is None:
            raise NotFound("server", server)
        return PopSettings.from_dict(json.loads(row[0]))

    async def put_pop_settings(self, server: str, settings: PopSettings, *, audit: AuditNote | None = None) -> None:
        text = json.dumps(settings.to_dict())

        def write(conn: sqlite3.Connection) -> None:
            if not schema.server_exists(conn, server):
                raise NotFound("server", server)
            conn.execute(
                "INSERT INTO pop_settings (server, settings) VALUES (?, ?)"
                " ON CONFLICT (server) DO UPDATE SET settings = excluded.settings",
                (server, text),
            )
            schema.bump_config(conn)
        await self._write(write, audit)

    async def get_imap_settings(self, server: str) -> ImapSettings:
        row = await self._read(lambda conn: conn.execute(imap_sql.GET, (server,)).fetchone())
        return imap_sql.settings_row(server, row)

    async def put_imap_settings(self, server: str, settings: ImapSettings, *, audit: AuditNote | None = None) -> None:
        text = imap_sql.settings_json(settings)

        def write(conn: sqlite3.Connection) -> None:
            if not schema.server_exists(conn, server):
                raise NotFound("server", server)
            write_imap_settings(conn, server, text)
            schema.bump_config(conn)
        await self._write(write, audit)
