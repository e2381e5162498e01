"""The admin service's web application: the REST API under /api/v1 and the console under /console.

The node owns the store and builds the app once; uvicorn's protocol serves it on the node's
own listeners (HTTPS, and plain HTTP on loopback only). Nothing here starts or stops anything.
"""
from __future__ import annotations

from typing import Protocol

from fastapi import FastAPI, Request, Response
from fastapi.routing import APIRoute

from .. import __version__
from ..errors import Forbidden
from ..lockout import AbuseGuard
from ..service import Store
from ..service.authentication import AdminAuthenticator
from . import (
    api_docs, console, errors, routes_admins, routes_config, routes_doctor, routes_live_sessions,
    routes_mailbox_messages, routes_queue, routes_recipients, routes_security, routes_servers, routes_session,
    routes_transport,
)
from .edge import BodyLimit, BrowserPolicy, NoStore, RequestContext
from .security import authenticate


class Metrics(Protocol):
    """The node's metrics (server/metrics.py), as GET /metrics serves them."""

    content_type: str

    def render(self) -> bytes: ...


API_PREFIX = "/api/v1"
MAX_BODY = 1 << 20  # admin requests are small JSON objects; a bigger body is refused unread


def create_app(store: Store, server: str, data_dir: str, admin_auth: AdminAuthenticator,
               metrics: Metrics | None = None, guard: AbuseGuard | None = None) -> FastAPI:
    """`guard`: the node's failed-login guard, which admin sign-ins and the doctor's password
    checks share with POP3 and SMTP; an app without a node gets one of its own."""
    app = FastAPI(
        title="postroom admin API",
        version=__version__,
        description="Administer postroom: every operation of the CLI, with the same role checks and audit log.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,  # FastAPI's pages load Swagger UI from a CDN with an inline script: ours is
        redoc_url=None,  # web/api_docs.py, vendored, at /api/v1/docs
        redirect_slashes=False,  # a trailing slash is a 404 in the error shape, not a redirect
        generate_unique_id_function=_operation_id,
    )
    app.state.store = store
    app.state.server = server
    app.state.data_dir = data_dir
    app.state.admin_auth = admin_auth
    app.state.login_guard = guard or getattr(admin_auth, "guard", None) or AbuseGuard()
    if admin_auth is not None:  # None: an app built only for its OpenAPI document
        admin_auth.guard = admin_auth.guard or app.state.login_guard
        admin_auth.server = admin_auth.server or server
    app.add_middleware(BodyLimit, limit=MAX_BODY)  # innermost: its refusals get the headers below
    errors.install(app)
    app.add_middleware(NoStore)
    app.add_middleware(BrowserPolicy)  # CSP, X-Frame-Options, Referrer-Policy: on every answer, console or not
    for module in (routes_session, routes_servers, routes_recipients, routes_mailbox_messages, routes_admins,
                   routes_doctor, routes_security, routes_transport, routes_queue, routes_config, routes_live_sessions):
        app.include_router(module.router)
    app.include_router(routes_session.open_router)
    app.include_router(api_docs.router)  # public, like the OpenAPI document it shows
    if metrics is not None:  # the node's; without one (an app built for tests) /metrics is a 404
        _install_metrics(app, metrics)
    console.install(app)
    app.add_middleware(RequestContext)  # outermost (added last): the request id, log context and access line
    return app


def node_admin_app(store: Store, server: str, data_dir: str, metrics: Metrics | None,
                   guard: AbuseGuard | None) -> tuple[FastAPI, AdminAuthenticator]:
    """The admin application a node serves (server/admin.py `AdminAppFactory`), with the
    sign-in checker it owns; sign-ins count in the node's guard."""
    auth = AdminAuthenticator(store, guard=guard, server=server)
    return create_app(store, server, data_dir, auth, metrics, guard), auth


def _install_metrics(app: FastAPI, metrics: Metrics) -> None:
    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics(request: Request) -> Response:
        """Prometheus text exposition; any admin principal (a bearer token for a scraper, or
        Basic). Async on purpose: the live gauges read the node's state on its own loop."""
        caller = (await authenticate(request)).caller
        if not caller.roles:
            raise Forbidden("the metrics need an admin role group")
        return Response(metrics.render(), media_type=metrics.content_type)


def _operation_id(route: APIRoute) -> str:
    """The handler's name (set_pop, new_token, ...): short names for generated clients."""
    return route.name

