"""Activity counters, shared by both backends: per server, 10-minute bucket and kind, how many
POP3 logins succeeded or failed and how many SMTP messages were accepted. The checks and the
query builder; not configuration: nothing here bumps config_version."""
from __future__ import annotations

from typing import Any, Mapping

from ...errors import ValidationError
from .values import utc_iso

Row = tuple[str, str, int]  # (bucket, kind, count)


def activity_rows(counts: Mapping[tuple[str, str], int]) -> list[Row]:
    """add_activity's mapping, checked and in stored form; equal keys (after normalising the
    bucket) are summed so one statement per key is enough."""
    if not isinstance(counts, Mapping):
        raise ValidationError("counts", f"must be a mapping of (bucket, kind) to a count, not {type(counts).__name__}")
    summed: dict[tuple[str, str], int] = {}
    for key, count in counts.items():
        if not (isinstance(key, tuple) and len(key) == 2):
            raise ValidationError("counts", f"{key!r} is not a (bucket, kind) pair")
        bucket, kind = key
        if not isinstance(kind, str) or not kind:
            raise ValidationError("kind", f"{kind!r} is not a non-empty text")
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValidationError("count", f"{count!r} is not a whole number >= 0")
        stored = (utc_iso(bucket, "bucket"), kind)
        summed[stored] = summed.get(stored, 0) + count
    return [(bucket, kind, count) for (bucket, kind), count in summed.items() if count]


def activity_query(server: str | None, since: Any) -> tuple[str, list[Any]]:
    """Counters from `since` (a bucket starting at or after it) on, by (server, bucket, kind)."""
    params: list[Any] = [utc_iso(since, "since")]
    where = "bucket >= ?"
    if server is not None:
        if not isinstance(server, str):
            raise ValidationError("server", f"{server!r} is not text")
        where += " AND server = ?"
        params.append(server)
    return f"SELECT server, bucket, kind, count FROM activity WHERE {where} ORDER BY server, bucket, kind", params
