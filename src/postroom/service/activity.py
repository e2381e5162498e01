"""What happened lately on this server: POP3 and IMAP4 logins and SMTP deliveries per 10 minutes.

The node counts them in memory and adds them to the store once a second (postroom/activity.py);
this reads them back for the dashboard's chart and the troubleshooting page.
"""
from __future__ import annotations

import time
from typing import Any, Iterable

from ..activity import (
    BUCKET_SECONDS, IMAP4_LOGIN_FAILED, IMAP4_LOGIN_OK, OUTBOUND_FAILED, OUTBOUND_SENT, POP3_LOGIN_FAILED,
    POP3_LOGIN_OK, QUEUE_LENGTH_SAMPLES, QUEUE_LENGTH_SUM, SMTP_DELIVERED, bucket_name, bucket_start,
)
from ..errors import ValidationError
from .context import READ, Context

MAX_HOURS = 7 * 24
FIELDS = {POP3_LOGIN_OK: "pop3_logins_ok", POP3_LOGIN_FAILED: "pop3_logins_failed",
          IMAP4_LOGIN_OK: "imap4_logins_ok", IMAP4_LOGIN_FAILED: "imap4_logins_failed",
          SMTP_DELIVERED: "smtp_delivered"}


OUTBOUND_FIELDS = {OUTBOUND_SENT: "outbound_sent", OUTBOUND_FAILED: "outbound_failed",
                   QUEUE_LENGTH_SUM: "queue_length_sum", QUEUE_LENGTH_SAMPLES: "queue_length_samples"}


def failed_logins(buckets: Iterable[dict[str, Any]]) -> int:
    """Failed POP3 and IMAP4 logins in `buckets` (activity()'s)."""
    return sum(b["pop3_logins_failed"] + b["imap4_logins_failed"] for b in buckets)


async def activity(ctx: Context, hours: int = 24, *, now: float | None = None) -> list[dict[str, Any]]:
    """One entry per 10-minute bucket of the last `hours` hours on the local server, oldest
    first, the current (partial) bucket last; buckets with nothing counted are zeros."""
    names, rows = await _read(ctx, hours, now)
    return fill_buckets(names, rows)


async def outbound_activity(ctx: Context, hours: int = 24, *, now: float | None = None) -> list[dict[str, Any]]:
    """The queue viewer's chart: per 10-minute bucket on the local server's delivery worker,
    recipients sent and failed (or expired), and the queue's mean length (messages; sampled
    every few seconds while the worker runs; 0 when it did not)."""
    names, rows = await _read(ctx, hours, now)
    buckets = fill_buckets(names, rows, OUTBOUND_FIELDS)
    for bucket in buckets:
        samples = bucket.pop("queue_length_samples")
        total = bucket.pop("queue_length_sum")
        bucket["queue_length"] = round(total / samples) if samples else 0
    return buckets


async def _read(ctx: Context, hours: int, now: float | None) -> tuple[list[str], list[tuple[str, str, int]]]:
    await ctx.require(READ)
    if isinstance(hours, bool) or not isinstance(hours, int) or not 1 <= hours <= MAX_HOURS:
        raise ValidationError("hours", f"{hours!r} is out of range (allowed: 1..{MAX_HOURS})")
    names = bucket_names(time.time() if now is None else now, hours)
    rows = await ctx.store.list_activity(ctx.local_server, names[0])
    return names, [(bucket, kind, count) for _, bucket, kind, count in rows]


def bucket_names(now: float, hours: int) -> list[str]:
    """The names of the `hours` * 6 buckets that end with the one holding `now`."""
    last = bucket_start(now)
    count = hours * 3600 // BUCKET_SECONDS
    return [bucket_name(last - (count - 1 - i) * BUCKET_SECONDS) for i in range(count)]


def fill_buckets(names: list[str], rows: Iterable[tuple[str, str, int]],
                 fields: dict[str, str] = FIELDS) -> list[dict[str, Any]]:
    """Every bucket in `names`, with the counts of `rows` (bucket, kind, count) that fall in
    one; kinds this view does not show (not in `fields`) and buckets outside `names` are left out."""
    buckets: dict[str, dict[str, Any]] = {name: {"bucket": name, **{field: 0 for field in fields.values()}}
                                          for name in names}
    for bucket, kind, count in rows:
        if bucket in buckets and kind in fields:
            buckets[bucket][fields[kind]] += count
    return list(buckets.values())
