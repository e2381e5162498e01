"""Mail flow › Send connectors (list, new, the properties dialog with its General, Delivery and
Security tabs, remove) and Mail flow › Transport settings of a server: each form posts to
service/send_connectors.py or service/transport.py, as the CLI and the REST API do.

The forms are generated from the settings tables (model/outbound.py): each property's tab,
label and hint are declared there. The smart-host password field is write-only: it is never
filled in, an empty field keeps the stored password, and "Remove the password" clears it.
Connector names may contain spaces: they are percent-encoded in every URL.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import Response

from ....errors import Conflict, ValidationError
from ....model import SendConnector, SmartHostAuth, TlsAuthLevel, TransportSettings
from ....service import send_connectors as send_ops
from ....service import transport as transport_ops
from ..base import Page, form_action, page_router, redirect, render
from ..settings_form import display_values, form_changes, notice_labels, tab_fields, typed_values
from .pop3 import describe_changes, form_errors, tab_of

router = page_router()

LIST_URL = "/console/send-connectors"
TABS = (("general", "General"), ("delivery", "Delivery"), ("security", "Security"))
SEND = SendConnector.table()
TAB_FIELDS = tab_fields(SEND)
LABELS = notice_labels(SEND)
NEW_FIELDS = ("name", "address_spaces", "dns_routing", "smart_hosts", "source_servers")
TRANSPORT = TransportSettings.table()
TRANSPORT_TABS = tab_fields(TRANSPORT)
TRANSPORT_FIELDS = tuple(name for names in TRANSPORT_TABS.values() for name in names)
TRANSPORT_LABELS = notice_labels(TRANSPORT)
# the choices of the settings shown as a drop-down list: (value, label)
CHOICES: dict[str, tuple[tuple[str, str], ...]] = {
    "smart_host_auth": ((SmartHostAuth.NONE.value, "None"),
                        (SmartHostAuth.BASIC.value, "Basic authentication (only after STARTTLS)")),
    "tls_auth_level": (("", "None (opportunistic, or any certificate when TLS is required)"),
                       (TlsAuthLevel.ENCRYPTION_ONLY.value, "Encryption only"),
                       (TlsAuthLevel.CERTIFICATE_VALIDATION.value, "Certificate validation"),
                       (TlsAuthLevel.DOMAIN_VALIDATION.value, "Domain validation")),
}


def connector_url(name: str, tab: str | None = None) -> str:
    url = f"{LIST_URL}/{quote(name, safe='')}"
    return f"{url}?tab={tab}" if tab else url


def transport_url(server: str) -> str:
    return f"/console/servers/{quote(server, safe='')}/transport"


def _tab_changes(fields: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """What a tab asks for: the password only when typed (empty keeps it) or removed."""
    changes = form_changes(SEND, [n for n in names if n != "auth_password"], fields)
    if "auth_password" in names:
        typed = str(fields.get("auth_password", ""))
        if "remove_auth_password" in fields:
            changes["auth_password"] = ""
        elif typed:
            changes["auth_password"] = typed
    return changes


# the list and remove ----------------------------------------------------------------------------
@router.get("/send-connectors")
async def send_connector_list(request: Request, page: Page) -> Response:
    rows = await send_ops.list_send_connectors(page.ctx)
    return render(request, page, "console/send_connectors.html", rows=rows, connector_url=connector_url)


@router.post("/send-connectors/{name}/remove")
async def send_connector_remove(request: Request, page: Page, name: str) -> Response:
    await form_action(page, request)
    removed = await send_ops.remove_send_connector(page.ctx, name)
    return redirect(LIST_URL, notice=f"Send connector {removed['name']} removed: mail for "
                                     f"{', '.join(removed['address_spaces'])} no longer leaves through it.")


# create ------------------------------------------------------------------------------------------
def _render_new(request: Request, page: Page, values: dict[str, Any], errors: dict[str, str] | None = None,
                alert: str | None = None, status: int = 200) -> Response:
    return render(request, page, "console/send_connectors_new.html", status=status, values=values,
                  errors=errors or {}, alert=alert, settings=SEND)


@router.get("/send-connectors/new")
async def send_connector_new_page(request: Request, page: Page) -> Response:
    return _render_new(request, page, {"name": "", "address_spaces": ["*"], "dns_routing": True, "smart_hosts": [],
                                       "source_servers": [page.ctx.local_server]})


@router.post("/send-connectors/new")
async def send_connector_new(request: Request, page: Page) -> Response:
    fields = await form_action(page, request)
    name = str(fields.get("name", ""))
    changes = form_changes(SEND, NEW_FIELDS[1:], fields)
    values = {"name": name, **typed_values(SEND, changes)}
    try:
        created = await send_ops.new_send_connector(page.ctx, name, SendConnector.changes(changes))
    except ValidationError as error:
        errors, alert = form_errors(error, NEW_FIELDS)
        return _render_new(request, page, values, errors, alert, 400)
    except Conflict as error:  # the name is taken: say so next to it
        return _render_new(request, page, values, {"name": error.message},
                           "Not saved: correct the field marked below.", 400)
    how = "by DNS (MX records)" if created["dns_routing"] else f"through {', '.join(created['smart_hosts'])}"
    return redirect(connector_url(created["name"]), notice=f"Send connector {created['name']} created: mail for "
                    f"{', '.join(created['address_spaces'])} is sent {how}.")


# properties --------------------------------------------------------------------------------------
async def _render(request: Request, page: Page, name: str, tab: str, *, values: dict[str, Any] | None = None,
                  errors: dict[str, str] | None = None, alert: str | None = None, status: int = 200) -> Response:
    view = await send_ops.show_send_connector(page.ctx, name)
    shown = {**view, **display_values(SEND, view, values), **(values or {})}
    return render(request, page, "console/send_connectors_properties.html", status=status, connector=view,
                  shown=shown, tab=tab, tabs=TABS, fields=[SEND[n] for n in TAB_FIELDS[tab]], choices=CHOICES,
                  url=connector_url(view["name"]), errors=errors or {}, alert=alert)


@router.get("/send-connectors/{name}")
async def send_connector_properties(request: Request, page: Page, name: str, tab: str | None = None) -> Response:
    return await _render(request, page, name, tab_of(tab, TABS))


@router.post("/send-connectors/{name}")
async def send_connector_save(request: Request, page: Page, name: str) -> Response:
    fields = await form_action(page, request)
    tab = tab_of(str(fields.get("tab", "")), TABS)
    changes = _tab_changes(fields, TAB_FIELDS[tab])
    before = await send_ops.show_send_connector(page.ctx, name)
    try:
        after = await send_ops.set_send_connector(page.ctx, name, SendConnector.changes(changes))
    except ValidationError as error:
        typed = typed_values(SEND, {k: v for k, v in changes.items() if k != "auth_password"})
        errors, alert = form_errors(error, TAB_FIELDS[tab])
        return await _render(request, page, name, tab, values=typed, errors=errors, alert=alert, status=400)
    changed = describe_changes(before, after, [n for n in TAB_FIELDS[tab] if n != "auth_password"], LABELS)
    if "auth_password" in changes:
        changed.append("password: " + ("set" if changes["auth_password"] else "removed"))
    notice = (f"Send connector {after['name']} saved: " + "; ".join(changed) + "."
              if changed else f"Nothing changed on send connector {after['name']}.")
    return redirect(connector_url(after["name"], tab), notice=notice)


# transport settings of a server ------------------------------------------------------------------
async def _render_transport(request: Request, page: Page, server: str, *, typed: dict[str, Any] | None = None,
                            errors: dict[str, str] | None = None, alert: str | None = None,
                            status: int = 200) -> Response:
    view = await transport_ops.show_transport(page.ctx, server)
    shown = {**view, **display_values(TRANSPORT, view, typed), **(typed or {})}
    groups = [(title, [TRANSPORT[n] for n in TRANSPORT_TABS[tab]])
              for tab, title in (("transport", "Retries and expiry"), ("limits", "Limits"))]
    return render(request, page, "console/transport.html", status=status, server_name=view["server"], shown=shown,
                  groups=groups, url=transport_url(view["server"]), errors=errors or {}, alert=alert)


@router.get("/servers/{server}/transport")
async def transport_page(request: Request, page: Page, server: str) -> Response:
    return await _render_transport(request, page, server)


@router.post("/servers/{server}/transport")
async def transport_save(request: Request, page: Page, server: str) -> Response:
    fields = await form_action(page, request)
    changes = form_changes(TRANSPORT, TRANSPORT_FIELDS, fields)
    before = await transport_ops.show_transport(page.ctx, server)
    try:
        after = await transport_ops.set_transport(page.ctx, server, TransportSettings.changes(changes))
    except ValidationError as error:
        errors, alert = form_errors(error, TRANSPORT_FIELDS)
        return await _render_transport(request, page, server, typed=typed_values(TRANSPORT, changes), errors=errors,
                                       alert=alert, status=400)
    changed = describe_changes({**before, **TRANSPORT.display(before)}, {**after, **TRANSPORT.display(after)},
                               TRANSPORT_FIELDS, TRANSPORT_LABELS)
    notice = ("Transport settings saved: " + "; ".join(changed) + "." if changed
              else "Nothing changed in the transport settings.")
    return redirect(transport_url(after["server"]), notice=notice)
