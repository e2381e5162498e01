"""A damaged SQLite store: how it is recognised and what the operator is told.

SQLITE_CORRUPT ("database disk image is malformed") and SQLITE_NOTADB ("file is not a
database") are not temporary: retrying reads the same damaged pages. They become
StoreCorrupted, whose message names the file and the way back (a restore), wherever they
surface: opening the store at start, any query later, or the check of a backup's copy.
"""
from __future__ import annotations

import os
import sqlite3

from ...errors import StoreCorrupted

_CORRUPT_CODES = (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)
_CORRUPT_TEXTS = ("database disk image is malformed", "file is not a database")
MAX_PROBLEMS = 5  # integrity_check lines quoted in a message; the rest are counted


def is_corruption(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in _CORRUPT_CODES
    return any(text in str(exc) for text in _CORRUPT_TEXTS)


def corrupted(path: str, detail: str) -> StoreCorrupted:
    """The one message for a damaged store file at `path` (DATA/postroom.db)."""
    path = os.path.abspath(path)
    data = os.path.dirname(path)
    return StoreCorrupted(
        f"the store at {path} is corrupted: {detail}; waiting will not fix it. Restore from a backup:"
        f" postroom restore BACKUP.tar.gz --data NEW_DIR, then serve from NEW_DIR (or move it to {data})"
    )


def integrity_problems(conn: sqlite3.Connection) -> list[str]:
    """What `PRAGMA integrity_check` reports (empty: the database is sound). A database too
    damaged to be checked reports the error that stopped the check."""
    try:
        rows = conn.execute("PRAGMA integrity_check").fetchall()
    except sqlite3.DatabaseError as exc:
        return [str(exc) or type(exc).__name__]
    problems = [str(row[0]) for row in rows]
    return [] if problems == ["ok"] else problems


def check_file(path: str) -> list[str]:
    """integrity_problems() of the database file at `path`, opened read-only."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        return [str(exc) or type(exc).__name__]
    try:
        return integrity_problems(conn)
    finally:
        conn.close()


def summary(problems: list[str]) -> str:
    """The first few problems on one line, and how many more there are."""
    shown = "; ".join(problems[:MAX_PROBLEMS])
    more = len(problems) - MAX_PROBLEMS
    return shown + (f" (and {more} more)" if more > 0 else "")
