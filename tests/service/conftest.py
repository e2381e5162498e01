"""Fixtures for the service layer: an initialised data dir, an open store, Contexts per caller."""
from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Awaitable, Callable, Iterator, TypeVar

import pytest

from postroom.service import Caller, Context
from postroom.service.setup import initialise
from postroom.storage import Store, open_store

T = TypeVar("T")


@pytest.fixture
def run() -> Iterator[Callable[[Awaitable[T]], T]]:
    """`run(coroutine)` on one event loop that lives for the whole test."""
    with asyncio.Runner() as runner:
        yield runner.run


@pytest.fixture(scope="session")
def initialised_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One `initialise(dev=True, server_name="EX01")` per session; tests get a copy of it."""
    data = tmp_path_factory.mktemp("template") / "var"
    result = asyncio.run(initialise(str(data), dev=True, server_name="EX01"))
    assert result.created and result.server == "EX01"
    return data


@pytest.fixture
def data_dir(tmp_path: Path, initialised_template: Path) -> str:
    """A private, initialised data directory (the store is closed in the template, so a copy is whole)."""
    data = tmp_path / "var"
    shutil.copytree(initialised_template, data)
    return str(data)


@pytest.fixture
def store(data_dir: str, run) -> Iterator[Store]:
    opened = open_store(data_dir)
    run(opened.open())
    yield opened
    run(opened.close())


@pytest.fixture
def context(store: Store, data_dir: str) -> Callable[..., Context]:
    """`context("view-only", ...)`: a Context for a caller holding those role groups."""
    def make(*roles: str, name: str | None = None) -> Context:
        caller = Caller(name or "+".join(roles) or "nobody", frozenset(roles))
        return Context(store, caller, "EX01", data_dir)
    return make
