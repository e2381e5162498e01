"""Server configuration › Client Access › POP3: the properties dialog with Exchange's tabs
(client_access.py draws it, for IMAP4 as well)."""
from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from ....model import PopSettings
from ....service import pop as pop_ops
from ..base import Page, page_router
from .client_access import ClientAccess, save_tab, show_page
# the form helpers other pages import from here
from .form_helpers import describe_changes, form_errors, tab_of, values_of  # noqa: F401

router = page_router()

POP3 = ClientAccess("pop3", "POP3", "STLS", (110, 995), "+OK", PopSettings.table(), pop_ops.show_pop, pop_ops.set_pop)


@router.get("/servers/{server}/pop3")
async def pop3_page(request: Request, page: Page, server: str, tab: str | None = None) -> Response:
    return await show_page(request, page, POP3, server, tab)


@router.post("/servers/{server}/pop3")
async def pop3_save(request: Request, page: Page, server: str) -> Response:
    return await save_tab(request, page, POP3, server)
