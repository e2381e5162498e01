"""The closed set of application errors.

Every layer raises only these; each edge (wire, CLI, REST) translates them once.
Peers never see exception names or tracebacks.
"""
from __future__ import annotations


class PostroomError(Exception):
    """Base of the closed set. `message` is safe to show to an administrator."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationError(PostroomError):
    """A value was refused. Names the field and, where they are few, the allowed values."""

    def __init__(self, field: str, message: str, allowed: list[str] | None = None) -> None:
        text = f"{field}: {message}"
        if allowed:
            text += f" (allowed: {', '.join(allowed)})"
        super().__init__(text)
        self.field = field
        self.reason = message
        self.allowed = allowed


class NotFound(PostroomError):
    """No such object. `where` says where it was looked for (" on server EX01"); `existing`,
    when given, lists the names that do exist there, so a typo is answered with the right
    name (the API carries them as `allowed`)."""

    SHOWN = 20  # names listed in the message at most; the rest are counted

    def __init__(self, kind: str, key: str, *, where: str = "", existing: list[str] | None = None) -> None:
        message = f"{kind} {key!r} does not exist{where}"
        if existing is not None:
            shown = ", ".join(repr(name) for name in existing[:self.SHOWN])
            more = len(existing) - self.SHOWN
            message += (f" (existing: {shown}{f' and {more} more' if more > 0 else ''})" if existing
                        else " (there is none yet)")
        super().__init__(message)
        self.kind = kind
        self.key = key
        self.existing = existing


class Conflict(PostroomError):
    """The object already exists, or the change clashes with the current state."""


class Unauthenticated(PostroomError):
    """No valid credentials came with an admin request (HTTP 401); never says which part was wrong."""


class Forbidden(PostroomError):
    """The caller's role does not allow the action."""


class Unavailable(PostroomError):
    """A temporary failure (store locked or unreachable, disk full): try again later."""


class TooManyAttempts(Unavailable):
    """A sign-in refused before its password was checked: too many failed attempts from the
    caller's address or for the name (HTTP 429 with Retry-After). Temporary, like any
    Unavailable; it says nothing about whether the name exists."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StorageFull(Unavailable):
    """The disk (or file system) holding the store is full: temporary, like any Unavailable;
    SMTP answers it 452 4.3.1 instead of 451 4.3.0."""


class StoreCorrupted(Unavailable):
    """The store's files are damaged (SQLite: SQLITE_CORRUPT, SQLITE_NOTADB; PostgreSQL: XX001,
    XX002). Waiting will not fix it: the message names the store and how to restore it. It stays
    an Unavailable so the wire edges still answer a temporary failure (SMTP 451: the sender
    retries, and the mail arrives once the store is restored)."""
