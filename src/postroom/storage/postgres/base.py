"""The plumbing under PostgresStore: a connection pool, transactions, numbered migrations,
the POP3 mailbox lock (advisory locks on one connection of its own), and the one place where
asyncpg's errors become postroom's closed error set.

Queries are written with `?` placeholders, like the embedded store's, so both backends share
their query builders; `dollar()` turns them into PostgreSQL's `$1, $2, ...` once per text.
"""
from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
from typing import Any, AsyncIterator, Awaitable, Callable, TypeVar

import asyncpg

from ...errors import Conflict, PostroomError, StorageFull, StoreCorrupted, Unavailable, ValidationError
from ..notes import AuditNote
from ..location import safe_url
from ..sql import schema as schema_sql
from ..sql.admin import AUDIT_INSERT, audit_note, note_values
from ..sql.changes import ChangeSignal, payloads
from ..sql.schema import migrations, now

log = logging.getLogger("postroom.store")
T = TypeVar("T")

POOL_SIZE = 10
CONNECT_TIMEOUT = 10.0  # seconds: an unreachable server is an error, not a hang
# Advisory lock keys: (namespace, id). The namespaces spell "pmig" and "pop3".
MIGRATION_LOCK = (0x706D6967, 1)
MAILBOX_LOCK = 0x706F7033
SERVER_LOCK = 0x73727672  # "srvr": one node per server name
QUEUE_ROWS_LOCK = (0x71756575, 1)  # "queu": deliveries hold it shared; pruning idle queue rows, alone
ASYNCHRONOUS_COMMIT = "SET LOCAL synchronous_commit TO off"  # this transaction only
AUDIT_NOTE_INSERT = f"INSERT INTO audit ({AUDIT_INSERT}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
# Mailbox changes (storage/changes.py) go to one channel per schema (the tests' schemas share a
# database); a notification is sent at the commit of the transaction that sends it.
CHANNEL = "left('postroom_changes_' || current_schema(), 63)"
NOTIFY = f"SELECT pg_notify({CHANNEL}, p) FROM unnest($1::text[]) AS p"


@functools.lru_cache(maxsize=512)
def dollar(sql: str) -> str:
    """`?` placeholders -> `$1, $2, ...` (our SQL never has a `?` inside a literal)."""
    count = iter(range(1, 10_000))
    return re.sub(r"\?", lambda _: f"${next(count)}", sql)


def translate(exc: BaseException, url: str) -> BaseException:
    """asyncpg and socket errors -> postroom errors; postroom errors and others pass unchanged."""
    if isinstance(exc, PostroomError):
        return exc
    new: PostroomError
    if isinstance(exc, asyncpg.UniqueViolationError):
        new = Conflict(f"the change clashes with stored data ({exc.detail or exc})")
    elif isinstance(exc, asyncpg.ForeignKeyViolationError):
        new = Conflict(f"the change refers to something that does not exist ({exc.detail or exc})")
    elif isinstance(exc, (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError)):
        new = ValidationError("value", str(exc))
    elif isinstance(exc, asyncpg.DiskFullError) or getattr(exc, "sqlstate", "") == "53100":
        new = StorageFull(f"the disk holding the PostgreSQL store is full, free some space: {exc}")
    elif getattr(exc, "sqlstate", "") in ("XX001", "XX002"):  # data_corrupted, index_corrupted
        new = StoreCorrupted(f"the PostgreSQL store at {safe_url(url)} is corrupted: {exc}. Waiting will not fix"
                             " it: repair it (REINDEX for an index) or restore it with PostgreSQL's tools")
    elif isinstance(exc, asyncpg.UndefinedTableError):
        new = Unavailable(f"the store is not initialised (run `postroom init` first): {exc}")
    elif isinstance(exc, (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, asyncio.TimeoutError)):
        text = str(exc) or type(exc).__name__
        new = Unavailable(f"the PostgreSQL store at {safe_url(url)} is unavailable, try again later: {text}")
    else:
        return exc
    new.__cause__ = exc
    return new


async def bump_config(conn: asyncpg.Connection) -> None:
    await conn.execute("UPDATE config_state SET version = version + 1 WHERE id = 1")


async def server_exists(conn: asyncpg.Connection, name: str) -> bool:
    return await conn.fetchval("SELECT 1 FROM servers WHERE name = $1", name) is not None


