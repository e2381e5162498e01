"""The MailboxChanges role: a node learns which mailboxes changed, whoever changed them.

Every write that changes a mailbox's folders or messages is reported once it has committed: a
delivery (SMTP, imports, reports), a POP3 or admin deletion, IMAP4's STORE, EXPUNGE, COPY and
MOVE, APPEND, a folder created, renamed or deleted (`postroom migrate`'s restores need not be).
A store reports to the one callback `watch_mailboxes` gave it:
- its own writes as they return, before the caller goes on (so a session woken by one reads it);
- the writes of others a moment later: other nodes and processes on PostgreSQL (LISTEN/NOTIFY:
  one listener connection per store, sent in the writing transaction, delivered at its commit);
  other processes (the CLI) on the embedded store (one check of the database a few times a
  second, whatever the number of sessions).
`None` instead of mailbox ids means that any mailbox may have changed (the feed was lost and
is back: a change may have gone unreported), so every watcher should look. The callback runs
on the event loop and must not block; a change may be reported more than once.
"""
from __future__ import annotations

from typing import Callable, Collection, Protocol

ChangeCallback = Callable[[Collection[int] | None], None]


class MailboxChanges(Protocol):
    async def watch_mailboxes(self, changed: ChangeCallback) -> None:
        """Report every change from now on to `changed` (replacing any earlier callback), until
        unwatch_mailboxes() or close(). Returns once the feed listens (or, when the database
        cannot be reached, is retrying: it then reports None once it listens)."""
    async def unwatch_mailboxes(self) -> None:
        """Stop reporting (and close what the feed holds open)."""
