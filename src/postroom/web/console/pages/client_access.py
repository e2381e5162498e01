"""Server configuration › Client Access › POP3 and IMAP4: one properties dialog with Exchange's
tabs, for either protocol (pop3.py and imap4.py route to it).

Each tab is one form that posts only its own fields to the protocol's set operation, so saving
one tab never rewrites what another shows. The Binding tab edits each list as one text input per
binding, plus an empty one to add a binding, and a Remove button per row (which submits the form
without that row). The client settings for applications are shown under every tab.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from fastapi import Request
from fastapi.responses import Response

from ....errors import ValidationError
from ....service import client_settings as client_ops
from ....service import services as service_ops
from ....service.context import Context
from ....settings_table import Changes, SettingsTable
from ....tls import certificate_info
from ..base import Page, form_action, redirect, render
from ..settings_form import display_values, form_changes, notice_labels, tab_fields, typed_values
from .form_helpers import describe_changes, form_errors, tab_of

TABS = (("general", "General"), ("binding", "Binding"), ("authentication", "Authentication"),
        ("connection", "Connection"), ("retrieval", "Retrieval"), ("certificate", "Certificate"))


@dataclass(frozen=True)
class ClientAccess:
    """What differs between the POP3 and the IMAP4 dialog."""

    service: str  # pop3, imap4: the service's name and the page's path
    name: str  # POP3, IMAP4: as the admin reads it
    starttls: str  # the verb that upgrades a plain connection: STLS, STARTTLS
    ports: tuple[int, int]  # Exchange's plain and SSL ports: the placeholders of new bindings
    greeting: str  # what the banner follows on the wire
    table: SettingsTable  # each setting's tab, label, widget and form label are declared there
    show: Callable[[Context, str], Awaitable[dict[str, Any]]]
    save: Callable[[Context, str, Changes], Awaitable[dict[str, Any]]]

    @property
    def tab_fields(self) -> dict[str, tuple[str, ...]]:
        return tab_fields(self.table)


async def _certificate(path: str | None, proto: ClientAccess) -> dict[str, Any]:
    if not path:
        return {"error": f"No certificate is set: SSL bindings and {proto.starttls} cannot work."}
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


async def render_page(request: Request, page: Page, proto: ClientAccess, server: str, tab: str, *,
                      values: dict[str, Any] | None = None, errors: dict[str, str] | None = None,
                      alert: str | None = None, status: int = 200) -> Response:
    settings = await proto.show(page.ctx, server)
    service = next((s for s in await service_ops.list_services(page.ctx, server) if s["name"] == proto.service), {})
    shown = {**settings, **display_values(proto.table, settings, values), **(values or {})}
    clients = await client_ops.client_settings(page.ctx, server)
    extra: dict[str, Any] = {}
    if tab == "binding":
        extra["binding_states"] = _binding_states(shown["bindings"] + shown["ssl_bindings"], service)
        extra["other_errors"] = [e for e in service.get("errors", [])
                                 if not any(e.startswith(f"{b}:") for b in extra["binding_states"])]
    if tab == "certificate":
        extra["certificate_info"] = await _certificate(settings["certificate"], proto)
    return render(request, page, "console/client_access.html", status=status, server_name=settings["server"],
                  tab=tab, tabs=TABS, proto=proto, settings=proto.table, values=shown, service=service,
                  clients=clients, clients_text=client_ops.settings_text(clients), errors=errors or {}, alert=alert,
                  **extra)


async def show_page(request: Request, page: Page, proto: ClientAccess, server: str, tab: str | None) -> Response:
    return await render_page(request, page, proto, server, tab_of(tab, TABS))


async def save_tab(request: Request, page: Page, proto: ClientAccess, server: str) -> Response:
    fields = await form_action(page, request)
    tab = tab_of(str(fields.get("tab", "")), TABS)
    names = proto.tab_fields.get(tab, ())
    changes = form_changes(proto.table, names, fields)
    before = await proto.show(page.ctx, server)
    try:
        after = await proto.save(page.ctx, server, proto.table.changes(changes))
    except ValidationError as error:
        errors, alert = form_errors(error, names)
        return await render_page(request, page, proto, server, tab, values=typed_values(proto.table, changes),
                                 errors=errors, alert=alert, status=400)
    title = dict(TABS)[tab]
    changed = describe_changes({**before, **proto.table.display(before)}, {**after, **proto.table.display(after)},
                               names, notice_labels(proto.table))
    notice = (f"{proto.name} {title} settings of {after['server']} saved: " + "; ".join(changed) + "."
              if changed else f"Nothing changed on the {proto.name} {title} tab of {after['server']}.")
    return redirect(f"/console/servers/{after['server']}/{proto.service}?tab={tab}", notice=notice)
