"""Sending mail out: send connectors (organisation-wide, Exchange's *-SendConnector) and each
server's transport settings (Get-/Set-TransportService). A smart-host password is accepted in a
request body and never answered: every view shows it as ********."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status

from ..model import SendConnector, TransportSettings
from ..service import send_connectors as send_ops
from ..service import transport as transport_ops
from .bodies import NewSendConnector, SendConnectorChanges, SendConnectorName, ServerName, TransportChanges
from .security import AdminRoute, Ctx
from .views import SendConnectorView, TransportSettingsView, documented

router = APIRouter(prefix="/api/v1", route_class=AdminRoute)


@router.get("/send-connectors", tags=["send-connectors"], **documented(list[SendConnectorView]))
async def list_send_connectors(ctx: Ctx) -> Any:
    """Every send connector, ordered by name (Exchange: Get-SendConnector)."""
    return await send_ops.list_send_connectors(ctx)


@router.post("/send-connectors", tags=["send-connectors"],
             **documented(SendConnectorView, status.HTTP_201_CREATED, "Created"))
async def new_send_connector(body: NewSendConnector, ctx: Ctx) -> Any:
    """Create a send connector (organization-management); address_spaces is required, source_servers
    defaults to the server answering (Exchange: New-SendConnector)."""
    return await send_ops.new_send_connector(ctx, body.name, SendConnector.changes(body.properties()))


@router.get("/send-connectors/{name}", tags=["send-connectors"], **documented(SendConnectorView))
async def show_send_connector(name: SendConnectorName, ctx: Ctx) -> Any:
    """Every property of one send connector; a password shows as ********."""
    return await send_ops.show_send_connector(ctx, name)


@router.patch("/send-connectors/{name}", tags=["send-connectors"], **documented(SendConnectorView))
async def set_send_connector(name: SendConnectorName, body: SendConnectorChanges, ctx: Ctx) -> Any:
    """Change a send connector's properties (Exchange: Set-SendConnector); auth_password "" removes it."""
    return await send_ops.set_send_connector(ctx, name, SendConnector.changes(body.given()))


@router.delete("/send-connectors/{name}", tags=["send-connectors"], **documented(SendConnectorView))
async def remove_send_connector(name: SendConnectorName, ctx: Ctx) -> Any:
    """Remove a send connector (Exchange: Remove-SendConnector)."""
    return await send_ops.remove_send_connector(ctx, name)


@router.get("/servers/{server}/transport", tags=["transport"], **documented(TransportSettingsView))
async def show_transport(server: ServerName, ctx: Ctx) -> Any:
    """The server's transport settings (Exchange: Get-TransportService)."""
    return await transport_ops.show_transport(ctx, server)


@router.patch("/servers/{server}/transport", tags=["transport"], **documented(TransportSettingsView))
async def set_transport(server: ServerName, body: TransportChanges, ctx: Ctx) -> Any:
    """Change transport settings; durations take 30s, 5m, 4h, 2d (Exchange: Set-TransportService)."""
    return await transport_ops.set_transport(ctx, server, TransportSettings.changes(body.given()))
