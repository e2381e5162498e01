"""The scale-out store: PostgreSQL through asyncpg, behind the Store protocol.

Several nodes share one database: configuration changes bump config_version (nodes poll
it), message bodies live in the database (no shared file system), and the POP3 mailbox lock
is a PostgreSQL advisory lock (see base.py). Each call runs in its own transaction and is
durable on return (commit with synchronous_commit on; PostgreSQL groups concurrent commits
into one WAL flush). No asyncpg exception leaves this module: they become NotFound,
Conflict, Unavailable, ... Configuration and mailboxes are here; messages (delivery, POP3) are
in messages.py, IMAP4 folders in folders.py, the records that are not configuration in
records.py, the outbound queue in queue.py, requests to end live sessions in sessions.py, the
POP3 and IMAP4 settings in client_access.py, the feed of mailbox changes in changes.py.
"""
from __future__ import annotations

import json
from typing import Any, Sequence

import asyncpg

from ...errors import Conflict, NotFound
from ...model import (
    DkimKey, ImapSettings, LoginPolicy, Mailbox, NodeReport, PopSettings,
    ReceiveConnector, Server, Service, WebSettings,
)
from ..notes import AuditNote
from ..sql import admin as admin_sql
from ..sql import dkim as dkim_sql
from ..sql import imap_settings as imap_sql
from ..sql import mail as mail_sql
from ..sql import org_settings as org
from ..sql import schema as schema_sql
from ..sql.values import (
    count_argument, domain_in_use, mailbox_changes, mailbox_values, service_rows, service_state,
)
from .base import bump_config, dollar, server_exists
from .changes import PostgresChanges
from .client_access import PostgresClientAccess, write_imap_settings
from .folders import PostgresFolderTransfer, default_folders
from .messages import PostgresMessages
from .outbound import PostgresOutbound
from .queue import PostgresQueue
from .sessions import PostgresSessions

_CONNECTOR_COLUMNS = "SELECT server, name, settings FROM receive_connectors"


