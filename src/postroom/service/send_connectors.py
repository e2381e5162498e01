"""Send connectors (Exchange's Get-/New-/Set-/Remove-SendConnector): organisation-wide, changed
by organization-management only (Exchange's Send Connectors role), read by every role group.

Property values are validated by SendConnector.with_changes; this module adds what needs the
rest of the organisation (the source servers must exist) and the smart-host password, which
is sealed here (sealing.py, the key in the data directory) before anything is stored, and is
never shown: every view, the audit log included, carries it masked. A connector is found by
its whole name or a unique start of it, in any case (names.py).
"""
from __future__ import annotations

from typing import Any

from .. import sealing
from ..errors import Conflict, ValidationError
from ..model import MASK, SendConnector, send_connector_name
from ..settings_table import Changes
from .context import ORGANIZATION, READ, Context
from .names import find_name

PASSWORD = "auth_password"
MAX_PASSWORD = 512


def password_purpose(name: str) -> str:
    """What a connector's sealed password is bound to (SendConnector.password_purpose)."""
    return SendConnector(name=name).password_purpose


# reads ---------------------------------------------------------------------------------------
async def list_send_connectors(ctx: Context) -> list[dict[str, Any]]:
    await ctx.require(READ)
    return [connector.view() for connector in await ctx.store.list_send_connectors()]


async def show_send_connector(ctx: Context, name: str) -> dict[str, Any]:
    await ctx.require(READ)
    return (await _get(ctx, name)).view()


# changes -------------------------------------------------------------------------------------
async def new_send_connector(ctx: Context, name: str, changes: Changes, server: str | None = None) -> dict[str, Any]:
    """Create a send connector; nothing is written unless every property is acceptable. Its
    source servers default to `server` (the local server when None), as Exchange's EAC fills
    in the server the connector is made on."""
    await ctx.require(ORGANIZATION, "send-connector.new", f"send-connector/{name}")
    name = send_connector_name(name)
    taken = next((c for c in await ctx.store.list_send_connectors() if c.name.casefold() == name.casefold()), None)
    if taken is not None:
        raise Conflict(f"send connector {taken.name!r} already exists")
    props = _sealed(ctx, name, dict(changes.of(SendConnector.table())))
    props.setdefault("source_servers", (ctx.server_name(server),))
    connector = SendConnector(name=name).with_changes(**props)
    await _check_servers(ctx, connector)
    await ctx.store.add_send_connector(connector, audit=ctx.change("send-connector.new", connector.key, None,
                                                                   connector.view()))
    return connector.view()


async def set_send_connector(ctx: Context, name: str, changes: Changes) -> dict[str, Any]:
    """Change properties; nothing is written unless every change is acceptable."""
    await ctx.require(ORGANIZATION, "send-connector.set", f"send-connector/{name}")
    if not changes:
        raise ValidationError("send_connector", "nothing to change: give at least one property")
    before = await _get(ctx, name)
    after = before.with_changes(**_sealed(ctx, before.name, dict(changes.of(SendConnector.table()))))
    if after == before:
        return after.view()
    if after.source_servers != before.source_servers:
        await _check_servers(ctx, after)
    old, new = _diff(before, after)
    await ctx.store.put_send_connector(after, audit=ctx.change("send-connector.set", after.key, old, new))
    return after.view()


async def remove_send_connector(ctx: Context, name: str) -> dict[str, Any]:
    await ctx.require(ORGANIZATION, "send-connector.remove", f"send-connector/{name}")
    connector = await _get(ctx, name, whole=True)
    await ctx.store.remove_send_connector(connector.name, audit=ctx.change(
        "send-connector.remove", connector.key, connector.view(), None))
    return connector.view()


# lookups and checks --------------------------------------------------------------------------
async def _get(ctx: Context, name: str, *, whole: bool = False) -> SendConnector:
    """The connector `name` means: its whole name or (not for `whole`: a removal) a unique start."""
    connectors = {c.name: c for c in await ctx.store.list_send_connectors()}
    return connectors[find_name(connectors, send_connector_name(name), kind="send connector", whole=whole)]


def _sealed(ctx: Context, name: str, props: dict[str, Any]) -> dict[str, Any]:
    """The changes with the password the admin typed sealed (or None: remove it)."""
    if PASSWORD not in props:
        return props
    secret = props[PASSWORD]
    if secret is None or secret == "":
        return {**props, PASSWORD: None}
    if not isinstance(secret, str) or not 1 <= len(secret) <= MAX_PASSWORD or not secret.isprintable():
        raise ValidationError(PASSWORD, f"must be 1 to {MAX_PASSWORD} printable characters on one line")
    if secret == MASK:
        raise ValidationError(PASSWORD, f"{MASK} is how a set password is shown; give the password itself, "
                                        "or leave it out to keep it")
    return {**props, PASSWORD: sealing.seal(ctx.data_dir, secret, password_purpose(name))}


async def _check_servers(ctx: Context, connector: SendConnector) -> None:
    known = {server.name for server in await ctx.store.list_servers()}
    for server in connector.source_servers:
        if server not in known:
            raise ValidationError("source_servers", f"{server!r} is not a server of this organisation",
                                  sorted(known))


def _diff(before: SendConnector, after: SendConnector) -> tuple[dict[str, Any], dict[str, Any]]:
    """The changed properties before and after, as the views show them (the password masked)."""
    old, new = before.to_dict(), after.to_dict()
    changed = [key for key in new if old[key] != new[key]]
    shown_old, shown_new = before.view(), after.view()
    return {key: shown_old[key] for key in changed}, {key: shown_new[key] for key in changed}
