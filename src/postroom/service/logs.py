"""Reading the logs an admin needs: the audit log of admin changes and message tracking."""
from __future__ import annotations

import re
from dataclasses import asdict
from datetime import datetime, timedelta, timezone
from typing import Any

from ..errors import ValidationError
from ..model import AUDIT_CHANNELS, AUDIT_OUTCOMES, TrackingEventId, normalise_address
from ..model.queue import check_queue_id
from .context import READ, Context

MAX_TRACKING_ROWS = 100000
_RELATIVE = re.compile(r"(\d+)\s*([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


async def list_audit(ctx: Context, limit: int = 50, target: str | None = None, *, actor: str | None = None,
                     action: str | None = None, channel: str | None = None, outcome: str | None = None,
                     since: str | None = None) -> list[dict[str, Any]]:
    """Audit entries, newest first, matching every filter given."""
    await ctx.require(READ)
    if not 1 <= limit <= 10000:
        raise ValidationError("limit", f"{limit} is out of range (allowed: 1..10000)")
    if channel is not None and channel not in AUDIT_CHANNELS:
        raise ValidationError("channel", f"{channel!r} is not a channel", list(AUDIT_CHANNELS))
    if outcome is not None and outcome not in AUDIT_OUTCOMES:
        raise ValidationError("outcome", f"{outcome!r} is not an outcome", list(AUDIT_OUTCOMES))
    entries = await ctx.store.list_audit(limit, target, actor=actor, action=action, channel=channel,
                                         outcome=outcome, since=None if since is None else parse_since(since))
    return [asdict(entry) for entry in entries]


TRACKING_EVENT_IDS = [e.value for e in TrackingEventId]


async def list_tracking(ctx: Context, sender: str | None = None, recipient: str | None = None,
                        message_id: str | None = None, since: str | None = None,
                        limit: int = 1000, *, event_id: str | None = None,
                        queue_id: str | None = None) -> list[dict[str, Any]]:
    """Message tracking rows (Exchange's Get-MessageTrackingLog): the newest `limit` that
    match every filter given, oldest first. Sender `<>` is the null sender of bounces.
    `event_id`: one of TRACKING_EVENT_IDS (any case); `queue_id`: the id in `250 ... queued as`.
    Outbound rows (SEND, DEFER, FAIL) carry the next hop's reply and, in brackets, the host
    and address that gave it (also in `client_ip`: the remote end of that session)."""
    await ctx.require(READ)
    if not 1 <= limit <= MAX_TRACKING_ROWS:
        raise ValidationError("limit", f"{limit} is out of range (allowed: 1..{MAX_TRACKING_ROWS})")
    if event_id is not None and event_id.strip().upper() not in TRACKING_EVENT_IDS:
        raise ValidationError("event_id", f"{event_id!r} is not a tracking event id", TRACKING_EVENT_IDS)
    events = await ctx.store.list_tracking(
        sender=None if sender is None else "" if sender.strip() == "<>" else normalise_address(sender, "sender"),
        recipient=None if recipient is None else normalise_address(recipient, "recipient"),
        message_id=_message_id(message_id), since=None if since is None else parse_since(since),
        event_id=None if event_id is None else event_id.strip().upper(),
        queue_id=None if queue_id is None else check_queue_id(queue_id.strip().upper(), "queue_id"),
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


def relative_delta(text: str) -> timedelta | None:
    """A duration like 30m, 1h, 2d or 1w, or None when `text` is not one."""
    match = _RELATIVE.fullmatch(text.strip().lower())
    return None if match is None else timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])


def parse_since(value: str, *, now: datetime | None = None) -> str:
    """An ISO-8601 time (UTC unless it carries an offset) or a duration back from now
    (30m, 1h, 2d, 1w), as the UTC ISO-8601 text the store compares."""
    text = str(value).strip()
    try:
        delta = relative_delta(text)
        moment = None if delta is None else (now or datetime.now(timezone.utc)) - delta
    except OverflowError:
        raise ValidationError("since", f"{value!r} reaches back before year 1") from None
    if moment is None:
        try:
            moment = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in ("z", "Z") else text)
        except ValueError:
            raise ValidationError(
                "since", f"{value!r} is neither an ISO-8601 time (2024-05-01T12:00:00Z) nor a duration "
                         "back from now (30m, 1h, 2d, 1w)") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
    try:
        return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")
    except OverflowError:
        raise ValidationError("since", f"{value!r} is beyond the year 9999") from None
