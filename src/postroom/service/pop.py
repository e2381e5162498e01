"""POP3 settings per server (Exchange's Get-/Set-PopSettings)."""
from __future__ import annotations

from typing import Any

from ..errors import ValidationError
from ..model import PopSettings
from ..settings_table import Changes
from .bindings import bindings_overlap, check_admin_service_clash
from .certificates import check_new_certificate, resolve_certificate, resolve_certificate_changes
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
    _check_consistent(after)
    await _check_against_connectors(ctx, name, before, after)
    check_new_certificate((before.certificate, before.certificate_key), (after.certificate, after.certificate_key))
    if after != before:
        await ctx.store.put_pop_settings(name, after, audit=ctx.change(
            "pop.set", f"server/{name}/pop", _diff(before, after, before), _diff(before, after, after)))
        # Answer once the node serving the server has applied it (or a few seconds passed), so
        # what the admin looks at next (service list, the console's Binding tab) is the new state.
        await wait_for_node(ctx, name, await ctx.store.get_service(name, "pop3"))
    return {"server": name, **after.to_dict()}


def _check_consistent(settings: PopSettings) -> None:
    both = set(settings.bindings) & set(settings.ssl_bindings)
    if both:
        raise ValidationError("ssl_bindings", f"{', '.join(sorted(both))} is also a plain/STLS binding")
    if settings.ssl_bindings and not settings.certificate:
        raise ValidationError("certificate", "SSL bindings need a certificate (set --certificate)")


async def _check_against_connectors(ctx: Context, server: str, before: PopSettings, after: PopSettings) -> None:
    """A POP3 binding may not take an IP:port a receive connector of the same server uses."""
    for field, old, new in (("bindings", before.bindings, after.bindings),
                            ("ssl_bindings", before.ssl_bindings, after.ssl_bindings)):
        added = [b for b in new if b not in old]
        if not added:
            continue
        await check_admin_service_clash(ctx, server, field, added)
        for connector in await ctx.store.list_connectors(server):
            for binding in added:
                used = next((c for c in connector.bindings if bindings_overlap(binding, c)), None)
                if used is not None:
                    raise ValidationError(field, f"{binding} clashes with {used}, a binding of receive connector "
                                          f"{connector.name!r} (move one: `postroom connector set`)")


def _diff(before: PopSettings, after: PopSettings, which: PopSettings) -> dict[str, Any]:
    old, new, pick = before.to_dict(), after.to_dict(), which.to_dict()
    return {key: pick[key] for key in pick if old[key] != new[key]}
