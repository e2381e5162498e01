"""Accepted domains: the domains whose mailboxes live here."""
from __future__ import annotations

from ..model import normalise_domain
from .context import READ, RECIPIENTS, Context


async def add_domain(ctx: Context, name: str) -> str:
    await ctx.require(RECIPIENTS, "domain.add", f"domain/{name}")
    domain = normalise_domain(name)
    await ctx.store.add_domain(domain, audit=ctx.change("domain.add", f"domain/{domain}", None, {"name": domain}))
    return domain


async def list_domains(ctx: Context) -> list[str]:
    await ctx.require(READ)
    return await ctx.store.list_domains()


async def remove_domain(ctx: Context, name: str) -> str:
    await ctx.require(RECIPIENTS, "domain.remove", f"domain/{name}")
    domain = normalise_domain(name)
    await ctx.store.remove_domain(domain, audit=ctx.change("domain.remove", f"domain/{domain}", {"name": domain}, None))
    return domain
