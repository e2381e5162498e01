"""Who is calling the REST API: bearer tokens, HTTP Basic with admin credentials, console cookies.

Authentication runs before FastAPI reads the body (AdminRoute), so an unauthenticated or
CSRF-less request learns nothing about what the operation would have accepted. The verdict
itself is the service layer's (AdminAuthenticator); this module only reads the request.
"""
from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass
from typing import Annotated, Any, Callable, Coroutine
from urllib.parse import urlsplit

from fastapi import Depends, Request, Response, Security
from fastapi.routing import APIRoute
from fastapi.security import APIKeyCookie, HTTPBasic, HTTPBearer
from starlette.requests import HTTPConnection

from ..errors import Forbidden, Unauthenticated
from ..model import ROLE_GROUPS, WebSession
from ..service import Caller, Context
from ..service.authentication import NOT_SIGNED_IN, AdminAuthenticator

SESSION_COOKIE = "postroom_session"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})


@dataclass(frozen=True)
class SignedIn:
    caller: Caller
    session: WebSession | None  # only for a console cookie
    cookie: str | None = None


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


DEFAULT_PORTS = {"http": 80, "https": 443}
CROSS_SITE = "a request from another site may not change anything here (its Origin or Sec-Fetch-Site header says so)"


def _same_host(request: Request, origin: str) -> bool:
    """Whether an Origin names the host and port this request was sent to (its Host header).
    The scheme is not compared: a reverse proxy that ends TLS forwards https://admin.example.com
    as plain HTTP with Host admin.example.com, and that is still the console's own page. A Host
    without a port was reached on a default one (80 or 443). Another host, or another port on
    this host, is another site."""
    try:
        given = urlsplit(origin.strip())
        port = given.port
    except ValueError:  # a port out of range, a bad IPv6 literal
        return False
    if given.scheme not in ("http", "https") or given.path or given.query or given.username is not None:
        return False  # "null" (an opaque origin) included
    own_host, own_port = (request.url.hostname or "").lower(), request.url.port
    if not given.hostname or given.hostname.lower() != own_host:
        return False
    port = port if port is not None else DEFAULT_PORTS[given.scheme]
    return port == own_port if own_port is not None else port in DEFAULT_PORTS.values()


def refuse_cross_site(request: Request) -> None:
    """Forbidden for a state-changing browser request that another site made (login CSRF, and
    a second line behind the CSRF token): `Sec-Fetch-Site: cross-site`, or an Origin that does
    not name this request's host ("null" included). A request with neither header (curl, a
    script, an old browser) goes on to the other checks: a signed-in change still needs the
    session's CSRF token."""
    if request.method not in UNSAFE_METHODS:
        return
    if request.headers.get("sec-fetch-site", "").strip().lower() == "cross-site":
        raise Forbidden(CROSS_SITE)
    if not all(_same_host(request, value) for value in request.headers.getlist("origin")):
        raise Forbidden(CROSS_SITE)


def admin_auth(request: Request) -> AdminAuthenticator:
    return request.app.state.admin_auth


async def session_timeout(request: Request) -> int:
    state = request.app.state
    return (await state.store.get_web_settings(state.server)).session_timeout


def _basic(value: str) -> tuple[str, str]:
    try:
        text = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise Unauthenticated(NOT_SIGNED_IN) from None
    name, colon, password = text.partition(":")
    if not colon:
        raise Unauthenticated(NOT_SIGNED_IN)
    return name, password


async def authenticate(request: Request) -> SignedIn:
    """An Authorization header wins; without one, the console's session cookie (plus its CSRF
    token on anything that changes state)."""
    auth = admin_auth(request)
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, value = header.strip().partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return SignedIn(await auth.bearer(value.strip(), "api"), None)
        if scheme.lower() == "basic":
            name, password = _basic(value)
            return SignedIn(await auth.password(name, password, "api", source=client_ip(request)), None)
        raise Unauthenticated(NOT_SIGNED_IN)
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise Unauthenticated(NOT_SIGNED_IN)
    refuse_cross_site(request)  # a browser session: another site's page must not drive it
    caller, session = await auth.session(cookie, await session_timeout(request))
    if request.method in UNSAFE_METHODS:
        given = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(given.encode(), session.csrf_token.encode()):
            raise Forbidden(f"a console request that changes something needs the {CSRF_HEADER} header "
                            "with the csrf_token from sign-in")
    return SignedIn(caller, session, cookie)


class AdminRoute(APIRoute):
    """An operation that needs a signed-in admin: authenticates before the body is parsed."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def signed_in_first(request: Request) -> Response:
            request.state.signed_in = await authenticate(request)
            return await handler(request)

        return signed_in_first


class BrowserSignIn(APIRoute):
    """Signing in from a browser (it sets the session cookie): another site may not do it for
    the visitor (login CSRF), refused before the body is read."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def same_site_first(request: Request) -> Response:
            refuse_cross_site(request)
            return await handler(request)

        return same_site_first


class _Documented:
    """Security schemes for the OpenAPI document only; `authenticate` does the real work."""

    async def __call__(self, request: HTTPConnection) -> None:  # as the schemes it documents declare it
        return None


class _BearerDoc(_Documented, HTTPBearer):
    pass


class _BasicDoc(_Documented, HTTPBasic):
    pass


class _CookieDoc(_Documented, APIKeyCookie):
    pass


BEARER_DOC = _BearerDoc(scheme_name="bearer", description="An API token: postroom admin token new NAME",
                        auto_error=False)
BASIC_DOC = _BasicDoc(scheme_name="basic", realm="postroom", description="An admin principal's name and password",
                      auto_error=False)
COOKIE_DOC = _CookieDoc(name=SESSION_COOKIE, scheme_name="session",
                        description=f"Console session from POST /api/v1/session; changes also need {CSRF_HEADER}",
                        auto_error=False)


def signed_in(request: Request, _bearer: Annotated[None, Security(BEARER_DOC)],
              _basic: Annotated[None, Security(BASIC_DOC)], _cookie: Annotated[None, Security(COOKIE_DOC)]) -> SignedIn:
    return request.state.signed_in


def request_context(request: Request, caller: Caller) -> Context:
    """A request's Context: the caller's address and the node's failed-login guard go with it,
    for the password checks the doctor makes (a login attempt from that address)."""
    state = request.app.state
    return Context(state.store, caller, state.server, state.data_dir, guard=state.login_guard,
                   source=client_ip(request))


def admin_context(request: Request, who: Annotated[SignedIn, Depends(signed_in)]) -> Context:
    return request_context(request, who.caller)


Ctx = Annotated[Context, Depends(admin_context)]
Who = Annotated[SignedIn, Depends(signed_in)]


def role_list(caller: Caller) -> list[str]:
    return [role for role in ROLE_GROUPS if role in caller.roles]
