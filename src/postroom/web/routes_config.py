"""The whole configuration as one document, or only what differs from the defaults (Postfix's
`postconf` and `postconf -n`; the CLI's `postroom config show [--changed]`)."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from ..service import configuration
from .security import AdminRoute, Ctx
from .views import documented

router = APIRouter(prefix="/api/v1", route_class=AdminRoute)
Changed = Annotated[bool, Query(description="Only the settings that differ from their defaults (postconf -n)")]
Server = Annotated[str | None, Query(description="A server's name, or `all`; default: the server answering",
                                     examples=["EX01"])]


class ConfigurationView(BaseModel):
    """`organization`: accepted domains, DKIM keys (selector and algorithm), the login policy,
    send connectors (a smart-host password is ******** when set), admins and their role groups,
    and the mailboxes counted; `servers`: per server, its FQDN, services, POP3 settings, receive
    connectors, transport settings and admin service. Values are raw (octets, seconds)."""

    organization: dict[str, Any]
    servers: dict[str, dict[str, Any]]


@router.get("/config", tags=["config"], **documented(ConfigurationView))
async def show_configuration(ctx: Ctx, changed: Changed = False, server: Server = None) -> Any:
    """The configuration of the organization and of a server (`server`: another, or `all`), in a
    stable order to review or diff; with `changed`, only what differs from its default."""
    return await configuration.show_configuration(ctx, server, changed=changed)
