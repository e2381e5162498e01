"""Storage backends behind the Store protocol."""
from __future__ import annotations

import os

from .base import Store


def open_store(data_dir: str, url: str | None = None) -> Store:
    """The store for a data directory: SQLite under DATA_DIR unless a URL names another backend."""
    from .sqlite import SqliteStore

    return SqliteStore(os.path.join(data_dir, "postroom.db"))


__all__ = ["Store", "open_store"]
