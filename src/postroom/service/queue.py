"""The queue viewer: Exchange's Get-Queue, Get-Message, Retry-Queue, Suspend-/Resume-Queue,
Suspend-/Resume-Message, Remove-Message [-WithNDR] and Export-Message (Postfix: postqueue -p,
postqueue -f / -s, postsuper -h / -H / -d), on the organisation's one outbound queue.

Every role group reads (as Exchange's View-Only Management); acting needs server-management or
organization-management (Exchange's Queues role). Each action is audited in the same
transaction as the change it makes (AuditNote); an export, which changes nothing but hands out
a message's content, is audited on its own.
"""
from __future__ import annotations

import base64
from datetime import datetime, timezone
from typing import Any, AsyncIterator

from .. import dsn
from ..errors import Conflict, NotFound, ValidationError
from ..model import (
    POISON_QUEUE, MessageStatus, QueuedMessage, QueuedRecipient, QueueInfo, QueueKey, QueueStatus, TrackingEvent,
    TrackingEventId,
)
from ..model.queue import check_queue_id
from ..storage import queued_body_pieces
from ..validation import enum_value
from .context import READ, SERVER_CONFIG, Context
from .names import find_name

MAX_MESSAGES = 5000
ADMIN_DELETION = "5.3.0"
ADMIN_DELETION_REPLY = "550 5.3.0 Message deleted by an administrator"


# views -----------------------------------------------------------------------------------------
def queue_view(info: QueueInfo) -> dict[str, Any]:
    return info.to_dict()


def message_view(message: QueuedMessage) -> dict[str, Any]:
    """A queued message as Get-Message shows it; `in_delivery`: a worker holds it now."""
    view = message.to_dict()
    view["in_delivery"] = bool(message.lease_until and message.lease_until > _now())
    return view


def message_detail(message: QueuedMessage, recipients: list[QueuedRecipient]) -> dict[str, Any]:
    return {**message_view(message), "recipients": [r.to_dict() for r in recipients]}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


# reads -----------------------------------------------------------------------------------------
async def list_queues(ctx: Context) -> list[dict[str, Any]]:
    """Every queue with mail waiting (one per next hop), suspended queues, and `poison`."""
    await ctx.require(READ)
    return [queue_view(q) for q in await ctx.store.list_queues()]


async def list_messages(ctx: Context, queue: str | None = None, status: str | None = None,
                        limit: int = 1000) -> list[dict[str, Any]]:
    """Queued messages, oldest first: those with a recipient waiting in `queue` (`poison`: the
    poison messages), of `status` (active, suspended, poison)."""
    await ctx.require(READ)
    if status is not None:
        status = enum_value(MessageStatus, "status", status).value
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_MESSAGES:
        raise ValidationError("limit", f"{limit!r} is out of range (allowed: 1..{MAX_MESSAGES})")
    if queue is not None:
        queue = await _queue(ctx, queue, listed_only=True)
    return [message_view(m) for m in await ctx.store.list_queued_messages(queue, status, limit)]


async def show_message(ctx: Context, message_id: str) -> dict[str, Any]:
    """One queued message and every recipient: its queue, status, attempts, last reply."""
    await ctx.require(READ)
    message, recipients = await ctx.store.get_queued_message(check_queue_id(message_id))
    return message_detail(message, recipients)


# queue actions ---------------------------------------------------------------------------------
async def retry_queue(ctx: Context, name: str) -> dict[str, Any]:
    """Every recipient waiting in the queue is due now (Retry-Queue; postqueue -s)."""
    await ctx.require(SERVER_CONFIG, "queue.retry", f"queue/{name}")
    name = await _queue(ctx, name)
    if name == POISON_QUEUE:
        raise ValidationError("queue", "the poison queue is never retried: resume or remove its messages one by one")
    waiting = [await ctx.store.get_queued_message(m.id)
               for m in await ctx.store.list_queued_messages(name, MessageStatus.ACTIVE.value, MAX_MESSAGES)]
    count = await ctx.store.retry_queue(name, audit=ctx.change("queue.retry", f"queue/{name}", None,
                                                               lambda n: {"recipients_due_now": n}))
    await _resubmitted(ctx, [(message, [r for r in recipients if r.queue == name])
                             for message, recipients in waiting], "queue retried")
    return {**await _queue_after(ctx, name), "recipients_due_now": count}


async def suspend_queue(ctx: Context, name: str) -> dict[str, Any]:
    """No message of the queue is tried until it is resumed (Suspend-Queue)."""
    return await _set_queue(ctx, name, suspended=True)


async def resume_queue(ctx: Context, name: str) -> dict[str, Any]:
    """The queue's messages are tried again when due (Resume-Queue)."""
    return await _set_queue(ctx, name, suspended=False)


