"""The dashboard (/console/): every service's state on every server, and the last 24 hours of
POP3 logins and SMTP deliveries as a chart drawn here (chart.py), so an admin sees at a glance
when an application stopped logging in."""
from __future__ import annotations

from itertools import groupby
from typing import Any, Iterable

from fastapi import Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from ....service import activity, services
from ..base import Page, page_router, render
from ..chart import activity_svg

router = page_router()


def health(row: dict[str, Any]) -> str:
    """How a service row is shown: "bad" (errors, or meant to run and not running), "warn"
    (stopped, or the node has not caught up yet) or "ok"."""
    state = row["state"]
    if row["errors"] or state == "failed":
        return "bad"
    if state.startswith("pending"):
        return "warn"
    if row["status"] == "running":
        return "ok" if state.startswith("running") else "bad"
    return "warn"


def by_server(rows: Iterable[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """Service rows (already ordered by server) grouped per server, each row with its health."""
    return [(server, [{**row, "health": health(row)} for row in group])
            for server, group in groupby(rows, key=lambda row: row["server"])]


@router.get("/")
async def dashboard(request: Request, page: Page) -> HTMLResponse:
    rows = await services.list_services(page.ctx, "all")
    buckets = await activity.activity(page.ctx, hours=24)
    server = page.ctx.local_server
    chart = activity_svg(buckets, title=f"POP3 and IMAP4 logins and SMTP deliveries on {server}, last 24 hours, "
                                        "per 10 minutes")
    last_hour = buckets[-6:]
    return render(request, page, "console/dashboard.html", servers=by_server(rows), chart=Markup(chart),
                  failed_last_hour=activity.failed_logins(last_hour))
