"""Delivery status notifications (RFC 3464 multipart/report, RFC 3463 status codes).

Given what happened to some recipients of one queued message, build the report to send back
to its sender, in wire form (CRLF line ends): pure (`build_report`). The delivery worker
(server/outbound/) decides when a report is due (`report_due`); the queue viewer's
`message remove --ndr` (service/queue.py) sends one too: both hand it to `deliver_report`,
which puts it in the sender's mailbox when the sender is ours, or queues it from the null
sender `<>`, so a report about a report is never sent.

Below the server and service layers, which both use it (neither imports the other).

Exchange calls these NDRs ("Undeliverable:") and delay DSNs ("Delivery delayed:"); Postfix's
texts differ, the structure is the same: a human part, a message/delivery-status part with one
block per recipient, and the original message (RET=FULL, the default for failures) or its
headers only (RET=HDRS, delay notices, or an original too big to send back).

Success reports (RFC 3461 NOTIFY=SUCCESS only): "Delivered:" (Action: delivered, the message
is in a mailbox here) and "Relayed:" (Action: relayed, handed to a next hop that does not offer
DSN, so no report can follow from there); headers only unless the sender asked for RET=FULL.
The ORCPT and ENVID values are kept decoded (the SMTP core decodes their xtext).
"""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.header import Header
from email.utils import format_datetime
from typing import Any, Sequence

from .errors import NotFound
from .model import OutboundRecipient, OutboundSubmission, QueueKey, SendConnector, route

FAILED, DELAYED, EXPIRED = "failed", "delayed", "expired"
DELIVERED, RELAYED = "delivered", "relayed"  # success reports (NOTIFY=SUCCESS)
SUCCESS_ACTIONS = (DELIVERED, RELAYED)
# An original bigger than this goes back as its headers only (Postfix's bounce_size_limit is
# 50 KB; Exchange returns the whole message; a report must stay deliverable).
FULL_ORIGINAL_LIMIT = 10 * 1024 * 1024


@dataclass(frozen=True)
class RecipientOutcome:
    """One recipient's line in the report."""

    address: str
    action: str  # FAILED, DELAYED (EXPIRED is reported as failed with 4.4.7), DELIVERED or RELAYED
    status: str  # RFC 3463 code, e.g. 5.1.1
    diagnostic: str = ""  # the remote reply, "550 5.1.1 <x>: user unknown", or our own words
    remote_mta: str = ""  # the host that answered, when one did
    orcpt: str | None = None  # the ORCPT parameter as received, decoded ("rfc822;x+tag@y")
    last_attempt: str = ""  # ISO-8601
    will_retry_until: str = ""  # ISO-8601, delay notices only


@dataclass(frozen=True)
class ReportInput:
    sender: str  # the original envelope sender: the report's recipient (never empty)
    reporting_mta: str  # our FQDN
    queue_id: str
    arrival: str  # ISO-8601, when we accepted the message
    recipients: Sequence[RecipientOutcome]
    original: bytes  # the original message in wire form (its headers are enough for HDRS)
    ret: str | None = None  # FULL or HDRS as the submitter asked (RFC 3461), None: not said
    envid: str | None = None  # decoded
    subject: str = ""  # the original Subject, unfolded
    now: datetime | None = None
    boundary: str = field(default="")


def report_due(sender: str, notify: str | None, action: str) -> bool:
    """RFC 3461: NOTIFY=NEVER asks for nothing; NOTIFY listing neither FAILURE nor DELAY asks
    for neither; without NOTIFY, failures are reported and delays too (Exchange and Postfix
    both send delay notices by default), successes never (only NOTIFY=SUCCESS asks for one).
    Never to the null sender."""
    if not sender:
        return False
    success = action in SUCCESS_ACTIONS
    if notify is None:
        return not success
    wanted = {part.strip().upper() for part in notify.split(",")}
    if "NEVER" in wanted:
        return False
    return ("SUCCESS" if success else "DELAY" if action == DELAYED else "FAILURE") in wanted


