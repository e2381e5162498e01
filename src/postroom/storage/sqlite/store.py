"""The embedded store: one SQLite file (WAL, synchronous=FULL) behind the Store protocol.

Writes run on one writer thread that group-commits; reads run on two reader threads with
their own connections (see workers.py and threads.py). No query ever runs on the
event loop, and no sqlite3 exception leaves this module: they become NotFound, Conflict, ...
Configuration and mailboxes are here; messages (delivery, POP3) are in messages.py, IMAP4
folders in folders.py, the records that are not configuration (activity, failed logins,
blocks, admin principals, tokens, sessions, audit) in records.py, the outbound queue in
queue.py, requests to end live sessions in sessions.py, the POP3 and IMAP4 settings in
client_access.py, the feed of mailbox changes in changes.py.
"""
from __future__ import annotations

import json
import os
import sqlite3
from typing import Any, Sequence

from ...errors import Conflict, NotFound
from ...model import (
    DkimKey, ImapSettings, LoginPolicy, Mailbox, NodeReport, PopSettings, ReceiveConnector, Server, Service,
    TrackingEvent, WebSettings,
)
from ..notes import AuditNote
from ..sql import admin as admin_sql
from ..sql import dkim as dkim_sql
from ..sql import imap_settings as imap_sql
from ..sql import mail as mail_sql
from ..sql import org_settings as org
from ..sql import schema as schema_sql
from ..sql.values import (
    count_argument, domain_in_use, mailbox_changes, mailbox_values, service_rows, service_state, utc_iso,
)
from . import admin as admin_db
from . import check, mail, schema
from .changes import SqliteChanges
from .client_access import SqliteClientAccess, write_imap_settings
from .folders import SqliteFolders, default_folders
from .messages import SqliteMessages
from .outbound import SqliteOutbound
from .queue import SqliteQueue
from .sessions import SqliteSessions
from .tracking import TrackingBuffer

