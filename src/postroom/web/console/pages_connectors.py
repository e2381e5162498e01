"""Server configuration › Hub Transport › Receive connectors: the list and the properties dialog
(General, Network, Authentication, Permission groups), each tab posting only its own fields
to `connectors.set_connector`.

Connector names contain spaces ("Client EX01"): they are percent-encoded in every URL.
"""
from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import Response

from ...errors import ValidationError
from ...service import connectors as connector_ops
from .base import Page, form_action, redirect, render, router
from .pages_pop3 import describe_changes, form_errors, log_limits_text, tab_of, values_of

TABS = (("general", "General"), ("network", "Network"), ("authentication", "Authentication"),
        ("permissions", "Permission groups"))
TAB_FIELDS: dict[str, tuple[str, ...]] = {
    "general": ("enabled", "banner", "fqdn", "max_message_size", "max_recipients_per_message",
                "max_inbound_connections", "max_inbound_connections_per_source", "connection_timeout",
                "connection_inactivity_timeout", "protocol_log", "protocol_log_max_age",
                "protocol_log_max_directory_size", "protocol_log_max_file_size"),
    "network": ("bindings", "remote_ip_ranges", "proxy_protocol", "proxy_trusted_networks"),
    "authentication": ("auth", "require_tls"),
    "permissions": ("permission_groups",),
}
CHECKBOXES = frozenset({"enabled", "protocol_log", "require_tls", "proxy_protocol"})
CHECKBOX_LISTS = frozenset({"auth", "permission_groups"})
LINE_LISTS = frozenset({"bindings", "remote_ip_ranges", "proxy_trusted_networks"})  # textareas, one value per line
LABELS = {"auth": "authentication", "permission_groups": "permission groups", "require_tls": "require TLS",
          "fqdn": "FQDN", "remote_ip_ranges": "remote IP ranges", "protocol_log": "protocol logging",
          "protocol_log_max_age": "log maximum age", "protocol_log_max_directory_size": "log folder size limit",
          "protocol_log_max_file_size": "log file size limit", "proxy_protocol": "PROXY protocol",
          "proxy_trusted_networks": "load balancers"}

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


def _size_text(octets: int) -> str:
    """36MB rather than 37748736: what the admin would type (the service reads either)."""
    for unit, factor in (("GB", 1024 ** 3), ("MB", 1024 ** 2), ("KB", 1024)):
        if octets % factor == 0:
            return f"{octets // factor}{unit}"
    return str(octets)


def _changes(tab: str, fields: dict[str, Any]) -> dict[str, Any]:
    """The tab's fields in the service's names. Unchecked boxes and emptied lists are sent too;
    no authentication box at all means Exchange's None."""
    changes: dict[str, Any] = {}
    for name in TAB_FIELDS[tab]:
        if name in CHECKBOXES:
            changes[name] = name in fields
        elif name in CHECKBOX_LISTS:
            chosen = ",".join(values_of(fields, name))
            changes[name] = chosen or ("none" if name == "auth" else "")
        elif name in LINE_LISTS:
            lines = re.split(r"[\s,]+", str(fields.get(name, "")))
            changes[name] = ",".join(line for line in lines if line)
        elif name in fields:
            changes[name] = str(fields[name]).strip()
    return changes


def _typed(changes: dict[str, Any]) -> dict[str, Any]:
    lists = CHECKBOX_LISTS | LINE_LISTS
    return {name: ([v for v in value.split(",") if v] if name in lists else value) for name, value in changes.items()}


@router.get("/servers/{server}/connectors")
async def connector_list(request: Request, page: Page, server: str) -> Response:
    rows = await connector_ops.list_connectors(page.ctx, server)
    return render(request, page, "console/connectors.html", rows=rows, server_name=server,
                  connector_url=connector_url)


async def _render(request: Request, page: Page, server: str, name: str, tab: str, *,
                  values: dict[str, Any] | None = None, errors: dict[str, str] | None = None,
                  alert: str | None = None, status: int = 200) -> Response:
    view = await connector_ops.show_connector(page.ctx, name, server)
    shown = {**view, **log_limits_text(view, values), **(values or {})}
    if not values or "max_message_size" not in values:
        shown["max_message_size"] = _size_text(view["max_message_size"])
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
    changes = _changes(tab, fields)
    before = await connector_ops.show_connector(page.ctx, name, server)
    try:
        after = await connector_ops.set_connector(page.ctx, name, server, **changes)
    except ValidationError as error:
        errors, alert = form_errors(error, TAB_FIELDS[tab])
        return await _render(request, page, server, name, tab, values=_typed(changes), errors=errors, alert=alert,
                             status=400)
    changed = describe_changes({**before, **log_limits_text(before, None)}, {**after, **log_limits_text(after, None)},
                               TAB_FIELDS[tab], LABELS)
    notice = (f"Receive connector {after['name']} saved: " + "; ".join(changed) + "."
              if changed else f"Nothing changed on receive connector {after['name']}.")
    return redirect(connector_url(after["server"], after["name"], tab), notice=notice)
