"""The PostgreSQL store's records that are not configuration: message tracking, activity
counters, failed-login evidence and POP3 and IMAP4 sessions that ended without a login, login blocks,
admin principals with their API tokens and console sessions, and the audit log. None of these
writes bumps config_version. PostgresStore (store.py) inherits them. The checks and query
builders are storage/sql's (`?` placeholders, turned into `$n` by base.dollar), so both
backends accept and answer exactly the same.
"""
from __future__ import annotations

import time
from typing import Any, Mapping, Sequence

import asyncpg

from ...errors import Conflict, NotFound
from ...model import Admin, ApiToken, AuditEntry, Block, EndedSessions, LoginFailure, TrackingEvent, WebSession
from ..notes import AuditNote
from ..sql import activity as activity_sql
from ..sql import admin as admin_sql
from ..sql import logins as logins_sql
from ..sql import mail as mail_sql
from ..sql import schema as schema_sql
from ..sql.values import Lookups, block_rows, count_argument, utc_iso
from .base import PostgresBase, dollar, rowcount, server_exists


async def _stored_admin_name(conn: asyncpg.Connection, name: str) -> str:
    """The admin's name as stored (tokens and sessions keep that spelling); NotFound if absent."""
    stored = await conn.fetchval("SELECT name FROM admins WHERE name = $1 FOR KEY SHARE", name)
    if stored is None:
        raise NotFound("admin", name)
    return stored


