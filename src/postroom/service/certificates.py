"""Certificate options shared by every per-server TLS setting (POP3, receive connectors).

`--certificate` takes a PEM path or the name of a PEM under DATA/tls; `--certificate-key`
a PEM path. Both are stored absolute, and a new pair is loaded once before it is accepted,
so a change that the node could not use is refused with the reason in words.
"""
from __future__ import annotations

import os
from typing import Any

from ..tls import server_context
from .context import Context


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


def resolve_certificate_changes(ctx: Context, changes: dict[str, Any]) -> dict[str, Any]:
    """`changes` with the certificate options resolved to absolute paths (in place).

    A new certificate brings its own key (the one beside it under DATA/tls, or none: inside
    the PEM) unless a key is given as well.
    """
    if "certificate" in changes:
        changes["certificate"], key = resolve_certificate(ctx, changes["certificate"])
        changes.setdefault("certificate_key", key)
    if changes.get("certificate_key"):
        changes["certificate_key"] = os.path.abspath(changes["certificate_key"])
    return changes


def check_new_certificate(before: tuple[str | None, str | None], after: tuple[str | None, str | None]) -> None:
    """Load a changed (certificate, key) pair; ValidationError("certificate", why) if unusable."""
    certificate, key = after
    if certificate and after != before:
        server_context(certificate, key)
