"""The admin service's settings per server: where the REST API and the console listen, and the
connection caps and timeouts of those listeners."""
from __future__ import annotations

import ipaddress
from typing import Any

from ..errors import ValidationError
from ..model import WebSettings, parse_binding
from ..settings_table import Changes
from .bindings import bindings_overlap
from .context import READ, SERVER_CONFIG, Context
from .services import wait_for_node


async def show_web(ctx: Context, server: str | None = None) -> dict[str, Any]:
    await ctx.require(READ)
    name = ctx.server_name(server)
    settings = await ctx.store.get_web_settings(name)
    return {"server": name, **settings.to_dict()}


async def set_web(ctx: Context, server: str | None, changes: Changes) -> dict[str, Any]:
    """Validate every change first; nothing is written unless all of them are acceptable.
    `changes` holds admin service settings only (`WebSettings.changes(...)`)."""
    await ctx.require(SERVER_CONFIG, "web.set", f"server/{ctx.server_name(server)}/web")
    name = ctx.server_name(server)
    if not changes:
        *first, last = WebSettings.table().names
        raise ValidationError("web", f"nothing to change: give {', '.join(first)} or {last}")
    before = await ctx.store.get_web_settings(name)
    after = before.apply(changes)
    if not after.bindings and not after.http_bindings:
        raise ValidationError("bindings", "the admin service needs at least one binding; to turn it off "
                                          "use: postroom service stop admin")
    await _check_against_other_services(ctx, name, before, after)
    if after != before:
        old, new = before.to_dict(), after.to_dict()
        changed = [k for k in new if old[k] != new[k]]
        await ctx.store.put_web_settings(name, after, audit=ctx.change(
            "web.set", f"server/{name}/web", {k: old[k] for k in changed}, {k: new[k] for k in changed}))
        await wait_for_node(ctx, name, await ctx.store.get_service(name, "admin"))  # see pop.set_pop
    return {"server": name, **after.to_dict()}


async def _check_against_other_services(ctx: Context, server: str, before: WebSettings, after: WebSettings) -> None:
    pop = await ctx.store.get_pop_settings(server)
    used_by = [(b, "a POP3 binding (postroom pop set --bindings)") for b in pop.bindings]
    used_by += [(b, "a POP3 SSL binding (postroom pop set --ssl-bindings)") for b in pop.ssl_bindings]
    imap = await ctx.store.get_imap_settings(server)
    used_by += [(b, "an IMAP4 binding (postroom imap set --bindings)") for b in imap.bindings]
    used_by += [(b, "an IMAP4 SSL binding (postroom imap set --ssl-bindings)") for b in imap.ssl_bindings]
    for connector in await ctx.store.list_connectors(server):
        used_by += [(b, f"a binding of receive connector {connector.name!r} (postroom connector set)")
                    for b in connector.bindings]
    for field, old, new in (("bindings", before.bindings, after.bindings),
                            ("http_bindings", before.http_bindings, after.http_bindings)):
        for binding in (b for b in new if b not in old):
            clash = next(((b, what) for b, what in used_by if bindings_overlap(binding, b)), None)
            if clash is not None:
                raise ValidationError(field, f"{binding} clashes with {clash[0]}, {clash[1]}")


def console_url(settings: WebSettings, fqdn: str) -> str | None:
    """Where a browser reaches the console: the first HTTPS binding, else the first plain HTTP
    one (None: no binding). A wildcard address is published as the server's FQDN; a specific
    one (loopback included: only it reaches that listener) as itself."""
    for scheme, bindings, usual_port in (("https", settings.bindings, 443), ("http", settings.http_bindings, 80)):
        for binding in bindings:
            host, port = parse_binding("bindings", binding)
            address = ipaddress.ip_address(host)
            shown = fqdn if address.is_unspecified else f"[{host}]" if address.version == 6 else host
            return f"{scheme}://{shown}{'' if port == usual_port else f':{port}'}/console/"
    return None
