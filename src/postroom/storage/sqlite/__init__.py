"""The embedded store: one SQLite file (WAL, synchronous=FULL) behind the Store protocol
(store.py), its writer and reader threads (threads.py, workers.py) and the SQLite-only SQL.
What it shares with the PostgreSQL store lives in storage/sql."""
from .store import SqliteStore

__all__ = ["SqliteStore"]
