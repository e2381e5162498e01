"""The API's interactive reference at /api/v1/docs: Swagger UI, vendored under static/swagger-ui/
(VENDORED.md), because a mail server may have no Internet access and its admin pages load
nothing from another host.

Public, as the OpenAPI document it shows always was: both describe the operations and never
any data. Trying an operation from the page is an API call like any other, with the same
sign-in, role checks and audit (Authorize: a token or an admin's name and password). The page
starts Swagger UI from a script file (static/api-docs.js), so its Content-Security-Policy still
allows no inline script or style; it only adds `data:` images, the icons Swagger UI's CSS holds.
"""
from __future__ import annotations

import os

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from .edge import CONTENT_SECURITY_POLICY

DOCS_PATH = "/api/v1/docs"
DOCS_POLICY = f"{CONTENT_SECURITY_POLICY}; img-src 'self' data:"
with open(os.path.join(os.path.dirname(__file__), "templates", "api", "docs.html"), encoding="utf-8") as _page:
    DOCS_PAGE = _page.read()  # static: it names only this origin's files and the document's URL

router = APIRouter(include_in_schema=False)


@router.get(DOCS_PATH)
async def api_docs() -> HTMLResponse:
    """The reference page; the browser then loads the vendored files and /api/v1/openapi.json."""
    return HTMLResponse(DOCS_PAGE, headers={"Content-Security-Policy": DOCS_POLICY})
