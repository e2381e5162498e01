"""Per-mailbox submission rate limits: messages and recipients per minute and per day that an
authenticated mailbox may submit (Exchange's throttling policy MessageRateLimit and
RecipientRateLimit; Postfix's anvil rates), answered 450 4.7.0 when exceeded.

How they hold under concurrency: a session *reserves* its message at MAIL and each recipient
at RCPT, in one synchronous step on the event loop (count, compare, add: nothing can run in
between), so a thousand concurrent sessions of one mailbox see each other's reservations and
never pass the limit together. A reservation becomes a count when the message is stored
(`commit`), and is given back when the transaction ends otherwise (`release`: RSET, a refusal,
a new MAIL, the connection gone), so a refused or abandoned message costs nothing.

Counts are kept per node, in memory (the node's single event loop is the lock): a cluster of N
nodes lets a mailbox submit up to N times a limit, and a restart forgets the counts. Windows
slide: at most `limit` in any period, counted in buckets (1 s for a minute, 10 min for a day),
so capacity comes back at most one bucket late, never early.
"""
from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

from ..protocol.smtp import Reply, reply

MINUTE, DAY = 60.0, 86400.0
_BUCKETS = {MINUTE: 60, DAY: 144}
SWEEP_EVERY = 1024  # reservations between two sweeps of idle mailboxes


@dataclass(frozen=True)
class SubmissionLimits:
    """What the SMTP service enforces on submissions; 0 = unlimited. The node builds it from
    this server's transport settings (`postroom transport set`). Defaults: Exchange Online's
    sending limits, 30 messages a minute and 10,000 recipients a day, nothing else (Exchange
    on-premises' default throttling policy: unlimited)."""

    message_rate_per_minute: int = 30
    message_rate_per_day: int = 0
    recipient_rate_per_minute: int = 0
    recipient_rate_per_day: int = 10_000
    max_hop_count: int = 100  # RFC 5321 6.3: more Received fields -> 554 5.4.6 (SmtpConfig)

    def __post_init__(self) -> None:
        for name in ("message_rate_per_minute", "message_rate_per_day", "recipient_rate_per_minute",
                     "recipient_rate_per_day"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 (unlimited) or more")
        if self.max_hop_count < 1:
            raise ValueError("max_hop_count must be at least 1")


class Window:
    """Counts in a sliding window of `period` seconds, in buckets of period/buckets."""

    __slots__ = ("width", "span", "buckets")

    def __init__(self, period: float) -> None:
        count = _BUCKETS[period]
        self.width = period / count
        self.span = count
        self.buckets: deque[list[int]] = deque()  # [bucket number, count], oldest first

    def total(self, now: float) -> int:
        """What was counted in the last period (and up to one bucket more)."""
        oldest = int(now // self.width) - self.span
        buckets = self.buckets
        while buckets and buckets[0][0] < oldest:
            buckets.popleft()
        return sum(count for _, count in buckets)

    def add(self, now: float) -> int:
        number = int(now // self.width)
        if self.buckets and self.buckets[-1][0] == number:
            self.buckets[-1][1] += 1
        else:
            self.buckets.append([number, 1])
        return number

    def remove(self, number: int) -> None:
        for bucket in self.buckets:
            if bucket[0] == number:
                bucket[1] -= 1
                return


class Usage:
    """One mailbox's four windows."""

    __slots__ = ("messages_minute", "messages_day", "recipients_minute", "recipients_day")

    def __init__(self) -> None:
        self.messages_minute, self.messages_day = Window(MINUTE), Window(DAY)
        self.recipients_minute, self.recipients_day = Window(MINUTE), Window(DAY)

    def idle(self, now: float) -> bool:
        return not any(w.total(now) for w in (self.messages_minute, self.messages_day, self.recipients_minute,
                                             self.recipients_day))


@dataclass
class Ticket:
    """One transaction's reservations: (window, bucket number) of each, given back by release."""

    mailbox: str
    held: list[tuple[Window, int]] = field(default_factory=list)


def _refusal(what: str, mailbox: str, limit: int, unit: str, period: str) -> Reply:
    return reply(450, "4.7.0", f"{what} rate limit exceeded: {mailbox} may submit {limit} {unit} per {period};"
                               " try again later")


class SubmissionQuota:
    """The per-mailbox counters of this node (one per SMTP service)."""

    def __init__(self, limits: SubmissionLimits | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits or SubmissionLimits()
        self.clock = clock
        self._usage: dict[str, Usage] = {}
        self._since_sweep = 0

    def configure(self, limits: SubmissionLimits) -> None:
        """New limits apply to the next reservation; what was counted stays counted."""
        self.limits = limits

    def _reserve(self, ticket: Ticket, what: str, unit: str,
                 checks: tuple[tuple[Window, int, str], ...]) -> Reply | None:
        """Reserve one in every window with a limit, or none at all: the refusal of the first full one."""
        now = self.clock()
        for window, limit, period in checks:
            if limit and window.total(now) + 1 > limit:
                return _refusal(what, ticket.mailbox, limit, unit, period)
        for window, limit, _ in checks:
            if limit:
                ticket.held.append((window, window.add(now)))
        return None

    def begin(self, mailbox: str) -> Ticket | Reply:
        """A message from `mailbox` starts (MAIL): its reservation, or the 450 4.7.0 refusal."""
        self._since_sweep += 1
        if self._since_sweep >= SWEEP_EVERY:
            self.sweep()
        key, limits = mailbox.lower(), self.limits
        usage = self._usage.get(key)
        if usage is None:
            usage = self._usage[key] = Usage()
        ticket = Ticket(key)
        refused = self._reserve(ticket, "Message", "messages", (
            (usage.messages_minute, limits.message_rate_per_minute, "minute"),
            (usage.messages_day, limits.message_rate_per_day, "day")))
        return refused if refused is not None else ticket

    def add_recipient(self, ticket: Ticket) -> Reply | None:
        """One more recipient for the ticket's message: None if within the limits, else the refusal."""
        usage = self._usage.get(ticket.mailbox)
        if usage is None:  # swept meanwhile (nothing held: the limits were 0)
            usage = self._usage[ticket.mailbox] = Usage()
        limits = self.limits
        return self._reserve(ticket, "Recipient", "recipients", (
            (usage.recipients_minute, limits.recipient_rate_per_minute, "minute"),
            (usage.recipients_day, limits.recipient_rate_per_day, "day")))

    def commit(self, ticket: Ticket) -> None:
        """The message was stored: what it reserved stays counted."""
        ticket.held = []

    def release(self, ticket: Ticket) -> None:
        """The transaction ended without a stored message: give back what it reserved."""
        for window, number in ticket.held:
            window.remove(number)
        ticket.held = []

    def counts(self, mailbox: str) -> dict[str, int]:
        """What `mailbox` has used in each window (for the doctor and tests)."""
        usage, now = self._usage.get(mailbox.lower()), self.clock()
        if usage is None:
            return {"messages_minute": 0, "messages_day": 0, "recipients_minute": 0, "recipients_day": 0}
        return {name: getattr(usage, name).total(now) for name in Usage.__slots__}

    def sweep(self) -> None:
        """Forget mailboxes with nothing counted any more (bounded memory)."""
        self._since_sweep = 0
        now = self.clock()
        for key in [k for k, usage in self._usage.items() if usage.idle(now)]:
            del self._usage[key]
