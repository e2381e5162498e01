"""PostgreSQL for the tests: one database (postroom_test) on the server at 127.0.0.1:5432
(POSTROOM_TEST_PG names another), and a fresh schema per test, dropped afterwards.

A missing server fails the tests that need it: CI must run them, never skip them
(scripts/test-deps.sh starts the server when it is installed but stopped).
"""
from __future__ import annotations

import asyncio
import os
import uuid
from typing import Iterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg

ADMIN_URL = os.environ.get("POSTROOM_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
DATABASE = "postroom_test"


def _url_for(database: str, query: str = "") -> str:
    parts = urlsplit(ADMIN_URL)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", query, ""))


async def _prepare() -> None:
    conn = await asyncpg.connect(ADMIN_URL, timeout=10)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE):
            try:
                await conn.execute(f'CREATE DATABASE "{DATABASE}"')
            except (asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
                pass  # another test worker created it meanwhile
    finally:
        await conn.close()
    conn = await asyncpg.connect(_url_for(DATABASE), timeout=10)
    try:
        # Every test schema finds citext in public (search_path "test schema, public"). Two
        # test workers may create it at once: the loser's error means it is there.
        try:
            await conn.execute("CREATE EXTENSION IF NOT EXISTS citext WITH SCHEMA public")
        except (asyncpg.UniqueViolationError, asyncpg.DuplicateObjectError):
            pass
    finally:
        await conn.close()


_prepared = False


def prepare() -> None:
    global _prepared
    if not _prepared:
        asyncio.run(_prepare())
        _prepared = True


async def _run(sql: str) -> None:
    conn = await asyncpg.connect(_url_for(DATABASE), timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def fresh_store_url() -> Iterator[str]:
    """A generator for fixtures: yields the URL of a new, empty schema; drops it afterwards."""
    prepare()
    schema = f"t_{uuid.uuid4().hex[:16]}"
    asyncio.run(_run(f"CREATE SCHEMA {schema}"))
    try:
        yield _url_for(DATABASE, f"search_path={schema},public")
    finally:
        asyncio.run(_run(f"DROP SCHEMA {schema} CASCADE"))
