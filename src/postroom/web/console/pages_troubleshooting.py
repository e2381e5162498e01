"""Troubleshooting (/console/troubleshooting): what the system knows about why an application
cannot connect or log in: every service's and receive connector's live state and errors (bind
and certificate errors), failed POP3 logins in the last hour, and the symptom → cause → fix
table of docs/operations.md. (The doctor, `postroom doctor pop ADDRESS`, will add its checks.)"""
from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse

from ...service import activity, connectors, services
from .base import Page, render, router
from .pages_dashboard import by_server


@router.get("/troubleshooting")
async def troubleshooting(request: Request, page: Page) -> HTMLResponse:
    servers = by_server(await services.list_services(page.ctx, "all"))
    receive = await connectors.list_connectors(page.ctx, "all")
    last_hour = await activity.activity(page.ctx, hours=1)
    problems = sum(1 for _, rows in servers for row in rows if row["health"] == "bad")
    problems += sum(1 for c in receive if c["errors"] or c["state"] == "failed")
    return render(request, page, "console/troubleshooting.html", servers=servers, connectors=receive,
                  problems=problems, failed=sum(b["pop3_logins_failed"] for b in last_hour),
                  succeeded=sum(b["pop3_logins_ok"] for b in last_hour))
