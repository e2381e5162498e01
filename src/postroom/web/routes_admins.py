"""Admin principals, their API tokens, and the logs an admin reads (audit, message tracking)."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status

from ..service import admins as admin_ops
from ..service import logs as log_ops
from .bodies import AdminChanges, AdminName, NewAdmin, NewPassword, NewToken, TokenId
from .security import AdminRoute, Ctx
from .views import (
    AdminDetail, AdminRemoved, AdminView, AuditEntryView, NewTokenView, TokenView, TrackingEventView, documented,
)

router = APIRouter(prefix="/api/v1", route_class=AdminRoute)
CREATED = status.HTTP_201_CREATED


# principals ----------------------------------------------------------------------------------
@router.get("/admins", tags=["admins"], **documented(list[AdminView]))
async def list_admins(ctx: Ctx) -> Any:
    """Admin principals and their role groups."""
    return await admin_ops.list_admins(ctx)


@router.post("/admins", tags=["admins"], **documented(AdminView, CREATED, "Created"))
async def new_admin(body: NewAdmin, ctx: Ctx) -> Any:
    """Create an admin principal holding one or more role groups."""
    return await admin_ops.new_admin(ctx, body.name, body.password, body.roles)


@router.get("/admins/{name}", tags=["admins"], **documented(AdminDetail))
async def show_admin(name: AdminName, ctx: Ctx) -> Any:
    """One principal, its role groups and how many API tokens it has."""
    return await admin_ops.show_admin(ctx, name)


@router.patch("/admins/{name}", tags=["admins"], **documented(AdminView))
async def set_roles(name: AdminName, body: AdminChanges, ctx: Ctx) -> Any:
    """Replace a principal's role groups."""
    return await admin_ops.set_roles(ctx, name, body.roles)


@router.delete("/admins/{name}", tags=["admins"], **documented(AdminRemoved))
async def remove_admin(name: AdminName, ctx: Ctx) -> Any:
    """Remove a principal; its API tokens go with it."""
    return await admin_ops.remove_admin(ctx, name)


@router.post("/admins/{name}/password", tags=["admins"], **documented(AdminView))
async def set_admin_password(name: AdminName, body: NewPassword, ctx: Ctx) -> Any:
    """Set a principal's password (any principal may set its own)."""
    return await admin_ops.set_admin_password(ctx, name, body.password)


# API tokens ----------------------------------------------------------------------------------
@router.get("/admins/{name}/tokens", tags=["tokens"], **documented(list[TokenView]))
async def list_admin_tokens(name: AdminName, ctx: Ctx) -> Any:
    """A principal's API tokens (never the secrets)."""
    return await admin_ops.list_tokens(ctx, name)


@router.post("/admins/{name}/tokens", tags=["tokens"], **documented(NewTokenView, CREATED, "Created"))
async def new_token(name: AdminName, body: NewToken, ctx: Ctx) -> Any:
    """A new bearer token acting with the principal's roles; `token` is shown this once."""
    return await admin_ops.new_token(ctx, name, description=body.description, expires=body.expires)


@router.get("/tokens", tags=["tokens"], **documented(list[TokenView]))
async def list_tokens(ctx: Ctx) -> Any:
    """Every principal's API tokens (never the secrets)."""
    return await admin_ops.list_tokens(ctx)


@router.delete("/tokens/{token_id}", tags=["tokens"], **documented(TokenView))
async def revoke_token(token_id: TokenId, ctx: Ctx) -> Any:
    """Revoke an API token at once (any principal may revoke its own)."""
    return await admin_ops.revoke_token(ctx, token_id)


# logs ----------------------------------------------------------------------------------------
@router.get("/audit", tags=["logs"], **documented(list[AuditEntryView]))
async def list_audit(ctx: Ctx, limit: int = 50, target: str | None = None, actor: str | None = None,
                     action: str | None = None, channel: str | None = None, outcome: str | None = None,
                     since: str | None = None) -> Any:
    """Who changed what, newest first; `since` is an ISO-8601 time or a duration back (30m, 2d)."""
    return await log_ops.list_audit(ctx, limit, target, actor=actor, action=action, channel=channel,
                                    outcome=outcome, since=since)


@router.get("/message-tracking", tags=["logs"], **documented(list[TrackingEventView]))
async def list_tracking(ctx: Ctx, sender: str | None = None, recipient: str | None = None,
                        message_id: str | None = None, since: str | None = None, limit: int = 1000,
                        event_id: str | None = None, queue_id: str | None = None) -> Any:
    """Tracking events, oldest first (Exchange: Get-MessageTrackingLog): RECEIVE, DELIVER, FAIL,
    and for mail sent out SEND, DEFER, FAIL with the next hop's reply and host in `status`,
    DSN, RESUBMIT, POISONMESSAGE. `event_id` and `queue_id` filter them."""
    return await log_ops.list_tracking(ctx, sender, recipient, message_id, since, limit, event_id=event_id,
                                       queue_id=queue_id)
