"""Fixtures for the storage contract suite.

Every test in test_store_contract.py runs once per backend in BACKENDS. A backend is a
function `(tmp_path) -> make_store`, where `make_store()` returns a new, unopened Store for
one and the same database each time it is called (so tests can close and reopen it).
The PostgreSQL backend gets a fresh schema per test (tests/pg_support.py).
"""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterator, TypeVar

import pytest

from pg_support import fresh_store_url
from postroom.storage.base import Store
from postroom.storage.postgres import PostgresStore
from postroom.storage.sqlite import SqliteStore

T = TypeVar("T")
MakeStore = Callable[[], Store]


def sqlite_backend(tmp_path: Path) -> MakeStore:
    path = str(tmp_path / "data" / "postroom.db")  # the parent does not exist yet: the store creates it
    return lambda: SqliteStore(path)


def postgres_backend(tmp_path: Path) -> Iterator[MakeStore]:
    for url in fresh_store_url():
        yield lambda: PostgresStore(url)


BACKENDS: list[Any] = [
    pytest.param(sqlite_backend, id="sqlite"),
    pytest.param(postgres_backend, id="postgres"),
]


@pytest.fixture(params=BACKENDS)
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MakeStore]:
    made = request.param(tmp_path)
    if callable(made):
        yield made
    else:  # a generator: it cleans up after the test
        yield from made


@pytest.fixture
def run() -> Iterator[Callable[[Awaitable[T]], T]]:
    """`run(coroutine)` -> its result, on one event loop that lives for the whole test."""
    with asyncio.Runner() as runner:
        yield runner.run


@pytest.fixture
def store(make_store: MakeStore, run: Callable[[Awaitable[Any]], Any]) -> Iterator[Store]:
    """An open, migrated, empty store; closed after the test."""
    opened = make_store()
    run(opened.open())
    run(opened.migrate())
    yield opened
    run(opened.close())


# The contract suite is marked by Store role (postroom.storage.base.ROLES): `-m store_mail`
# runs the mail role's contract on every backend.
ROLE_MARKS = {
    "store_lifecycle": "StoreLifecycle", "store_mail": "MailStore", "store_delivery": "DeliveryStore",
    "store_config": "ConfigStore", "store_admin": "AdminStore", "store_evidence": "EvidenceStore",
    "store_blocks": "BlockStore", "store_queue": "QueueStore", "store_sessions": "SessionControl",
    "store_folders": "FolderStore", "store_changes": "MailboxChanges",
}


def pytest_configure(config: pytest.Config) -> None:
    for mark, role in ROLE_MARKS.items():
        config.addinivalue_line("markers", f"{mark}: the Store contract of the {role} role")
