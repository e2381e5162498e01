"""Delivery reports (server/outbound/reports.py): when RFC 3461 asks for one, and what success
reports ("delivered", "relayed") look like next to failures and delays."""
from __future__ import annotations

from datetime import datetime, timezone
from email import message_from_bytes

import pytest

from postroom.server.outbound.reports import (
    DELAYED, DELIVERED, FAILED, RELAYED, RecipientOutcome, ReportInput, build_report, report_due,
)

ORIGINAL = b"From: a@example.com\r\nSubject: hello\r\n\r\nthe body\r\n"
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


@pytest.mark.parametrize("notify, failed, delayed, success", [
    (None, True, True, False),  # the default: failures and delays, never success
    ("NEVER", False, False, False),
    ("SUCCESS", False, False, True),
    ("SUCCESS,FAILURE", True, False, True),
    ("FAILURE,DELAY", True, True, False),
    ("DELAY", False, True, False),
])
def test_report_due(notify, failed, delayed, success):
    assert report_due("a@example.com", notify, FAILED) is failed
    assert report_due("a@example.com", notify, DELAYED) is delayed
    assert report_due("a@example.com", notify, DELIVERED) is success
    assert report_due("a@example.com", notify, RELAYED) is success
    assert not any(report_due("", notify, action) for action in (FAILED, DELAYED, DELIVERED, RELAYED))


def report(action: str, ret: str | None = None, **kw) -> object:
    outcome = RecipientOutcome("b+x@example.net", action, "2.0.0" if action in (DELIVERED, RELAYED) else "5.1.1",
                               "250 2.0.0 Ok", "mx.example.net [192.0.2.1]", "rfc822;B+2Bx@example.net",
                               "2026-01-02T03:04:05+00:00")
    data = build_report(ReportInput("a@example.com", "mx.example.com", "Q1", "2026-01-02T03:00:00+00:00",
                                    [outcome], ORIGINAL, ret, kw.get("envid", "E+2B1"), "hello", NOW))
    return message_from_bytes(data)


def part(message, content_type: str) -> str:
    return next(p for p in message.walk() if p.get_content_type() == content_type).as_string()


@pytest.mark.parametrize("action, subject", [(DELIVERED, "Delivered: hello"), (RELAYED, "Relayed: hello"),
                                             (FAILED, "Undeliverable: hello")])
def test_subject_and_action(action, subject):
    message = report(action)
    assert message["Subject"] == subject
    status = part(message, "message/delivery-status")
    assert f"Action: {action}" in status
    # ORCPT and ENVID are kept decoded: shown as they are, never decoded a second time
    assert "Original-Recipient: rfc822; B+2Bx@example.net" in status
    assert "Original-Envelope-Id: E+2B1" in status


def test_success_reports_return_the_headers_unless_ret_full():
    assert "the body" not in part(report(RELAYED), "text/rfc822-headers")
    assert "the body" not in part(report(DELIVERED, "HDRS"), "text/rfc822-headers")
    assert "the body" in part(report(DELIVERED, "FULL"), "message/rfc822")
    assert "the body" in part(report(FAILED), "message/rfc822")  # failures: the whole message by default


def test_relayed_text_names_the_next_hop():
    text = part(report(RELAYED), "text/plain")
    assert "<b+x@example.net>: relayed to mx.example.net [192.0.2.1], which sends no delivery reports" in text
