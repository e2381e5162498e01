"""Login security: the blocks started by repeated failed POP3/SMTP logins, lifting them, and
the organization's policy that starts them."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from ..model import LoginPolicy
from ..service import security as security_ops
from .bodies import LoginPolicyChanges
from .security import AdminRoute, Ctx
from .views import BlockView, LoginPolicyView, documented

router = APIRouter(prefix="/api/v1", route_class=AdminRoute)
BlockValue = Annotated[str, Path(description="A blocked source IP address or mailbox name", examples=["192.0.2.7"])]


@router.get("/security/blocks", tags=["security"], **documented(list[BlockView]))
async def list_blocks(ctx: Ctx) -> Any:
    """Sources and mailboxes refused for now after repeated failed logins, oldest first."""
    return await security_ops.list_blocks(ctx)


@router.delete("/security/blocks/{value}", tags=["security"], **documented(list[BlockView]))
async def clear_block(value: BlockValue, ctx: Ctx) -> Any:
    """Lift the blocks on a source IP or mailbox (404 when there is none); running nodes stop
    applying them within a second. Answers the blocks lifted."""
    return await security_ops.clear_block(ctx, value)


@router.delete("/security/blocks", tags=["security"], **documented(list[BlockView]))
async def clear_all_blocks(ctx: Ctx) -> Any:
    """Lift every block (`postroom security blocks --clear-all`); answers the blocks lifted
    (an empty list when there were none)."""
    return await security_ops.clear_all_blocks(ctx)


@router.get("/security/policy", tags=["security"], **documented(LoginPolicyView))
async def show_policy(ctx: Ctx) -> Any:
    """The login block policy every server applies (`postroom security policy`)."""
    return await security_ops.login_policy(ctx)


@router.patch("/security/policy", tags=["security"], **documented(LoginPolicyView))
async def set_policy(body: LoginPolicyChanges, ctx: Ctx) -> Any:
    """Change the login block policy (server-management); running nodes apply it within a second."""
    return await security_ops.set_login_policy(ctx, LoginPolicy.changes(body.given()))
