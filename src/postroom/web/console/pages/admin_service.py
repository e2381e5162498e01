"""Server configuration › Client Access › Admin service: where the REST API and this console
listen (shown; changed with `postroom web set` or the API, so a typo here cannot lock the
console out), and the settings that keep its listeners safe: the console's session timeout, the
connection caps and the request and keep-alive timeouts (server/admin_limits.py)."""
from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response

from ....errors import ValidationError
from ....model import WebSettings
from ....service import web as web_ops
from ..base import Page, form_action, page_router, redirect, render
from ..settings_form import form_changes, notice_labels, tab_fields
from .pop3 import describe_changes, form_errors

router = page_router()

WEB = WebSettings.table()  # each setting's form label, hint and notice label are declared there
FIELDS = tab_fields(WEB)["general"]  # the bindings are shown, not edited, here
LABELS = notice_labels(WEB)


def url(server: str) -> str:
    return f"/console/servers/{server}/admin-service"


async def _render(request: Request, page: Page, server: str, *, values: dict[str, Any] | None = None,
                  errors: dict[str, str] | None = None, alert: str | None = None, status: int = 200) -> Response:
    settings = await web_ops.show_web(page.ctx, server)
    return render(request, page, "console/admin_service.html", status=status, server_name=settings["server"],
                  web={**settings, **(values or {})}, settings=WEB, errors=errors or {}, alert=alert)


@router.get("/servers/{server}/admin-service")
async def admin_service_page(request: Request, page: Page, server: str) -> Response:
    return await _render(request, page, server)


@router.post("/servers/{server}/admin-service")
async def admin_service_save(request: Request, page: Page, server: str) -> Response:
    fields = await form_action(page, request)
    changes = form_changes(WEB, FIELDS, fields)
    before = await web_ops.show_web(page.ctx, server)
    try:
        after = await web_ops.set_web(page.ctx, server, WebSettings.changes(changes))
    except ValidationError as error:
        errors, alert = form_errors(error, FIELDS)
        return await _render(request, page, server, values=changes, errors=errors, alert=alert, status=400)
    changed = describe_changes(before, after, FIELDS, LABELS)
    notice = (f"Admin service settings of {after['server']} saved: " + "; ".join(changed) + "."
              if changed else f"Nothing changed in the admin service settings of {after['server']}.")
    return redirect(url(after["server"]), notice=notice)
