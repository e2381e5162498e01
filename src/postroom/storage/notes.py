"""Values the store's roles take: the audit entry a write inserts with its change, and a
message body held in a spool file."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class SpooledBody:
    """The start of a message body held in a file (an SMTP spool file): its first `size`
    octets, in wire form. The file is the caller's: the store only reads it."""

    path: str
    size: int


@dataclass(frozen=True)
class AuditNote:
    """The audit entry of one change, given to the write that makes it, which inserts it in
    the same transaction (outcome "success"). `after` may be a function of what the write
    returns (a new record's view: its id, its creation time), called in that transaction."""

    actor: str
    action: str
    target: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None | Callable[[Any], dict[str, Any] | None]
    channel: str = "cli"
