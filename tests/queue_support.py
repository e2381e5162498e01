"""Queued messages for the queue viewer's tests (service, CLI, API, console): put in the store
directly, as an SMTP session would have queued them, with fixed queue ids so that two copies
of one install (the CLI/API parity test) hold the same messages."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from postroom.model import OutboundSubmission, QueueKey

PARTNER = QueueKey.dns("partner.example", "Internet")
OTHER = QueueKey.dns("other.example", "Internet")
ACTIVE_ID, SUSPENDED_ID, BOUNCE_ID = "0A0000000001", "0A0000000002", "0A0000000003"
SENDER = "demo@example.com"  # a mailbox of every test install: an NDR lands in it
HEAD = b"Return-Path: <demo@example.com>\r\nReceived: from client.example ([192.0.2.1]) by EX01\r\n"


def body(subject: str, to: str) -> bytes:
    return (f"From: Demo <{SENDER}>\r\nTo: <{to}>\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject.replace(' ', '-').lower()}@example.com>\r\n\r\nHello {to}.\r\n").encode()


def now() -> str:
    return datetime.now(timezone.utc).isoformat()


async def fill_queue(store: Any) -> None:
    """Three messages: one active for partner.example; one suspended for partner.example and
    other.example (two queues); one from <> (a report) for other.example."""
    await store.deliver_message([], body("Quarterly report", "bob@partner.example"), head=HEAD, outbound=(
        OutboundSubmission(SENDER, [("bob@partner.example", None, None, PARTNER)], queue_id=ACTIVE_ID,
                           origin_server="EX01", message_id_header="<quarterly-report@example.com>", at=now())))
    await store.deliver_message([], body("Held invoice", "carol@partner.example"), head=HEAD, outbound=(
        OutboundSubmission(SENDER, [("carol@partner.example", "rfc822;carol@partner.example", None, PARTNER),
                                    ("dan@other.example", None, "NEVER", OTHER)],
                           queue_id=SUSPENDED_ID, origin_server="EX01",
                           message_id_header="<held-invoice@example.com>", at=now())))
    await store.suspend_message(SUSPENDED_ID)
    await store.deliver_message([], body("Undeliverable", "erin@other.example"), outbound=(
        OutboundSubmission("", [("erin@other.example", None, "NEVER", OTHER)], queue_id=BOUNCE_ID,
                           origin_server="EX01", at=now())))
