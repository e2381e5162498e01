"""Server configuration › Client Access › IMAP4: the properties dialog with Exchange's tabs,
beside POP3's (client_access.py draws both)."""
from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from ....model import ImapSettings
from ....service import imap as imap_ops
from ..base import Page, page_router
from .client_access import ClientAccess, save_tab, show_page

router = page_router()

IMAP4 = ClientAccess("imap4", "IMAP4", "STARTTLS", (143, 993), "* OK", ImapSettings.table(), imap_ops.show_imap,
                     imap_ops.set_imap)


@router.get("/servers/{server}/imap4")
async def imap4_page(request: Request, page: Page, server: str, tab: str | None = None) -> Response:
    return await show_page(request, page, IMAP4, server, tab)


@router.post("/servers/{server}/imap4")
async def imap4_save(request: Request, page: Page, server: str) -> Response:
    return await save_tab(request, page, IMAP4, server)
