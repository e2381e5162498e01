"""POP3 settings per server (Exchange's Get-/Set-PopSettings)."""
from __future__ import annotations

import os
from typing import Any

from ..errors import ValidationError
from ..model import PopSettings
from ..tls import server_context
from .context import READ, SERVER_CONFIG, Context


async def show_pop(ctx: Context, server: str | None = None) -> dict[str, Any]:
    ctx.require(READ)
    name = ctx.server_name(server)
    settings = await ctx.store.get_pop_settings(name)
    return {"server": name, **settings.to_dict()}


def resolve_certificate(ctx: Context, value: str | None) -> tuple[str | None, str | None]:
    """(certificate, key) from a PEM path, or from the name of a PEM under DATA/tls.

    `postroom` names the pair init made: DATA/tls/postroom.pem with DATA/tls/postroom.key.
    A path brings no separate key: the key is expected inside it unless --certificate-key.
    """
    if not value:
        return None, None
    if os.sep not in value and not value.endswith(".pem"):
        base = os.path.join(os.path.abspath(ctx.data_dir), "tls", value)
        if os.path.exists(base + ".pem"):
            return base + ".pem", (base + ".key" if os.path.exists(base + ".key") else None)
    return os.path.abspath(value), None


async def set_pop(ctx: Context, server: str | None = None, **changes: Any) -> dict[str, Any]:
    """Validate every change first; nothing is written unless all of them are acceptable."""
    ctx.require(SERVER_CONFIG)
    name = ctx.server_name(server)
    before = await ctx.store.get_pop_settings(name)
    if "certificate" in changes:
        changes["certificate"], key = resolve_certificate(ctx, changes["certificate"])
        changes.setdefault("certificate_key", key)  # a new certificate brings its own key
    if changes.get("certificate_key"):
        changes["certificate_key"] = os.path.abspath(changes["certificate_key"])
    after = before.with_changes(**changes)
    _check_consistent(after)
    if after.certificate and (after.certificate, after.certificate_key) != (before.certificate, before.certificate_key):
        server_context(after.certificate, after.certificate_key)  # raises ValidationError("certificate", why)
    if after != before:
        await ctx.store.put_pop_settings(name, after)
        await ctx.audit("pop.set", f"server/{name}/pop", _diff(before, after, before), _diff(before, after, after))
    return {"server": name, **after.to_dict()}


def _check_consistent(settings: PopSettings) -> None:
    both = set(settings.bindings) & set(settings.ssl_bindings)
    if both:
        raise ValidationError("ssl_bindings", f"{', '.join(sorted(both))} is also a plain/STLS binding")
    if settings.ssl_bindings and not settings.certificate:
        raise ValidationError("certificate", "SSL bindings need a certificate (set --certificate)")


def _diff(before: PopSettings, after: PopSettings, which: PopSettings) -> dict[str, Any]:
    old, new, pick = before.to_dict(), after.to_dict(), which.to_dict()
    return {key: pick[key] for key in pick if old[key] != new[key]}
