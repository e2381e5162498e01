"""Organization › Recipient configuration › Mailbox: list, create, remove, reset password, and
the properties dialog (General, Mailbox Features) where POP3 is enabled per mailbox; the list
enables or disables POP3 for a selection.

The list asks the service for one page (offset/limit) and the total, so it costs the same with
10,000 mailboxes as with 10.
"""
from __future__ import annotations

import math
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import Request
from fastapi.responses import Response

from ....errors import Conflict, NotFound, ValidationError
from ....model import MailboxFeatures
from ....service import mailboxes as mailbox_ops
from ..base import Page, form_action, page_router, redirect, render
from ..settings_form import form_changes, typed_values
from .pop3 import describe_changes, form_errors, tab_of, values_of

router = page_router()

PAGE_SIZE = 50
TABS = (("general", "General"), ("features", "Mailbox Features"), ("delegation", "Mailbox Delegation"))
FEATURES = MailboxFeatures.table()
TAB_FIELDS = FEATURES.tab_fields()  # general: display name, enabled; features: POP3, IMAP4; delegation: send as
LABELS = FEATURES.labels()
# action -> (the feature it sets, its value)
BULK_ACTIONS = {"pop-enable": ("pop_enabled", True), "pop-disable": ("pop_enabled", False),
                "imap-enable": ("imap_enabled", True), "imap-disable": ("imap_enabled", False)}
NEW_FIELDS = ("address", "display_name", "password", "pop_enabled", "imap_enabled")
PROTOCOL_OF = {"pop_enabled": "POP3", "imap_enabled": "IMAP4"}  # a feature's name in notices


def mailbox_url(address: str, **query: str) -> str:
    """`/console/mailboxes/ADDRESS`: '@' kept readable, everything else that could end the path escaped."""
    url = f"/console/mailboxes/{quote(address, safe='@')}"
    return f"{url}?{urlencode(query)}" if query else url


def list_url(search: str | None, page: int) -> str:
    query = {k: v for k, v in (("search", search or ""), ("page", str(page) if page > 1 else "")) if v}
    return "/console/mailboxes" + (f"?{urlencode(query)}" if query else "")


def _page_number(value: Any) -> int:
    try:
        return max(1, int(str(value)))
    except ValueError:
        return 1


def _size(octets: int) -> str:
    if octets < 1024:
        return f"{octets} bytes"
    size = float(octets)
    for unit in ("KB", "MB", "GB"):
        size /= 1024
        if size < 1024 or unit == "GB":
            break
    return f"{size:.1f} {unit}"


# the list and the bulk action -------------------------------------------------------------------
async def _render_list(request: Request, page: Page, search: str | None, number: int, *,
                       errors: dict[str, str] | None = None, alert: str | None = None, status: int = 200) -> Response:
    search = (search or "").strip() or None
    result = await mailbox_ops.list_mailboxes(page.ctx, search, (number - 1) * PAGE_SIZE, PAGE_SIZE)
    pages = max(1, math.ceil(result["total"] / PAGE_SIZE))
    if number > pages and result["total"]:  # past the end (e.g. after a search narrowed it): the last page
        number = pages
        result = await mailbox_ops.list_mailboxes(page.ctx, search, (number - 1) * PAGE_SIZE, PAGE_SIZE)
    return render(request, page, "console/mailboxes.html", status=status, result=result, search=search or "",
                  number=number, pages=pages, page_size=PAGE_SIZE, mailbox_url=mailbox_url,
                  previous_url=list_url(search, number - 1) if number > 1 else None,
                  next_url=list_url(search, number + 1) if number < pages else None,
                  errors=errors or {}, alert=alert)


@router.get("/mailboxes")
async def mailbox_list(request: Request, page: Page, search: str | None = None) -> Response:
    # `page` is the signed-in admin here, so the query's ?page=N is read by hand.
    return await _render_list(request, page, search, _page_number(request.query_params.get("page", 1)))


@router.post("/mailboxes/bulk")
async def mailbox_bulk(request: Request, page: Page) -> Response:
    fields = await form_action(page, request)
    search, number = str(fields.get("search", "")), _page_number(fields.get("page", 1))
    action = str(fields.get("action", ""))
    addresses = values_of(fields, "address")
    if action not in BULK_ACTIONS:
        error = ValidationError("action", f"{action!r} is not an action", list(BULK_ACTIONS))
    elif not addresses:
        error = ValidationError("address", "select at least one mailbox first")
    else:
        (feature, enabled), missing = BULK_ACTIONS[action], []
        for address in addresses:
            try:
                await mailbox_ops.set_mailbox(page.ctx, address, FEATURES.changes({feature: enabled}))
            except NotFound:  # removed since the list was shown: the rest still get the change
                missing.append(address)
        done = len(addresses) - len(missing)
        state = "enabled" if enabled else "disabled"
        notice = f"{PROTOCOL_OF[feature]} {state} for {done} mailbox{'es' if done != 1 else ''}"
        notice += f": {', '.join(a for a in addresses if a not in missing)}" if done <= 5 else ""
        notice += f". Not found (removed meanwhile): {', '.join(missing)}." if missing else "."
        return redirect(list_url(search, number), notice=notice)
    errors, alert = form_errors(error, ("address", "action"))
    return await _render_list(request, page, search, number, errors=errors, alert=alert, status=400)


