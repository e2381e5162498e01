"""Local delivery: who may receive, the trace headers we add, and the one durable write.

Pure helpers (recipient policy answers, trace headers, Message-ID lookup) plus `Delivery`,
which resolves recipients against the store (through a small cache that the node clears on
every configuration change) and hands a complete message to `Store.deliver_message`.
"""
from __future__ import annotations

import email.utils
import logging
import random
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Mapping, Sequence

from ..errors import NotFound, PostroomError, ValidationError
from ..model import (
    Mailbox, OutboundRecipient, OutboundSubmission, TrackingEvent, TrackingEventId, normalise_address,
)
from ..protocol.smtp import Envelope
from ..storage import DeliveryStore, SpooledBody

log = logging.getLogger("postroom.smtp")
MAILBOX_CACHE_SIZE = 10_000
_MESSAGE_ID = re.compile(rb"^message-id:[ \t]*(<[^>\r\n]{1,250}>)", re.IGNORECASE | re.MULTILINE)
HEADER_SCAN = 64 * 1024  # where to look for the Message-ID header


_ids = random.Random(secrets.randbits(128))  # seeded from the OS once: no system call per message


def new_queue_id() -> str:
    """48 random bits, 12 hex digits (unpredictability is not needed: ids are no secret; a
    collision is refused by the store as a conflict)."""
    return f"{_ids.getrandbits(48):012X}"


def message_id_of(content: bytes | memoryview) -> str:
    head = bytes(content[:HEADER_SCAN])
    end = head.find(b"\r\n\r\n")
    match = _MESSAGE_ID.search(head if end < 0 else head[: end + 2])
    return match.group(1).decode("ascii", "replace") if match else ""


@dataclass(frozen=True)
class Trace:
    """What the Received header says about the connection."""

    helo: str
    remote_ip: str
    fqdn: str
    protocol: str  # RFC 3848: ESMTP, ESMTPS, ESMTPA, ESMTPSA ...
    queue_id: str
    sender: str
    recipients: tuple[str, ...]
    tls_version: str | None = None
    date: str = ""


def trace_headers(trace: Trace) -> bytes:
    """Return-Path and Received (RFC 5321 4.4), folded, CRLF-terminated; `for` only with one
    recipient, so one stored copy serves every recipient without naming the others."""
    date = trace.date or _now_rfc5322()
    helo = _header_safe(trace.helo) or "unknown"
    lines = [
        f"Return-Path: <{_header_safe(trace.sender)}>",
        f"Received: from {helo} ([{trace.remote_ip}])",
        f"\tby {trace.fqdn} (postroom) with {trace.protocol} id {trace.queue_id}",
    ]
    if trace.tls_version:
        lines.append(f"\t(using {trace.tls_version})")
    if len(trace.recipients) == 1:
        lines.append(f"\tfor <{_header_safe(trace.recipients[0])}>")
    lines[-1] += ";"
    lines.append(f"\t{date}")
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def _header_safe(text: str) -> str:
    """Client-chosen text (HELO, addresses) must never start a new header line."""
    if text.isprintable() and "<" not in text and ">" not in text:  # the usual case, in C
        return text[:200]
    return "".join(c for c in text if c.isprintable() and c not in "<>")[:200]


_date_cache: tuple[int, str] = (-1, "")


def _now_rfc5322() -> str:
    """The Received header's date, "+0000" (not "-0000"): formatted once a second, not once a
    message."""
    global _date_cache
    now = datetime.now(timezone.utc)
    second = int(now.timestamp())
    if _date_cache[0] != second:
        _date_cache = (second, email.utils.format_datetime(now.replace(microsecond=0)))
    return _date_cache[1]


def split_recipients(envelope: Envelope, resolved: Mapping[str, Mailbox], relayed: Mapping[str, tuple[str, str]]
                     ) -> tuple[dict[int, Mailbox], dict[str, str | None], dict[str, OutboundRecipient]]:
    """An accepted transaction's recipients, as RCPT resolved them: the local mailboxes (one copy
    each, however named), those asking NOTIFY=SUCCESS (address -> ORCPT), and the remote
    recipients once each (relayed: address as given -> (address, queue) from the relay check)."""
    mailboxes: dict[int, Mailbox] = {}
    succeed: dict[str, str | None] = {}
    remote: dict[str, OutboundRecipient] = {}
    for index, address in enumerate(envelope.recipients):
        dsn = envelope.recipient_dsn(index)
        mailbox = resolved.get(address)
        if mailbox is not None:
            mailboxes.setdefault(mailbox.id, mailbox)
            if dsn.notify is not None and "SUCCESS" in dsn.notify.split(","):
                succeed.setdefault(mailbox.address, dsn.orcpt)
            continue
        relay = relayed.get(address)
        if relay is not None and relay[0] not in remote:
            remote[relay[0]] = OutboundRecipient(relay[0], dsn.orcpt, dsn.notify, relay[1])
    return mailboxes, succeed, remote


