"""The embedded store's records that are not configuration: activity counters, failed-login
evidence and POP3 and IMAP4 sessions that ended without a login, login blocks, admin principals with
their API tokens and console sessions, and the audit log. None of these writes bumps
config_version (nodes read them per request or flush them with the heartbeat). SqliteStore
(store.py) inherits them; the SQL is in the modules named in each section and in storage/sql.
"""
from __future__ import annotations

import sqlite3
import time
from typing import Any, Mapping, Sequence

from ...errors import NotFound
from ...model import Admin, ApiToken, AuditEntry, Block, EndedSessions, LoginFailure, WebSession
from ..notes import AuditNote
from ..sql import activity as activity_sql
from ..sql import admin as admin_sql
from ..sql import logins as logins_sql
from ..sql.schema import to_json
from ..sql.values import Lookups, block_rows, count_argument, utc_iso
from . import activity as activity_db
from . import admin as admin_db
from . import logins as logins_db
from .workers import SqliteWorkers


class SqliteRecords(Lookups, SqliteWorkers):
    # activity counters (statistics, not configuration: no bump; see activity.py) ------
    async def add_activity(self, server: str, counts: Mapping[tuple[str, str], int]) -> None:
        rows = activity_sql.activity_rows(counts)
        if not rows:
            self._check_open()
            return
        await self._write(lambda conn: activity_db.add_activity(conn, server, rows))

    async def list_activity(self, server: str | None, since: str) -> list[tuple[str, str, str, int]]:
        sql, params = activity_sql.activity_query(server, since)
        return [tuple(row) for row in await self._read(lambda conn: conn.execute(sql, params).fetchall())]

    # failed logins (evidence, not configuration: no bump; see logins.py) ------------
    async def record_login_failures(self, rows: Sequence[LoginFailure]) -> None:
        values = [logins_sql.failure_values(row) for row in rows]
        if not values:
            self._check_open()
            return
        await self._write(lambda conn: logins_db.insert(conn, values))

    async def list_login_failures(self, mailbox: str | None = None, *, since: str | None = None,
                                  limit: int = 1000) -> list[LoginFailure]:
        sql, params = logins_sql.query(mailbox, since, limit)
        rows = await self._read(lambda conn: conn.execute(sql, params).fetchall())
        return [logins_sql.row_to_failure(row) for row in reversed(rows)]

    async def remove_login_failures(self, before: str) -> int:
        cutoff = utc_iso(before, "before")
        return await self._write(lambda conn: logins_db.prune(conn, cutoff))

    # POP3 and IMAP4 sessions that ended without a login (evidence: no bump; see logins.py) --
    async def record_ended_sessions(self, rows: Sequence[EndedSessions]) -> None:
        values = [logins_sql.ended_values(row) for row in rows]
        if not values:
            self._check_open()
            return
        await self._write(lambda conn: logins_db.insert_ended(conn, values))

    async def list_ended_sessions(self, server: str | None = None, *, service: str | None = None,
                                  since: str | None = None, limit: int = 1000) -> list[EndedSessions]:
        sql, params = logins_sql.ended_query(server, service, since, limit)
        rows = await self._read(lambda conn: conn.execute(sql, params).fetchall())
        return [logins_sql.row_to_ended(row) for row in reversed(rows)]

    async def remove_ended_sessions(self, before: str) -> int:
        cutoff = utc_iso(before, "before")
        return await self._write(lambda conn: logins_db.prune_ended(conn, cutoff))

    # login blocks (not configuration: no bump) --------------------------------------------
    async def add_blocks(self, server: str, blocks: Sequence[Block]) -> None:
        rows = block_rows(server, blocks)
        now = time.time()

        def write(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM login_blocks WHERE until <= ?", (now,))
            conn.executemany("INSERT OR REPLACE INTO login_blocks (kind, value, since, until, failures, service,"
                             " server) VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        await self._write(write)

    async def list_blocks(self) -> list[Block]:
        now = time.time()
        rows = await self._read(lambda conn: conn.execute(
            "SELECT kind, value, since, until, failures, service, server FROM login_blocks WHERE until > ?"
            " ORDER BY since, kind, value", (now,)).fetchall())
        return [Block(*row) for row in rows]

    async def remove_blocks(self, value: str | None = None, *, audit: AuditNote | None = None) -> int:
        if value is None:
            return await self._write(lambda conn: conn.execute("DELETE FROM login_blocks").rowcount, audit)
        return await self._write(lambda conn: conn.execute(
            "DELETE FROM login_blocks WHERE value = ?", (value.strip(),)).rowcount, audit)

    # admin principals, API tokens, console sessions (see admin.py) ----------------------
    # Not configuration (nodes read them per request): none of these bumps config_version.
    async def add_admin(self, name: str, password_hash: str | None, roles: Sequence[str], *,
                        audit: AuditNote | None = None) -> Admin:
        hash_, roles_text = admin_sql.password_hash(password_hash), admin_sql.roles_json(roles)
        return await self._write(lambda conn: admin_db.insert_admin(conn, name, hash_, roles_text), audit)

    async def find_admin(self, name: str) -> Admin | None:
        return await self._read(lambda conn: admin_db.find_admin(conn, name))

    async def list_admins(self) -> list[Admin]:
        rows = await self._read(lambda conn: conn.execute(
            f"SELECT {admin_sql.ADMIN_COLUMNS} FROM admins ORDER BY name"
        ).fetchall())
        return [admin_sql.admin_row(row) for row in rows]

    async def update_admin(self, name: str, /, *, audit: AuditNote | None = None, **changes: Any) -> Admin:
        columns = admin_sql.admin_changes(changes)
        if not columns:
            return await self.get_admin(name)
        return await self._write(lambda conn: admin_db.update_admin(conn, name, columns), audit)

    async def remove_admin(self, name: str, *, audit: AuditNote | None = None) -> None:
        await self._write(lambda conn: admin_db.delete_admin(conn, name), audit)

    async def add_token(self, token: ApiToken, *, audit: AuditNote | None = None) -> ApiToken:
        values = admin_sql.token_values(token)
        return await self._write(lambda conn: admin_db.insert_token(conn, values), audit)

    async def find_token(self, token_id: str) -> ApiToken | None:
        row = await self._read(lambda conn: conn.execute(
            f"SELECT {admin_sql.TOKEN_COLUMNS} FROM api_tokens WHERE id = ?", (token_id,)
        ).fetchone())
        return None if row is None else ApiToken(*row)

    async def list_tokens(self, admin: str | None = None) -> list[ApiToken]:
        return await self._read(lambda conn: admin_db.list_tokens(conn, admin))

    async def touch_token(self, token_id: str, at: str) -> None:
        at = utc_iso(at, "at")
        await self._write(lambda conn: admin_db.run(conn, "UPDATE api_tokens SET last_used_at = ? WHERE id = ?",
                                                     at, token_id))

    async def remove_token(self, token_id: str, *, audit: AuditNote | None = None) -> None:
        def write(conn: sqlite3.Connection) -> None:
            if admin_db.run(conn, "DELETE FROM api_tokens WHERE id = ?", token_id) == 0:
                raise NotFound("API token", token_id)
        await self._write(write, audit)

    async def add_session(self, session: WebSession) -> None:
        values = admin_sql.session_values(session)
        await self._write(lambda conn: admin_db.insert_session(conn, values))

    async def find_session(self, id_hash: str) -> WebSession | None:
        row = await self._read(lambda conn: conn.execute(
            f"SELECT {admin_sql.SESSION_COLUMNS} FROM web_sessions WHERE id_hash = ?", (id_hash,)
        ).fetchone())
        return None if row is None else WebSession(*row)

    async def extend_session(self, id_hash: str, expires_at: str) -> None:
        expires_at = utc_iso(expires_at, "expires_at")
        await self._write(lambda conn: admin_db.run(conn, "UPDATE web_sessions SET expires_at = ? WHERE id_hash = ?",
                                                     expires_at, id_hash))

    async def remove_session(self, id_hash: str) -> None:
        await self._write(lambda conn: admin_db.run(conn, "DELETE FROM web_sessions WHERE id_hash = ?", id_hash))

    async def remove_expired_sessions(self, now: str) -> int:
        now = utc_iso(now, "now")
        return await self._write(
            lambda conn: admin_db.run(conn, "DELETE FROM web_sessions WHERE expires_at <= ?", now)
        )

    # audit (not configuration) -----------------------------------------------------------
    async def append_audit(self, actor: str, action: str, target: str,
                           before: dict[str, Any] | None, after: dict[str, Any] | None, *,
                           channel: str = "cli", outcome: str = "success",
                           detail: str | None = None) -> AuditEntry:
        before_text, after_text = to_json(before), to_json(after)
        fields = admin_sql.audit_fields(channel, outcome, detail)
        return await self._write(
            lambda conn: admin_db.insert_audit(conn, actor, action, target, before_text, after_text, *fields)
        )

    async def list_audit(self, limit: int = 100, target: str | None = None, *, actor: str | None = None,
                         action: str | None = None, channel: str | None = None, outcome: str | None = None,
                         since: str | None = None) -> list[AuditEntry]:
        sql, params = admin_sql.audit_query(count_argument(limit, "limit"), target=target, actor=actor, action=action,
                                        channel=channel, outcome=outcome, since=since)
        return [admin_sql.audit_row(row) for row in await self._read(lambda conn: conn.execute(sql, params).fetchall())]
