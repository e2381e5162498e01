"""SMTP receive connectors per server (Exchange's Get-/New-/Set-/Remove-ReceiveConnector).

Property values are validated by ReceiveConnector.with_changes; this module adds what needs
the rest of the server: no listening address shared with its POP3 service, and two connectors
may share an IP:port only if their remote IP ranges differ (the most specific range then picks
the connector, as in Exchange). Every view carries what the node serving the server reports.
A connector is found by its whole name, its short name on its server (`Client` for
`Client EX01`) or a unique start of it (names.py).
"""
from __future__ import annotations

from typing import Any

from ..errors import Conflict, NotFound, ValidationError
from ..model import ReceiveConnector, Service, ServiceStatus, Startup, connector_name, parse_ip_range
from ..settings_table import Changes
from . import services
from .bindings import bindings_overlap, check_admin_service_clash
from .certificates import check_new_certificate, resolve_certificate_changes
from .client_access import PROTOCOLS, check_client_access_clash
from .context import READ, SERVER_CONFIG, Context
from .names import find_name, short_names

ALL_SERVERS = "all"

# Exchange's New-ReceiveConnector -Usage: what each type starts with; explicit options win.
USAGES: dict[str, dict[str, Any]] = {
    "custom": {"permission_groups": (), "auth": ("tls",)},  # bindings must be given
    "internet": {"permission_groups": ("anonymous",), "auth": ("tls",), "bindings": ("0.0.0.0:25", "[::]:25")},
    "client": {"permission_groups": ("users",), "auth": ("tls", "basic", "basic-require-tls"),
               "bindings": ("0.0.0.0:587", "[::]:587")},
}


# reads ---------------------------------------------------------------------------------------
async def list_connectors(ctx: Context, server: str | None = None) -> list[dict[str, Any]]:
    """This server's connectors, one server's, or (server "all") every server's."""
    await ctx.require(READ)
    if server == ALL_SERVERS:
        connectors = await ctx.store.list_connectors(None)
    else:
        connectors = await ctx.store.list_connectors(await _server(ctx, server))
    live: dict[str, dict[str, Any]] = {}
    rows = []
    for connector in connectors:
        if connector.server not in live:
            live[connector.server] = await _live(ctx, connector.server)
        rows.append(_view(connector, live[connector.server]))
    return rows


async def show_connector(ctx: Context, name: str, server: str | None = None) -> dict[str, Any]:
    await ctx.require(READ)
    connector = await _get(ctx, await _server(ctx, server, one=True), name)
    return _view(connector, await _live(ctx, connector.server))


# changes -------------------------------------------------------------------------------------
async def new_connector(ctx: Context, name: str, server: str | None, usage: str, changes: Changes) -> dict[str, Any]:
    """Create a connector of a usage type; nothing is written unless every option is acceptable.
    `changes` holds the properties given (`ReceiveConnector.changes(...)`) over the usage's."""
    await ctx.require(SERVER_CONFIG, "connector.new", _target(ctx, server, name))
    if usage not in USAGES:
        raise ValidationError("usage", f"{usage!r} is not a usage type", list(USAGES))
    server_name = await _server(ctx, server, one=True)
    name = connector_name(name)
    others = await ctx.store.list_connectors(server_name)
    taken = next((c for c in others if c.name.casefold() == name.casefold()), None)
    if taken is not None:
        raise Conflict(f"receive connector {taken.name!r} already exists on server {server_name}")
    props = dict(changes.of(ReceiveConnector.table()))
    if usage == "custom" and "bindings" not in props:
        raise ValidationError("bindings", "a custom connector needs bindings (IP:port, e.g. 0.0.0.0:2525)")
    resolve_certificate_changes(ctx, props)
    connector = ReceiveConnector(name, server_name).with_changes(**{**USAGES[usage], **props})
    _check_certificate_pair(connector)
    await _check_against_server(ctx, connector, others)
    check_new_certificate((None, None), (connector.certificate, connector.certificate_key))
    await ctx.store.add_connector(connector, audit=ctx.change(
        "connector.new", connector.key, None, {"usage": usage, **connector.to_dict()}))
    return _view(connector, await _live(ctx, server_name, wait=True))


async def set_connector(ctx: Context, name: str, server: str | None, changes: Changes) -> dict[str, Any]:
    """Change properties (`ReceiveConnector.changes(...)`); nothing is written unless every change is acceptable."""
    await ctx.require(SERVER_CONFIG, "connector.set", _target(ctx, server, name))
    if not changes:
        raise ValidationError("connector", "nothing to change: give at least one property")
    before = await _get(ctx, await _server(ctx, server, one=True), name)
    after = before.with_changes(**resolve_certificate_changes(ctx, dict(changes.of(ReceiveConnector.table()))))
    _check_certificate_pair(after)
    if after == before:
        return _view(after, await _live(ctx, after.server))
    if (after.bindings, _ranges(after)) != (before.bindings, _ranges(before)):  # an unrelated change never trips
        others = [c for c in await ctx.store.list_connectors(after.server) if c.name != after.name]
        await _check_against_server(ctx, after, others)
    check_new_certificate((before.certificate, before.certificate_key), (after.certificate, after.certificate_key))
    old, new = _diff(before, after)
    await ctx.store.put_connector(after, audit=ctx.change("connector.set", after.key, old, new))
    return _view(after, await _live(ctx, after.server, wait=True))


