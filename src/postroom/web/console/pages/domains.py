"""Organization › Recipient configuration › Accepted domains (/console/domains): the domains
postroom receives mail for. Adding and removing needs the recipients right."""
from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response

from ....errors import Conflict, NotFound, ValidationError
from ....service import domains
from ..base import Page, form_action, page_router, redirect, render

router = page_router()

URL = "/console/domains"


async def _page(request: Request, page: Page, *, status: int = 200, name: str = "",
                error: dict[str, Any] | None = None) -> Response:
    return render(request, page, "console/domains.html", status=status, domains=await domains.list_domains(page.ctx),
                  name=name, error=error)


@router.get("/domains")
async def domains_page(request: Request, page: Page) -> Response:
    return await _page(request, page)


@router.post("/domains")
async def add_domain(request: Request, page: Page) -> Response:
    fields = await form_action(page, request)
    name = str(fields.get("name", "")).strip()
    try:
        added = await domains.add_domain(page.ctx, name)
    except (ValidationError, Conflict) as error:
        # The service calls the value "domain"; on this form it is the `name` field.
        message = error.reason if isinstance(error, ValidationError) else error.message
        return await _page(request, page, status=400 if isinstance(error, ValidationError) else 409, name=name,
                           error={"field": "name", "message": message})
    return redirect(URL, notice=f"Accepted domain {added} added: mail for it is now received.")


@router.post("/domains/{name}/remove")
async def remove_domain(request: Request, page: Page, name: str) -> Response:
    await form_action(page, request)
    try:
        removed = await domains.remove_domain(page.ctx, name)
    except (ValidationError, Conflict, NotFound) as error:
        status = 400 if isinstance(error, ValidationError) else 404 if isinstance(error, NotFound) else 409
        return await _page(request, page, status=status,
                           error={"field": "remove", "domain": name, "message": error.message})
    return redirect(URL, notice=f"Accepted domain {removed} removed: mail for it is now refused.")
