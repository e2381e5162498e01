"""Server configuration › Client Access › POP3: the properties dialog with Exchange's tabs.

Each tab is one form that posts only its own fields to `pop.set_pop`, so saving one tab never
rewrites what another shows. The Binding tab edits each list as one text input per binding,
plus an empty one to add a binding, and a Remove button per row (which submits the form
without that row). The client settings for applications are shown under every tab.
"""
from __future__ import annotations

import asyncio
from typing import Any, Iterable

from fastapi import Request
from fastapi.responses import Response

from ....errors import ValidationError
from ....model import PopSettings
from ....service import client_settings as client_ops
from ....service import pop as pop_ops
from ....service import services as service_ops
from ....tls import certificate_info
from ..base import Page, form_action, page_router, redirect, render
from ..settings_form import display_values, form_changes, notice_labels, tab_fields, typed_values

router = page_router()

TABS = (("general", "General"), ("binding", "Binding"), ("authentication", "Authentication"),
        ("connection", "Connection"), ("retrieval", "Retrieval"), ("certificate", "Certificate"))
POP = PopSettings.table()  # each setting's tab, label, widget and form label are declared there
TAB_FIELDS: dict[str, tuple[str, ...]] = tab_fields(POP)
LABELS = notice_labels(POP)


# form helpers, shared with the mailbox and connector pages -------------------------------------
def values_of(fields: dict[str, Any], name: str) -> list[str]:
    """A field that may repeat (checkboxes, one input per list item), as a list of non-empty texts."""
    value = fields.get(name, [])
    items = value if isinstance(value, list) else [value]
    return [str(v).strip() for v in items if str(v).strip()]


def form_errors(error: ValidationError, shown: Iterable[str]) -> tuple[dict[str, str], str]:
    """(field -> message, alert): the message goes next to its field when the form shows that
    field, and into the alert on top otherwise (e.g. a certificate needed by a new SSL binding)."""
    if error.field in set(shown):
        return {error.field: error.message}, "Not saved: correct the field marked below."
    return {}, f"Not saved: {error.message}"


def describe_changes(before: dict[str, Any], after: dict[str, Any], names: Iterable[str],
                     labels: dict[str, str]) -> list[str]:
    """'max command size: 1024' for every field among `names` whose value changed."""
    changed = []
    for name in names:
        if before.get(name) != after.get(name):
            value = after.get(name)
            text = ", ".join(value) if isinstance(value, list) else value
            if isinstance(value, bool):
                text = "on" if value else "off"
            shown = text if text not in (None, "") else "(none)"
            changed.append(f"{labels.get(name, name.replace('_', ' '))}: {shown}")
    return changed


def tab_of(tab: str | None, tabs: tuple[tuple[str, str], ...]) -> str:
    names = [name for name, _ in tabs]
    return tab if tab in names else names[0]


# POP3 properties -------------------------------------------------------------------------------
async def _certificate(path: str | None) -> dict[str, Any]:
    if not path:
        return {"error": "No certificate is set: SSL bindings and STLS cannot work."}
    try:
        return await asyncio.to_thread(certificate_info, path)
    except ValidationError as error:
        return {"error": error.reason}


def _binding_states(bindings: list[str], service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per binding: listening or not, and the node's bind errors for it (port in use, ...)."""
    listening = {entry.split(" ", 1)[0] for entry in service.get("listening", [])}
    return {b: {"listening": b in listening,
                "warnings": [e[len(b) + 1:].strip() for e in service.get("errors", []) if e.startswith(f"{b}:")]}
            for b in bindings}


async def _render(request: Request, page: Page, server: str, tab: str, *, values: dict[str, Any] | None = None,
                  errors: dict[str, str] | None = None, alert: str | None = None, status: int = 200) -> Response:
    settings = await pop_ops.show_pop(page.ctx, server)
    service = next((s for s in await service_ops.list_services(page.ctx, server) if s["name"] == "pop3"), {})
    shown = {**settings, **display_values(POP, settings, values), **(values or {})}
    clients = await client_ops.client_settings(page.ctx, server)
    extra: dict[str, Any] = {}
    if tab == "binding":
        extra["binding_states"] = _binding_states(shown["bindings"] + shown["ssl_bindings"], service)
        extra["other_errors"] = [e for e in service.get("errors", [])
                                 if not any(e.startswith(f"{b}:") for b in extra["binding_states"])]
    if tab == "certificate":
        extra["certificate_info"] = await _certificate(settings["certificate"])
    return render(request, page, "console/pop3.html", status=status, server_name=settings["server"], tab=tab,
                  tabs=TABS, settings=POP, pop=shown, service=service, clients=clients,
                  clients_text=client_ops.settings_text(clients), errors=errors or {}, alert=alert, **extra)


@router.get("/servers/{server}/pop3")
async def pop3_page(request: Request, page: Page, server: str, tab: str | None = None) -> Response:
    return await _render(request, page, server, tab_of(tab, TABS))


@router.post("/servers/{server}/pop3")
async def pop3_save(request: Request, page: Page, server: str) -> Response:
    fields = await form_action(page, request)
    tab = tab_of(str(fields.get("tab", "")), TABS)
    changes = form_changes(POP, TAB_FIELDS[tab], fields)
    before = await pop_ops.show_pop(page.ctx, server)
    try:
        after = await pop_ops.set_pop(page.ctx, server, PopSettings.changes(changes))
    except ValidationError as error:
        errors, alert = form_errors(error, TAB_FIELDS[tab])
        return await _render(request, page, server, tab, values=typed_values(POP, changes), errors=errors, alert=alert,
                             status=400)
    title = dict(TABS)[tab]
    changed = describe_changes({**before, **POP.display(before)}, {**after, **POP.display(after)},
                               TAB_FIELDS[tab], LABELS)
    notice = (f"POP3 {title} settings of {after['server']} saved: " + "; ".join(changed) + "."
              if changed else f"Nothing changed on the POP3 {title} tab of {after['server']}.")
    return redirect(f"/console/servers/{after['server']}/pop3?tab={tab}", notice=notice)
