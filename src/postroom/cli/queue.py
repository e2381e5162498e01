"""`postroom queue list|messages|retry|suspend|resume` (Exchange: Get-Queue, Get-Message,
Retry-Queue, Suspend-/Resume-Queue; Postfix: postqueue -p, postqueue -s) and
`postroom message show|suspend|resume|remove|export` (Get-Message, Suspend-/Resume-Message,
Remove-Message [-WithNDR], Export-Message; Postfix: postcat -q, postsuper -h/-H/-d).

cli/__init__.py adds queue_app and message_app to the `postroom` app.
"""
from __future__ import annotations

import sys
from typing import Annotated, Any, Optional

import typer

from ..errors import ValidationError
from ..service import queue as queue_ops
from .common import DEFAULT_DATA, Data, Json, fail, run
from .output import console, emit, show_record, show_table

queue_app = typer.Typer(help="The outbound queues, one per next hop (Exchange: Get-Queue, Retry-Queue).",
                        no_args_is_help=True)
message_app = typer.Typer(help="Messages in the outbound queue (Exchange: Get-Message, Suspend-Message, "
                               "Remove-Message, Export-Message).", no_args_is_help=True)

QUEUE_COLUMNS = ["name", "delivery_type", "status", "message_count", "next_retry_at", "last_error"]
MESSAGE_COLUMNS = ["id", "status", "sender", "size", "created_at", "in_delivery", "origin_server"]
RECIPIENT_COLUMNS = ["address", "status", "queue", "attempts", "next_attempt_at", "last_reply"]
QueueName = Annotated[str, typer.Argument(help="Queue name as `queue list` shows it, e.g. "
                                               "dns-connector-delivery/partner.example/Internet.")]
MessageId = Annotated[str, typer.Argument(help="Queue id of the message (12 hex digits), as `queue messages` "
                                               "shows it.")]


@queue_app.command("list")
def queue_list(data: Data = DEFAULT_DATA, json_out: Json = False) -> None:
    """Every queue (one per next hop) with mail waiting, suspended queues, and `poison` (Exchange:
    Get-Queue; Postfix: postqueue -p)."""
    rows = run(data, lambda ctx: queue_ops.list_queues(ctx))
    if json_out:
        emit(rows)
    elif not rows:
        console.print("The outbound queue is empty.")
    else:
        show_table(rows, QUEUE_COLUMNS)


@queue_app.command("messages")
def queue_messages(data: Data = DEFAULT_DATA, json_out: Json = False,
                   queue: Annotated[Optional[str], typer.Option(help="Only messages waiting in this queue "
                                                                     "(`poison`: the poison messages).")] = None,
                   status: Annotated[Optional[str], typer.Option(metavar="active|suspended|poison",
                                                                 help="Only messages in this state.")] = None,
                   limit: Annotated[int, typer.Option(metavar="N", help="At most this many, oldest first.")] = 1000,
                   ) -> None:
    """Queued messages, oldest first (Exchange: Get-Message)."""
    rows = run(data, lambda ctx: queue_ops.list_messages(ctx, queue, status, limit))
    if json_out:
        emit(rows)
    elif not rows:
        console.print("No queued message matches.")
    else:
        show_table([{**r, "sender": r["sender"] or "<>"} for r in rows], MESSAGE_COLUMNS)


@queue_app.command("retry")
def queue_retry(name: QueueName, data: Data = DEFAULT_DATA, json_out: Json = False) -> None:
    """Try every message waiting in the queue now (Exchange: Retry-Queue; Postfix: postqueue -s)."""
    view = run(data, lambda ctx: queue_ops.retry_queue(ctx, name))
    emit(view) if json_out else console.print(
        f"Queue {view['name']}: {view['recipients_due_now']} recipient(s) due now; status {view['status']}")


@queue_app.command("suspend")
def queue_suspend(name: QueueName, data: Data = DEFAULT_DATA, json_out: Json = False) -> None:
    """Stop delivering the queue's messages until it is resumed (Exchange: Suspend-Queue)."""
    view = run(data, lambda ctx: queue_ops.suspend_queue(ctx, name))
    emit(view) if json_out else console.print(f"Queue {view['name']} is {view['status']}")


