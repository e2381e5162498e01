"""Live sessions (/console/sessions): who is connected now over POP3 and SMTP, on every server
sharing the store (`postroom session list`; Dovecot: doveadm who), with End per session and
"End every session of a mailbox" (`postroom session end`; doveadm kick).

Everything calls service/sessions.py, as the CLI and the REST API do: every role group reads;
ending needs server-management or organization-management and is audited (refusals too). A
refused or failed end is shown on this page, with the service's words.
"""
from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response

from ....errors import PostroomError
from ....service import sessions as session_ops
from ..base import Page, form_action, page_router, redirect, render, status_of

router = page_router()

URL = "/console/sessions"
FILTERS = ("server", "service", "user")


async def _page(request: Request, page: Page, *, status: int = 200, error: str | None = None) -> Response:
    filters = {name: request.query_params.get(name) or None for name in FILTERS}
    try:
        view = await session_ops.list_sessions(page.ctx, **filters)
    except PostroomError as exc:  # a filter naming no server, service or address
        view, error, status = await session_ops.list_sessions(page.ctx), exc.message, status_of(exc)
    return render(request, page, "console/sessions.html", status=status, sessions=view["sessions"],
                  servers=view["servers"], filters={k: v or "" for k, v in filters.items()}, error=error)


@router.get("/sessions")
async def sessions_page(request: Request, page: Page) -> Response:
    return await _page(request, page)


@router.post("/sessions/end")
async def end_sessions(request: Request, page: Page) -> Response:
    fields = await form_action(page, request)
    session_id, user = str(fields.get("id", "")).strip() or None, str(fields.get("user", "")).strip() or None
    try:
        result = await session_ops.end_sessions(page.ctx, session_id, user=user)
    except PostroomError as exc:
        return await _page(request, page, status=status_of(exc), error=f"Not ended: {exc.message}")
    return redirect(URL, notice=ended_notice(result))


def ended_notice(result: dict[str, Any]) -> str:
    texts = [session_ops.ended_text(row) for row in result["ended"]]
    return " ".join(text + "." for text in texts + [session_ops.pending_text(s) for s in result["pending"]])
