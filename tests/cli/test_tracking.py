"""`postroom log tracking`: message tracking (RECEIVE, DELIVER, FAIL), filtered as Exchange's
Get-MessageTrackingLog is: by sender, recipient, Message-ID and start time."""
from __future__ import annotations

from typing import Any

import pytest

from postroom.model import TrackingEvent, TrackingEventId

from .conftest import Admin, flat

RECEIVE, DELIVER, FAIL = TrackingEventId.RECEIVE, TrackingEventId.DELIVER, TrackingEventId.FAIL


def message(message_id: str) -> bytes:
    return f"Message-ID: {message_id}\r\nSubject: test\r\n\r\nhello\r\n".encode()


def seed_delivery(admin: Admin, queue_id: str, sender: str, recipients: list[str], message_id: str) -> None:
    """What the SMTP service records for one accepted message: RECEIVE and DELIVER per recipient,
    stored with the message in one transaction."""
    async def write(store: Any) -> None:
        boxes = [await store.get_mailbox(r) for r in recipients]
        data = message(message_id)
        events = [TrackingEvent(RECEIVE, "EX01", "SMTP", queue_id, message_id, sender, r, "250 2.1.5",
                                len(data), "192.0.2.7", "Default EX01") for r in recipients]
        events += [TrackingEvent(DELIVER, "EX01", "STOREDRIVER", queue_id, message_id, sender, r, "250 2.0.0",
                                 len(data), "192.0.2.7", "Default EX01") for r in recipients]
        await store.deliver_message([b.id for b in boxes], data, events)
    admin.peek(write)


def seed_failure(admin: Admin, queue_id: str, sender: str, recipient: str, message_id: str = "") -> None:
    """A recipient refused at RCPT time: a FAIL row with no delivery."""
    async def write(store: Any) -> None:
        await store.append_tracking([TrackingEvent(FAIL, "EX01", "SMTP", queue_id, message_id, sender, recipient,
                                                   "550 5.1.1 unknown mailbox", 0, "192.0.2.9", "Default EX01")])
    admin.peek(write)


def tracking(admin: Admin, *args: str) -> list[dict[str, Any]]:
    return admin.json("log", "tracking", *args)


def summary(rows: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(r["event_id"], r["queue_id"], r["recipient"]) for r in rows]


@pytest.fixture
def seeded(admin: Admin) -> Admin:
    admin.new_mailbox("alice@example.com")
    admin.new_mailbox("bob@example.com")
    seed_delivery(admin, "Q1", "carol@partner.example", ["alice@example.com"], "<one@partner.example>")
    seed_failure(admin, "Q2", "Mallory@Spam.example", "nobody@example.com")
    seed_delivery(admin, "Q3", "alice@example.com", ["bob@example.com", "demo@example.com"], "<two@example.com>")
    seed_delivery(admin, "Q4", "", ["alice@example.com"], "<bounce@example.com>")  # a bounce: null sender
    return admin


def test_tracking_is_empty_after_init(admin: Admin) -> None:
    assert tracking(admin) == []


def test_all_events_oldest_first_with_every_field(seeded: Admin) -> None:
    rows = tracking(seeded)
    assert summary(rows) == [
        ("RECEIVE", "Q1", "alice@example.com"), ("DELIVER", "Q1", "alice@example.com"),
        ("FAIL", "Q2", "nobody@example.com"),
        ("RECEIVE", "Q3", "bob@example.com"), ("RECEIVE", "Q3", "demo@example.com"),
        ("DELIVER", "Q3", "bob@example.com"), ("DELIVER", "Q3", "demo@example.com"),
        ("RECEIVE", "Q4", "alice@example.com"), ("DELIVER", "Q4", "alice@example.com"),
    ]
    first = rows[0]
    assert {k: first[k] for k in ("server", "source", "message_id", "sender", "status", "client_ip", "connector")} == {
        "server": "EX01", "source": "SMTP", "message_id": "<one@partner.example>", "sender": "carol@partner.example",
        "status": "250 2.1.5", "client_ip": "192.0.2.7", "connector": "Default EX01"}
    assert first["size"] == len(message("<one@partner.example>")) and first["at"] and first["id"]
    assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)


def test_filter_by_sender_any_case(seeded: Admin) -> None:
    assert {r["queue_id"] for r in tracking(seeded, "--sender", "alice@example.com")} == {"Q3"}
    assert summary(tracking(seeded, "--sender", "MALLORY@spam.example")) == [("FAIL", "Q2", "nobody@example.com")]
    assert tracking(seeded, "--sender", "nobody@example.com") == []