# create ------------------------------------------------------------------------------------------
def _render_new(request: Request, page: Page, values: dict[str, Any], errors: dict[str, str] | None = None,
                alert: str | None = None, status: int = 200) -> Response:
    return render(request, page, "console/mailboxes_new.html", status=status, values=values, errors=errors or {},
                  alert=alert)


@router.get("/mailboxes/new")
async def mailbox_new_page(request: Request, page: Page) -> Response:
    return _render_new(request, page, {"address": "", "display_name": "", "pop_enabled": True, "imap_enabled": True})


@router.post("/mailboxes/new")
async def mailbox_new(request: Request, page: Page) -> Response:
    fields = await form_action(page, request)
    # as typed: the service's one check refuses a control character rather than the form hiding it
    address = str(fields.get("address", ""))
    typed_name = str(fields.get("display_name", ""))
    display_name = typed_name if typed_name.strip(" ") else None  # left empty: the local part
    pop_enabled, imap_enabled = "pop_enabled" in fields, "imap_enabled" in fields
    values = {"address": address, "display_name": display_name or "", "pop_enabled": pop_enabled,
              "imap_enabled": imap_enabled}  # never the password
    try:
        created = await mailbox_ops.new_mailbox(page.ctx, address, str(fields.get("password", "")),
                                                display_name=display_name, pop_enabled=pop_enabled,
                                                imap_enabled=imap_enabled)
    except ValidationError as error:
        errors, alert = form_errors(error, NEW_FIELDS)
        return _render_new(request, page, values, errors, alert, 400)
    except Conflict as error:  # the address is taken: say so next to it
        return _render_new(request, page, values, {"address": error.message},
                           "Not saved: correct the field marked below.", 400)
    pop = "enabled" if created["pop_enabled"] else "disabled"
    imap = "enabled" if created["imap_enabled"] else "disabled"
    return redirect(mailbox_url(created["address"]),
                    notice=f"Mailbox {created['address']} created (POP3 {pop}, IMAP4 {imap}).")


# properties --------------------------------------------------------------------------------------
async def _render_properties(request: Request, page: Page, address: str, tab: str, *,
                             values: dict[str, Any] | None = None, errors: dict[str, str] | None = None,
                             alert: str | None = None, status: int = 200) -> Response:
    mailbox = await mailbox_ops.show_mailbox(page.ctx, address)
    return render(request, page, "console/mailboxes_properties.html", status=status, mailbox=mailbox,
                  shown={**mailbox, **(values or {})}, tab=tab, tabs=TABS, size=_size(mailbox["octets"]),
                  url=mailbox_url(mailbox["address"]), errors=errors or {}, alert=alert)


@router.get("/mailboxes/{address}")
async def mailbox_properties(request: Request, page: Page, address: str, tab: str | None = None) -> Response:
    return await _render_properties(request, page, address, tab_of(tab, TABS))


@router.post("/mailboxes/{address}")
async def mailbox_save(request: Request, page: Page, address: str) -> Response:
    fields = await form_action(page, request)
    tab = tab_of(str(fields.get("tab", "")), TABS)
    if tab == "general":  # the checkbox is on this tab: absent means unchecked
        changes: dict[str, Any] = {"display_name": str(fields.get("display_name", "")), "enabled": "enabled" in fields}
    elif tab == "delegation":  # one address a line; an emptied box removes every grant
        changes = form_changes(FEATURES, TAB_FIELDS[tab], fields)
    else:  # each feature's Enable/Disable button posts that feature only
        feature = "imap_enabled" if "imap_enabled" in fields else "pop_enabled"
        changes = {feature: str(fields.get(feature, "")).lower() in ("true", "on", "enabled")}
    before = await mailbox_ops.show_mailbox(page.ctx, address)
    try:
        after = await mailbox_ops.set_mailbox(page.ctx, address, FEATURES.changes(changes))
    except ValidationError as error:
        errors, alert = form_errors(error, TAB_FIELDS[tab])
        shown = typed_values(FEATURES, changes) if tab == "delegation" else changes
        return await _render_properties(request, page, address, tab, values=shown, errors=errors, alert=alert,
                                        status=400)
    changed = describe_changes(before, after, TAB_FIELDS[tab], LABELS)
    if tab == "features" and changed:
        notice = f"{PROTOCOL_OF[feature]} {'enabled' if after[feature] else 'disabled'} for {after['address']}."
    elif changed:
        notice = f"Mailbox {after['address']} saved: " + "; ".join(changed) + "."
    else:
        notice = f"Nothing changed on mailbox {after['address']}."
    return redirect(mailbox_url(after["address"], tab=tab), notice=notice)


@router.post("/mailboxes/{address}/password")
async def mailbox_password(request: Request, page: Page, address: str) -> Response:
    fields = await form_action(page, request)
    try:
        after = await mailbox_ops.set_password(page.ctx, address, str(fields.get("password", "")))
    except ValidationError as error:
        errors, alert = form_errors(error, ("password",))
        return await _render_properties(request, page, address, "general", errors=errors, alert=alert, status=400)
    return redirect(mailbox_url(after["address"]), notice=f"Password of {after['address']} reset.")


@router.post("/mailboxes/{address}/remove")
async def mailbox_remove(request: Request, page: Page, address: str) -> Response:
    await form_action(page, request)
    removed = await mailbox_ops.remove_mailbox(page.ctx, address)
    count = removed["messages_removed"]
    return redirect("/console/mailboxes",
                    notice=f"Mailbox {removed['address']} removed, with its {count} "
                           f"message{'s' if count != 1 else ''}.")
