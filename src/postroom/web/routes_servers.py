"""Per-server objects: services, POP3 and IMAP4 settings, the admin service's settings, receive connectors.

`{server}` is a server name; where the service layer gives `all` a meaning (listing services
or connectors, starting or stopping a service everywhere) it keeps it here.
"""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status

from ..model import ImapSettings, PopSettings, ReceiveConnector, WebSettings
from ..service import connectors as connector_ops
from ..service import imap as imap_ops
from ..service import pop as pop_ops
from ..service import services as service_ops
from ..service import web as web_ops
from .bodies import (
    ConnectorChanges, ConnectorName, ImapChanges, NewConnector, PopChanges, ServerName, ServiceChanges, ServiceName,
    WebChanges,
)
from .security import AdminRoute, Ctx
from .views import (
    ConnectorView, ImapSettingsView, PopSettingsView, ServicesView, ServiceView, WebSettingsView, documented,
)

router = APIRouter(prefix="/api/v1/servers/{server}", route_class=AdminRoute)
ServiceResult = ServiceView | ServicesView


# services ------------------------------------------------------------------------------------
@router.get("/services", tags=["services"], **documented(list[ServiceView]))
async def list_services(server: ServerName, ctx: Ctx) -> Any:
    """Each service: desired status, startup type, and what the node really does."""
    return await service_ops.list_services(ctx, server)


@router.patch("/services/{name}", tags=["services"], **documented(ServiceResult))
async def set_service(server: ServerName, name: ServiceName, body: ServiceChanges, ctx: Ctx) -> Any:
    """Set the startup type: automatic, manual or disabled."""
    return await service_ops.set_service(ctx, name, startup=body.startup, server=server)


@router.post("/services/{name}/start", tags=["services"], **documented(ServiceResult))
async def start_service(server: ServerName, name: ServiceName, ctx: Ctx) -> Any:
    """Start a service (refused while its startup type is disabled)."""
    return await service_ops.start_service(ctx, name, server)


@router.post("/services/{name}/stop", tags=["services"], **documented(ServiceResult))
async def stop_service(server: ServerName, name: ServiceName, ctx: Ctx) -> Any:
    """Stop a service: its listeners close and its connections are dropped."""
    return await service_ops.stop_service(ctx, name, server)


@router.post("/services/{name}/restart", tags=["services"], **documented(ServiceResult))
async def restart_service(server: ServerName, name: ServiceName, ctx: Ctx) -> Any:
    """Stop, then start a service (settings changes never need this: they apply live)."""
    return await service_ops.restart_service(ctx, name, server)


# POP3 settings -------------------------------------------------------------------------------
@router.get("/pop-settings", tags=["pop"], **documented(PopSettingsView))
async def show_pop(server: ServerName, ctx: Ctx) -> Any:
    """The server's POP3 settings (Exchange: Get-PopSettings)."""
    return await pop_ops.show_pop(ctx, server)


@router.patch("/pop-settings", tags=["pop"], **documented(PopSettingsView))
async def set_pop(server: ServerName, body: PopChanges, ctx: Ctx) -> Any:
    """Change POP3 settings; every change applies live (Exchange: Set-PopSettings)."""
    return await pop_ops.set_pop(ctx, server, PopSettings.changes(body.given()))


# IMAP4 settings ------------------------------------------------------------------------------
@router.get("/imap-settings", tags=["imap"], **documented(ImapSettingsView))
async def show_imap(server: ServerName, ctx: Ctx) -> Any:
    """The server's IMAP4 settings (Exchange: Get-ImapSettings)."""
    return await imap_ops.show_imap(ctx, server)


@router.patch("/imap-settings", tags=["imap"], **documented(ImapSettingsView))
async def set_imap(server: ServerName, body: ImapChanges, ctx: Ctx) -> Any:
    """Change IMAP4 settings; every change applies live (Exchange: Set-ImapSettings)."""
    return await imap_ops.set_imap(ctx, server, ImapSettings.changes(body.given()))


# the admin service ---------------------------------------------------------------------------
@router.get("/web-settings", tags=["web"], **documented(WebSettingsView))
async def show_web(server: ServerName, ctx: Ctx) -> Any:
    """Where the REST API and the console listen, the console's session timeout, and the
    listeners' connection caps and timeouts."""
    return await web_ops.show_web(ctx, server)


@router.patch("/web-settings", tags=["web"], **documented(WebSettingsView))
async def set_web(server: ServerName, body: WebChanges, ctx: Ctx) -> Any:
    """Change the admin service's bindings, session timeout, connection caps or timeouts; applies live."""
    return await web_ops.set_web(ctx, server, WebSettings.changes(body.given()))


# receive connectors --------------------------------------------------------------------------
@router.get("/receive-connectors", tags=["connectors"], **documented(list[ConnectorView]))
async def list_connectors(server: ServerName, ctx: Ctx) -> Any:
    """The server's receive connectors (server `all`: every server's)."""
    return await connector_ops.list_connectors(ctx, server)


@router.post("/receive-connectors", tags=["connectors"],
             **documented(ConnectorView, status.HTTP_201_CREATED, "Created"))
async def new_connector(server: ServerName, body: NewConnector, ctx: Ctx) -> Any:
    """Create a receive connector of a usage type (custom needs bindings); explicit properties win."""
    return await connector_ops.new_connector(ctx, body.name, server, body.usage,
                                            ReceiveConnector.changes(body.properties()))


@router.get("/receive-connectors/{name}", tags=["connectors"], **documented(ConnectorView))
async def show_connector(server: ServerName, name: ConnectorName, ctx: Ctx) -> Any:
    """Every property of one connector, and its state on the node."""
    return await connector_ops.show_connector(ctx, name, server)


@router.patch("/receive-connectors/{name}", tags=["connectors"], **documented(ConnectorView))
async def set_connector(server: ServerName, name: ConnectorName, body: ConnectorChanges, ctx: Ctx) -> Any:
    """Change a connector's properties; applies live."""
    return await connector_ops.set_connector(ctx, name, server, ReceiveConnector.changes(body.given()))


@router.delete("/receive-connectors/{name}", tags=["connectors"], **documented(ConnectorView))
async def remove_connector(server: ServerName, name: ConnectorName, ctx: Ctx) -> Any:
    """Remove a connector: its listeners close and its connections are dropped."""
    return await connector_ops.remove_connector(ctx, name, server)