class SqliteStore(SqliteClientAccess, SqliteMessages, SqliteFolders, SqliteOutbound, SqliteSessions, SqliteQueue,
                  SqliteChanges):
    """Store backed by one SQLite database file at `path`."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        # Tracking rows go in batches (see there), committed as bookkeeping: a log, not mail.
        self._tracking = TrackingBuffer(lambda fn: self._write(fn, durable=False))

    async def close(self) -> None:
        if self._state == "open":
            await self._tracking.flush()
        await super().close()

    async def migrate(self) -> list[int]:
        return await self._submit(self._writes, schema.migrate, True)

    async def schema_version(self) -> int:
        def read(conn: sqlite3.Connection) -> int:
            table = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
            ).fetchone()
            if table is None:
                return 0
            return conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[0]
        return await self._read(read)

    async def config_version(self) -> int:
        return await self._read(
            lambda conn: conn.execute("SELECT version FROM config_state WHERE id = 1").fetchone()[0]
        )

    # servers and services ----------------------------------------------------------------
    async def add_server(self, server: Server, services: Sequence[Service], pop: PopSettings,
                         connectors: Sequence[ReceiveConnector] = (), web: WebSettings | None = None,
                         imap: ImapSettings | None = None) -> None:
        rows = service_rows(server, services)
        settings = json.dumps(pop.to_dict())
        connector_rows = mail_sql.server_connectors(server.name, connectors)
        web_text = admin_sql.web_settings_json(WebSettings() if web is None else web)
        imap_text = imap_sql.settings_json(ImapSettings() if imap is None else imap)

        def write(conn: sqlite3.Connection) -> None:
            try:
                conn.execute("INSERT INTO servers (name, fqdn) VALUES (?, ?)", (server.name, server.fqdn))
            except sqlite3.IntegrityError as exc:
                raise schema.unique_violation(exc, f"server {server.name} already exists") from exc
            conn.executemany("INSERT INTO services (server, name, startup, status) VALUES (?, ?, ?, ?)", rows)
            conn.execute("INSERT INTO pop_settings (server, settings) VALUES (?, ?)", (server.name, settings))
            for connector, text in connector_rows:
                mail.insert_connector(conn, connector, text)
            admin_db.write_web_settings(conn, server.name, web_text)
            write_imap_settings(conn, server.name, imap_text)
            schema.bump_config(conn)
        await self._write(write)

    async def get_server(self, name: str) -> Server:
        row = await self._read(
            lambda conn: conn.execute("SELECT name, fqdn FROM servers WHERE name = ?", (name,)).fetchone()
        )
        if row is None:
            raise NotFound("server", name)
        return Server(row[0], row[1])

    async def list_servers(self) -> list[Server]:
        rows = await self._read(lambda conn: conn.execute("SELECT name, fqdn FROM servers ORDER BY name").fetchall())
        return [Server(name, fqdn) for name, fqdn in rows]

    async def list_services(self, server: str) -> list[Service]:
        def read(conn: sqlite3.Connection) -> list[Any]:
            rows = conn.execute(
                "SELECT server, name, startup, status FROM services WHERE server = ? ORDER BY name", (server,)
            ).fetchall()
            if not rows and not schema.server_exists(conn, server):
                raise NotFound("server", server)
            return rows
        return [schema_sql.service_row(row) for row in await self._read(read)]

    async def get_service(self, server: str, name: str) -> Service:
        row = await self._read(lambda conn: conn.execute(
            "SELECT server, name, startup, status FROM services WHERE server = ? AND name = ?", (server, name)
        ).fetchone())
        if row is None:
            raise NotFound("service", f"{name} on {server}")
        return schema_sql.service_row(row)

    async def update_service(self, service: Service, *, audit: AuditNote | None = None) -> None:
        startup, status = service_state(service)

        def write(conn: sqlite3.Connection) -> None:
            cursor = conn.execute(
                "UPDATE services SET startup = ?, status = ? WHERE server = ? AND name = ?",
                (startup, status, service.server, service.name),
            )
            if cursor.rowcount == 0:
                raise NotFound("service", f"{service.name} on {service.server}")
            schema.bump_config(conn)
        await self._write(write, audit)

    async def get_web_settings(self, server: str) -> WebSettings:
        return await self._read(lambda conn: admin_db.read_web_settings(conn, server))

    async def put_web_settings(self, server: str, settings: WebSettings, *, audit: AuditNote | None = None) -> None:
        text = admin_sql.web_settings_json(settings)

        def write(conn: sqlite3.Connection) -> None:
            admin_db.write_web_settings(conn, server, text)
            schema.bump_config(conn)
        await self._write(write, audit)

    # organization-wide settings ------------------------------------------------------------
    async def get_login_policy(self) -> LoginPolicy:
        row = await self._read(lambda conn: conn.execute(org.SELECT, (org.LOGIN_POLICY,)).fetchone())
        return org.login_policy(row[0] if row else None)

    async def put_login_policy(self, policy: LoginPolicy, *, audit: AuditNote | None = None) -> None:
        text = org.login_policy_json(policy)

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(org.UPSERT, (org.LOGIN_POLICY, text))
            schema.bump_config(conn)
        await self._write(write, audit)

    async def put_node_report(self, report: NodeReport) -> None:
        services = json.dumps(report.services, default=str)

        def write(conn: sqlite3.Connection) -> None:  # not configuration: no bump
            if not schema.server_exists(conn, report.server):
                raise NotFound("server", report.server)
            conn.execute(
                "INSERT INTO node_reports (server, heartbeat_at, pid, services) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (server) DO UPDATE SET heartbeat_at = excluded.heartbeat_at,"
                " pid = excluded.pid, services = excluded.services",
                (report.server, float(report.heartbeat_at), int(report.pid), services),
            )
        await self._write(write)

    async def get_node_report(self, server: str) -> NodeReport | None:
        row = await self._read(lambda conn: conn.execute(
            "SELECT server, heartbeat_at, pid, services FROM node_reports WHERE server = ?", (server,)
        ).fetchone())
        return None if row is None else NodeReport(row[0], row[1], row[2], json.loads(row[3]))

    # receive connectors (unique name per server, in any case) ----------------------------
    async def add_connector(self, connector: ReceiveConnector, *, audit: AuditNote | None = None) -> None:
        settings = mail_sql.connector_settings(connector)

        def write(conn: sqlite3.Connection) -> None:
            mail.insert_connector(conn, connector, settings)
            schema.bump_config(conn)
        await self._write(write, audit)

    async def list_connectors(self, server: str | None = None) -> list[ReceiveConnector]:
        return await self._read(lambda conn: mail.list_connectors(conn, server))

    async def get_connector(self, server: str, name: str) -> ReceiveConnector:
        found = await self._read(lambda conn: mail.find_connector(conn, server, name))
        if found is None:
            raise mail_sql.connector_missing(server, name)
        return found

    async def put_connector(self, connector: ReceiveConnector, *, audit: AuditNote | None = None) -> None:
        settings = mail_sql.connector_settings(connector)

        def write(conn: sqlite3.Connection) -> None:
            mail.update_connector(conn, connector, settings)
            schema.bump_config(conn)
        await self._write(write, audit)

    async def remove_connector(self, server: str, name: str, *, audit: AuditNote | None = None) -> None:
        def write(conn: sqlite3.Connection) -> None:
            mail.delete_connector(conn, server, name)
            schema.bump_config(conn)
        await self._write(write, audit)

    # accepted domains --------------------------------------------------------------------
    async def add_domain(self, name: str, *, audit: AuditNote | None = None) -> None:
        def write(conn: sqlite3.Connection) -> None:
            try:
                conn.execute("INSERT INTO domains (name) VALUES (?)", (name,))
            except sqlite3.IntegrityError as exc:
                raise schema.unique_violation(exc, f"domain {name} already exists") from exc
            schema.bump_config(conn)
        await self._write(write, audit)

    async def list_domains(self) -> list[str]:
        rows = await self._read(lambda conn: conn.execute("SELECT name FROM domains ORDER BY name").fetchall())
        return [row[0] for row in rows]

    async def remove_domain(self, name: str, *, audit: AuditNote | None = None) -> None:
        def write(conn: sqlite3.Connection) -> None:
            if conn.execute("SELECT 1 FROM domains WHERE name = ?", (name,)).fetchone() is None:
                raise NotFound("domain", name)
            count = conn.execute("SELECT count(*) FROM mailboxes WHERE domain = ?", (name,)).fetchone()[0]
            if count:
                raise domain_in_use(name, count)
            keys = conn.execute(dkim_sql.COUNT, (name,)).fetchone()[0]
            if keys:
                raise dkim_sql.domain_has_keys(name, keys)
            conn.execute("DELETE FROM domains WHERE name = ?", (name,))
            schema.bump_config(conn)
        await self._write(write, audit)

    # DKIM signing keys -------------------------------------------------------------------
    async def list_dkim_keys(self, domain: str | None = None) -> list[DkimKey]:
        sql, params = dkim_sql.list_sql(domain)
        return [dkim_sql.key_row(row) for row in await self._read(lambda conn: conn.execute(sql, params).fetchall())]

    async def add_dkim_key(self, key: DkimKey, *, audit: AuditNote | None = None) -> DkimKey:
        values = dkim_sql.insert_values(key)
        stored = dkim_sql.key_row(values)

        def write(conn: sqlite3.Connection) -> DkimKey:
            found = conn.execute("SELECT name FROM domains WHERE name = ?", (stored.domain,)).fetchone()
            if found is None:
                raise NotFound("domain", stored.domain)
            rows = conn.execute(dkim_sql.CLASHES, (stored.domain, stored.selector, stored.algorithm.value)).fetchall()
            clash = dkim_sql.clash(stored, [dkim_sql.key_row(row) for row in rows])
            if clash is not None:
                raise clash
            conn.execute(dkim_sql.INSERT, values)
            schema.bump_config(conn)
            return stored
        return await self._write(write, audit)

    async def remove_dkim_key(self, domain: str, selector: str, *, audit: AuditNote | None = None) -> None:
        def write(conn: sqlite3.Connection) -> None:
            if conn.execute(dkim_sql.DELETE, (domain, selector)).rowcount == 0:
                raise dkim_sql.key_missing(domain, selector)
            schema.bump_config(conn)
        await self._write(write, audit)

    # mailboxes ---------------------------------------------------------------------------
    async def create_mailbox(
        self, address: str, display_name: str, password_hash: str | None,
        *, enabled: bool = True, pop_enabled: bool = True, imap_enabled: bool = True,
        audit: AuditNote | None = None,
    ) -> Mailbox:
        domain = address.rpartition("@")[2]
        flags = (bool(enabled), bool(pop_enabled), bool(imap_enabled))

        def write(conn: sqlite3.Connection) -> Mailbox:
            created_at = schema_sql.now()
            try:
                cursor = conn.execute(
                    "INSERT INTO mailboxes (address, domain, display_name, password_hash, enabled,"
                    " pop_enabled, imap_enabled, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (address, domain, display_name, password_hash, *flags, created_at),
                )
            except sqlite3.IntegrityError as exc:
                raise schema.unique_violation(exc, f"mailbox {address} already exists") from exc
            default_folders(conn, schema.inserted_id(cursor))
            schema.bump_config(conn)
            return Mailbox(schema.inserted_id(cursor), address, display_name, password_hash, *flags, created_at)
        return await self._write(write, audit)

    async def find_mailbox(self, address: str) -> Mailbox | None:
        row = await self._read(lambda conn: conn.execute(
            f"SELECT {schema_sql.MAILBOX_COLUMNS} FROM mailboxes WHERE address = ?", (address,)
        ).fetchone())
        return None if row is None else schema_sql.mailbox_row(row)

    async def list_mailboxes(self, search: str | None = None, offset: int = 0,
                             limit: int | None = None) -> list[Mailbox]:
        offset = count_argument(offset, "offset")
        limit = count_argument(limit, "limit", optional=True)
        where, params = schema_sql.search_clause(search)
        sql = f"SELECT {schema_sql.MAILBOX_COLUMNS} FROM mailboxes{where} ORDER BY address LIMIT ? OFFSET ?"
        params += [-1 if limit is None else limit, offset]
        rows = await self._read(lambda conn: conn.execute(sql, params).fetchall())
        return [schema_sql.mailbox_row(row) for row in rows]

    async def count_mailboxes(self, search: str | None = None) -> int:
        where, params = schema_sql.search_clause(search)
        return await self._read(
            lambda conn: conn.execute(f"SELECT count(*) FROM mailboxes{where}", params).fetchone()[0]
        )

    async def update_mailbox(self, address: str, /, *, audit: AuditNote | None = None, **changes: Any) -> Mailbox:
        mailbox_changes(changes)
        if not changes:
            return await self.get_mailbox(address)
        assignments = ", ".join(f"{name} = ?" for name in changes)

        def write(conn: sqlite3.Connection) -> Mailbox:
            cursor = conn.execute(
                f"UPDATE mailboxes SET {assignments} WHERE address = ?", [*mailbox_values(changes), address]
            )
            if cursor.rowcount == 0:
                raise NotFound("mailbox", address)
            schema.bump_config(conn)
            return schema_sql.mailbox_row(conn.execute(
                f"SELECT {schema_sql.MAILBOX_COLUMNS} FROM mailboxes WHERE address = ?", (address,)
            ).fetchone())
        return await self._write(write, audit)

    async def remove_mailbox(self, address: str, *, audit: AuditNote | None = None) -> None:
        def write(conn: sqlite3.Connection) -> None:
            if conn.execute("DELETE FROM mailboxes WHERE address = ?", (address,)).rowcount == 0:
                raise NotFound("mailbox", address)  # its messages go by ON DELETE CASCADE
            schema.bump_config(conn)
        await self._write(write, audit)

    async def snapshot(self, path: str) -> None:
        await self._tracking.flush()

        def copy(conn: sqlite3.Connection) -> None:
            # SQLite's online backup reads one consistent snapshot (a read transaction on WAL),
            # so deliveries go on while it copies.
            target = sqlite3.connect(path)
            try:
                conn.backup(target)
                target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
                # The online backup copies pages as they are, damaged ones included: check the
                # copy as restore will, so a backup that would not restore is never written.
                problems = check.integrity_problems(target)
            finally:
                target.close()
            if problems:
                os.unlink(path)
                raise check.corrupted(self.path, f"PRAGMA integrity_check on a copy found: {check.summary(problems)}")
            with open(path, "rb+") as handle:
                os.fsync(handle.fileno())
        await self._read(copy)

    # POP3 mailbox lock: seen by every process on the data dir (locks.py) ----------------
    async def try_lock_mailbox(self, mailbox_id: int, holder: str) -> bool:
        self._check_open()
        return self._locks.try_lock(mailbox_id, holder)

    async def unlock_mailbox(self, mailbox_id: int, holder: str) -> None:
        self._check_open()
        self._locks.unlock(mailbox_id, holder)

    async def claim_server(self, server: str) -> None:
        # One process per data directory (serve's flock on serve.lock); within it, one claim.
        self._check_open()
        if self._claimed not in (None, server):
            raise Conflict(f"this store is already serving server {self._claimed}")
        self._claimed = server

    # message tracking --------------------------------------------------------------------
    async def append_tracking(self, events: Sequence[TrackingEvent]) -> None:
        rows = [mail_sql.tracking_values(event) for event in events]
        self._check_open()
        self._tracking.add(rows)

    async def list_tracking(self, *, sender: str | None = None, recipient: str | None = None,
                            message_id: str | None = None, queue_id: str | None = None,
                            event_id: str | None = None, since: str | None = None,
                            limit: int = 1000) -> list[TrackingEvent]:
        await self._tracking.flush()  # this node's latest rows too
        sql, params = mail_sql.tracking_query(
            sender=sender, recipient=recipient, message_id=message_id, queue_id=queue_id,
            event_id=event_id, since=since, limit=count_argument(limit, "limit"),
        )
        rows = await self._read(lambda conn: conn.execute(sql, params).fetchall())
        return [mail_sql.tracking_row(row) for row in reversed(rows)]

    async def remove_tracking(self, before: str, limit: int = 5000) -> int:
        params = (utc_iso(before, "before"), count_argument(limit, "limit"))
        await self._tracking.flush()  # rows still waiting for their batch are judged too
        return await self._write(lambda conn: conn.execute(mail_sql.REMOVE_TRACKING, params).rowcount)
