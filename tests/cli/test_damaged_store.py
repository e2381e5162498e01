"""A damaged embedded store: `backup` refuses to write a copy that would not restore, and every
command (serve included) says the store is corrupted and how to restore it, instead of calling
it temporarily unavailable."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from postroom.errors import StoreCorrupted

from .conftest import Admin, flat

BIG = b"Subject: big\r\n\r\n" + b"".join(b"line %06d of a long message\r\n" % n for n in range(60000))
POSTROOM = [sys.executable, "-m", "postroom"]


def integrity(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        return str(exc)
    finally:
        conn.close()


def checkpoint(db: Path) -> int:
    """Fold the WAL into the database file; its page size."""
    conn = sqlite3.connect(db)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return conn.execute("PRAGMA page_size").fetchone()[0]
    finally:
        conn.close()


def damage(db: Path, start: float, end: float) -> None:
    """Overwrite the pages between fractions `start` and `end` of the file with junk, once the
    WAL is folded into it (the damage a failing disk or a stray write leaves)."""
    page = checkpoint(db)
    pages = db.stat().st_size // page
    with open(db, "r+b") as handle:
        for number in range(max(2, int(pages * start)), int(pages * end)):
            handle.seek(number * page)
            handle.write(b"\xa5" * page)
    assert integrity(db) != "ok"  # the kind of damage PRAGMA integrity_check finds


def assert_says_corrupted(text: str, db: Path) -> None:
    text = flat(text)
    assert f"the store at {db} is corrupted" in text, text
    assert "postroom restore" in text and "temporarily" not in text and "try again later" not in text, text


def test_backup_of_a_damaged_store_fails_and_leaves_no_backup(admin: Admin, tmp_path: Path) -> None:
    admin.new_mailbox("alice@example.com")
    eml = tmp_path / "big.eml"
    eml.write_bytes(BIG)
    admin.ok("mailbox", "import", "alice@example.com", str(eml))
    db = admin.data / "postroom.db"
    damage(db, 0.6, 0.7)  # pages of the message only: the commands below still run
    admin.ok("mailbox", "list")

    async def retrieve(store: Any) -> None:  # what POP3 RETR does: refused, and logged, as corrupted
        mailbox = await store.get_mailbox("alice@example.com")
        [message] = await store.list_messages(mailbox.id)
        with pytest.raises(StoreCorrupted) as info:
            await store.read_message(mailbox.id, message.id)
        assert_says_corrupted(info.value.message, db)
    admin.peek(retrieve)

    dest = tmp_path / "backups" / "postroom.tar.gz"
    dest.parent.mkdir()
    result = admin.fails(8, "backup", str(dest))
    assert_says_corrupted(result.stderr, db)
    assert "integrity_check" in result.stderr
    assert list(dest.parent.iterdir()) == []  # neither the backup nor a half-written copy


def test_serve_and_commands_on_a_damaged_store_say_it_is_corrupted(admin: Admin) -> None:
    db = admin.data / "postroom.db"
    damage(db, 0.1, 0.9)  # the settings the node reads at start
    assert_says_corrupted(admin.fails(8, "mailbox", "list").stderr, db)
    result = subprocess.run([*POSTROOM, "serve", "--data", str(admin.data)], capture_output=True, text=True,
                            timeout=60, env={**os.environ, "COLUMNS": "250", "NO_COLOR": "1"})
    assert result.returncode == 8, result.stderr
    assert_says_corrupted(result.stderr, db)
    assert "Traceback" not in result.stderr


def test_a_store_file_that_is_not_a_database_is_reported_corrupted(admin: Admin) -> None:
    db = admin.data / "postroom.db"
    checkpoint(db)
    with open(db, "r+b") as handle:
        handle.write(b"\xa5" * 100)  # the header: SQLITE_NOTADB
    assert_says_corrupted(admin.fails(8, "mailbox", "list").stderr, db)


def test_exit_codes_follow_the_error_class() -> None:
    from postroom.cli import exit_code
    from postroom.errors import StorageFull, Unavailable

    assert exit_code(StoreCorrupted("x")) == 8  # not "try again later" (6)
    assert exit_code(StorageFull("x")) == 6 == exit_code(Unavailable("x"))  # docs: disk full exits 6
