"""A mailbox's messages as an administrator sees them: the list (id, size, arrival, subject,
sender), one message's exact stored octets, and deleting one (Dovecot's `doveadm fetch` and
`doveadm expunge`; Exchange's admin access to a mailbox).

Who may: recipient-management and organization-management (the recipients right), for all
three. A listing shows subjects and senders, which are the mail's content as much as its body
is, so it is not for view-only or server-management; a mailbox's message count and size stay
in `mailbox show` for every role.

Audited, as Exchange audits an administrator's access to a mailbox that is not theirs (folder
bind, message bind, hard delete): each listing, each message read and each deletion, refusals
included. An entry names the message (id, UIDL, size, arrival), never its subject or sender:
every role reads the audit log.

Deleting takes the mailbox's POP3 lock (the one a POP3 session holds from login to QUIT, on
every node and from any process): while a session holds it, the deletion is refused, because
the session numbered its messages at login and will apply its own deletions at QUIT.
"""
from __future__ import annotations

import email.header
import re
import uuid
from typing import Any

from ..errors import Conflict, NotFound, ValidationError
from ..model import Mailbox, MessageInfo
from ..validation import _MAX_INT32
from .context import RECIPIENTS, Context
from .mailboxes import _stored

HEAD_OCTETS = 64 * 1024  # read for a listing: the header section of nearly every message
MAX_LISTED = 10000
SUMMARY_FIELDS = ("date", "subject", "from")


# reading a header section ------------------------------------------------------------------
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _one_line(text: str) -> str:
    """One line of text in which no control character reaches a terminal (an escape sequence
    in a Subject shows as U+FFFD)."""
    return _CONTROLS.sub("\ufffd", " ".join(text.split()))[:998]


def header_summary(head: bytes) -> dict[str, str | None]:
    """Date, Subject and From of a message's start as written, unfolded, RFC 2047 words decoded
    (octets that are not UTF-8 as U+FFFD), on one line; None for a field the message lacks
    (the first of each counts). Whatever the bytes, this answers."""
    end = head.find(b"\r\n\r\n")
    found: dict[str, bytes] = {}
    current: str | None = None
    for line in (head if end < 0 else head[:end]).split(b"\r\n"):
        if line[:1] in (b" ", b"\t"):  # a folded continuation of the line above
            if current is not None:
                found[current] += b" " + line.strip()
            continue
        name, colon, value = line.partition(b":")
        key = name.strip().lower().decode("ascii", "replace")
        current = key if colon and key in SUMMARY_FIELDS and key not in found else None
        if current is not None:
            found[current] = value.strip()
    return {name: _one_line(_decoded(found[name].decode("utf-8", "replace"))) if name in found else None
            for name in SUMMARY_FIELDS}


def _decoded(value: str) -> str:
    try:
        return str(email.header.make_header(email.header.decode_header(value)))
    except Exception:  # not a valid encoded word (an unknown charset, bad base64): as written
        return value


# views --------------------------------------------------------------------------------------
def message_view(info: MessageInfo) -> dict[str, Any]:
    """What identifies a message, and what an audit entry records of it: no content."""
    return {"id": info.id, "uidl": info.uidl, "size": info.size, "received_at": info.received_at}


def message_id(value: Any) -> int:
    """A message's id as `mailbox messages` lists it: a whole number from 1."""
    text = str(value).strip()
    if isinstance(value, bool) or not text.isdigit() or not 1 <= int(text) <= 2 ** 63 - 1:
        raise ValidationError("id", f"{value!r} is not a message id (a whole number, as "
                                    "`postroom mailbox messages ADDRESS` lists them)")
    return int(text)


def _target(address: str, number: Any = None) -> str:
    return f"mailbox/{address}" if number is None else f"mailbox/{address}/message/{number}"


async def _info(ctx: Context, mailbox: Mailbox, number: int) -> MessageInfo:
    found = next((m for m in await ctx.store.list_messages(mailbox.id) if m.id == number), None)
    if found is None:
        error = NotFound("message", str(number))
        error.message = (f"mailbox {mailbox.address} has no message {number} "
                         f"(`postroom mailbox messages {mailbox.address}` lists them)")
        error.args = (error.message,)
        raise error
    return found


# operations ---------------------------------------------------------------------------------
async def list_messages(ctx: Context, address: str, offset: int = 0, limit: int = 1000) -> dict[str, Any]:
    """The mailbox's messages, oldest first (POP3's order), each with its Date, Subject and From."""
    await ctx.require(RECIPIENTS, "mailbox.messages", _target(address))
    if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= _MAX_INT32:
        raise ValidationError("offset", f"{offset!r} is out of range (allowed: 0..{_MAX_INT32})")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LISTED:
        raise ValidationError("limit", f"{limit!r} is out of range (allowed: 1..{MAX_LISTED})")
    mailbox = await _stored(ctx, address)
    infos = await ctx.store.list_messages(mailbox.id)
    items = []
    for info in infos[offset:offset + limit]:
        try:
            head = await ctx.store.read_message(mailbox.id, info.id, HEAD_OCTETS)
        except NotFound:  # gone since the list was read (a POP3 QUIT): not listed
            continue
        items.append({**message_view(info), **header_summary(head)})
    await ctx.audit("mailbox.messages", _target(mailbox.address), None,
                    {"offset": offset, "listed": len(items), "total": len(infos)})
    return {"address": mailbox.address, "total": len(infos), "octets": sum(m.size for m in infos),
            "offset": offset, "items": items}


async def fetch_message(ctx: Context, address: str, number: Any) -> tuple[dict[str, Any], bytes]:
    """One message's view and its exact stored octets (what POP3 RETR sends, before dot-stuffing)."""
    await ctx.require(RECIPIENTS, "mailbox.message.fetch", _target(address, number))
    number = message_id(number)
    mailbox = await _stored(ctx, address)
    info = await _info(ctx, mailbox, number)
    data = await ctx.store.read_message(mailbox.id, info.id)
    view = message_view(info)
    await ctx.audit("mailbox.message.fetch", _target(mailbox.address, info.id), None, view)
    return {"address": mailbox.address, **view, **header_summary(data[:HEAD_OCTETS])}, data


async def delete_message(ctx: Context, address: str, number: Any) -> dict[str, Any]:
    """Remove one message (doveadm expunge); Conflict while a POP3 session holds the mailbox."""
    await ctx.require(RECIPIENTS, "mailbox.message.delete", _target(address, number))
    number = message_id(number)
    mailbox = await _stored(ctx, address)
    holder = f"admin/{ctx.caller.name}/{uuid.uuid4().hex[:12]}"
    if not await ctx.store.try_lock_mailbox(mailbox.id, holder):
        raise Conflict(f"mailbox {mailbox.address} is in use by a POP3 session, which holds its lock until it "
                       "ends (QUIT or time-out); nothing was deleted: try again once the session has ended")
    try:
        info = await _info(ctx, mailbox, number)
        view = message_view(info)
        await ctx.store.delete_messages(mailbox.id, [info.id], audit=ctx.change(
            "mailbox.message.delete", _target(mailbox.address, info.id), view, None))
    finally:
        await ctx.store.unlock_mailbox(mailbox.id, holder)
    return {"address": mailbox.address, **view, "deleted": True}
