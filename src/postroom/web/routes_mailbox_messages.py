"""A mailbox's messages (Dovecot's doveadm fetch and expunge; the CLI's `postroom mailbox
messages` and `postroom mailbox message ID --raw|--delete`): recipient-management and
organization-management only, every use audited (service/mailbox_messages.py)."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from ..service import mailbox_messages as message_ops
from .bodies import Address
from .routes_queue import JSON_ERRORS
from .security import AdminRoute, Ctx
from .views import documented

router = APIRouter(prefix="/api/v1", route_class=AdminRoute)
MessageId = Annotated[int, Path(description="A message's id as GET /api/v1/mailboxes/{address}/messages lists it",
                                ge=1, le=2 ** 63 - 1, examples=[1])]
Offset = Annotated[int, Query(description="Skip this many (oldest first)", ge=0, le=2 ** 31 - 1)]
Limit = Annotated[int, Query(description=f"At most this many (1..{message_ops.MAX_LISTED})", ge=1,
                             le=message_ops.MAX_LISTED)]
FETCHED: dict[int | str, dict[str, Any]] = {
    200: {"content": {"message/rfc822": {"schema": {"type": "string", "format": "binary"}}},
          "description": "The message's exact stored octets"}}


class MailboxMessageView(BaseModel):
    id: int
    uidl: str
    size: int  # octets, as POP3 LIST counts them
    received_at: str  # when it arrived (ISO-8601 UTC)
    date: str | None  # its Date header, as written (None: none)
    subject: str | None
    from_: str | None = Field(alias="from")


class MailboxMessagePage(BaseModel):
    address: str
    total: int
    octets: int
    offset: int
    items: list[MailboxMessageView]


class MailboxMessageDeleted(BaseModel):
    address: str
    id: int
    uidl: str
    size: int
    received_at: str
    deleted: bool


class MessageResponse(Response):
    media_type = "message/rfc822"


@router.get("/mailboxes/{address}/messages", tags=["mailboxes"], **documented(MailboxMessagePage))
async def list_mailbox_messages(address: Address, ctx: Ctx, offset: Offset = 0, limit: Limit = 1000) -> Any:
    """The mailbox's messages, oldest first, with their Date, Subject and From (doveadm fetch);
    audited."""
    return await message_ops.list_messages(ctx, address, offset, limit)


@router.get("/mailboxes/{address}/messages/{message_id}", tags=["mailboxes"], response_model=None,
            response_class=MessageResponse, responses={**JSON_ERRORS, **FETCHED})
async def fetch_mailbox_message(address: Address, message_id: MessageId, ctx: Ctx) -> MessageResponse:
    """The message's exact stored octets (doveadm fetch text); audited."""
    view, content = await message_ops.fetch_message(ctx, address, message_id)
    return MessageResponse(content, headers={"Content-Disposition": f'attachment; filename="{view["id"]}.eml"'})


@router.delete("/mailboxes/{address}/messages/{message_id}", tags=["mailboxes"],
               **documented(MailboxMessageDeleted))
async def delete_mailbox_message(address: Address, message_id: MessageId, ctx: Ctx) -> Any:
    """Delete the message (doveadm expunge); 409 while a POP3 session holds the mailbox. Audited."""
    return await message_ops.delete_message(ctx, address, message_id)