class PostgresStore(PostgresClientAccess, PostgresMessages, PostgresFolderTransfer, PostgresOutbound, PostgresSessions,
                    PostgresQueue, PostgresChanges):
    """Store backed by the PostgreSQL database at `url` (postgresql://user:pass@host:port/db)."""

    # servers and services ----------------------------------------------------------------
    async def add_server(self, server: Server, services: Sequence[Service], pop: PopSettings,
                         connectors: Sequence[ReceiveConnector] = (), web: WebSettings | None = None,
                         imap: ImapSettings | None = None) -> None:
        rows = service_rows(server, services)
        settings = json.dumps(pop.to_dict())
        connector_rows = mail_sql.server_connectors(server.name, connectors)
        web_text = admin_sql.web_settings_json(WebSettings() if web is None else web)
        imap_text = imap_sql.settings_json(ImapSettings() if imap is None else imap)

        async def write(conn: asyncpg.Connection) -> None:
            inserted = await conn.fetchval(
                "INSERT INTO servers (name, fqdn) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1",
                server.name, server.fqdn)
            if inserted is None:
                raise Conflict(f"server {server.name} already exists")
            await conn.executemany("INSERT INTO services (server, name, startup, status) VALUES ($1, $2, $3, $4)", rows)
            await conn.execute("INSERT INTO pop_settings (server, settings) VALUES ($1, $2)", server.name, settings)
            for connector, text in connector_rows:
                await _insert_connector(conn, connector, text)
            await _write_web_settings(conn, server.name, web_text)
            await write_imap_settings(conn, server.name, imap_text)
            await bump_config(conn)
        await self._transaction(write)

    async def get_server(self, name: str) -> Server:
        row = await self._fetchrow("SELECT name, fqdn FROM servers WHERE name = ?", name)
        if row is None:
            raise NotFound("server", name)
        return Server(row[0], row[1])

    async def list_servers(self) -> list[Server]:
        return [Server(name, fqdn) for name, fqdn in await self._fetch("SELECT name, fqdn FROM servers ORDER BY name")]

    async def list_services(self, server: str) -> list[Service]:
        async def read(conn: asyncpg.Connection) -> list[Any]:
            rows = await conn.fetch(
                "SELECT server, name, startup, status FROM services WHERE server = $1 ORDER BY name", server)
            if not rows and not await server_exists(conn, server):
                raise NotFound("server", server)
            return rows
        return [schema_sql.service_row(row) for row in await self._transaction(read)]

    async def get_service(self, server: str, name: str) -> Service:
        row = await self._fetchrow(
            "SELECT server, name, startup, status FROM services WHERE server = ? AND name = ?", server, name)
        if row is None:
            raise NotFound("service", f"{name} on {server}")
        return schema_sql.service_row(row)

    async def update_service(self, service: Service, *, audit: AuditNote | None = None) -> None:
        startup, status = service_state(service)

        async def write(conn: asyncpg.Connection) -> None:
            changed = await conn.fetchval(
                "UPDATE services SET startup = $1, status = $2 WHERE server = $3 AND name = $4 RETURNING 1",
                startup, status, service.server, service.name)
            if changed is None:
                raise NotFound("service", f"{service.name} on {service.server}")
            await bump_config(conn)
        await self._transaction(write, audit)

    async def get_web_settings(self, server: str) -> WebSettings:
        row = await self._fetchrow(
            "SELECT w.settings FROM servers s LEFT JOIN web_settings w ON w.server = s.name WHERE s.name = ?", server)
        if row is None:
            raise NotFound("server", server)
        return WebSettings.from_dict(json.loads(row[0])) if row[0] is not None else WebSettings()

    async def put_web_settings(self, server: str, settings: WebSettings, *, audit: AuditNote | None = None) -> None:
        text = admin_sql.web_settings_json(settings)

        async def write(conn: asyncpg.Connection) -> None:
            await _write_web_settings(conn, server, text)
            await bump_config(conn)
        await self._transaction(write, audit)

    # organization-wide settings ------------------------------------------------------------
    async def get_login_policy(self) -> LoginPolicy:
        return org.login_policy(await self._fetchval(org.SELECT, org.LOGIN_POLICY))

    async def put_login_policy(self, policy: LoginPolicy, *, audit: AuditNote | None = None) -> None:
        text = org.login_policy_json(policy)

        async def write(conn: asyncpg.Connection) -> None:
            await conn.execute(dollar(org.UPSERT), org.LOGIN_POLICY, text)
            await bump_config(conn)
        await self._transaction(write, audit)

    async def put_node_report(self, report: NodeReport) -> None:
        services = json.dumps(report.services, default=str)

        async def write(conn: asyncpg.Connection) -> None:  # not configuration: no bump
            if not await server_exists(conn, report.server):
                raise NotFound("server", report.server)
            await conn.execute(
                "INSERT INTO node_reports (server, heartbeat_at, pid, services) VALUES ($1, $2, $3, $4)"
                " ON CONFLICT (server) DO UPDATE SET heartbeat_at = excluded.heartbeat_at,"
                " pid = excluded.pid, services = excluded.services",
                report.server, float(report.heartbeat_at), int(report.pid), services)
        await self._transaction(write)

    async def get_node_report(self, server: str) -> NodeReport | None:
        row = await self._fetchrow(
            "SELECT server, heartbeat_at, pid, services FROM node_reports WHERE server = ?", server)
        return None if row is None else NodeReport(row[0], row[1], row[2], json.loads(row[3]))

    # receive connectors (unique name per server, in any case: citext) -------------------
    async def add_connector(self, connector: ReceiveConnector, *, audit: AuditNote | None = None) -> None:
        settings = mail_sql.connector_settings(connector)

        async def write(conn: asyncpg.Connection) -> None:
            await _insert_connector(conn, connector, settings)
            await bump_config(conn)
        await self._transaction(write, audit)

    async def list_connectors(self, server: str | None = None) -> list[ReceiveConnector]:
        async def read(conn: asyncpg.Connection) -> list[Any]:
            if server is None:
                return await conn.fetch(f"{_CONNECTOR_COLUMNS} ORDER BY server, name")
            rows = await conn.fetch(f"{_CONNECTOR_COLUMNS} WHERE server = $1 ORDER BY name", server)
            if not rows and not await server_exists(conn, server):
                raise NotFound("server", server)
            return rows
        return [mail_sql.connector_row(row) for row in await self._transaction(read)]

    async def get_connector(self, server: str, name: str) -> ReceiveConnector:
        row = await self._fetchrow(f"{_CONNECTOR_COLUMNS} WHERE server = ? AND name = ?", server, name)
        if row is None:
            raise mail_sql.connector_missing(server, name)
        return mail_sql.connector_row(row)

    async def put_connector(self, connector: ReceiveConnector, *, audit: AuditNote | None = None) -> None:
        settings = mail_sql.connector_settings(connector)

        async def write(conn: asyncpg.Connection) -> None:
            changed = await conn.fetchval(
                "UPDATE receive_connectors SET settings = $1 WHERE server = $2 AND name = $3 RETURNING 1",
                settings, connector.server, connector.name)
            if changed is None:
                raise mail_sql.connector_missing(connector.server, connector.name)
            await bump_config(conn)
        await self._transaction(write, audit)

    async def remove_connector(self, server: str, name: str, *, audit: AuditNote | None = None) -> None:
        async def write(conn: asyncpg.Connection) -> None:
            removed = await conn.fetchval(
                "DELETE FROM receive_connectors WHERE server = $1 AND name = $2 RETURNING 1", server, name)
            if removed is None:
                raise mail_sql.connector_missing(server, name)
            await bump_config(conn)
        await self._transaction(write, audit)

    # accepted domains --------------------------------------------------------------------
    async def add_domain(self, name: str, *, audit: AuditNote | None = None) -> None:
        async def write(conn: asyncpg.Connection) -> None:
            added = await conn.fetchval(
                "INSERT INTO domains (name) VALUES ($1) ON CONFLICT DO NOTHING RETURNING 1", name)
            if added is None:
                raise Conflict(f"domain {name} already exists")
            await bump_config(conn)
        await self._transaction(write, audit)

    async def list_domains(self) -> list[str]:
        return [row[0] for row in await self._fetch("SELECT name FROM domains ORDER BY name")]

    async def remove_domain(self, name: str, *, audit: AuditNote | None = None) -> None:
        async def write(conn: asyncpg.Connection) -> None:
            # Lock the domain row: a mailbox created meanwhile in it must wait for the verdict.
            if await conn.fetchval("SELECT 1 FROM domains WHERE name = $1 FOR UPDATE", name) is None:
                raise NotFound("domain", name)
            count = await conn.fetchval("SELECT count(*) FROM mailboxes WHERE domain = $1", name)
            if count:
                raise domain_in_use(name, count)
            keys = await conn.fetchval(dollar(dkim_sql.COUNT), name)
            if keys:
                raise dkim_sql.domain_has_keys(name, keys)
            await conn.execute("DELETE FROM domains WHERE name = $1", name)
            await bump_config(conn)
        await self._transaction(write, audit)

    # DKIM signing keys -------------------------------------------------------------------
    async def list_dkim_keys(self, domain: str | None = None) -> list[DkimKey]:
        sql, params = dkim_sql.list_sql(domain)
        return [dkim_sql.key_row(row) for row in await self._fetch(sql, *params)]

    async def add_dkim_key(self, key: DkimKey, *, audit: AuditNote | None = None) -> DkimKey:
        values = dkim_sql.insert_values(key)
        stored = dkim_sql.key_row(values)

        async def write(conn: asyncpg.Connection) -> DkimKey:
            # Lock the domain row: removing the domain meanwhile waits for this key (and then sees it).
            if await conn.fetchval("SELECT 1 FROM domains WHERE name = $1 FOR SHARE", stored.domain) is None:
                raise NotFound("domain", stored.domain)
            rows = await conn.fetch(dollar(dkim_sql.CLASHES), stored.domain, stored.selector, stored.algorithm.value)
            clash = dkim_sql.clash(stored, [dkim_sql.key_row(row) for row in rows])
            if clash is not None:
                raise clash
            await conn.execute(dollar(dkim_sql.INSERT), *values)
            await bump_config(conn)
            return stored
        return await self._transaction(write, audit)

    async def remove_dkim_key(self, domain: str, selector: str, *, audit: AuditNote | None = None) -> None:
        async def write(conn: asyncpg.Connection) -> None:
            removed = await conn.fetchval(dollar(dkim_sql.DELETE) + " RETURNING 1", domain, selector)
            if removed is None:
                raise dkim_sql.key_missing(domain, selector)
            await bump_config(conn)
        await self._transaction(write, audit)

    # mailboxes ---------------------------------------------------------------------------
    async def create_mailbox(
        self, address: str, display_name: str, password_hash: str | None,
        *, enabled: bool = True, pop_enabled: bool = True, imap_enabled: bool = True,
        audit: AuditNote | None = None,
    ) -> Mailbox:
        domain = address.rpartition("@")[2]
        flags = (bool(enabled), bool(pop_enabled), bool(imap_enabled))

        async def write(conn: asyncpg.Connection) -> Mailbox:
            created_at = schema_sql.now()
            new_id = await conn.fetchval(
                "INSERT INTO mailboxes (address, domain, display_name, password_hash, enabled, pop_enabled,"
                " imap_enabled, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                " ON CONFLICT (address) DO NOTHING RETURNING id",
                address, domain, display_name, password_hash, *flags, created_at)
            if new_id is None:
                raise Conflict(f"mailbox {address} already exists")
            await default_folders(conn, new_id)
            await bump_config(conn)
            return Mailbox(new_id, address, display_name, password_hash, *flags, created_at)
        return await self._transaction(write, audit)

    async def find_mailbox(self, address: str) -> Mailbox | None:
        row = await self._fetchrow(f"SELECT {schema_sql.MAILBOX_COLUMNS} FROM mailboxes WHERE address = ?", address)
        return None if row is None else schema_sql.mailbox_row(row)

    async def list_mailboxes(self, search: str | None = None, offset: int = 0,
                             limit: int | None = None) -> list[Mailbox]:
        offset = count_argument(offset, "offset")
        limit = count_argument(limit, "limit", optional=True)
        where, params = _search_clause(search)
        rows = await self._fetch(
            f"SELECT {schema_sql.MAILBOX_COLUMNS} FROM mailboxes{where} ORDER BY address LIMIT ? OFFSET ?",
            *params, limit, offset)  # LIMIT NULL: no limit
        return [schema_sql.mailbox_row(row) for row in rows]

    async def count_mailboxes(self, search: str | None = None) -> int:
        where, params = _search_clause(search)
        return await self._fetchval(f"SELECT count(*) FROM mailboxes{where}", *params)

    async def update_mailbox(self, address: str, /, *, audit: AuditNote | None = None, **changes: Any) -> Mailbox:
        mailbox_changes(changes)
        if not changes:
            return await self.get_mailbox(address)
        assignments = ", ".join(f"{name} = ?" for name in changes)
        sql = dollar(f"UPDATE mailboxes SET {assignments} WHERE address = ? RETURNING {schema_sql.MAILBOX_COLUMNS}")

        async def write(conn: asyncpg.Connection) -> Mailbox:
            row = await conn.fetchrow(sql, *mailbox_values(changes), address)
            if row is None:
                raise NotFound("mailbox", address)
            await bump_config(conn)
            return schema_sql.mailbox_row(row)
        return await self._transaction(write, audit)

    async def remove_mailbox(self, address: str, *, audit: AuditNote | None = None) -> None:
        async def write(conn: asyncpg.Connection) -> None:
            removed = await conn.fetchval("DELETE FROM mailboxes WHERE address = $1 RETURNING 1", address)
            if removed is None:
                raise NotFound("mailbox", address)  # its messages go by ON DELETE CASCADE
            await bump_config(conn)
        await self._transaction(write, audit)


