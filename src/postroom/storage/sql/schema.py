"""Rows and statements both backends use: the numbered migration files, row conversions,
the stored time format and the mailbox search."""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from importlib import resources
from typing import Any, Sequence

from ...errors import Unavailable
from ...model import Mailbox, Service, ServiceStatus, Startup

MAILBOX_COLUMNS = "id, address, display_name, password_hash, enabled, pop_enabled, imap_enabled, created_at, send_as"


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def to_json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, default=str)


def from_json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def mailbox_row(row: Sequence[Any]) -> Mailbox:
    return Mailbox(row[0], row[1], row[2], row[3], bool(row[4]), bool(row[5]), bool(row[6]), row[7],
                   tuple(json.loads(row[8] or "[]")))


def service_row(row: Sequence[Any]) -> Service:
    return Service(row[0], row[1], Startup(row[2]), ServiceStatus(row[3]))


def search_clause(search: str | None) -> tuple[str, list[Any]]:
    if not search:
        return "", []
    pattern = "%" + re.sub(r"([\\%_])", r"\\\1", search) + "%"
    return " WHERE address LIKE ? ESCAPE '\\' OR display_name LIKE ? ESCAPE '\\'", [pattern, pattern]


MIGRATION_FILE = re.compile(r"(\d+)_[A-Za-z0-9_]+\.sql")


def migrations(dialect: str) -> list[tuple[int, str, str]]:
    """(version, file name, script) of migrations/DIALECT/NNNN_name.sql, in order."""
    folder = resources.files("postroom.storage").joinpath("migrations", dialect)
    found = []
    for entry in folder.iterdir():
        match = MIGRATION_FILE.fullmatch(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    versions = [version for version, _, _ in found]
    if len(set(versions)) != len(versions):
        raise Unavailable(f"duplicate migration numbers in {versions}")
    return found