@queue_app.command("resume")
def queue_resume(name: QueueName, data: Data = DEFAULT_DATA, json_out: Json = False) -> None:
    """Deliver the queue's messages again (Exchange: Resume-Queue)."""
    view = run(data, lambda ctx: queue_ops.resume_queue(ctx, name))
    emit(view) if json_out else console.print(f"Queue {view['name']} is {view['status']}")


def _show_message(view: dict[str, Any]) -> None:
    record = {k: v for k, v in view.items() if k != "recipients"}
    record["sender"] = record["sender"] or "<>"
    show_record(record)
    show_table(view["recipients"], RECIPIENT_COLUMNS)


@message_app.command("show")
def message_show(message_id: MessageId, data: Data = DEFAULT_DATA, json_out: Json = False) -> None:
    """A queued message and each recipient: queue, status, attempts, next attempt, last reply."""
    view = run(data, lambda ctx: queue_ops.show_message(ctx, message_id))
    emit(view) if json_out else _show_message(view)


@message_app.command("suspend")
def message_suspend(message_id: MessageId, data: Data = DEFAULT_DATA, json_out: Json = False) -> None:
    """Keep the message from delivery until resumed (Exchange: Suspend-Message; Postfix: postsuper -h)."""
    view = run(data, lambda ctx: queue_ops.suspend_message(ctx, message_id))
    emit(view) if json_out else console.print(f"Message {view['id']} is {view['status']}")


@message_app.command("resume")
def message_resume(message_id: MessageId, data: Data = DEFAULT_DATA, json_out: Json = False) -> None:
    """Deliver a suspended or poison message again (Exchange: Resume-Message; Postfix: postsuper -H)."""
    view = run(data, lambda ctx: queue_ops.resume_message(ctx, message_id))
    emit(view) if json_out else console.print(f"Message {view['id']} is {view['status']}")


@message_app.command("remove")
def message_remove(message_id: MessageId, data: Data = DEFAULT_DATA, json_out: Json = False,
                   ndr: Annotated[bool, typer.Option("--ndr", help="Send the sender a non-delivery report "
                                                                   "(Exchange: -WithNDR $true).")] = False) -> None:
    """Remove a message from the queue (Exchange: Remove-Message; Postfix: postsuper -d)."""
    view = run(data, lambda ctx: queue_ops.remove_message(ctx, message_id, with_ndr=ndr))
    if json_out:
        emit(view)
        return
    console.print(f"Removed message {view['id']}")
    if view["ndr"] in ("mailbox", "queued"):
        console.print(f"Non-delivery report to <{view['sender']}>: {view['ndr']}")
    elif view["ndr"]:
        console.print(f"Non-delivery report {view['ndr']}")


@message_app.command("export")
def message_export(message_id: MessageId, data: Data = DEFAULT_DATA, json_out: Json = False,
                   output: Annotated[Optional[str], typer.Option(
                       "--output", "-o", help="Write to this file (default: standard output).")] = None) -> None:
    """The octets of a suspended message as they would be sent (Exchange: Export-Message; suspend
    it first). --json prints the message's details with the content base64-encoded, or the file."""
    view, content = run(data, lambda ctx: queue_ops.export_message_bytes(ctx, message_id))
    if output is not None:
        try:
            with open(output, "wb") as handle:
                handle.write(content)
        except OSError as exc:
            raise fail(ValidationError("output", f"cannot write {output}: {exc.strerror}")) from None
        if json_out:
            emit({"id": view["id"], "size": len(content), "output": output})
        else:
            console.print(f"Exported message {view['id']} ({len(content)} octets) to {output}")
        return
    if json_out:
        emit({"id": view["id"], "size": len(content), "content_base64": queue_ops.encoded(content)})
        return
    sys.stdout.flush()
    sys.stdout.buffer.write(content)
    sys.stdout.buffer.flush()