# SQL run inside the transactions above ---------------------------------------------------

async def _insert_connector(conn: asyncpg.Connection, connector: ReceiveConnector, settings: str) -> None:
    """NotFound without its server; Conflict if the name (in any case) is taken there."""
    server, name = connector.server, connector.name
    if not await server_exists(conn, server):
        raise NotFound("server", server)
    taken = await conn.fetchval("SELECT name FROM receive_connectors WHERE server = $1 AND name = $2", server, name)
    if taken is not None:
        raise Conflict(f"receive connector {taken!r} already exists on server {server}")
    await conn.execute("INSERT INTO receive_connectors (server, name, settings) VALUES ($1, $2, $3)",
                       server, name, settings)


async def _write_web_settings(conn: asyncpg.Connection, server: str, text: str) -> None:
    if not await server_exists(conn, server):
        raise NotFound("server", server)
    await conn.execute(
        "INSERT INTO web_settings (server, settings) VALUES ($1, $2)"
        " ON CONFLICT (server) DO UPDATE SET settings = excluded.settings", server, text)


def _search_clause(search: str | None) -> tuple[str, list[Any]]:
    """Like the embedded store's search: a substring of the address or the display name, in
    any case (ILIKE: display_name is plain text)."""
    where, params = schema_sql.search_clause(search)
    return where.replace(" LIKE ", " ILIKE "), params
