"""Admin principals and their API tokens (Exchange: role groups and their members).

Organization-management manages every principal; any principal may change its own password
and create, list and revoke its own tokens. A token is shown once; only a hash is kept.
"""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timezone
from typing import Any

from ..errors import Conflict, NotFound, ValidationError
from ..model import Admin, ApiToken, admin_name, role_groups
from ..validation import utf8_text
from .context import ADMINS, READ, Context
from .logs import parse_since, relative_delta
from .mailboxes import _hash

TOKEN_PREFIX = "postroom_"
FULL_RIGHTS = "organization-management"


def admin_view(admin: Admin) -> dict[str, Any]:
    """What anyone sees of a principal: never the password hash."""
    return {"name": admin.name, "roles": list(admin.roles), "password_set": admin.password_hash is not None,
            "created_at": admin.created_at}


def token_view(token: ApiToken) -> dict[str, Any]:
    return {"id": token.id, "admin": token.admin, "description": token.description,
            "created_at": token.created_at, "expires_at": token.expires_at, "last_used_at": token.last_used_at}


def hash_secret(secret: str) -> str:
    # Tokens and session ids carry 256 random bits: a fast hash is enough (no dictionary to try).
    return hashlib.sha256(secret.encode()).hexdigest()


async def _require_self_or_admins(ctx: Context, name: str, action: str, target: str) -> None:
    """Principals look after their own password and tokens; organization-management anyone's.
    Checked before `name` is validated, so a refused caller learns nothing from it."""
    if ctx.caller.channel != "cli" and ctx.caller.name == str(name).strip().lower():
        return
    await ctx.require(ADMINS, action, target)


async def _keep_full_rights(ctx: Context, leaving: str) -> None:
    """Refuse a change that would leave no principal in organization-management (the API and
    console would then be locked; only the local CLI could repair it)."""
    others = [a for a in await ctx.store.list_admins() if a.name != leaving and FULL_RIGHTS in a.roles]
    if not others:
        raise Conflict(f"{leaving} is the last member of {FULL_RIGHTS}; add another member first "
                       f"(postroom admin new NAME --role {FULL_RIGHTS})")


# principals ----------------------------------------------------------------------------------
async def new_admin(ctx: Context, name: str, password: str, roles: Any) -> dict[str, Any]:
    await ctx.require(ADMINS, "admin.new", f"admin/{name}")
    name = admin_name(name)
    groups = role_groups(roles, "roles")
    admin = await ctx.store.add_admin(name, await _hash(password), groups,
                                      audit=ctx.change("admin.new", f"admin/{name}", None, admin_view))
    view = admin_view(admin)
    return view


async def list_admins(ctx: Context) -> list[dict[str, Any]]:
    await ctx.require(READ)
    return [admin_view(a) for a in await ctx.store.list_admins()]


async def show_admin(ctx: Context, name: str) -> dict[str, Any]:
    await ctx.require(READ)
    admin = await ctx.store.get_admin(admin_name(name))
    tokens = await ctx.store.list_tokens(admin.name)
    return {**admin_view(admin), "tokens": len(tokens)}


async def set_roles(ctx: Context, name: str, roles: Any) -> dict[str, Any]:
    await ctx.require(ADMINS, "admin.set-role", f"admin/{name}")
    before = await ctx.store.get_admin(admin_name(name))
    groups = role_groups(roles, "roles")
    if FULL_RIGHTS in before.roles and FULL_RIGHTS not in groups:
        await _keep_full_rights(ctx, before.name)
    audit = None if groups == before.roles else ctx.change(
        "admin.set-role", f"admin/{before.name}", {"roles": list(before.roles)}, {"roles": list(groups)})
    after = await ctx.store.update_admin(before.name, roles=groups, audit=audit)
    return admin_view(after)