async def insert_tracking(conn: asyncpg.Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    if not rows:
        return
    at = schema_sql.now()
    columns = ", ".join(mail_sql.TRACKING_COLUMNS)
    marks = ", ".join(f"${n}" for n in range(1, len(mail_sql.TRACKING_COLUMNS) + 2))
    await conn.executemany(f"INSERT INTO message_tracking (at, {columns}) VALUES ({marks})",
                           [(at, *row) for row in rows])


class PostgresRecords(Lookups, PostgresBase):
    # message tracking --------------------------------------------------------------------
    async def append_tracking(self, events: Sequence[TrackingEvent]) -> None:
        rows = [mail_sql.tracking_values(event) for event in events]
        if not rows:
            self._check_open()
            return
        await self._transaction(lambda conn: insert_tracking(conn, rows), durable=False)  # a log, not mail

    async def list_tracking(self, *, sender: str | None = None, recipient: str | None = None,
                            message_id: str | None = None, queue_id: str | None = None,
                            event_id: str | None = None, since: str | None = None,
                            limit: int = 1000) -> list[TrackingEvent]:
        sql, params = mail_sql.tracking_query(
            sender=sender, recipient=recipient, message_id=message_id, queue_id=queue_id,
            event_id=event_id, since=since, limit=count_argument(limit, "limit"),
        )
        rows = await self._fetch(sql, *params)
        return [mail_sql.tracking_row(tuple(row)) for row in reversed(rows)]

    async def remove_tracking(self, before: str, limit: int = 5000) -> int:
        return await self._execute(mail_sql.REMOVE_TRACKING, utc_iso(before, "before"), count_argument(limit, "limit"))

    # activity counters ---------------------------------------------------------------------
    async def add_activity(self, server: str, counts: Mapping[tuple[str, str], int]) -> None:
        rows = activity_sql.activity_rows(counts)
        if not rows:
            self._check_open()
            return

        async def write(conn: asyncpg.Connection) -> None:
            if not await server_exists(conn, server):
                raise NotFound("server", server)
            await conn.executemany(
                "INSERT INTO activity (server, bucket, kind, count) VALUES ($1, $2, $3, $4)"
                " ON CONFLICT (server, bucket, kind) DO UPDATE SET count = activity.count + excluded.count",
                [(server, bucket, kind, count) for bucket, kind, count in rows])
        await self._transaction(write)

    async def list_activity(self, server: str | None, since: str) -> list[tuple[str, str, str, int]]:
        sql, params = activity_sql.activity_query(server, since)
        return [tuple(row) for row in await self._fetch(sql, *params)]

    # failed logins -------------------------------------------------------------------------
    async def record_login_failures(self, rows: Sequence[LoginFailure]) -> None:
        values = [logins_sql.failure_values(row) for row in rows]
        if not values:
            self._check_open()
            return
        await self._transaction(lambda conn: conn.executemany(
            f"INSERT INTO login_failures ({logins_sql.COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)", values))

    async def list_login_failures(self, mailbox: str | None = None, *, since: str | None = None,
                                  limit: int = 1000) -> list[LoginFailure]:
        sql, params = logins_sql.query(mailbox, since, limit)
        return [logins_sql.row_to_failure(tuple(row)) for row in reversed(await self._fetch(sql, *params))]

    async def remove_login_failures(self, before: str) -> int:
        return await self._execute("DELETE FROM login_failures WHERE at < ?", utc_iso(before, "before"))

    # POP3 and IMAP4 sessions that ended without a login ------------------------------------
    async def record_ended_sessions(self, rows: Sequence[EndedSessions]) -> None:
        values = [logins_sql.ended_values(row) for row in rows]
        if not values:
            self._check_open()
            return
        await self._transaction(lambda conn: conn.executemany(dollar(
            f"INSERT INTO ended_sessions ({logins_sql.SESSION_COLUMNS}) VALUES ({logins_sql.SESSION_MARKS})"), values))

    async def list_ended_sessions(self, server: str | None = None, *, service: str | None = None,
                                  since: str | None = None, limit: int = 1000) -> list[EndedSessions]:
        sql, params = logins_sql.ended_query(server, service, since, limit)
        return [logins_sql.row_to_ended(tuple(row)) for row in reversed(await self._fetch(sql, *params))]

    async def remove_ended_sessions(self, before: str) -> int:
        return await self._execute("DELETE FROM ended_sessions WHERE at < ?", utc_iso(before, "before"))

    # login blocks --------------------------------------------------------------------------
    async def add_blocks(self, server: str, blocks: Sequence[Block]) -> None:
        rows = block_rows(server, blocks)
        now = time.time()

        async def write(conn: asyncpg.Connection) -> None:
            await conn.execute("DELETE FROM login_blocks WHERE until <= $1", now)
            await conn.executemany(
                "INSERT INTO login_blocks (kind, value, since, until, failures, service, server)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (kind, value) DO UPDATE SET"
                " value = excluded.value, since = excluded.since, until = excluded.until,"
                " failures = excluded.failures, service = excluded.service, server = excluded.server", rows)
        await self._transaction(write)

    async def list_blocks(self) -> list[Block]:
        rows = await self._fetch(
            "SELECT kind, value, since, until, failures, service, server FROM login_blocks WHERE until > ?"
            " ORDER BY since, kind, value", time.time())
        return [Block(*row) for row in rows]

    async def remove_blocks(self, value: str | None = None, *, audit: AuditNote | None = None) -> int:
        async def write(conn: asyncpg.Connection) -> int:
            if value is None:
                return rowcount(await conn.execute("DELETE FROM login_blocks"))
            return rowcount(await conn.execute("DELETE FROM login_blocks WHERE value = $1", value.strip()))
        return await self._transaction(write, audit)

    # admin principals, API tokens, console sessions ----------------------------------------
    async def add_admin(self, name: str, password_hash: str | None, roles: Sequence[str], *,
                        audit: AuditNote | None = None) -> Admin:
        hash_, roles_text = admin_sql.password_hash(password_hash), admin_sql.roles_json(roles)

        async def write(conn: asyncpg.Connection) -> Admin:
            created_at = schema_sql.now()
            added = await conn.fetchval(
                f"INSERT INTO admins ({admin_sql.ADMIN_COLUMNS}) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING"
                " RETURNING 1", name, hash_, roles_text, created_at)
            if added is None:
                raise Conflict(f"admin {name} already exists")
            return admin_sql.admin_row((name, hash_, roles_text, created_at))
        return await self._transaction(write, audit)

    async def find_admin(self, name: str) -> Admin | None:
        row = await self._fetchrow(f"SELECT {admin_sql.ADMIN_COLUMNS} FROM admins WHERE name = ?", name)
        return None if row is None else admin_sql.admin_row(row)

    async def list_admins(self) -> list[Admin]:
        rows = await self._fetch(f"SELECT {admin_sql.ADMIN_COLUMNS} FROM admins ORDER BY name")
        return [admin_sql.admin_row(row) for row in rows]

    async def update_admin(self, name: str, /, *, audit: AuditNote | None = None, **changes: Any) -> Admin:
        columns = admin_sql.admin_changes(changes)
        if not columns:
            return await self.get_admin(name)
        assignments = ", ".join(f"{column} = ?" for column in columns)
        sql = dollar(f"UPDATE admins SET {assignments} WHERE name = ? RETURNING {admin_sql.ADMIN_COLUMNS}")

        async def write(conn: asyncpg.Connection) -> Admin:
            row = await conn.fetchrow(sql, *columns.values(), name)
            if row is None:
                raise NotFound("admin", name)
            return admin_sql.admin_row(row)
        return await self._transaction(write, audit)

    async def remove_admin(self, name: str, *, audit: AuditNote | None = None) -> None:
        async def write(conn: asyncpg.Connection) -> None:
            # Its tokens and sessions go by ON DELETE CASCADE.
            if await conn.fetchval("DELETE FROM admins WHERE name = $1 RETURNING 1", name) is None:
                raise NotFound("admin", name)
        await self._transaction(write, audit)

    async def add_token(self, token: ApiToken, *, audit: AuditNote | None = None) -> ApiToken:
        id_, admin, secret_hash, description, created_at, expires_at, last_used_at = admin_sql.token_values(token)

        async def write(conn: asyncpg.Connection) -> ApiToken:
            row = (id_, await _stored_admin_name(conn, admin), secret_hash, description, created_at or schema_sql.now(),
                   expires_at, last_used_at)
            added = await conn.fetchval(
                f"INSERT INTO api_tokens ({admin_sql.TOKEN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
                " ON CONFLICT DO NOTHING RETURNING 1", *row)
            if added is None:
                raise Conflict(f"API token {id_} already exists")
            return ApiToken(*row)
        return await self._transaction(write, audit)

    async def find_token(self, token_id: str) -> ApiToken | None:
        row = await self._fetchrow(f"SELECT {admin_sql.TOKEN_COLUMNS} FROM api_tokens WHERE id = ?", token_id)
        return None if row is None else ApiToken(*row)

    async def list_tokens(self, admin: str | None = None) -> list[ApiToken]:
        sql = f"SELECT {admin_sql.TOKEN_COLUMNS} FROM api_tokens"
        if admin is None:
            rows = await self._fetch(f"{sql} ORDER BY admin, created_at, id")
        else:
            rows = await self._fetch(f"{sql} WHERE admin = ? ORDER BY created_at, id", admin)
        return [ApiToken(*row) for row in rows]

    async def touch_token(self, token_id: str, at: str) -> None:
        await self._execute("UPDATE api_tokens SET last_used_at = ? WHERE id = ?", utc_iso(at, "at"), token_id)

    async def remove_token(self, token_id: str, *, audit: AuditNote | None = None) -> None:
        async def write(conn: asyncpg.Connection) -> None:
            if await conn.fetchval("DELETE FROM api_tokens WHERE id = $1 RETURNING 1", token_id) is None:
                raise NotFound("API token", token_id)
        await self._transaction(write, audit)

    async def add_session(self, session: WebSession) -> None:
        id_hash, admin, *rest = admin_sql.session_values(session)

        async def write(conn: asyncpg.Connection) -> None:
            added = await conn.fetchval(
                f"INSERT INTO web_sessions ({admin_sql.SESSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5)"
                " ON CONFLICT DO NOTHING RETURNING 1", id_hash, await _stored_admin_name(conn, admin), *rest)
            if added is None:
                raise Conflict("a console session with this id already exists")
        await self._transaction(write)

    async def find_session(self, id_hash: str) -> WebSession | None:
        row = await self._fetchrow(f"SELECT {admin_sql.SESSION_COLUMNS} FROM web_sessions WHERE id_hash = ?", id_hash)
        return None if row is None else WebSession(*row)

    async def extend_session(self, id_hash: str, expires_at: str) -> None:
        await self._execute("UPDATE web_sessions SET expires_at = ? WHERE id_hash = ?",
                            utc_iso(expires_at, "expires_at"), id_hash)

    async def remove_session(self, id_hash: str) -> None:
        await self._execute("DELETE FROM web_sessions WHERE id_hash = ?", id_hash)

    async def remove_expired_sessions(self, now: str) -> int:
        return await self._execute("DELETE FROM web_sessions WHERE expires_at <= ?", utc_iso(now, "now"))

    # audit ---------------------------------------------------------------------------------
    async def append_audit(self, actor: str, action: str, target: str,
                           before: dict[str, Any] | None, after: dict[str, Any] | None, *,
                           channel: str = "cli", outcome: str = "success",
                           detail: str | None = None) -> AuditEntry:
        row = (schema_sql.now(), actor, action, target, schema_sql.to_json(before), schema_sql.to_json(after),
               *admin_sql.audit_fields(channel, outcome, detail))
        columns = admin_sql.AUDIT_COLUMNS.removeprefix("id, ")
        new_id = await self._fetchval(
            f"INSERT INTO audit ({columns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id", *row)
        return admin_sql.audit_row((new_id, *row))

    async def list_audit(self, limit: int = 100, target: str | None = None, *, actor: str | None = None,
                         action: str | None = None, channel: str | None = None, outcome: str | None = None,
                         since: str | None = None) -> list[AuditEntry]:
        sql, params = admin_sql.audit_query(count_argument(limit, "limit"), target=target, actor=actor,
                                            action=action, channel=channel, outcome=outcome, since=since)
        return [admin_sql.audit_row(tuple(row)) for row in await self._fetch(sql, *params)]
