"""DKIM signing keys of the accepted domains (`postroom domain dkim new|show|remove`): Exchange
Online's New-/Get-/Remove-DkimSigningConfig; Exchange on-premises has none.

Changing keys needs the organization right (organization-management); every role reads. What
any front end shows of a key, and what the audit log records, is `DkimKey.view()`: the DNS
record to publish, never the private key. A key is made off the event loop (RSA-2048 takes
tens of milliseconds)."""
from __future__ import annotations

import asyncio
from typing import Any

from .. import dkim
from ..errors import NotFound
from ..model import DkimKey, dkim_algorithm, dkim_selector, normalise_domain
from .context import ORGANIZATION, READ, Context

DEFAULT_ALGORITHM = "rsa-2048"


def key_view(key: DkimKey) -> dict[str, Any]:
    return key.view()


def _audited(key: DkimKey) -> dict[str, Any]:
    """The audit entry's record of a key: its names and public half (never the private key)."""
    view = key.view()
    return {name: view[name] for name in ("domain", "selector", "algorithm", "dns_name", "txt_value", "created_at")}


async def _accepted(ctx: Context, name: str) -> str:
    domain = normalise_domain(name)
    if domain not in await ctx.store.list_domains():
        raise NotFound("accepted domain", domain)
    return domain


async def show_dkim(ctx: Context, name: str) -> dict[str, Any]:
    """A domain's keys and the TXT records to publish; `signing` says whether outgoing mail from
    the domain is signed (it is as soon as it has a key)."""
    await ctx.require(READ)
    domain = await _accepted(ctx, name)
    keys = await ctx.store.list_dkim_keys(domain)
    return {"domain": domain, "signing": bool(keys), "keys": [key_view(key) for key in keys]}


async def list_dkim(ctx: Context) -> list[dict[str, Any]]:
    """Every domain's keys, by domain then algorithm."""
    await ctx.require(READ)
    return [key_view(key) for key in await ctx.store.list_dkim_keys()]


async def new_dkim_key(ctx: Context, name: str, algorithm: str = DEFAULT_ALGORITHM,
                       selector: str | None = None) -> dict[str, Any]:
    """Make a key pair for an accepted domain (one per algorithm); the answer is its view,
    with the TXT record to publish."""
    target = f"domain/{name}/dkim"
    await ctx.require(ORGANIZATION, "domain.dkim.new", target)
    kind = dkim_algorithm(algorithm)
    chosen = None if selector is None or not str(selector).strip() else dkim_selector(selector)
    domain = await _accepted(ctx, name)
    key = await asyncio.to_thread(dkim.generate_key, domain, chosen, kind)
    stored = await ctx.store.add_dkim_key(key, audit=ctx.change(
        "domain.dkim.new", f"domain/{domain}/dkim/{key.selector}", None, _audited))
    return key_view(stored)


async def remove_dkim_keys(ctx: Context, name: str, selector: str | None = None) -> list[dict[str, Any]]:
    """Remove the domain's key with `selector`, or every key of the domain (None); one audit
    entry per key. NotFound if there is no such key."""
    await ctx.require(ORGANIZATION, "domain.dkim.remove", f"domain/{name}/dkim")
    domain = normalise_domain(name)
    keys = await ctx.store.list_dkim_keys(domain)
    if selector is not None and str(selector).strip():
        wanted = dkim_selector(selector)
        keys = [key for key in keys if key.selector == wanted]
        if not keys:
            raise NotFound("DKIM key", f"{wanted}._domainkey.{domain}")
    elif not keys:
        raise NotFound("DKIM key of domain", domain)
    removed = []
    for key in keys:
        await ctx.store.remove_dkim_key(domain, key.selector, audit=ctx.change(
            "domain.dkim.remove", f"domain/{domain}/dkim/{key.selector}", _audited(key), None))
        removed.append(key_view(key))
    return removed