async def _set_queue(ctx: Context, name: str, *, suspended: bool) -> dict[str, Any]:
    action = "queue.suspend" if suspended else "queue.resume"
    await ctx.require(SERVER_CONFIG, action, f"queue/{name}")
    name = await _queue(ctx, name)
    if name == POISON_QUEUE:
        raise ValidationError("queue", "the poison queue cannot be suspended or resumed: resume or remove its "
                                       "messages one by one (postroom message resume|remove ID)")
    before = await _listed(ctx, name)
    was = before is not None and before["status"] == QueueStatus.SUSPENDED.value
    audit = ctx.change(action, f"queue/{name}", {"suspended": was}, {"suspended": suspended})
    if suspended:
        await ctx.store.suspend_queue(name, audit=audit)  # NotFound if the queue never existed
    else:
        await ctx.store.resume_queue(name, audit=audit)
    return await _queue_after(ctx, name)


# message actions -------------------------------------------------------------------------------
async def suspend_message(ctx: Context, message_id: str) -> dict[str, Any]:
    """The message is not tried until resumed (Suspend-Message; postsuper -h). A poison message
    cannot be suspended: resume it or remove it."""
    return await _set_message(ctx, message_id, MessageStatus.SUSPENDED)


async def resume_message(ctx: Context, message_id: str) -> dict[str, Any]:
    """A suspended or poison message is tried again (Resume-Message; postsuper -H)."""
    return await _set_message(ctx, message_id, MessageStatus.ACTIVE)


async def _set_message(ctx: Context, message_id: str, wanted: MessageStatus) -> dict[str, Any]:
    action = "message.suspend" if wanted == MessageStatus.SUSPENDED else "message.resume"
    await ctx.require(SERVER_CONFIG, action, f"message/{message_id}")
    message, _ = await ctx.store.get_queued_message(check_queue_id(message_id))
    if wanted == MessageStatus.SUSPENDED and message.status == MessageStatus.POISON:
        raise Conflict(f"queued message {message_id} is a poison message: it cannot be suspended; resume it "
                       f"(postroom message resume {message_id}) or remove it")
    audit = ctx.change(action, f"message/{message.id}", {"status": message.status.value}, {"status": wanted.value})
    if wanted == MessageStatus.SUSPENDED:
        await ctx.store.suspend_message(message.id, audit=audit)
    else:
        await ctx.store.resume_message(message.id, audit=audit)
    after, recipients = await ctx.store.get_queued_message(message.id)
    if wanted == MessageStatus.ACTIVE:
        await _resubmitted(ctx, [(after, recipients)], f"resumed from {message.status.value}")
    return message_detail(after, recipients)


async def _resubmitted(ctx: Context, messages: list[tuple[QueuedMessage, list[QueuedRecipient]]], why: str) -> None:
    """RESUBMIT tracking rows (Exchange's event for a message an admin sent on its way again):
    one per recipient still waiting, so `log tracking` shows the admin's hand between two
    DEFERs."""
    await ctx.store.append_tracking([
        TrackingEvent(TrackingEventId.RESUBMIT, ctx.local_server, "ADMIN", message.id, message.message_id_header,
                      message.sender, r.address, f"{why} by {ctx.caller.name}", message.size, "", "")
        for message, recipients in messages for r in recipients if r.status.pending])


async def remove_message(ctx: Context, message_id: str, *, with_ndr: bool = False) -> dict[str, Any]:
    """Remove a message from the queue (Remove-Message; postsuper -d). `with_ndr`: its sender
    gets a non-delivery report for every recipient still waiting (Remove-Message -WithNDR
    $true), unless the sender is `<>` or the recipient's NOTIFY asked for none. Answers the
    message as it was, with `ndr`: where the report went (mailbox, queued), why none was sent,
    or null without --ndr."""
    await ctx.require(SERVER_CONFIG, "message.remove", f"message/{message_id}")
    message, recipients = await ctx.store.get_queued_message(check_queue_id(message_id))
    original = dsn.without_return_path(await ctx.store.read_queued_body(message.id)) if with_ndr else b""
    before = {"sender": message.sender, "size": message.size, "status": message.status.value,
              "recipients": [r.address for r in recipients if r.status.pending]}
    message, recipients = await ctx.store.remove_message(message.id, audit=ctx.change(
        "message.remove", f"message/{message.id}", before, {"removed": True, "with_ndr": with_ndr}))
    view = message_detail(message, recipients)
    view["ndr"] = await _send_ndr(ctx, message, recipients, original) if with_ndr else None
    return view