async def remove_connector(ctx: Context, name: str, server: str | None = None) -> dict[str, Any]:
    await ctx.require(SERVER_CONFIG, "connector.remove", _target(ctx, server, name))
    connector = await _get(ctx, await _server(ctx, server, one=True), name, whole=True)
    await ctx.store.remove_connector(connector.server, connector.name,
                                     audit=ctx.change("connector.remove", connector.key, connector.to_dict(), None))
    live = await _live(ctx, connector.server, wait=True)
    view = {**connector.to_dict(), "state": "removed", "listening": [], "errors": []}
    if live["connectors"] is None:  # no node, or it has not applied the removal yet
        view["state"] = f"removed; {live['state']}"
    return view


# checks against the rest of the server ---------------------------------------------------------
def _ranges(connector: ReceiveConnector) -> frozenset[tuple[int, int, int]]:
    return frozenset(parse_ip_range("remote_ip_ranges", r)[1] for r in connector.remote_ip_ranges)


async def _check_against_server(ctx: Context, connector: ReceiveConnector, others: list[ReceiveConnector]) -> None:
    for protocol in PROTOCOLS:  # POP3's and IMAP4's listeners
        await check_client_access_clash(ctx, connector.server, protocol, "bindings", list(connector.bindings))
    await check_admin_service_clash(ctx, connector.server, "bindings", connector.bindings)
    mine = _ranges(connector)
    for other in others:
        for binding in connector.bindings:
            used = next((b for b in other.bindings if bindings_overlap(binding, b)), None)
            if used is None:
                continue
            if used != binding:
                raise ValidationError("bindings", f"{binding} overlaps {used} of connector {other.name!r}; "
                                      "connectors share a listener only with the same IP:port")
            if _ranges(other) == mine:
                raise ValidationError("bindings", f"{binding} is used by connector {other.name!r} with the same "
                                      "remote IP ranges; connectors may share an IP:port only if their "
                                      "remote-ip-ranges differ")


def _check_certificate_pair(connector: ReceiveConnector) -> None:
    if connector.certificate_key and not connector.certificate:
        raise ValidationError("certificate_key", "belongs to a certificate: give --certificate as well")


def _diff(before: ReceiveConnector, after: ReceiveConnector) -> tuple[dict[str, Any], dict[str, Any]]:
    old, new = before.to_dict(), after.to_dict()
    changed = [key for key in new if old[key] != new[key]]
    return {key: old[key] for key in changed}, {key: new[key] for key in changed}


# lookups and what the node reports -----------------------------------------------------------
def _target(ctx: Context, server: str | None, name: str) -> str:
    """The audit target of a connector operation, before anything is looked up."""
    return f"server/{ctx.server_name(server)}/connector/{name}"


async def _server(ctx: Context, requested: str | None, *, one: bool = False) -> str:
    if one and requested == ALL_SERVERS:
        raise ValidationError("server", "'all' lists every server's connectors; name one server here")
    name = ctx.server_name(requested)
    await ctx.store.get_server(name)  # NotFound names the server
    return name


async def _get(ctx: Context, server: str, name: str, *, whole: bool = False) -> ReceiveConnector:
    """The connector `name` means on `server`: its whole name, its short name (`Client` for
    `Client EX01`) or a unique start of it (not for `whole`: a removal), in any case."""
    connectors = {c.name: c for c in await ctx.store.list_connectors(server)}
    found = find_name(connectors, connector_name(name), kind="receive connector", where=f" on server {server}",
                      aliases=short_names(connectors, server), whole=whole)
    return connectors[found]


async def _live(ctx: Context, server: str, *, wait: bool = False) -> dict[str, Any]:
    """The node's word on `server`'s SMTP service: {"state", "connectors"}; connectors is None
    when no node serves the server or (after a change) it has not applied the change in time."""
    try:
        smtp = await ctx.store.get_service(server, "smtp")
    except NotFound:  # a store from before SMTP: nothing can be serving the connectors
        smtp = Service(server, "smtp", Startup.MANUAL, ServiceStatus.STOPPED)
    view = await (services.wait_for_node if wait else services.node_view)(ctx, server, smtp)
    if view["state"].startswith(("no node", "pending")):
        return {"state": view["state"], "connectors": None}
    report = await ctx.store.get_node_report(server)
    actual = report.services.get("smtp", {}) if report else {}
    return {"state": view["state"], "connectors": actual.get("connectors", {})}


def _view(connector: ReceiveConnector, live: dict[str, Any]) -> dict[str, Any]:
    view: dict[str, Any] = {**connector.to_dict(), "state": live["state"], "listening": [], "errors": []}
    if live["connectors"] is None:
        return view
    actual = live["connectors"].get(connector.name)
    if actual is None:  # the node runs no listener for it
        if not connector.enabled:
            view["state"] = "disabled"
        elif live["state"] != "running":
            view["state"] = f"stopped (the smtp service is {live['state']})"
        else:
            view["state"] = "stopped"
        return view
    view["state"] = actual.get("state", "stopped")
    view["listening"] = actual.get("listening", [])
    view["errors"] = actual.get("errors", [])
    return view
