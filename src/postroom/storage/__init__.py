"""Storage backends behind the Store protocol (base.py: the roles it is made of, with IMAP4's in
folders.py, the feed of mailbox changes in changes.py and the outbound queue's in queue_roles.py;
sql/: what the backends share; sqlite/ and postgres/: the backends).

Which store a data directory uses: the URL given (`--store`), else POSTROOM_STORE, else the
one `postroom init` recorded in the data directory's node.json, else the embedded SQLite
store under DATA/postroom.db.
"""
from __future__ import annotations

import os

from ..datadir import read_store_url
from .base import (
    AdminStore, AuditLog, BlockStore, ConfigReader, ConfigStore, DeliveryStore, EvidenceReader, EvidenceStore,
    LoginEvidence, MailboxLocks, MailboxLookup, MailStore, SessionControl, Store, StoreLifecycle, StoreReader,
)
from .notes import AuditNote, SpooledBody
from .location import EMBEDDED, check_store_url, safe_url
from .queue_roles import QueueReader, QueueStore, queued_body_pieces

STORE_ENV = "POSTROOM_STORE"
_override: str | None = None  # `--store` on the command line, for everything this process opens


def set_store_override(url: str | None) -> None:
    """`--store URL` (checked), or None to fall back to POSTROOM_STORE and node.json."""
    global _override
    _override = None if url is None else check_store_url(url)


def store_url(data_dir: str, url: str | None = None) -> str:
    """The store of DATA_DIR (see the module docstring): `embedded` or a PostgreSQL URL."""
    for candidate in (url, _override, os.environ.get(STORE_ENV)):
        if candidate and candidate.strip():
            return check_store_url(candidate)
    recorded = read_store_url(data_dir)  # only now: a given URL needs no node.json
    return check_store_url(recorded) if recorded and recorded.strip() else EMBEDDED


def open_store(data_dir: str, url: str | None = None) -> Store:
    """The store for a data directory (not yet open)."""
    resolved = store_url(data_dir, url)
    if resolved == EMBEDDED:
        from .sqlite import SqliteStore

        return SqliteStore(os.path.join(data_dir, "postroom.db"))
    from .postgres import PostgresStore

    return PostgresStore(resolved)


def embedded_damage(path: str) -> str | None:
    """What PRAGMA integrity_check finds in the embedded store file at `path`, on one line
    (None: the file is a sound database)."""
    from .sqlite.check import check_file, summary

    problems = check_file(path)
    return summary(problems) if problems else None


__all__ = ["EMBEDDED", "STORE_ENV", "AdminStore", "AuditLog", "AuditNote", "BlockStore", "ConfigReader",
           "ConfigStore", "DeliveryStore", "EvidenceReader", "EvidenceStore", "LoginEvidence", "MailStore",
           "MailboxLocks",
           "MailboxLookup", "SpooledBody", "Store", "StoreLifecycle", "StoreReader", "check_store_url",
           "embedded_damage", "open_store", "safe_url", "set_store_override", "store_url"]
__all__ += ["QueueReader", "QueueStore", "queued_body_pieces"]  # the outbound queue
__all__ += ["SessionControl"]  # ending live sessions
