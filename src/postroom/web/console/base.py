"""What every console page shares: templates, the signed-in admin, CSRF, errors as pages.

- `Page` (a dependency) is the signed-in console user; a visitor without a valid session is
  sent to the sign-in page (303), never shown a JSON error.
- `render(request, page, template, **values)` fills the layout: navigation, the admin's
  rights (`may.server`, `may.recipients`, `may.admins`, `may.organization`) so controls a role may not use are
  shown read-only with the reason, the CSRF token and the one-shot notice.
- `form_action(page, request)` checks the CSRF token of a submitted form (403 page if absent
  or wrong) and returns the form fields.
- `ConsoleRoute` (the route class) refuses a change another site's page asks for (a foreign
  Origin, Sec-Fetch-Site: cross-site; web/security.py), signing in included, and turns
  postroom's closed error set into HTML pages: a ValidationError that a page did not handle
  next to its field is shown at the top.
"""
from __future__ import annotations

import hmac
import os
from dataclasses import dataclass
from typing import Annotated, Any, Callable, Coroutine
from urllib.parse import quote, unquote

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape

from ...errors import Forbidden, NotFound, PostroomError, Unauthenticated, Unavailable, ValidationError
from ...model import WebSession
from ...service import Caller, Context
from ...service.context import ADMINS, ORGANIZATION, READ, RECIPIENTS, ROLE_RIGHTS, SERVER_CONFIG
from ..security import SESSION_COOKIE, admin_auth, refuse_cross_site, request_context, session_timeout

TEMPLATES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "templates")
NOTICE_COOKIE = "postroom_notice"  # a one-shot confirmation shown after a redirect
_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "xml"]),
                   trim_blocks=True, lstrip_blocks=True)
_env.filters["urldecode"] = unquote


@dataclass(frozen=True)
class Rights:
    server: bool
    recipients: bool
    admins: bool
    organization: bool = False  # send connectors, DKIM keys (organization-management)

    @staticmethod
    def of(caller: Caller) -> "Rights":
        return Rights(caller.may(SERVER_CONFIG), caller.may(RECIPIENTS), caller.may(ADMINS), caller.may(ORGANIZATION))

    @staticmethod
    def reason(right: str) -> str:
        """Why a control is read-only, in the admin's words."""
        groups = " or ".join(r for r, rights in ROLE_RIGHTS.items() if right in rights)
        return f"Read-only: changing this needs the {groups} role group."


class SignInRequired(Exception):
    """Raised by `Page` for a visitor without a session: the route class redirects."""


@dataclass
class ConsolePage:
    """The signed-in admin of one console request."""

    caller: Caller
    session: WebSession
    ctx: Context
    may: Rights


async def _page(request: Request) -> ConsolePage:
    cookie = request.cookies.get(SESSION_COOKIE, "")
    if not cookie:
        raise SignInRequired()
    try:
        caller, session = await admin_auth(request).session(cookie, await session_timeout(request))
    except Unauthenticated:
        raise SignInRequired() from None
    return ConsolePage(caller, session, request_context(request, caller), Rights.of(caller))


Page = Annotated[ConsolePage, Depends(_page)]


def render(request: Request, page: ConsolePage | None, template: str, *, status: int = 200,
           **values: Any) -> HTMLResponse:
    notice = request.cookies.get(NOTICE_COOKIE)
    html = _env.get_template(template).render(
        request=request, page=page, caller=page.caller if page else None, may=page.may if page else None,
        csrf_token=page.session.csrf_token if page else "", reason=Rights.reason, notice=notice,
        server=request.app.state.server, SERVER_CONFIG=SERVER_CONFIG, RECIPIENTS=RECIPIENTS, ADMINS=ADMINS,
        ORGANIZATION=ORGANIZATION, READ=READ, **values)
    response = HTMLResponse(html, status_code=status)
    if notice:
        response.delete_cookie(NOTICE_COOKIE, path="/")
    return response


def redirect(url: str, notice: str | None = None) -> RedirectResponse:
    """After a successful change: 303 to `url`, which shows `notice` once."""
    response = RedirectResponse(url, status_code=303)
    if notice:
        response.set_cookie(NOTICE_COOKIE, quote(notice)[:1000], path="/", httponly=True, samesite="strict")
    return response


async def form_action(page: ConsolePage, request: Request) -> dict[str, Any]:
    """The submitted form's fields, once its CSRF token matched the session's (Forbidden if not).
    Repeated fields (checkbox lists) come back as lists."""
    form = await request.form()
    given = str(form.get("csrf_token", ""))
    if not hmac.compare_digest(given.encode(), page.session.csrf_token.encode()):
        raise Forbidden("this form is missing its security token (CSRF) or it is stale; reload the page and try again")
    fields: dict[str, Any] = {}
    for key in form.keys():
        if key == "csrf_token":
            continue
        values = form.getlist(key)
        fields[key] = values if len(values) > 1 else values[0]
    return fields


STATUS = {ValidationError: 400, Forbidden: 403, NotFound: 404, Unauthenticated: 401, Unavailable: 503}


def status_of(error: PostroomError) -> int:
    """The HTTP status of a page that shows `error`. Subclasses too: StorageFull and
    StoreCorrupted are Unavailable (503)."""
    return next((status for kind, status in STATUS.items() if isinstance(error, kind)), 409)


class ConsoleRoute(APIRoute):
    """Console routes answer in HTML: a sign-in redirect for visitors, an error page otherwise."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def html_errors(request: Request) -> Response:
            try:
                refuse_cross_site(request)  # every change, signing in and out included: before anything else
                return await handler(request)
            except SignInRequired:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"/console/sign-in?next={quote(target)}", status_code=303)
            except PostroomError as error:
                page = None
                try:
                    page = await _page(request)
                except (SignInRequired, PostroomError):
                    pass
                return render(request, page, "console/error.html", status=status_of(error), error=error)

        return html_errors


def page_router() -> APIRouter:
    """The router of one page module: its routes live under /console, answer HTML, and turn a
    missing sign-in or a PostroomError into the console's pages (ConsoleRoute)."""
    return APIRouter(prefix="/console", route_class=ConsoleRoute, include_in_schema=False,
                     default_response_class=HTMLResponse)
