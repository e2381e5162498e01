"""Mailboxes (Exchange: Recipient Configuration > Mailbox, and Set-CASMailbox for POP3 and IMAP4)."""
from __future__ import annotations

import asyncio
from typing import Any, Callable

from ..auth import hash_password
from ..errors import ValidationError
from ..model import Mailbox, MailboxFeatures, normalise_address
from ..settings_table import Changes
from ..validation import _MAX_INT32, check_display_name, utf8_text
from .context import READ, RECIPIENTS, Context

IMPORT_BATCH = 200  # messages per transaction: big enough to amortise fsync, small enough for progress


def mailbox_view(mailbox: Mailbox) -> dict[str, Any]:
    """What admins see: never the password hash."""
    return {
        "address": mailbox.address,
        "display_name": mailbox.display_name,
        "enabled": mailbox.enabled,
        "pop_enabled": mailbox.pop_enabled,
        "imap_enabled": mailbox.imap_enabled,
        "send_as": list(mailbox.send_as),
        "password_set": mailbox.password_hash is not None,
        "created_at": mailbox.created_at,
    }


def check_password(password: str) -> str:
    if not password:
        raise ValidationError("password", "must not be empty")
    utf8_text("password", password)
    if len(password) > 256:
        raise ValidationError("password", "must be at most 256 characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in password):
        raise ValidationError("password", "must not contain control characters (a POP3 client could not send it)")
    return password


async def _stored(ctx: Context, address: str) -> Mailbox:
    """The mailbox named `address` (NotFound if none). One created before addresses were
    checked as RFC 5321 mailboxes (a..b@example.com) can still be named as stored, so that it
    can be shown, changed or removed; anything else must be a valid address."""
    try:
        return await ctx.store.get_mailbox(normalise_address(address))
    except ValidationError:
        legacy = str(address).strip().lower()
        mailbox = await ctx.store.find_mailbox(legacy) if "@" in legacy and len(legacy) <= 320 else None
        if mailbox is None:
            raise
        return mailbox


async def _hash(password: str) -> str:
    # argon2id costs tens of milliseconds: keep it off the event loop.
    return await asyncio.to_thread(hash_password, check_password(password))


async def new_mailbox(ctx: Context, address: str, password: str, *, display_name: str | None = None,
                      pop_enabled: bool = True, enabled: bool = True, imap_enabled: bool = True) -> dict[str, Any]:
    await ctx.require(RECIPIENTS, "mailbox.new", f"mailbox/{address}")
    address = normalise_address(address)
    local, _, domain = address.rpartition("@")
    name = check_display_name(display_name) if display_name else local.strip('"')  # "" or None: not given
    if domain not in await ctx.store.list_domains():
        raise ValidationError(
            "address", f"{domain} is not an accepted domain; add it first with: postroom domain add {domain}"
        )
    mailbox = await ctx.store.create_mailbox(
        address, name, await _hash(password),
        enabled=enabled, pop_enabled=pop_enabled, imap_enabled=imap_enabled,
        audit=ctx.change("mailbox.new", f"mailbox/{address}", None, mailbox_view),
    )
    view = mailbox_view(mailbox)
    return view


async def list_mailboxes(ctx: Context, search: str | None = None, offset: int = 0,
                         limit: int | None = None) -> dict[str, Any]:
    await ctx.require(READ)
    if not 0 <= offset <= _MAX_INT32:
        raise ValidationError("offset", f"{offset} is out of range (allowed: 0..{_MAX_INT32})")
    if limit is not None and not 1 <= limit <= _MAX_INT32:
        raise ValidationError("limit", f"{limit} is out of range (allowed: 1..{_MAX_INT32})")
    items = await ctx.store.list_mailboxes(search, offset, limit)
    total = await ctx.store.count_mailboxes(search)
    return {"total": total, "offset": offset, "items": [mailbox_view(m) for m in items]}


async def show_mailbox(ctx: Context, address: str) -> dict[str, Any]:
    await ctx.require(READ)
    mailbox = await _stored(ctx, address)
    count, octets = await ctx.store.mailbox_usage(mailbox.id)
    return {**mailbox_view(mailbox), "messages": count, "octets": octets}


async def set_mailbox(ctx: Context, address: str, changes: Changes) -> dict[str, Any]:
    """Change a mailbox's features (the table `MailboxFeatures` declares them)."""
    await ctx.require(RECIPIENTS, "mailbox.set", f"mailbox/{address}")
    table = MailboxFeatures.table()
    clean = {name: table.parse(name, value) for name, value in changes.of(table).items()}
    before = await _stored(ctx, address)
    address = before.address
    if not clean:
        raise ValidationError("mailbox", "nothing to change: give pop_enabled (--pop-enabled), imap_enabled "
                                         "(--imap-enabled), enabled (--enabled/--disabled), display_name "
                                         "(--display-name) or send_as (--send-as)")
    after = await ctx.store.update_mailbox(
        address, **clean, audit=ctx.change("mailbox.set", f"mailbox/{address}", mailbox_view(before), mailbox_view))
    return mailbox_view(after)


async def set_password(ctx: Context, address: str, password: str) -> dict[str, Any]:
    await ctx.require(RECIPIENTS, "mailbox.password", f"mailbox/{address}")
    address = (await _stored(ctx, address)).address
    after = await ctx.store.update_mailbox(address, password_hash=await _hash(password), audit=ctx.change(
        "mailbox.password", f"mailbox/{address}", None, {"password_set": True}))
    return mailbox_view(after)


async def remove_mailbox(ctx: Context, address: str) -> dict[str, Any]:
    await ctx.require(RECIPIENTS, "mailbox.remove", f"mailbox/{address}")
    before = await _stored(ctx, address)
    address = before.address
    count, _ = await ctx.store.mailbox_usage(before.id)
    await ctx.store.remove_mailbox(address, audit=ctx.change(
        "mailbox.remove", f"mailbox/{address}", {**mailbox_view(before), "messages": count}, None))
    return {**mailbox_view(before), "messages_removed": count}


async def import_messages(ctx: Context, address: str, path: str,
                          progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Load an mbox file, a Maildir or .eml files; each batch is durable before the next is read."""
    from .. import mailsource

    await ctx.require(RECIPIENTS, "mailbox.import", f"mailbox/{address}")
    mailbox = await _stored(ctx, address)
    address = mailbox.address
    kind = mailsource.detect(path)
    total = await asyncio.to_thread(mailsource.count_messages, path)
    imported = 0
    batch: list[bytes] = []
    iterator = mailsource.iter_messages(path)
    while True:
        message = await asyncio.to_thread(next, iterator, None)
        if message is not None:
            batch.append(message)
        if batch and (message is None or len(batch) >= IMPORT_BATCH):
            await ctx.store.deliver_many(mailbox.id, batch)
            imported += len(batch)
            batch = []
            if progress:
                progress(imported, total)
        if message is None:
            break
    await ctx.audit("mailbox.import", f"mailbox/{address}", None, {"path": path, "format": kind, "messages": imported})
    return {"address": address, "format": kind, "imported": imported}
