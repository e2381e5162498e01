"""Signing in and out of the console."""
from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse

from ....errors import TooManyAttempts, Unauthenticated
from ...routes_session import cookie_options
from ...security import SESSION_COOKIE, admin_auth, client_ip, session_timeout
from ..base import Page, form_action, page_router, render

router = page_router()


def _safe_next(target: str | None) -> str:
    """Only a path inside the console: never an open redirect to another site."""
    if target and target.startswith("/console/") and not target.startswith("//"):
        return target
    return "/console/"


@router.get("/sign-in")
async def sign_in_page(request: Request, next: str | None = None) -> HTMLResponse:
    return render(request, None, "console/sign_in.html", next=_safe_next(next), error=None, name="")


@router.post("/sign-in")
async def sign_in(request: Request) -> Any:
    form = await request.form()
    name, password = str(form.get("name", "")), str(form.get("password", ""))
    target = _safe_next(str(form.get("next", "")))
    try:
        signed = await admin_auth(request).sign_in(name, password, await session_timeout(request),
                                                   source=client_ip(request))
    except TooManyAttempts as refused:  # checked before the password: says nothing about the name
        response = render(request, None, "console/sign_in.html", status=429, next=target, name=name,
                          error=f"Too many failed sign-ins from this address or for this name: try again in "
                                f"{refused.retry_after} s.")
        response.headers["Retry-After"] = str(refused.retry_after)
        return response
    except Unauthenticated:
        return render(request, None, "console/sign_in.html", status=401, next=target, name=name,
                      error="The name or the password is not right.")
    signed_in = RedirectResponse(target, status_code=303)
    signed_in.set_cookie(SESSION_COOKIE, signed.cookie, **cookie_options(request))
    return signed_in


@router.post("/sign-out")
async def sign_out(request: Request, page: Page) -> RedirectResponse:
    await form_action(page, request)
    await admin_auth(request).sign_out(request.cookies.get(SESSION_COOKIE, ""))
    response = RedirectResponse("/console/sign-in", status_code=303)
    response.delete_cookie(SESSION_COOKIE, **cookie_options(request))
    return response
