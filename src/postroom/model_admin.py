"""Admin principals, their API tokens and console sessions, and the admin service's settings.

Role groups follow Exchange's split (DESIGN.md): a principal holds one or more, and its rights
are the union. Secrets never live here in clear: passwords are argon2id hashes, API tokens and
session ids are SHA-256 hashes of high-entropy random values.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from .errors import ValidationError
from .validation import ValidatedSettings, int_in_range, normalise_bindings, parse_binding, parse_duration

ROLE_GROUPS = ("organization-management", "server-management", "recipient-management", "view-only")
_ADMIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}")
AUDIT_CHANNELS = ("cli", "api", "console")
AUDIT_OUTCOMES = ("success", "refused")


def admin_name(value: Any, field_name: str = "name") -> str:
    """Admin names compare case-insensitively and are kept lower-case (like mailbox addresses)."""
    text = str(value).strip()
    if not _ADMIN_NAME.fullmatch(text):
        raise ValidationError(field_name, f"{text!r} must be 1-64 letters, digits or . _ @ + - "
                                          "(starting with a letter or digit)")
    return text.lower()


def role_groups(value: Any, field_name: str = "roles") -> tuple[str, ...]:
    """One or more role groups, comma-separated text or a list; kept in ROLE_GROUPS order."""
    items = [v.strip() for v in value.split(",")] if isinstance(value, str) else [str(v).strip() for v in value]
    items = [v for v in items if v]
    if not items:
        raise ValidationError(field_name, "give at least one role group", list(ROLE_GROUPS))
    for item in items:
        if item not in ROLE_GROUPS:
            raise ValidationError(field_name, f"{item!r} is not a role group", list(ROLE_GROUPS))
    return tuple(r for r in ROLE_GROUPS if r in items)


@dataclass(frozen=True)
class Admin:
    name: str
    password_hash: str | None
    roles: tuple[str, ...]
    created_at: str = ""


@dataclass(frozen=True)
class ApiToken:
    """A bearer token `postroom_<id>.<secret>`: `id` is public, only SHA-256(secret) is kept."""

    id: str
    admin: str
    secret_hash: str
    description: str = ""
    created_at: str = ""
    expires_at: str | None = None  # ISO-8601 UTC, None: never
    last_used_at: str | None = None


@dataclass(frozen=True)
class WebSession:
    """A console sign-in: the cookie holds a random value; the store keeps its SHA-256."""

    id_hash: str
    admin: str
    csrf_token: str
    created_at: str
    expires_at: str  # ISO-8601 UTC


def _is_loopback(binding: str) -> bool:
    host, _ = parse_binding("http_bindings", binding)
    return ipaddress.ip_address(host).is_loopback


def _http_bindings(field_name: str, value: Any) -> tuple[str, ...]:
    bindings = normalise_bindings(field_name, value)
    for binding in bindings:
        if not _is_loopback(binding):
            raise ValidationError(field_name, f"{binding} is not a loopback address: plain HTTP would carry "
                                              "admin passwords in clear; use --bindings (HTTPS) instead")
    return bindings


@dataclass(frozen=True)
class WebSettings(ValidatedSettings):
    """The admin service (REST API and console) of one server.

    `bindings` serve HTTPS with the server certificate (Exchange's ECP on 443); `http_bindings`
    serve plain HTTP and are refused anywhere but loopback (the dev profile uses 127.0.0.1:8080).
    """

    bindings: tuple[str, ...] = ("0.0.0.0:443", "[::]:443")
    http_bindings: tuple[str, ...] = ()
    session_timeout: int = 28800  # seconds of console inactivity before signing in again (8 h)
    # Connection caps and timeouts of the admin listeners (server/admin_limits.py): a flood of
    # the admin port must not take the descriptors POP3 and SMTP need.
    max_connections: int = 500  # open at once, all sources (also held to 1/4 of the file limit)
    max_connections_per_source: int = 20  # open at once from one client address (SMTP's default)
    request_timeout: int = 20  # seconds to send a request's headers and body (Apache: 20 s)
    keep_alive_timeout: int = 30  # idle seconds between requests on one connection
    _kind: ClassVar[str] = "an admin service setting"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["bindings"] = list(self.bindings)
        data["http_bindings"] = list(self.http_bindings)
        return data

    def with_changes(self, **changes: Any) -> "WebSettings":
        result = super().with_changes(**changes)
        both = set(result.bindings) & set(result.http_bindings)
        if both:
            raise ValidationError("http_bindings", f"{', '.join(sorted(both))} is also an HTTPS binding")
        return result


_WEB_VALIDATORS: dict[str, Any] = {
    "bindings": normalise_bindings,
    "http_bindings": _http_bindings,
    "session_timeout": lambda n, v: parse_duration(n, v, 300, 7 * 86400),
    "max_connections": lambda n, v: int_in_range(n, v, 1, 1_000_000),
    "max_connections_per_source": lambda n, v: int_in_range(n, v, 1, 1_000_000),
    "request_timeout": lambda n, v: parse_duration(n, v, 1, 3600),
    "keep_alive_timeout": lambda n, v: parse_duration(n, v, 1, 3600),
}
WebSettings._validators = _WEB_VALIDATORS

DEV_WEB_SETTINGS = WebSettings(bindings=(), http_bindings=("127.0.0.1:8080",))
__all__ = ["Admin", "ApiToken", "AUDIT_CHANNELS", "AUDIT_OUTCOMES", "DEV_WEB_SETTINGS", "ROLE_GROUPS",
           "WebSession", "WebSettings", "admin_name", "role_groups"]
