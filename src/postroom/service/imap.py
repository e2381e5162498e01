"""IMAP4 settings per server (Exchange's Get-/Set-ImapSettings), checked and audited exactly as
POP3's (service/pop.py). The node that serves the server applies them live, with the `imap4`
service's state (`store.get_imap_settings(server)`)."""
from __future__ import annotations

from typing import Any

from ..errors import ValidationError
from ..model import ImapSettings
from ..settings_table import Changes
from .certificates import check_new_certificate, resolve_certificate_changes
from .client_access import check_consistent, check_new_bindings, diff
from .context import READ, SERVER_CONFIG, Context
from .services import wait_for_node


async def show_imap(ctx: Context, server: str | None = None) -> dict[str, Any]:
    await ctx.require(READ)
    name = ctx.server_name(server)
    settings = await ctx.store.get_imap_settings(name)
    return {"server": name, **settings.to_dict()}


async def set_imap(ctx: Context, server: str | None, changes: Changes) -> dict[str, Any]:
    """Validate every change first; nothing is written unless all of them are acceptable.
    `changes` holds IMAP settings only (`ImapSettings.changes(...)`)."""
    await ctx.require(SERVER_CONFIG, "imap.set", f"server/{ctx.server_name(server)}/imap")
    name = ctx.server_name(server)
    if not changes:
        raise ValidationError("imap", "nothing to change: give at least one IMAP4 setting")
    before = await ctx.store.get_imap_settings(name)
    after = before.with_changes(**resolve_certificate_changes(ctx, dict(changes.of(ImapSettings.table()))))
    check_consistent(after, "imap4")
    await check_new_bindings(ctx, name, "imap4", before, after)
    check_new_certificate((before.certificate, before.certificate_key), (after.certificate, after.certificate_key))
    if after != before:
        await ctx.store.put_imap_settings(name, after, audit=ctx.change(
            "imap.set", f"server/{name}/imap", diff(before, after, before), diff(before, after, after)))
        await wait_for_node(ctx, name, await ctx.store.get_service(name, "imap4"))  # see pop.set_pop
    return {"server": name, **after.to_dict()}
