"""The web console: server-rendered pages (Jinja2 + a vendored htmx) on the admin service.

Every page calls only the service layer, as the CLI and the REST API do. The console signs in
with a session cookie (the REST API's /api/v1/session machinery); every form carries the
session's CSRF token. Each page module (pages/) has its own router; install() adds them.
"""
from __future__ import annotations

import os

from fastapi import FastAPI
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from . import autoconfig
from .pages import ROUTERS

STATIC_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "static")
FAVICON = os.path.join(STATIC_DIR, "favicon.ico")  # a white envelope on blue, 16 and 32 px


def install(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for router in ROUTERS:
        app.include_router(router)
    app.include_router(autoconfig.router)

    @app.get("/", include_in_schema=False)
    async def home() -> RedirectResponse:
        return RedirectResponse("/console/", status_code=303)

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> FileResponse:
        """Browsers ask every site for /favicon.ico, whatever a page links (the console links
        /static/favicon.ico, the same file)."""
        return FileResponse(FAVICON)
