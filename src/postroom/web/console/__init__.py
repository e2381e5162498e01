"""The web console: server-rendered pages (Jinja2 + a vendored htmx) on the admin service.

Every page calls only the service layer, as the CLI and the REST API do. The console signs in
with a session cookie (the REST API's /api/v1/session machinery); every form carries the
session's CSRF token. Page modules add their routes to `router` (see pages_*.py).
"""
from __future__ import annotations

import os

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from .base import router

STATIC_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "static")
PAGE_MODULES = ("pages_session", "pages_dashboard", "pages_services", "pages_troubleshooting", "pages_logs",
                "pages_domains", "pages_mailboxes", "pages_pop3", "pages_admin_service", "pages_connectors",
                "pages_security")  # each adds routes to `router`


def install(app: FastAPI) -> None:
    import importlib

    for name in PAGE_MODULES:
        importlib.import_module(f"{__name__}.{name}")
    from . import autoconfig

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(router)
    app.include_router(autoconfig.router)

    @app.get("/", include_in_schema=False)
    async def home() -> RedirectResponse:
        return RedirectResponse("/console/", status_code=303)