async def set_admin_password(ctx: Context, name: str, password: str) -> dict[str, Any]:
    await _require_self_or_admins(ctx, name, "admin.password", f"admin/{name}")
    admin = await ctx.store.get_admin(admin_name(name))
    after = await ctx.store.update_admin(admin.name, password_hash=await _hash(password), audit=ctx.change(
        "admin.password", f"admin/{admin.name}", None, {"password_set": True}))
    return admin_view(after)


async def remove_admin(ctx: Context, name: str) -> dict[str, Any]:
    await ctx.require(ADMINS, "admin.remove", f"admin/{name}")
    admin = await ctx.store.get_admin(admin_name(name))
    if FULL_RIGHTS in admin.roles:
        await _keep_full_rights(ctx, admin.name)
    tokens = await ctx.store.list_tokens(admin.name)
    view = admin_view(admin)
    await ctx.store.remove_admin(admin.name, audit=ctx.change(
        "admin.remove", f"admin/{admin.name}", {**view, "tokens": len(tokens)}, None))
    return {**view, "tokens_revoked": len(tokens)}


# API tokens ------------------------------------------------------------------------------------
def parse_expiry(value: str | None, *, now: datetime | None = None) -> str | None:
    """None or "never": no expiry. A duration from now (30d, 12h, 1w) or an ISO-8601 time in the future."""
    if value is None or str(value).strip().lower() in ("", "never"):
        return None
    now = now or datetime.now(timezone.utc)
    text = str(value).strip()
    try:
        delta = relative_delta(text)
        moment = now + delta if delta is not None else datetime.fromisoformat(parse_since(text, now=now))
    except (ValidationError, OverflowError):
        raise ValidationError("expires", f"{value!r} is neither a duration from now (30d, 12h, 1w), an "
                                         "ISO-8601 time (2027-01-31T00:00:00Z) nor 'never'") from None
    if moment <= now:
        raise ValidationError("expires", f"{value!r} is in the past")
    return moment.isoformat(timespec="microseconds")


def _description(value: str | None) -> str:
    text = (value or "").strip()
    if len(text) > 200 or any(ord(c) < 32 for c in text):
        raise ValidationError("description", "must be at most 200 printable characters")
    return utf8_text("description", text)


async def new_token(ctx: Context, admin: str, *, description: str | None = None,
                    expires: str | None = None) -> dict[str, Any]:
    """A new bearer token for `admin`, returned once in `token`; it acts with the admin's roles."""
    await _require_self_or_admins(ctx, admin, "admin.token.new", f"admin/{admin}/token")
    owner = await ctx.store.get_admin(admin_name(admin, "admin"))
    token_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    record = await ctx.store.add_token(ApiToken(
        token_id, owner.name, hash_secret(secret), _description(description), expires_at=parse_expiry(expires)),
        audit=ctx.change("admin.token.new", f"admin/{owner.name}/token/{token_id}", None, token_view))
    view = token_view(record)
    return {**view, "token": f"{TOKEN_PREFIX}{token_id}.{secret}"}


async def list_tokens(ctx: Context, admin: str | None = None) -> list[dict[str, Any]]:
    await ctx.require(READ)
    name = None if admin is None else admin_name(admin, "admin")
    if name is not None:
        await ctx.store.get_admin(name)  # NotFound names the admin
    return [token_view(t) for t in await ctx.store.list_tokens(name)]


async def revoke_token(ctx: Context, token_id: str) -> dict[str, Any]:
    token = await ctx.store.find_token(str(token_id).removeprefix(TOKEN_PREFIX).split(".", 1)[0])
    if token is None:
        await ctx.require(ADMINS, "admin.token.revoke", f"token/{token_id}")
        raise NotFound("API token", str(token_id))
    await _require_self_or_admins(ctx, token.admin, "admin.token.revoke", f"admin/{token.admin}/token/{token.id}")
    view = token_view(token)
    await ctx.store.remove_token(token.id, audit=ctx.change(
        "admin.token.revoke", f"admin/{token.admin}/token/{token.id}", view, None))
    return view
