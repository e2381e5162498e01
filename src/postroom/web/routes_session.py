"""The console's sign-in session: an HttpOnly cookie plus a CSRF token for changes.

The cookie is SameSite=Strict, and Secure whenever the request came over HTTPS (plain HTTP
is only ever served on loopback). The CSRF token is returned in the body; the console sends
it back in X-CSRF-Token on every request that changes something.
"""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response, status

from .bodies import SignIn
from .security import SESSION_COOKIE, AdminRoute, BrowserSignIn, Who, admin_auth, client_ip, role_list, session_timeout
from .views import SessionView, SignedOutView, documented

# signing in needs no credentials but the ones it checks; not from another site's page
open_router = APIRouter(prefix="/api/v1", route_class=BrowserSignIn)
router = APIRouter(prefix="/api/v1", route_class=AdminRoute)


def cookie_options(request: Request) -> dict[str, Any]:
    return {"path": "/", "httponly": True, "samesite": "strict", "secure": request.url.scheme == "https"}


@open_router.post("/session", tags=["session"], **documented(SessionView, status.HTTP_201_CREATED, "Signed in"))
async def sign_in(body: SignIn, request: Request, response: Response) -> Any:
    """Sign in to the console with an admin principal's name and password."""
    signed = await admin_auth(request).sign_in(body.name, body.password, await session_timeout(request),
                                               source=client_ip(request))
    response.set_cookie(SESSION_COOKIE, signed.cookie, **cookie_options(request))
    return {"name": signed.caller.name, "roles": role_list(signed.caller), "csrf_token": signed.session.csrf_token,
            "expires_at": signed.session.expires_at}


@router.get("/session", tags=["session"], **documented(SessionView))
async def who_am_i(who: Who) -> Any:
    """The signed-in principal (any way of signing in); the CSRF token only for a console session."""
    session = who.session
    return {"name": who.caller.name, "roles": role_list(who.caller),
            "csrf_token": session.csrf_token if session else None,
            "expires_at": session.expires_at if session else None}


@router.delete("/session", tags=["session"], **documented(SignedOutView))
async def sign_out(who: Who, request: Request, response: Response) -> Any:
    """End the console session (a token or Basic caller has none: signed_out is false)."""
    if who.cookie is not None:
        await admin_auth(request).sign_out(who.cookie)
        response.delete_cookie(SESSION_COOKIE, **cookie_options(request))
    return {"name": who.caller.name, "signed_out": who.cookie is not None}