def test_filter_by_null_sender(seeded: Admin) -> None:
    assert {r["queue_id"] for r in tracking(seeded, "--sender", "<>")} == {"Q4"}


def test_filter_by_recipient(seeded: Admin) -> None:
    assert summary(tracking(seeded, "--recipient", "Alice@Example.com")) == [
        ("RECEIVE", "Q1", "alice@example.com"), ("DELIVER", "Q1", "alice@example.com"),
        ("RECEIVE", "Q4", "alice@example.com"), ("DELIVER", "Q4", "alice@example.com"),
    ]
    assert summary(tracking(seeded, "--recipient", "nobody@example.com")) == [("FAIL", "Q2", "nobody@example.com")]


@pytest.mark.parametrize("message_id", ["<two@example.com>", "two@example.com", " <two@example.com> "])
def test_filter_by_message_id_with_or_without_brackets(seeded: Admin, message_id: str) -> None:
    rows = tracking(seeded, "--message-id", message_id)
    assert {r["queue_id"] for r in rows} == {"Q3"} and len(rows) == 4


def test_filters_combine(seeded: Admin) -> None:
    rows = tracking(seeded, "--sender", "alice@example.com", "--recipient", "bob@example.com")
    assert summary(rows) == [("RECEIVE", "Q3", "bob@example.com"), ("DELIVER", "Q3", "bob@example.com")]
    assert tracking(seeded, "--sender", "alice@example.com", "--message-id", "<one@partner.example>") == []


def test_since_iso_time_and_relative_duration(seeded: Admin) -> None:
    rows = tracking(seeded)
    start_of_q3 = next(r["at"] for r in rows if r["queue_id"] == "Q3")
    later = tracking(seeded, "--since", start_of_q3)
    assert {r["queue_id"] for r in later} == {"Q3", "Q4"}
    zulu = start_of_q3.replace("+00:00", "Z")
    assert tracking(seeded, "--since", zulu) == later
    assert len(tracking(seeded, "--since", "1h")) == len(rows)
    assert len(tracking(seeded, "--since", "30m")) == len(rows)
    assert len(tracking(seeded, "--since", "2d")) == len(rows)
    assert tracking(seeded, "--since", "2999-01-01") == []
    assert len(tracking(seeded, "--since", "2000-01-01T00:00:00+02:00")) == len(rows)


def test_limit_keeps_the_newest_rows_oldest_first(seeded: Admin) -> None:
    rows = tracking(seeded, "--limit", "3")
    assert summary(rows) == [("DELIVER", "Q3", "demo@example.com"), ("RECEIVE", "Q4", "alice@example.com"),
                             ("DELIVER", "Q4", "alice@example.com")]


def test_human_table_columns(seeded: Admin) -> None:
    out = flat(seeded.ok("log", "tracking", "--recipient", "nobody@example.com").stdout)
    for column in ("time", "event", "queue id", "sender", "recipient", "status"):
        assert column in out
    assert "FAIL" in out and "Q2" in out and "550 5.1.1 unknown mailbox" in out
    assert "mallory@spam.example" in out.lower()


@pytest.mark.parametrize("args,option,fragments", [
    (["--since", "yesterday"], "since", ["ISO-8601", "1h"]),
    (["--since", "1x"], "since", ["ISO-8601"]),
    (["--since", "-1h"], "since", ["ISO-8601"]),
    (["--since", "2024-13-01"], "since", ["ISO-8601"]),
    (["--since", "99999999999999d"], "since", []),
    (["--sender", "not-an-address"], "sender", ["email address"]),
    (["--sender", "alice@"], "sender", ["email address"]),
    (["--recipient", "bob"], "recipient", ["email address"]),
    (["--message-id", ""], "message-id", ["Message-ID"]),
    (["--message-id", "a b@c"], "message-id", ["Message-ID"]),
    (["--limit", "0"], "limit", ["1..100000"]),
    (["--limit", "100001"], "limit", ["1..100000"]),
], ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_bad_filters_are_refused_naming_the_option(seeded: Admin, args: list[str], option: str,
                                                   fragments: list[str]) -> None:
    result = seeded.fails(2, "log", "tracking", *args)
    message = flat(result.stderr)
    assert message.startswith(f"error: {option}:"), message
    for fragment in fragments:
        assert fragment in message, message
