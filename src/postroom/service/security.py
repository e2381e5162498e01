"""Login blocks: the sources and mailboxes refused for a while after repeated failed logins,
and the organization's policy that starts them (model.security.LoginPolicy, run by
lockout.py). Listing and reading the policy need READ; clearing a block and changing the
policy are server setting changes (SERVER_CONFIG), audited, refusals included. Nodes re-read
the blocks with their heartbeat and the policy on every configuration change, so either
change applies within about a second on every node.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from ..errors import NotFound, ValidationError
from ..model import Block, LoginPolicy
from ..settings_table import Changes
from .context import READ, SERVER_CONFIG, Context
from .services import wait_for_node

POLICY_ACTION, POLICY_TARGET = "security.policy.set", "security/policy"


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def block_dict(block: Block) -> dict[str, Any]:
    return {"kind": block.kind, "value": block.value, "since": _iso(block.since), "until": _iso(block.until),
            "failures": block.failures, "service": block.service, "server": block.server}


async def list_blocks(ctx: Context) -> list[dict[str, Any]]:
    """Blocks in force, oldest first."""
    await ctx.require(READ)
    return [block_dict(b) for b in await ctx.store.list_blocks()]


async def clear_block(ctx: Context, value: str) -> list[dict[str, Any]]:
    """Lift the blocks on one source IP or mailbox name; the blocks lifted (NotFound if none)."""
    text = value.strip() if isinstance(value, str) else ""
    if not text or len(text) > 200:
        raise ValidationError("value", f"{value!r} is not a source IP address or mailbox name")
    await ctx.require(SERVER_CONFIG, "security.block.clear", f"block/{text}")
    before = [block_dict(b) for b in await ctx.store.list_blocks() if b.value.lower() == text.lower()]
    if not before:
        raise NotFound("login block on", text)
    await ctx.store.remove_blocks(text, audit=ctx.change(
        "security.block.clear", f"block/{text}", {"blocks": before}, None))
    return before


async def clear_all_blocks(ctx: Context) -> list[dict[str, Any]]:
    """Lift every block; the blocks lifted."""
    await ctx.require(SERVER_CONFIG, "security.block.clear", "block/*")
    before = [block_dict(b) for b in await ctx.store.list_blocks()]
    audit = ctx.change("security.block.clear", "block/*", {"blocks": before}, None) if before else None
    await ctx.store.remove_blocks(None, audit=audit)
    return before


async def login_policy(ctx: Context) -> dict[str, Any]:
    """The organization's login block policy, as every node applies it (READ)."""
    await ctx.require(READ)
    return (await ctx.store.get_login_policy()).to_dict()


async def set_login_policy(ctx: Context, changes: Changes) -> dict[str, Any]:
    """Change some of the policy's fields (`LoginPolicy.changes(...)`); all are validated before
    anything is written. A server setting change (SERVER_CONFIG), audited with the fields that
    changed, before and after. Running nodes apply it within a second; this waits (up to 3 s)
    for the local server's node, so the caller's next login meets the new policy."""
    await ctx.require(SERVER_CONFIG, POLICY_ACTION, POLICY_TARGET)
    if not changes:
        raise ValidationError("policy", "nothing to change: give " + ", ".join(LoginPolicy().to_dict()))
    before = await ctx.store.get_login_policy()
    after = before.apply(changes)
    if after != before:
        old, new = before.to_dict(), after.to_dict()
        changed = [k for k in new if old[k] != new[k]]
        await ctx.store.put_login_policy(after, audit=ctx.change(
            POLICY_ACTION, POLICY_TARGET, {k: old[k] for k in changed}, {k: new[k] for k in changed}))
        await _wait_for_local_node(ctx)
    return after.to_dict()


async def _wait_for_local_node(ctx: Context) -> None:
    try:
        service = await ctx.store.get_service(ctx.local_server, "pop3")
    except NotFound:  # a caller without a server of its own (tests): nothing to wait for
        return
    await wait_for_node(ctx, ctx.local_server, service)
