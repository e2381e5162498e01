"""Transport settings per server (Exchange's Get-/Set-TransportService): the resolver used for
delivery, retry and expiry timers, outbound connection limits, the hop limit and the
per-mailbox submission rates. Changed with the server right (Exchange: Server Management and
Organization Management), read by every role group; a server reads as the defaults until set.
"""
from __future__ import annotations

from typing import Any

from ..errors import ValidationError
from ..settings_table import Changes
from .context import READ, SERVER_CONFIG, Context


async def show_transport(ctx: Context, server: str | None = None) -> dict[str, Any]:
    await ctx.require(READ)
    name = ctx.server_name(server)
    return {"server": name, **(await ctx.store.get_transport_settings(name)).to_dict()}


async def set_transport(ctx: Context, server: str | None, changes: Changes) -> dict[str, Any]:
    """Validate every change first; nothing is written unless all of them are acceptable.
    `changes` holds transport settings only (`TransportSettings.changes(...)`)."""
    name = ctx.server_name(server)
    target = f"server/{name}/transport"
    await ctx.require(SERVER_CONFIG, "transport.set", target)
    if not changes:
        raise ValidationError("transport", "nothing to change: give at least one transport setting")
    before = await ctx.store.get_transport_settings(name)
    after = before.apply(changes)
    if after != before:
        old, new = before.to_dict(), after.to_dict()
        changed = [key for key in new if old[key] != new[key]]
        await ctx.store.put_transport_settings(name, after, audit=ctx.change(
            "transport.set", target, {k: old[k] for k in changed}, {k: new[k] for k in changed}))
    return {"server": name, **after.to_dict()}