def build_report(report: ReportInput) -> bytes:
    """The whole report message, CRLF line ends, ready to queue or store."""
    now = report.now or datetime.now(timezone.utc)
    actions = {r.action for r in report.recipients}
    delayed = actions == {DELAYED}
    success = actions <= set(SUCCESS_ACTIONS)
    boundary = report.boundary or f"=_postroom_{secrets.token_hex(12)}"
    subject_prefix = ("Delivery delayed" if delayed else "Relayed" if actions == {RELAYED}
                      else "Delivered" if success else "Undeliverable")
    subject = f"{subject_prefix}: {report.subject}" if report.subject else subject_prefix
    headers = [
        f"From: Mail Delivery System <MAILER-DAEMON@{report.reporting_mta}>",
        f"To: <{report.sender}>",
        f"Subject: {_header_text(subject)}",
        f"Date: {format_datetime(now)}",
        f"Message-ID: <{secrets.token_hex(10)}.{report.queue_id}@{report.reporting_mta}>",
        "Auto-Submitted: auto-replied",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary="{boundary}"',
    ]
    original, original_type = _original_part(report, delayed or (success and report.ret != "FULL"))
    human = _success_text(report) if success else _human_text(report, delayed)
    parts = [
        _part("text/plain; charset=us-ascii", human.encode("ascii", "replace")),
        _part("message/delivery-status", _status_fields(report)),
        _part(original_type, original),
    ]
    out = "\r\n".join(headers).encode("ascii", "replace") + b"\r\n\r\n"
    out += b"This is a MIME-encapsulated message.\r\n\r\n"
    for part in parts:
        out += f"--{boundary}\r\n".encode() + part + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return out


def _part(content_type: str, body: bytes) -> bytes:
    head = f"Content-Type: {content_type}\r\n"
    if content_type.startswith("text/plain"):
        head += "Content-Description: Notification\r\n"
    elif content_type == "message/delivery-status":
        head += "Content-Description: Delivery report\r\n"
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    return head.encode() + b"\r\n" + body


def _human_text(report: ReportInput, delayed: bool) -> str:
    if delayed:
        lines = [
            f"This is the mail system at {report.reporting_mta}.",
            "",
            "Your message could not be delivered yet to the recipients below. The server",
            "keeps trying; you do not need to send it again.",
            "",
        ]
    else:
        lines = [
            f"This is the mail system at {report.reporting_mta}.",
            "",
            "Your message could not be delivered to one or more recipients. It is attached",
            "below (or its headers, for a large message).",
            "",
        ]
    for r in report.recipients:
        reason = r.diagnostic or r.status
        via = f" (reply from {r.remote_mta})" if r.remote_mta else ""
        lines.append(f"<{r.address}>: {reason}{via}")
        if r.will_retry_until:
            lines.append(f"    will keep trying until {r.will_retry_until}")
    return "\r\n".join(lines) + "\r\n"


def _success_text(report: ReportInput) -> str:
    lines = [f"This is the mail system at {report.reporting_mta}.", "",
             "Your message was delivered to the recipients below, as you asked (NOTIFY=SUCCESS).", ""]
    for r in report.recipients:
        if r.action == RELAYED:
            via = f" {r.remote_mta}" if r.remote_mta else ""
            lines.append(f"<{r.address}>: relayed to{via or ' the next server'}, which sends no delivery reports")
        else:
            lines.append(f"<{r.address}>: delivered to the mailbox")
    return "\r\n".join(lines) + "\r\n"


def _status_fields(report: ReportInput) -> bytes:
    head = [f"Reporting-MTA: dns; {report.reporting_mta}", f"X-Postroom-Queue-ID: {report.queue_id}"]
    if report.envid:
        head.append(f"Original-Envelope-Id: {_one_line(report.envid)}")
    head.append(f"Arrival-Date: {_rfc5322(report.arrival)}")
    blocks = ["\r\n".join(head)]
    for r in report.recipients:
        fields = []
        if r.orcpt:
            kind, _, value = r.orcpt.partition(";")
            fields.append(f"Original-Recipient: {kind.strip() or 'rfc822'}; {_one_line(value.strip())}")
        fields += [f"Final-Recipient: rfc822; {r.address}", f"Action: {r.action}", f"Status: {r.status}"]
        if r.remote_mta:
            fields.append(f"Remote-MTA: dns; {r.remote_mta}")
        if r.diagnostic:
            fields.append(f"Diagnostic-Code: smtp; {_one_line(r.diagnostic)}")
        if r.last_attempt:
            fields.append(f"Last-Attempt-Date: {_rfc5322(r.last_attempt)}")
        if r.will_retry_until:
            fields.append(f"Will-Retry-Until: {_rfc5322(r.will_retry_until)}")
        blocks.append("\r\n".join(fields))
    return ("\r\n\r\n".join(blocks) + "\r\n").encode("utf-8", "replace")


