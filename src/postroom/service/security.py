"""Login blocks: the sources and mailboxes refused for a while after repeated failed logins
(see postroom/server/abuse.py for the policy). Listing, and reading the policy, needs READ;
clearing is a server setting change (SERVER_CONFIG) and is audited. Nodes re-read the list
with their heartbeat, so a cleared block stops applying within about a second.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from ..errors import NotFound, ValidationError
from ..model import Block
from ..server.abuse import Policy
from .context import READ, SERVER_CONFIG, Context

# The environment variables the policy is read from (Policy.from_env), per policy field.
POLICY_ENV = {"trusted_networks": "POSTROOM_TRUSTED_NETWORKS", "max_source_failures": "POSTROOM_AUTH_MAX_FAILURES",
              "max_mailbox_failures": "POSTROOM_AUTH_MAX_MAILBOX_FAILURES", "block_time": "POSTROOM_AUTH_BLOCK_TIME"}


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
    await ctx.store.remove_blocks(text)
    await ctx.audit("security.block.clear", f"block/{text}", {"blocks": before}, None)
    return before


async def clear_all_blocks(ctx: Context) -> list[dict[str, Any]]:
    """Lift every block; the blocks lifted."""
    await ctx.require(SERVER_CONFIG, "security.block.clear", "block/*")
    before = [block_dict(b) for b in await ctx.store.list_blocks()]
    await ctx.store.remove_blocks(None)
    if before:
        await ctx.audit("security.block.clear", "block/*", {"blocks": before}, None)
    return before


async def login_policy(ctx: Context, policy: Policy | None = None) -> dict[str, Any]:
    """The policy that starts blocks: `policy` (a running node's), or the one a node started
    now would read from the environment (the same parser). Read-only: set by environment
    variables (`env`: which one sets each field) when `postroom serve` starts."""
    await ctx.require(READ)
    source = "node"
    if policy is None:
        source = "environment"
        try:
            policy = Policy.from_env()
        except ValueError as error:  # a node would not start with it either
            raise ValidationError("policy", f"the login block policy in the environment is invalid: {error}") from None
    return {"trusted_networks": [str(net) for net in policy.trusted],
            "max_source_failures": policy.max_source_failures, "max_mailbox_failures": policy.max_mailbox_failures,
            "window": policy.window, "block_time": policy.block_time, "max_delay": policy.max_delay,
            "source": source, "env": dict(POLICY_ENV)}