async def _send_ndr(ctx: Context, message: QueuedMessage, recipients: list[QueuedRecipient], original: bytes) -> str:
    if not message.sender:
        return "not sent: the sender is <> (a report is never reported on)"
    outcomes = [dsn.RecipientOutcome(r.address, dsn.FAILED, ADMIN_DELETION, ADMIN_DELETION_REPLY, "", r.orcpt,
                                     r.last_attempt_at or _now())
                for r in recipients if r.status.pending and dsn.report_due(message.sender, r.notify, dsn.FAILED)]
    if not outcomes:
        return "not sent: no waiting recipient asked for a failure report (NOTIFY)"
    data = dsn.build_report(dsn.ReportInput(message.sender, await _fqdn(ctx), message.id, message.created_at,
                                            outcomes, original, message.ret, message.envid, dsn.subject_of(original)))
    where = await dsn.deliver_report(ctx.store, ctx.local_server, message.sender, data,
                                     connectors=await ctx.store.list_send_connectors(),
                                     domains=await ctx.store.list_domains())
    if where in (dsn.MAILBOX, dsn.QUEUED):
        await ctx.store.append_tracking([_dsn_row(ctx, message, o.address) for o in outcomes])
        return where
    return f"not sent: {where}"


async def _fqdn(ctx: Context) -> str:
    """The name reports are signed with: the local server's name (the worker uses its FQDN)."""
    for connector in await ctx.store.list_send_connectors():
        if connector.fqdn and ctx.local_server in connector.source_servers:
            return str(connector.fqdn)
    return ctx.local_server


def _dsn_row(ctx: Context, message: QueuedMessage, recipient: str) -> TrackingEvent:
    return TrackingEvent(TrackingEventId.DSN, ctx.local_server, "ADMIN", message.id, message.message_id_header,
                         message.sender, recipient, f"failed {ADMIN_DELETION} removed by {ctx.caller.name}",
                         message.size, "", "")


# export ----------------------------------------------------------------------------------------
async def export_message(ctx: Context, message_id: str) -> tuple[dict[str, Any], AsyncIterator[bytes]]:
    """A suspended message's octets as they would be sent (Export-Message: suspend it first),
    in pieces: the view of the message and an iterator over its content."""
    await ctx.require(SERVER_CONFIG, "message.export", f"message/{message_id}")
    message, recipients = await ctx.store.get_queued_message(check_queue_id(message_id))
    if message.status != MessageStatus.SUSPENDED:
        raise Conflict(f"queued message {message.id} is {message.status.value}: only a suspended message can be "
                       f"exported (postroom message suspend {message.id})")
    await ctx.audit("message.export", f"message/{message.id}", None, {"size": message.size})
    return message_detail(message, recipients), _as_sent(ctx, message)


async def _as_sent(ctx: Context, message: QueuedMessage) -> AsyncIterator[bytes]:
    first = True
    async for piece in queued_body_pieces(ctx.store, message):
        yield dsn.without_return_path(piece) if first else piece
        first = False


async def export_message_bytes(ctx: Context, message_id: str) -> tuple[dict[str, Any], bytes]:
    """export_message, whole (the CLI's --json carries it base64-encoded)."""
    view, pieces = await export_message(ctx, message_id)
    return view, b"".join([piece async for piece in pieces])


def encoded(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# helpers ---------------------------------------------------------------------------------------
def _queue_name(name: Any) -> str:
    if isinstance(name, str) and name == POISON_QUEUE:
        return name
    return QueueKey.parse(name).name


async def _queue(ctx: Context, name: str, *, listed_only: bool = False) -> str:
    """The queue `name` means: a listed queue by its whole name, its next hop (Exchange's
    `Server\\NextHopDomain` identity, e.g. partner.example) or a unique start of its name, in
    any case (names.py). A well-formed name listed nowhere is taken as typed (unless
    `listed_only`): the store knows queues that are empty now, and says if it does not."""
    if name == POISON_QUEUE:
        return name
    queues = await ctx.store.list_queues()
    try:
        return find_name([q.name for q in queues], name, kind="queue", field="queue",
                         aliases=[(q.next_hop, q.name) for q in queues])
    except NotFound:
        if listed_only or "/" not in name:
            raise
    return _queue_name(name)


async def _listed(ctx: Context, name: str) -> dict[str, Any] | None:
    for info in await ctx.store.list_queues():
        if info.name == name:
            return queue_view(info)
    return None


async def _queue_after(ctx: Context, name: str) -> dict[str, Any]:
    """The queue (known to exist) as list_queues shows it; one with no mail waiting and not
    suspended is listed no more (Exchange drops empty queues too): shown empty, ready."""
    listed = await _listed(ctx, name)
    if listed is not None:
        return listed
    key = QueueKey.parse(name)
    return queue_view(QueueInfo(name, key.delivery_type, key.next_hop, QueueStatus.READY, 0, None, None,
                                key.connector))
