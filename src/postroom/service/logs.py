"""Reading the logs an admin needs: the audit log of admin changes and message tracking."""
from __future__ import annotations

import re
from dataclasses import asdict
from datetime import datetime, timedelta, timezone
from typing import Any

from ..errors import ValidationError
from ..model import normalise_address
from .context import READ, Context

MAX_TRACKING_ROWS = 100000
_RELATIVE = re.compile(r"(\d+)\s*([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


async def list_audit(ctx: Context, limit: int = 50, target: str | None = None) -> list[dict[str, Any]]:
    ctx.require(READ)
    if not 1 <= limit <= 10000:
        raise ValidationError("limit", f"{limit} is out of range (allowed: 1..10000)")
    return [asdict(entry) for entry in await ctx.store.list_audit(limit, target)]


async def list_tracking(ctx: Context, sender: str | None = None, recipient: str | None = None,
                        message_id: str | None = None, since: str | None = None,
                        limit: int = 1000) -> list[dict[str, Any]]:
    """Message tracking rows (Exchange's Get-MessageTrackingLog): the newest `limit` that
    match every filter given, oldest first. Sender `<>` is the null sender of bounces."""
    ctx.require(READ)
    if not 1 <= limit <= MAX_TRACKING_ROWS:
        raise ValidationError("limit", f"{limit} is out of range (allowed: 1..{MAX_TRACKING_ROWS})")
    events = await ctx.store.list_tracking(
        sender=None if sender is None else "" if sender.strip() == "<>" else normalise_address(sender, "sender"),
        recipient=None if recipient is None else normalise_address(recipient, "recipient"),
        message_id=_message_id(message_id), since=None if since is None else parse_since(since),
        limit=limit,
    )
    return [event.to_dict() for event in events]


def _message_id(value: str | None) -> str | None:
    """The Message-ID header as tracked, angle brackets included; they may be left off."""
    if value is None:
        return None
    text = value.strip()
    if not text or any(c in text for c in " \t\r\n") or len(text) > 252:
        raise ValidationError("message_id", f"{value!r} is not a Message-ID like <1234@example.com>")
    return text if text.startswith("<") and text.endswith(">") else f"<{text.strip('<>')}>"


def parse_since(value: str, *, now: datetime | None = None) -> str:
    """An ISO-8601 time (UTC unless it carries an offset) or a duration back from now
    (30m, 1h, 2d, 1w), as the UTC ISO-8601 text the store compares."""
    text = str(value).strip()
    match = _RELATIVE.fullmatch(text.lower())
    if match:
        try:
            moment = (now or datetime.now(timezone.utc)) - timedelta(
                seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])
        except OverflowError:
            raise ValidationError("since", f"{value!r} reaches back before year 1") from None
    else:
        try:
            moment = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in ("z", "Z") else text)
        except ValueError:
            raise ValidationError(
                "since", f"{value!r} is neither an ISO-8601 time (2024-05-01T12:00:00Z) nor a duration "
                         "back from now (30m, 1h, 2d, 1w)") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")