class Recipients:
    """Mailbox lookups for SMTP (RCPT and AUTH) and the accepted domains, cached until the
    configuration changes: every mailbox write bumps the config version, and the node then
    calls `reset`, so a new password or a removed mailbox is seen within half a second."""

    def __init__(self, store: DeliveryStore) -> None:
        self.store = store
        self.domains: frozenset[str] = frozenset()
        self._mailboxes: dict[str, Mailbox | None] = {}

    def reset(self, domains: Sequence[str]) -> None:
        """The configuration changed (mailboxes, domains): forget what we know."""
        self.domains = frozenset(domains)
        self._mailboxes = {}

    async def find(self, address: str) -> Mailbox | None:
        if address in self._mailboxes:
            return self._mailboxes[address]
        mailbox = await self.store.find_mailbox(address)
        if len(self._mailboxes) >= MAILBOX_CACHE_SIZE:
            self._mailboxes.clear()
        self._mailboxes[address] = mailbox
        return mailbox

    async def resolve(self, text: str) -> Mailbox | str:
        """The mailbox for an RCPT address, or why not: "relay:<domain>" or "unknown"."""
        if "@" not in text and text.lower() == "postmaster":  # RFC 5321 4.5.1: always accepted
            for domain in sorted(self.domains):
                mailbox = await self.find(f"postmaster@{domain}")
                if mailbox is not None:
                    return mailbox
            return "unknown"
        try:
            address = normalise_address(text)
        except ValidationError:
            domain = text.rpartition("@")[2].lower()
            return "unknown" if domain in self.domains else f"relay:{domain[:100]}"
        domain = address.rpartition("@")[2]
        if domain not in self.domains:
            return f"relay:{domain}"
        mailbox = await self.find(address)
        return mailbox if mailbox is not None else "unknown"


async def deliver(store: DeliveryStore, mailboxes: Sequence[Mailbox], data: bytes | memoryview,
                  events: list[TrackingEvent], head: bytes = b"", spooled: SpooledBody | None = None,
                  outbound: OutboundSubmission | None = None) -> list[Mailbox] | None:
    """One durable write of `head` + (`spooled` +) `data` for every mailbox, and the queued copy
    for the remote recipients (`outbound`), in one transaction; a mailbox removed since RCPT
    gets a FAIL row and the others still get the message. Returns the mailboxes that got it,
    or None when nothing was stored."""
    targets = list(mailboxes)
    while targets or outbound is not None:
        try:
            await store.deliver_message([m.id for m in targets], data, events + _deliver_rows(events, targets),
                                        head=head, spooled=spooled, outbound=outbound)
            return targets
        except NotFound:  # someone removed a mailbox between RCPT and end of data
            still = [m for m in targets if await store.find_mailbox(m.address) is not None]
            gone = [m for m in targets if m not in still]
            if not gone:
                raise
            events = events + [_fail_row(events[0], m.address, "550 5.1.1 mailbox removed during delivery")
                               for m in gone]
            targets = still
    await store.append_tracking(events)
    return None


def _deliver_rows(received: list[TrackingEvent], mailboxes: Sequence[Mailbox]) -> list[TrackingEvent]:
    if not received or not mailboxes:
        return []
    first = received[0]
    return [TrackingEvent(TrackingEventId.DELIVER, first.server, "STOREDRIVER", first.queue_id, first.message_id,
                          first.sender, m.address, "250 2.0.0 delivered", first.size, first.client_ip,
                          first.connector) for m in mailboxes]


def _fail_row(template: TrackingEvent, recipient: str, status: str) -> TrackingEvent:
    return TrackingEvent(TrackingEventId.FAIL, template.server, "STOREDRIVER", template.queue_id,
                         template.message_id, template.sender, recipient, status, template.size,
                         template.client_ip, template.connector)


async def track(store: DeliveryStore, events: Sequence[TrackingEvent]) -> None:
    """Best effort, off the reply path: a tracking row must never fail a session."""
    try:
        await store.append_tracking(events)
    except PostroomError as exc:
        log.warning("message tracking could not be written: %s", exc.message)
