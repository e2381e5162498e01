"""The scale-out store: PostgreSQL through asyncpg behind the Store protocol (store.py), its
pool, transactions and advisory locks (base.py) and the PostgreSQL-only SQL. What it shares
with the embedded store lives in storage/sql."""
from .store import PostgresStore

__all__ = ["PostgresStore"]
