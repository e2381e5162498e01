"""For the tests of audited changes: an audit table that refuses every insert."""
from __future__ import annotations

import sqlite3
from typing import Any

import asyncpg


async def refuse_audit_inserts(store: Any) -> None:
    """From now on, inserting into the store's audit table fails inside the database (a
    trigger): whatever writes an audit entry fails there."""
    if hasattr(store, "path"):  # the embedded store: its file, through a connection of our own
        conn = sqlite3.connect(store.path)
        try:
            conn.execute("CREATE TRIGGER refuse_audit BEFORE INSERT ON audit"
                         " BEGIN SELECT RAISE(ABORT, 'audit refused'); END")
            conn.commit()
        finally:
            conn.close()
        return
    conn = await asyncpg.connect(store.url)
    try:
        await conn.execute("CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS"
                           " $$ BEGIN RAISE EXCEPTION 'audit refused'; END $$")
        await conn.execute("CREATE TRIGGER refuse_audit BEFORE INSERT ON audit FOR EACH ROW"
                           " EXECUTE FUNCTION refuse_audit()")
    finally:
        await conn.close()
