"""The outbound queue: Exchange's Get-Queue, Retry-/Suspend-/Resume-Queue, Get-Message,
Suspend-/Resume-/Remove-Message and Export-Message. Queue names hold slashes
(dns-connector-delivery/partner.example/Internet): they go in the path as they are (or with
%2F), before the action."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import StreamingResponse

from ..service import queue as queue_ops
from .errors import ERROR_RESPONSES
from .security import AdminRoute, Ctx
from .views import QueuedMessageDetail, QueuedMessageRemoved, QueuedMessageView, QueueRetried, QueueView, documented

router = APIRouter(prefix="/api/v1", route_class=AdminRoute)
QueueName = Annotated[str, Path(description="A queue's name as GET /api/v1/queues lists it, its next hop "
                                            "(partner.example) or the start of exactly one name",
                                examples=["dns-connector-delivery/partner.example/Internet"])]
MessageId = Annotated[str, Path(description="A queued message's queue id (12 hex digits)", examples=["3F2A9C01B7E4"])]
QueueFilter = Annotated[str | None, Query(description="Only messages waiting in this queue (`poison`: the poison "
                                                      "messages)")]
StatusFilter = Annotated[str | None, Query(description="active, suspended or poison")]
Limit = Annotated[int, Query(description="At most this many, oldest first (1..5000)")]
Ndr = Annotated[bool, Query(description="Send the sender a non-delivery report (Exchange: -WithNDR $true)")]


class MessageResponse(StreamingResponse):
    media_type = "message/rfc822"


# The errors stay JSON (the one error shape) on an operation whose success is not JSON.
JSON_ERRORS: dict[int | str, dict[str, Any]] = {code: {**{k: v for k, v in answer.items() if k != "model"},
                      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}}
               for code, answer in ERROR_RESPONSES.items()}
EXPORTED: dict[int | str, dict[str, Any]] = {
    200: {"content": {"message/rfc822": {"schema": {"type": "string", "format": "binary"}}},
          "description": "The message's octets as they would be sent"}}


@router.get("/queues", tags=["queues"], **documented(list[QueueView]))
async def list_queues(ctx: Ctx) -> Any:
    """Every queue with mail waiting (one per next hop), suspended queues, and `poison`
    (Exchange: Get-Queue; Postfix: postqueue -p)."""
    return await queue_ops.list_queues(ctx)


@router.post("/queues/{name:path}/retry", tags=["queues"], **documented(QueueRetried))
async def retry_queue(name: QueueName, ctx: Ctx) -> Any:
    """Make every recipient waiting in the queue due now (Exchange: Retry-Queue; Postfix: postqueue -s)."""
    return await queue_ops.retry_queue(ctx, name)


@router.post("/queues/{name:path}/suspend", tags=["queues"], **documented(QueueView))
async def suspend_queue(name: QueueName, ctx: Ctx) -> Any:
    """Deliver none of the queue's messages until it is resumed (Exchange: Suspend-Queue)."""
    return await queue_ops.suspend_queue(ctx, name)


@router.post("/queues/{name:path}/resume", tags=["queues"], **documented(QueueView))
async def resume_queue(name: QueueName, ctx: Ctx) -> Any:
    """Deliver the queue's messages again (Exchange: Resume-Queue)."""
    return await queue_ops.resume_queue(ctx, name)


@router.get("/queue-messages", tags=["queues"], **documented(list[QueuedMessageView]))
async def list_queued_messages(ctx: Ctx, queue: QueueFilter = None, status: StatusFilter = None,
                               limit: Limit = 1000) -> Any:
    """Queued messages, oldest first (Exchange: Get-Message)."""
    return await queue_ops.list_messages(ctx, queue, status, limit)


@router.get("/queue-messages/{message_id}", tags=["queues"], **documented(QueuedMessageDetail))
async def show_queued_message(message_id: MessageId, ctx: Ctx) -> Any:
    """A queued message and each of its recipients (Exchange: Get-Message -IncludeRecipientInfo)."""
    return await queue_ops.show_message(ctx, message_id)


@router.post("/queue-messages/{message_id}/suspend", tags=["queues"], **documented(QueuedMessageDetail))
async def suspend_queued_message(message_id: MessageId, ctx: Ctx) -> Any:
    """Keep the message from delivery until resumed; 409 for a poison message (Exchange: Suspend-Message)."""
    return await queue_ops.suspend_message(ctx, message_id)


@router.post("/queue-messages/{message_id}/resume", tags=["queues"], **documented(QueuedMessageDetail))
async def resume_queued_message(message_id: MessageId, ctx: Ctx) -> Any:
    """Deliver a suspended or poison message again (Exchange: Resume-Message)."""
    return await queue_ops.resume_message(ctx, message_id)


@router.delete("/queue-messages/{message_id}", tags=["queues"], **documented(QueuedMessageRemoved))
async def remove_queued_message(message_id: MessageId, ctx: Ctx, ndr: Ndr = False) -> Any:
    """Remove a message from the queue, with a non-delivery report to its sender if `ndr`
    (Exchange: Remove-Message -WithNDR)."""
    return await queue_ops.remove_message(ctx, message_id, with_ndr=ndr)


@router.get("/queue-messages/{message_id}/export", tags=["queues"], response_model=None,
            response_class=MessageResponse, responses={**JSON_ERRORS, **EXPORTED})
async def export_queued_message(message_id: MessageId, ctx: Ctx) -> MessageResponse:
    """A suspended message's octets as they would be sent; 409 unless suspended (Exchange: Export-Message)."""
    view, pieces = await queue_ops.export_message(ctx, message_id)
    return MessageResponse(pieces, media_type="message/rfc822",
                             headers={"Content-Disposition": f'attachment; filename="{view["id"]}.eml"'})
