"""Server configuration › Hub Transport › Receive connectors: the list and the properties dialog
(General, Network, Authentication, Permission groups), each tab posting only its own fields
to `connectors.set_connector`.

Connector names contain spaces ("Client EX01"): they are percent-encoded in every URL.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import Response

from ....errors import ValidationError
from ....model import ReceiveConnector
from ....service import connectors as connector_ops
from ..base import Page, form_action, page_router, redirect, render
from ..settings_form import display_values, form_changes, notice_labels, tab_fields, typed_values
from .pop3 import describe_changes, form_errors, tab_of

router = page_router()

TABS = (("general", "General"), ("network", "Network"), ("authentication", "Authentication"),
        ("permissions", "Permission groups"))
CONNECTOR = ReceiveConnector.table()  # each property's tab, widget and label are declared there
TAB_FIELDS: dict[str, tuple[str, ...]] = tab_fields(CONNECTOR)
LABELS = notice_labels(CONNECTOR)

# Exchange's wording for the Authentication tab's mechanisms and the permission groups.
AUTH_CHOICES = (("tls", "Transport Layer Security (TLS)", "STARTTLS is offered to clients."),
                ("basic", "Basic authentication", "AUTH PLAIN and LOGIN: a user name and password."),
                ("basic-require-tls", "Offer basic authentication only after starting TLS",
                 "Passwords never cross the network unencrypted (needs both boxes above)."))
PERMISSION_CHOICES = (("anonymous", "Anonymous users", "Anonymous users",
                       "Anyone may deliver mail for this organisation's mailboxes (Internet mail)."),
                      ("users", "Authenticated users (mailboxes)", "Exchange users",
                       "Mailbox owners who logged on with AUTH may send mail anywhere (client submission)."))


def connector_url(server: str, name: str, tab: str | None = None) -> str:
    url = f"/console/servers/{quote(server, safe='')}/connectors/{quote(name, safe='')}"
    return f"{url}?tab={tab}" if tab else url


def _logs_text(view: dict[str, Any]) -> dict[str, str]:
    """The protocol-log limits as the admin would type them, for the notice (the message size is
    named in octets there, as before)."""
    return {name: text for name, text in CONNECTOR.display(view).items() if name != "max_message_size"}


@router.get("/servers/{server}/connectors")
async def connector_list(request: Request, page: Page, server: str) -> Response:
    rows = await connector_ops.list_connectors(page.ctx, server)
    return render(request, page, "console/connectors.html", rows=rows, server_name=server,
                  connector_url=connector_url)


async def _render(request: Request, page: Page, server: str, name: str, tab: str, *,
                  values: dict[str, Any] | None = None, errors: dict[str, str] | None = None,
                  alert: str | None = None, status: int = 200) -> Response:
    view = await connector_ops.show_connector(page.ctx, name, server)
    shown = {**view, **display_values(CONNECTOR, view, values), **(values or {})}
    return render(request, page, "console/connectors_properties.html", status=status, connector=view, shown=shown,
                  tab=tab, tabs=TABS, url=connector_url(view["server"], view["name"]), errors=errors or {},
                  alert=alert, auth_choices=AUTH_CHOICES, permission_choices=PERMISSION_CHOICES)


@router.get("/servers/{server}/connectors/{name}")
async def connector_properties(request: Request, page: Page, server: str, name: str,
                               tab: str | None = None) -> Response:
    return await _render(request, page, server, name, tab_of(tab, TABS))


@router.post("/servers/{server}/connectors/{name}")
async def connector_save(request: Request, page: Page, server: str, name: str) -> Response:
    fields = await form_action(page, request)
    tab = tab_of(str(fields.get("tab", "")), TABS)
    changes = form_changes(CONNECTOR, TAB_FIELDS[tab], fields)
    before = await connector_ops.show_connector(page.ctx, name, server)
    try:
        after = await connector_ops.set_connector(page.ctx, name, server, ReceiveConnector.changes(changes))
    except ValidationError as error:
        errors, alert = form_errors(error, TAB_FIELDS[tab])
        return await _render(request, page, server, name, tab, values=typed_values(CONNECTOR, changes), errors=errors,
                             alert=alert, status=400)
    changed = describe_changes({**before, **_logs_text(before)}, {**after, **_logs_text(after)}, TAB_FIELDS[tab],
                               LABELS)
    notice = (f"Receive connector {after['name']} saved: " + "; ".join(changed) + "."
              if changed else f"Nothing changed on receive connector {after['name']}.")
    return redirect(connector_url(after["server"], after["name"], tab), notice=notice)