class PostgresBase:
    """Opens and closes the pool; `_fetch*`/`_transaction` run queries with errors translated."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._state = "new"
        self._pool: asyncpg.Pool | None = None
        self._lock_conn: asyncpg.Connection | None = None
        self._lock_guard = asyncio.Lock()
        self._locks: dict[int, str] = {}
        self._claimed: str | None = None
        self._signal = ChangeSignal()  # mailbox changes: to the node watching (postgres/changes.py)

    # lifecycle ---------------------------------------------------------------------------
    async def open(self) -> None:
        if self._state == "open":
            return
        try:
            self._pool = await asyncpg.create_pool(
                self.url, min_size=1, max_size=POOL_SIZE, timeout=CONNECT_TIMEOUT,
                command_timeout=None, statement_cache_size=256, reset=_keep_session,
            )
        except Exception as exc:
            raise translate(exc, self.url) from None
        self._lock_guard = asyncio.Lock()
        self._state = "open"

    async def close(self) -> None:
        if self._state != "open":
            self._state = "closed"
            return
        self._state = "closed"  # from now on every call raises Unavailable
        pool, lock_conn = self._pool, self._lock_conn
        self._pool, self._lock_conn = None, None
        self._locks.clear()
        self._claimed = None
        with contextlib.suppress(Exception):
            if lock_conn is not None:
                await lock_conn.close(timeout=5)  # releases every mailbox lock this node held
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), 10)
            except Exception:
                pool.terminate()

    def _check_open(self) -> asyncpg.Pool:
        if self._state != "open" or self._pool is None:
            raise Unavailable("the store is closed" if self._state == "closed" else "the store is not open")
        return self._pool

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[asyncpg.Connection]:
        pool = self._check_open()
        try:
            async with pool.acquire(timeout=CONNECT_TIMEOUT) as conn:
                yield conn
        except Exception as exc:
            raise translate(exc, self.url) from None

    async def _fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        async with self._connection() as conn:
            return await conn.fetch(dollar(sql), *args)

    async def _fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        async with self._connection() as conn:
            return await conn.fetchrow(dollar(sql), *args)

    async def _fetchval(self, sql: str, *args: Any) -> Any:
        async with self._connection() as conn:
            return await conn.fetchval(dollar(sql), *args)

    async def _execute(self, sql: str, *args: Any) -> int:
        """One statement in its own transaction; how many rows it changed."""
        async with self._connection() as conn:
            return rowcount(await conn.execute(dollar(sql), *args))

    async def _transaction(self, fn: Callable[[asyncpg.Connection], Awaitable[T]],
                           audit: AuditNote | None = None, changes: set[int] | None = None,
                           durable: bool = True) -> T:
        """`fn(conn)` in one transaction, committed (durable) on return; all or nothing. With
        `audit`, the entry is inserted after `fn` in the same transaction: both or neither.
        `changes`: the mailboxes `fn` changed (it adds them), notified in the transaction
        (other stores hear of them at the commit) and reported to this one's watcher after it.
        `durable=False` (bookkeeping a server crash may undo, never mail accepted or removed):
        committed without waiting for the server's WAL flush (synchronous_commit off); WAL keeps
        commits in order, so it is lost only with every later one."""
        note = None if audit is None else audit_note(audit)
        async with self._connection() as conn:
            async with conn.transaction():
                if not durable:
                    await conn.execute(ASYNCHRONOUS_COMMIT)
                result = await fn(conn)
                if note is not None:
                    await conn.execute(AUDIT_NOTE_INSERT, schema_sql.now(), *note_values(note, result))
                if changes:
                    await conn.execute(NOTIFY, payloads(self._signal.origin, changes))
        if changes:
            self._signal(changes)
        return result

    # schema ------------------------------------------------------------------------------
    async def migrate(self) -> list[int]:
        async def apply(conn: asyncpg.Connection) -> list[int]:
            # Several nodes may start at once: one migrates while the others wait, then
            # find nothing left to do.
            await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", *MIGRATION_LOCK)
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations"
                " (version integer PRIMARY KEY, name text NOT NULL, applied_at text NOT NULL)"
            )
            done = {row[0] for row in await conn.fetch("SELECT version FROM schema_migrations")}
            applied = []
            for version, name, script in migrations("postgresql"):
                if version in done:
                    continue
                await conn.execute(script)
                await conn.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                                   version, name, now())
                applied.append(version)
            return applied
        return await self._transaction(apply)

    async def schema_version(self) -> int:
        async with self._connection() as conn:
            if await conn.fetchval("SELECT to_regclass('schema_migrations')") is None:
                return 0
            return await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_migrations")

    async def config_version(self) -> int:
        return await self._fetchval("SELECT version FROM config_state WHERE id = 1")

    async def snapshot(self, path: str) -> None:
        self._check_open()
        raise ValidationError(
            "store", "postroom backup copies the embedded store; back up PostgreSQL with its own tools"
            " (pg_dump, or a base backup with WAL archiving)",
        )

    # POP3 mailbox lock: held across nodes -------------------------------------------------
    # Session-level advisory locks on one connection of this node's own: exclusive across
    # every node on the database, and released by PostgreSQL when the node (its connection)
    # dies. Within the node, a table of holders answers first, so one mailbox costs one lock.
    async def try_lock_mailbox(self, mailbox_id: int, holder: str) -> bool:
        self._check_open()
        current = self._locks.setdefault(mailbox_id, holder)  # no await: atomic on the loop
        if current != holder:
            return False
        try:
            got = await self._lock_call("SELECT pg_try_advisory_lock($1, $2)", mailbox_id)
        except BaseException:
            self._forget_lock(mailbox_id, holder)
            raise
        if not got:
            self._forget_lock(mailbox_id, holder)
        return bool(got)

    async def unlock_mailbox(self, mailbox_id: int, holder: str) -> None:
        self._check_open()
        if self._locks.get(mailbox_id) != holder:
            return
        try:
            await self._lock_call("SELECT pg_advisory_unlock($1, $2)", mailbox_id)
        except Unavailable:
            pass  # the lock connection is gone, and its locks with it
        finally:
            self._forget_lock(mailbox_id, holder)

    async def claim_server(self, server: str) -> None:
        self._check_open()
        if self._claimed == server:
            return
        if self._claimed is not None:
            raise Conflict(f"this store is already serving server {self._claimed}")
        got = await self._lock_call("SELECT pg_try_advisory_lock($1, hashtext($2))", server)
        if not got:
            raise Conflict(f"server {server} is already served by another node on this store; each node"
                           " serves a server of its own (`postroom init --store URL --server-name NEW`)")
        self._claimed = server

    def _forget_lock(self, mailbox_id: int, holder: str) -> None:
        if self._locks.get(mailbox_id) == holder:
            del self._locks[mailbox_id]

    async def _lock_call(self, sql: str, key: int | str) -> Any:
        if isinstance(key, int) and not -(2**31) <= key < 2**31:
            raise ValidationError("mailbox_id", f"{key!r} is out of range")
        namespace = MAILBOX_LOCK if isinstance(key, int) else SERVER_LOCK
        async with self._lock_guard:
            for attempt in (1, 2):
                try:
                    if self._lock_conn is None or self._lock_conn.is_closed():
                        await self._reconnect_locks()
                    conn = self._lock_conn
                    assert conn is not None  # _reconnect_locks made it, or raised
                    return await conn.fetchval(sql, namespace, key)
                except (asyncpg.ConnectionDoesNotExistError, asyncpg.InterfaceError, ConnectionError) as exc:
                    if attempt == 2:
                        raise translate(exc, self.url) from None
                    if self._lock_conn is not None:
                        self._lock_conn.terminate()  # lost: the next attempt connects again
                except Exception as exc:
                    raise translate(exc, self.url) from None

    async def _reconnect_locks(self) -> None:
        """A new lock connection. The old one (if any) took its locks with it: take the server
        claim again and say what was lost; the POP3 sessions go on."""
        lost = self._lock_conn is not None
        self._lock_conn = await asyncpg.connect(self.url, timeout=CONNECT_TIMEOUT)
        if not lost:
            return
        log.warning("the PostgreSQL lock connection was lost: %d POP3 mailbox locks were released early",
                    len(self._locks))
        if self._claimed is not None and not await self._lock_conn.fetchval(
                "SELECT pg_try_advisory_lock($1, hashtext($2))", SERVER_LOCK, self._claimed):
            log.error("server %s is now claimed by another node as well", self._claimed)


async def _keep_session(conn: asyncpg.Connection) -> None:
    """The pool's reset, a no-op: pooled connections never change session state (no SET, no
    LISTEN, no advisory lock: those live on the lock connection; every transaction is closed
    by its `async with`), so the default reset would cost a round trip per query for nothing.
    asyncpg still rolls back a transaction left open before calling this."""


def rowcount(status: str) -> int:
    """asyncpg's command tag ('DELETE 3', 'INSERT 0 1') -> the row count."""
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0