def _original_part(report: ReportInput, headers: bool) -> tuple[bytes, str]:
    headers_only = headers or report.ret == "HDRS" or len(report.original) > FULL_ORIGINAL_LIMIT
    if not headers_only:
        return report.original, "message/rfc822"
    end = report.original.find(b"\r\n\r\n")
    head = report.original if end < 0 else report.original[: end + 2]
    return head, "text/rfc822-headers"


def _one_line(text: str) -> str:
    return " ".join(text.replace("\r", " ").replace("\n", " ").split())[:998]


def _header_text(text: str) -> str:
    """A Subject we can put back in a header: one line, ASCII (non-ASCII as an RFC 2047 word)."""
    text = _one_line(text)[:900]
    try:
        text.encode("ascii")
        return text
    except UnicodeEncodeError:
        return Header(text, "utf-8").encode()


def _rfc5322(iso: str) -> str:
    try:
        when = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return format_datetime(when)


# what a queued message looks like as it leaves ----------------------------------------------

def without_return_path(body: bytes) -> bytes:
    """The stored copy starts with the Return-Path the final delivery adds (local mailboxes share
    it); a relay must not pass it on (RFC 5321 4.4), so it goes, with any folded lines."""
    if body[:12].lower() != b"return-path:":
        return body
    end = body.find(b"\r\n")
    while end >= 0 and body[end + 2:end + 3] in (b" ", b"\t"):
        end = body.find(b"\r\n", end + 2)
    return body[end + 2:] if end >= 0 else body


def subject_of(original: bytes) -> str:
    """The message's Subject, unfolded ("" without one): what a report's subject quotes."""
    end = original.find(b"\r\n\r\n")
    head = original if end < 0 else original[:end]
    lines = head.split(b"\r\n")
    for i, line in enumerate(lines):
        if line[:8].lower() == b"subject:":
            value = line[8:]
            for more in lines[i + 1:]:
                if more[:1] in (b" ", b"\t"):
                    value += b" " + more.strip()
                else:
                    break
            return value.decode("utf-8", "replace").strip()
    return ""


_MESSAGE_ID = re.compile(rb"^message-id:[ \t]*(<[^>\r\n]{1,250}>)", re.IGNORECASE | re.MULTILINE)


def _message_id(data: bytes) -> str:
    end = data.find(b"\r\n\r\n")
    match = _MESSAGE_ID.search(data if end < 0 else data[: end + 2])
    return match.group(1).decode("ascii", "replace") if match else ""


# where a report goes ---------------------------------------------------------------------------

MAILBOX, QUEUED = "mailbox", "queued"  # deliver_report's answers when the report went somewhere


def report_queue(found: Any) -> str:
    """The queue (next hop) of a route: one per smart-host connector, one per domain and DNS connector."""
    if not found.connector.dns_routing:
        return QueueKey.smart_host(found.connector.name).name
    return QueueKey.dns(found.next_hop_domain, found.connector.name).name


async def deliver_report(store: Any, server: str, sender: str, data: bytes, *,
                         connectors: Sequence[SendConnector], domains: Sequence[str] | frozenset[str]) -> str:
    """Deliver the report `data` to `sender` (never the null sender): into its mailbox when its
    domain is one of ours (`domains`), else queued from `<>` on the connector that routes its
    domain from `server`. Returns MAILBOX or QUEUED, or why it went nowhere (no such mailbox, no
    send connector): a report that cannot be delivered is dropped, never bounced."""
    domain = sender.rpartition("@")[2].lower()
    if domain in {d.lower() for d in domains}:
        mailbox = await store.find_mailbox(sender.lower())
        if mailbox is None:
            return f"no mailbox {sender}"
        try:
            await store.deliver_message([mailbox.id], data)
        except NotFound:
            return f"mailbox {sender} removed"
        return MAILBOX
    found = route(connectors, domain, server)
    if found is None:
        return f"no send connector routes {domain} from {server}"
    submission = OutboundSubmission("", [OutboundRecipient(sender, None, "NEVER", report_queue(found))],
                                    origin_server=server, message_id_header=_message_id(data))
    await store.deliver_message([], data, outbound=submission)
    return QUEUED
