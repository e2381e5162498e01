"""Reading the logs an admin needs: the audit log of admin changes."""
from __future__ import annotations

from dataclasses import asdict
from typing import Any

from ..errors import ValidationError
from .context import READ, Context


async def list_audit(ctx: Context, limit: int = 50, target: str | None = None) -> list[dict[str, Any]]:
    ctx.require(READ)
    if not 1 <= limit <= 10000:
        raise ValidationError("limit", f"{limit} is out of range (allowed: 1..10000)")
    return [asdict(entry) for entry in await ctx.store.list_audit(limit, target)]
