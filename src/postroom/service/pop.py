"""POP3 settings per server (Exchange's Get-/Set-PopSettings)."""
from __future__ import annotations

from typing import Any

from ..errors import ValidationError
from ..model import PopSettings
from ..settings_table import Changes
from .certificates import check_new_certificate, resolve_certificate, resolve_certificate_changes
from .client_access import check_consistent, check_new_bindings, diff
from .context import READ, SERVER_CONFIG, Context
from .services import wait_for_node

__all__ = ["resolve_certificate", "set_pop", "show_pop"]  # resolve_certificate: kept importable from here


async def show_pop(ctx: Context, server: str | None = None) -> dict[str, Any]:
    await ctx.require(READ)
    name = ctx.server_name(server)
    settings = await ctx.store.get_pop_settings(name)
    return {"server": name, **settings.to_dict()}


async def set_pop(ctx: Context, server: str | None, changes: Changes) -> dict[str, Any]:
    """Validate every change first; nothing is written unless all of them are acceptable.
    `changes` holds POP settings only (`PopSettings.changes(...)`)."""
    await ctx.require(SERVER_CONFIG, "pop.set", f"server/{ctx.server_name(server)}/pop")
    name = ctx.server_name(server)
    if not changes:
        raise ValidationError("pop", "nothing to change: give at least one POP3 setting")
    before = await ctx.store.get_pop_settings(name)
    after = before.with_changes(**resolve_certificate_changes(ctx, dict(changes.of(PopSettings.table()))))
    check_consistent(after, "pop3")
    await check_new_bindings(ctx, name, "pop3", before, after)
    check_new_certificate((before.certificate, before.certificate_key), (after.certificate, after.certificate_key))
    if after != before:
        await ctx.store.put_pop_settings(name, after, audit=ctx.change(
            "pop.set", f"server/{name}/pop", diff(before, after, before), diff(before, after, after)))
        # Answer once the node serving the server has applied it (or a few seconds passed), so
        # what the admin looks at next (service list, the console's Binding tab) is the new state.
        await wait_for_node(ctx, name, await ctx.store.get_service(name, "pop3"))
    return {"server": name, **after.to_dict()}
