"""Success reports for local deliveries (RFC 3461 NOTIFY=SUCCESS): once a message is stored in
the mailboxes of recipients that asked for one, its sender gets a "Delivered:" report
(Action: delivered, Status: 2.0.0), sent like every report (reports_queue.ReportSender: into
the sender's mailbox when it is ours, else queued from <>). Best effort: the message is stored
and answered 250 already; a report that cannot be made is logged, never retried.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Mapping

from ...errors import PostroomError
from ...model import TrackingEvent, TrackingEventId
from .reports import DELIVERED, RecipientOutcome, ReportInput, build_report, subject_of
from .schedule import to_iso

log = logging.getLogger("postroom.outbound")


@dataclass(frozen=True)
class Received:
    """What ReportSender.submit needs to know of the message reported on."""

    id: str


async def report_delivered(reports: Any, store: Any, server: str, fqdn: str, queue_id: str, message_id: str,
                           envelope: Any, recipients: Mapping[str, str | None], original: bytes, *,
                           full: bool = True) -> None:
    """Send `envelope.sender` the report that the message `queue_id` reached `recipients`
    (mailbox address -> ORCPT). `original`: the message as stored (its headers at least;
    `full` False: only its headers are known, so RET=FULL gets the headers too)."""
    sender = envelope.sender
    if not sender or not recipients:
        return  # never a report to <>
    when = to_iso(time.time())
    outcomes = [RecipientOutcome(address, DELIVERED, "2.0.0", "250 2.6.0 delivered to the mailbox", "", orcpt, when)
                for address, orcpt in recipients.items()]
    ret = envelope.ret if full else "HDRS"
    data = build_report(ReportInput(sender, fqdn, queue_id, when, outcomes, original, ret, envelope.envid,
                                    subject_of(original)))
    try:
        await reports.submit(sender, data, Received(queue_id))
        await store.append_tracking([
            TrackingEvent(TrackingEventId.DSN, server, "SMTP", queue_id, message_id, sender, o.address,
                          f"{o.action} {o.status}", len(data), "", "") for o in outcomes])
    except PostroomError as exc:
        log.warning("smtp: the success report on %s to %s could not be sent: %s", queue_id, sender, exc.message)
    except Exception:  # a bug: the message is delivered, the report is lost; say so
        log.exception("smtp: the success report on %s to %s failed", queue_id, sender)

