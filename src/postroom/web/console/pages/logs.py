"""Logs: the audit log (/console/logs/audit) and message tracking (/console/logs/tracking).

Filters are GET query parameters named as the service's arguments, so a filtered view is a
link an admin can share; a filter the service refuses is shown next to its field (400)."""
from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from ....errors import ValidationError
from ....model import AUDIT_CHANNELS, AUDIT_OUTCOMES
from ....service import logs
from ..base import Page, page_router, render

router = page_router()

AUDIT_FILTERS = ("actor", "action", "target", "channel", "outcome", "since", "limit")
TRACKING_FILTERS = ("sender", "recipient", "event_id", "queue_id", "message_id", "since", "limit")
VALUE_CHARS = 80  # a changed value longer than this is cut in the table


def _filters(request: Request, names: tuple[str, ...]) -> dict[str, str]:
    return {name: request.query_params.get(name, "").strip() for name in names}


def _limit(text: str, default: int) -> int:
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        raise ValidationError("limit", f"{text!r} is not a whole number") from None


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), default=str)
    return text if len(text) <= VALUE_CHARS else text[:VALUE_CHARS - 1] + "…"


def audit_changes(before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[str]:
    """An entry's before/after, compactly: only what differs, as "key: old → new"."""
    if before is None and after is None:
        return []
    if before is None:
        return [f"{key} = {_short(value)}" for key, value in sorted((after or {}).items())]
    if after is None:
        return [f"removed: {key} = {_short(value)}" for key, value in sorted(before.items())]
    keys = sorted(set(before) | set(after))
    changed = [f"{key}: {_short(before.get(key, '(none)'))} → {_short(after.get(key, '(none)'))}"
               for key in keys if before.get(key) != after.get(key)]
    return changed or ["no change"]


@router.get("/logs/audit")
async def audit(request: Request, page: Page) -> HTMLResponse:
    given = _filters(request, AUDIT_FILTERS)
    args = {name: given[name] or None for name in ("actor", "action", "channel", "outcome", "since")}
    try:
        limit = _limit(given["limit"], 50)
        entries = await logs.list_audit(page.ctx, limit, given["target"] or None, **args)
    except ValidationError as error:
        return render(request, page, "console/logs_audit.html", status=400, filters=given, error=error, entries=[],
                      channels=AUDIT_CHANNELS, outcomes=AUDIT_OUTCOMES)
    rows = [{**entry, "changes": audit_changes(entry["before"], entry["after"])} for entry in entries]
    return render(request, page, "console/logs_audit.html", filters=given, error=None, entries=rows,
                  channels=AUDIT_CHANNELS, outcomes=AUDIT_OUTCOMES, limit=limit)


@router.get("/logs/tracking")
async def tracking(request: Request, page: Page) -> HTMLResponse:
    given = _filters(request, TRACKING_FILTERS)
    args = {name: given[name] or None for name in TRACKING_FILTERS if name != "limit"}
    try:
        limit = _limit(given["limit"], 200)
        events = await logs.list_tracking(page.ctx, limit=limit, **args)
    except ValidationError as error:
        return render(request, page, "console/logs_tracking.html", status=400, filters=given, error=error, events=[],
                      event_ids=logs.TRACKING_EVENT_IDS)
    return render(request, page, "console/logs_tracking.html", filters=given, error=None, events=events, limit=limit,
                  event_ids=logs.TRACKING_EVENT_IDS)
