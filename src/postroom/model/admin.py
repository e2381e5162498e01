"""Admin principals, their API tokens and console sessions, and the admin service's settings.

Role groups follow Exchange's split (DESIGN.md): a principal holds one or more, and its rights
are the union. Secrets never live here in clear: passwords are argon2id hashes, API tokens and
session ids are SHA-256 hashes of high-entropy random values.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any, ClassVar

from ..errors import ValidationError
from ..settings_table import setting
from ..validation import ValidatedSettings, int_in_range, normalise_bindings, parse_binding, parse_duration

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

    _kind: ClassVar[str] = "an admin service setting"

    bindings: tuple[str, ...] = setting(
        ("0.0.0.0:443", "[::]:443"), normalise_bindings,
        "HTTPS listeners (server certificate), comma-separated IP:port ('' for none).", metavar="IP:PORT,...",
        widget="list")
    http_bindings: tuple[str, ...] = setting(
        (), _http_bindings, "Plain HTTP listeners, loopback only, e.g. 127.0.0.1:8080 ('' for none).",
        metavar="IP:PORT,...", widget="list")
    # seconds of console inactivity before signing in again (8 h)
    session_timeout: int = setting(
        28800, lambda n, v: parse_duration(n, v, 300, 7 * 86400),
        "Console inactivity before signing in again: 5m..7d (e.g. 8h).", tab="general",
        label="console session timeout", unit="seconds", form_label="Console session time-out (seconds)",
        hint="Inactivity before signing in again: 300 to 604800 (also 8h).")
    # Connection caps and timeouts of the admin listeners (server/admin_limits.py): a flood of
    # the admin port must not take the descriptors POP3 and SMTP need.
    max_connections: int = setting(  # open at once, all sources (also held to 1/4 of the file limit)
        500, lambda n, v: int_in_range(n, v, 1, 1_000_000),
        "Admin connections open at once, all clients: 1..1000000 (default 500).", cli_type=int, tab="general",
        label="maximum connections", widget="number", form_label="Maximum connections",
        hint="Open at once from all clients; also held to a quarter of the process's file limit.")
    max_connections_per_source: int = setting(  # open at once from one client address (SMTP's default)
        20, lambda n, v: int_in_range(n, v, 1, 1_000_000),
        "Admin connections open at once from one address: 1..1000000 (default 20).", cli_type=int, tab="general",
        label="maximum connections from a single IP address", widget="number",
        form_label="Maximum connections from a single IP address",
        hint="Beyond either limit a connection is answered 503 and closed at once.")
    request_timeout: int = setting(  # seconds to send a request's headers and body (Apache: 20 s)
        20, lambda n, v: parse_duration(n, v, 1, 3600),
        "Time a client has to send a request's headers and body: 1s..1h (default 20s).", tab="general",
        label="request time-out", unit="seconds", form_label="Request time-out (seconds)",
        hint="Time a client has to send a request's headers and body, else 408 and closed: 1 to 3600.")
    keep_alive_timeout: int = setting(  # idle seconds between requests on one connection
        30, lambda n, v: parse_duration(n, v, 1, 3600),
        "Idle time between requests on one connection: 1s..1h (default 30s).", tab="general",
        label="keep-alive time-out", unit="seconds", form_label="Keep-alive time-out (seconds)",
        hint="Idle time between requests on one connection: 1 to 3600.")

    def _check_rules(self) -> None:
        both = set(self.bindings) & set(self.http_bindings)
        if both:
            raise ValidationError("http_bindings", f"{', '.join(sorted(both))} is also an HTTPS binding")


DEV_WEB_SETTINGS = WebSettings(bindings=(), http_bindings=("127.0.0.1:8080",))
__all__ = ["Admin", "ApiToken", "AUDIT_CHANNELS", "AUDIT_OUTCOMES", "DEV_WEB_SETTINGS", "ROLE_GROUPS",
           "WebSession", "WebSettings", "admin_name", "role_groups"]
