"""Organization › Recipient configuration › Accepted domains (/console/domains): the domains
postroom receives mail for. Adding and removing needs the recipients right. Each domain's DKIM
signing keys (/console/domains/{name}/dkim): the TXT records to publish; making and removing
keys needs the organization right (organization-management)."""
from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import Response

from ....errors import Conflict, NotFound, ValidationError
from ....model import DkimAlgorithm
from ....service import dkim_keys, domains
from ..base import Page, form_action, page_router, redirect, render

router = page_router()

URL = "/console/domains"


async def _page(request: Request, page: Page, *, status: int = 200, name: str = "",
                error: dict[str, Any] | None = None) -> Response:
    signing: dict[str, list[str]] = {}
    for key in await dkim_keys.list_dkim(page.ctx):
        signing.setdefault(key["domain"], []).append(key["algorithm"])
    return render(request, page, "console/domains.html", status=status, domains=await domains.list_domains(page.ctx),
                  signing=signing, name=name, error=error)


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


# DKIM signing keys ---------------------------------------------------------------------------
def _dkim_url(name: str) -> str:
    return f"{URL}/{quote(name, safe='')}/dkim"


async def _dkim_page(request: Request, page: Page, name: str, *, status: int = 200,
                     form: dict[str, Any] | None = None, error: dict[str, Any] | None = None) -> Response:
    shown = await dkim_keys.show_dkim(page.ctx, name)
    return render(request, page, "console/domains_dkim.html", status=status, shown=shown,
                  algorithms=[a.value for a in DkimAlgorithm], form=form or {}, error=error)


@router.get("/domains/{name}/dkim")
async def dkim_page(request: Request, page: Page, name: str) -> Response:
    return await _dkim_page(request, page, name)


@router.post("/domains/{name}/dkim")
async def new_dkim_key(request: Request, page: Page, name: str) -> Response:
    fields = await form_action(page, request)
    form = {"algorithm": str(fields.get("algorithm", "")).strip(), "selector": str(fields.get("selector", "")).strip()}
    try:
        key = await dkim_keys.new_dkim_key(page.ctx, name, form["algorithm"] or dkim_keys.DEFAULT_ALGORITHM,
                                           form["selector"] or None)
    except ValidationError as error:
        return await _dkim_page(request, page, name, status=400, form=form,
                                error={"field": error.field, "message": error.reason})
    except Conflict as error:
        return await _dkim_page(request, page, name, status=409, form=form,
                                error={"field": "new", "message": error.message})
    return redirect(_dkim_url(key["domain"]), notice=f"DKIM {key['algorithm']} key {key['selector']} made: publish "
                    f"its TXT record {key['dns_name']} (below); outgoing mail from {key['domain']} is signed with it.")


@router.post("/domains/{name}/dkim/{selector}/remove")
async def remove_dkim_key(request: Request, page: Page, name: str, selector: str) -> Response:
    await form_action(page, request)
    try:
        [removed] = await dkim_keys.remove_dkim_keys(page.ctx, name, selector)
    except (ValidationError, NotFound) as error:
        status = 400 if isinstance(error, ValidationError) else 404
        return await _dkim_page(request, page, name, status=status,
                                error={"field": "remove", "selector": selector, "message": error.message})
    return redirect(_dkim_url(removed["domain"]), notice=f"DKIM key {removed['selector']} removed. Keep its TXT "
                    f"record {removed['dns_name']} for a few days (mail already sent is verified with it), then "
                    "delete it.")
