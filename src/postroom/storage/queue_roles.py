"""The outbound queue's roles of the Store: QueueReader (the queue viewer, metrics, the doctor)
and QueueStore (the delivery workers on every node, and admins' actions), and reading a queued
body in pieces."""
from __future__ import annotations

from typing import AsyncIterator, Protocol, Sequence

from ..model import Claim, QueuedMessage, QueuedRecipient, QueueInfo, RecipientResult, TrackingEvent
from .notes import AuditNote


class QueueReader(Protocol):
    """What the queue viewer (Get-Queue, Get-Message, Export-Message), metrics and the doctor read."""

    async def list_queues(self, now: str | None = None) -> list[QueueInfo]:
        """Queues with pending recipients (of messages not poison) and suspended queues, by
        name; then, if there are poison messages, the pseudo-queue `poison`. Statuses are
        judged at `now` (ISO-8601; None: the store's clock)."""
    async def list_queued_messages(self, queue: str | None = None, status: str | None = None,
                                   limit: int = 1000) -> list[QueuedMessage]:
        """Oldest first. `queue`: messages with a pending recipient in it (`poison`: the poison
        messages); `status`: a MessageStatus."""
    async def get_queued_message(self, message_id: str) -> tuple[QueuedMessage, list[QueuedRecipient]]:
        """The message and all its recipients (in submission order); NotFound if gone."""
    async def read_queued_body(self, message_id: str, offset: int = 0, size: int | None = None) -> bytes:
        """The queued body's octets from `offset`, at most `size` of them (None: to the end),
        so a worker reads a big message in pieces (see `queued_body_pieces`); NotFound if gone."""
    async def queue_counts(self) -> dict[str, int]:
        """Queued messages by MessageStatus value (every status, zero included): for metrics."""


class QueueStore(QueueReader, Protocol):
    """The outbound queue (filled by DeliveryStore.deliver_message's `outbound`): what the
    delivery workers on every node claim, try and report, and what admins act on.

    Leases: `holder` names one worker as "SERVER/tag" (the tracking rows the store writes
    name SERVER). A claim holds a message until its lease ends; `finish_attempt` ends it.
    A claim whose lease runs out without `finish_attempt` (the node died, the worker
    crashed) counts as a crash: the message is claimed again, and at its third claim after
    two crashes it becomes poison instead (a POISONMESSAGE tracking row per pending
    recipient), never retried until an admin resumes it."""

    async def claim_due(self, holder: str, now: str, lease_seconds: int, limit: int) -> list[Claim]:
        """Up to `limit` active messages, oldest first, with a ready/retry recipient due at
        `now` in a queue not suspended, whose lease is free or expired: each gets the lease
        (until now + lease_seconds) and its crash count goes up by one. Each Claim lists the
        recipients due. On PostgreSQL, two nodes claiming at once never get the same message
        (FOR UPDATE SKIP LOCKED)."""
    async def extend_lease(self, message_id: str, holder: str, now: str, lease_seconds: int) -> bool:
        """A long attempt (a big message, a slow next hop) keeps its claim: the lease runs to
        now + lease_seconds. False (nothing changed) if `holder` no longer holds it."""
    async def extend_leases(self, holder: str, now: str, lease_seconds: int) -> int:
        """extend_lease for every message `holder` holds, in one statement (a worker renews
        all it has in flight at once); how many."""
    async def release_claim(self, message_id: str, holder: str) -> None:
        """Give a claim back untried (a node stopping): the lease ends and the claim does not
        count as a crash. Nothing happens if `holder` does not hold it."""
    async def finish_attempt(self, message_id: str, holder: str, results: Sequence[RecipientResult],
                             tracking: Sequence[TrackingEvent] = ()) -> bool:
        """The end of an attempt, in one transaction: each reported recipient's new status,
        schedule, reply and attempts; each queue's last error (a retry's reply; cleared by a
        success); the lease ends and the crash count goes back to 0; the message and its body
        go once every recipient is final (sent, failed, expired): then True. The tracking rows
        (SEND, DEFER, FAIL, DSN...) are written like deliver_message's. Conflict (nothing
        written) if `holder` no longer holds the message (its lease expired and another
        worker claimed it); NotFound if it was removed; ValidationError if a result names no
        pending recipient of the message. Committed without waiting for the disk (SQLite:
        synchronous NORMAL; PostgreSQL: synchronous_commit off): a power cut may undo it, and
        only with every later commit, so the message is tried again (sent twice, as Postfix
        after its queue file's unsynced unlink), never lost; a process crash undoes nothing."""
    async def set_delay_notified(self, message_id: str, addresses: Sequence[str]) -> None:
        """The sender was told these recipients are delayed (no second delay notice)."""
    async def suspend_queue(self, name: str, *, audit: AuditNote | None = None) -> None:
        """No message is claimed for this queue until resumed; NotFound if unknown."""
    async def resume_queue(self, name: str, *, audit: AuditNote | None = None) -> None: ...
    async def retry_queue(self, name: str, *, now: str | None = None, audit: AuditNote | None = None) -> int:
        """Make the queue's pending recipients due at `now` (None: the store's clock); how many."""
    async def remove_idle_queues(self, limit: int = 1000) -> int:
        """Remove at most `limit` next-hop rows that no queued recipient refers to and no admin
        suspended (the next message for one makes it again); how many. Safe beside deliveries
        queuing mail for the same next hop."""
    async def suspend_message(self, message_id: str, *, audit: AuditNote | None = None) -> None:
        """Conflict for a poison message (resume or remove it)."""
    async def resume_message(self, message_id: str, *, audit: AuditNote | None = None) -> None:
        """A suspended or poison message is active again (its crash count back to 0)."""
    async def remove_message(self, message_id: str, *,
                             audit: AuditNote | None = None) -> tuple[QueuedMessage, list[QueuedRecipient]]:
        """Remove a message from the queue (its body too when no mailbox has a copy); returns
        what it was, for a non-delivery report. NotFound if gone."""


async def queued_body_pieces(store: QueueReader, message: QueuedMessage,
                             piece: int = 1 << 20) -> AsyncIterator[bytes]:
    """The queued body in pieces of at most `piece` octets: a worker sends (or an admin
    exports) a 100 MB message without holding it whole in memory."""
    offset = 0
    while offset < message.size:
        data = await store.read_queued_body(message.id, offset, piece)
        if not data:
            break
        offset += len(data)
        yield data


# live sessions ---------------------------------------------------------------------------
