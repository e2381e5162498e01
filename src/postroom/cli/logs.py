"""`postroom log audit` (who changed what, through which channel, and refusals) and
`postroom log tracking` (Exchange's Get-MessageTrackingLog).

cli/__init__.py adds log_app to the `postroom` app.
"""
from __future__ import annotations

from typing import Annotated, Optional

import typer

from ..service import logs as log_ops
from .common import DEFAULT_DATA, Data, Json, opt, run
from .output import emit, show_table

log_app = typer.Typer(help="Logs: the audit log of admin changes (Exchange: Search-AdminAuditLog) and message "
                           "tracking (Get-MessageTrackingLog).", no_args_is_help=True)


@log_app.command("audit")
def log_audit(data: Data = DEFAULT_DATA, json_out: Json = False,
              limit: Annotated[int, opt("Newest entries to show.", "N")] = 50,
              target: Annotated[Optional[str], opt("Only this target, e.g. mailbox/alice@example.com.")] = None,
              actor: Annotated[Optional[str], opt("Only this principal (local-operator for the CLI).", "NAME")] = None,
              action: Annotated[Optional[str], opt("Only this action, e.g. pop.set or mailbox.new.")] = None,
              channel: Annotated[Optional[str], opt("Only changes made through it.", "cli|api|console")] = None,
              outcome: Annotated[Optional[str], opt("Only changes made, or only refusals.", "success|refused")] = None,
              since: Annotated[Optional[str], opt("ISO-8601 time or a duration back from now: 30m, 1h, 2d.",
                                                  "TIME")] = None,
              ) -> None:
    """Who changed what, through which channel, with the values before and after, and refusals
    (Exchange: Search-AdminAuditLog)."""
    rows = run(data, lambda ctx: log_ops.list_audit(ctx, limit, target, actor=actor, action=action, channel=channel,
                                                    outcome=outcome, since=since))
    emit(rows) if json_out else show_table(rows, ["at", "actor", "channel", "action", "target", "outcome", "before",
                                                  "after"])


TRACKING_COLUMNS = {"time": "at", "event": "event_id", "queue_id": "queue_id", "sender": "sender",
                    "recipient": "recipient", "status": "status"}  # outbound: the reply [next hop host [address]]


@log_app.command("tracking")
def log_tracking(data: Data = DEFAULT_DATA, json_out: Json = False,
                 sender: Annotated[Optional[str], opt("Envelope sender (MAIL FROM); <> for bounces.", "ADDRESS")
                                   ] = None,
                 recipient: Annotated[Optional[str], opt("Recipient address.", "ADDRESS")] = None,
                 message_id: Annotated[Optional[str], opt("Message-ID header, e.g. <1234@example.com>.", "ID")] = None,
                 since: Annotated[Optional[str], opt("ISO-8601 time (UTC unless it has an offset) "
                                                      "or a duration back from now: 30m, 1h, 2d.", "TIME")] = None,
                 event: Annotated[Optional[str], opt("Only this event: RECEIVE, DELIVER, FAIL, SEND, DEFER, DSN, "
                                                     "RESUBMIT or POISONMESSAGE.")] = None,
                 queue_id: Annotated[Optional[str], opt("Only this message's queue id (the id in `250 ... queued "
                                                         "as`).", "ID")] = None,
                 limit: Annotated[int, opt("Newest matching events to show (oldest first).", "N")] = 1000) -> None:
    """What happened to messages (Exchange: Get-MessageTrackingLog): RECEIVE, DELIVER and FAIL;
    for mail sent out SEND, DEFER, FAIL with the next hop's reply and host, DSN (a report to the
    sender), RESUBMIT and POISONMESSAGE."""
    rows = run(data, lambda ctx: log_ops.list_tracking(ctx, sender, recipient, message_id, since, limit,
                                                       event_id=event, queue_id=queue_id))
    if json_out:
        emit(rows)
        return
    show_table([{label: row[key] for label, key in TRACKING_COLUMNS.items()} for row in rows], list(TRACKING_COLUMNS))
