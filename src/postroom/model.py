"""Domain model: the names here are the contract shared by store, server, CLI and API.

Values are validated here, once, so that every front end refuses the same input with the
same message (field name plus allowed values).
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import asdict, dataclass, field, fields, replace
from enum import Enum
from typing import Any

from .errors import ValidationError


class LoginType(str, Enum):
    """Exchange's POP3 LoginType (Set-PopSettings -LoginType)."""

    PLAIN_TEXT_LOGIN = "plain-text-login"  # credentials accepted on any connection
    PLAIN_TEXT_AUTHENTICATION = "plain-text-authentication"  # cleartext credentials only over TLS
    SECURE_LOGIN = "secure-login"  # no logon at all before the connection is encrypted


class Startup(str, Enum):
    AUTOMATIC = "automatic"
    MANUAL = "manual"
    DISABLED = "disabled"


class ServiceStatus(str, Enum):
    RUNNING = "running"
    STOPPED = "stopped"


class SortOrder(str, Enum):
    ASCENDING = "ascending"
    DESCENDING = "descending"


# Services this version runs; smtp and admin arrive with their own issues (and migrations).
SERVICE_NAMES = ("pop3",)
DEFAULT_POP_BANNER = "The postroom POP3 service is ready."


def enum_value(enum: type[Enum], field_name: str, value: Any) -> Any:
    try:
        return enum(value)
    except ValueError:
        raise ValidationError(field_name, f"{value!r} is not allowed", [m.value for m in enum]) from None


def int_in_range(field_name: str, value: Any, low: int, high: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValidationError(field_name, f"{value!r} is not a whole number (allowed: {low}..{high})") from None
    if not low <= number <= high:
        raise ValidationError(field_name, f"{number} is out of range (allowed: {low}..{high})")
    return number


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600}


def parse_duration(field_name: str, value: Any, low: int, high: int) -> int:
    """Seconds from `90`, `90s`, `30m`, `1h` or Exchange's `00:30:00`; checked against a range."""
    if isinstance(value, int):
        seconds = value
    else:
        text = str(value).strip().lower()
        try:
            if ":" in text:
                parts = [int(p) for p in text.split(":")]
                if len(parts) != 3:
                    raise ValueError
                seconds = parts[0] * 3600 + parts[1] * 60 + parts[2]
            elif text and text[-1] in _DURATION_UNITS:
                seconds = int(text[:-1]) * _DURATION_UNITS[text[-1]]
            else:
                seconds = int(text)
        except ValueError:
            raise ValidationError(
                field_name, f"{value!r} is not a duration (use seconds, 30s, 5m, 1h or hh:mm:ss)"
            ) from None
    if not low <= seconds <= high:
        raise ValidationError(field_name, f"{seconds}s is out of range (allowed: {low}s..{high}s)")
    return seconds


def parse_binding(field_name: str, text: str) -> tuple[str, int]:
    """`IP:port` or `[IPv6]:port` -> (ip, port). Host names are refused, as in Exchange."""
    text = text.strip()
    match = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:(\d{1,5})|([0-9.]+):(\d{1,5})", text)
    if not match:
        raise ValidationError(field_name, f"{text!r} is not IP:port (e.g. 0.0.0.0:110 or [::]:110)")
    host = match.group(1) or match.group(3)
    port = int(match.group(2) or match.group(4))
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValidationError(field_name, f"{host!r} is not an IP address") from None
    if not 1 <= port <= 65535:
        raise ValidationError(field_name, f"port {port} is out of range (allowed: 1..65535)")
    return address.compressed, port  # one spelling per address, so duplicates and clashes show


def format_binding(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def normalise_bindings(field_name: str, values: Any) -> tuple[str, ...]:
    if isinstance(values, str):
        values = [v for v in values.split(",") if v.strip()]
    result: list[str] = []
    for value in values:
        binding = format_binding(*parse_binding(field_name, value))
        if binding not in result:
            result.append(binding)
    return tuple(result)


@dataclass(frozen=True)
class PopSettings:
    """Exchange's Set-PopSettings, per server. Defaults are Exchange's."""

    login_type: LoginType = LoginType.SECURE_LOGIN
    bindings: tuple[str, ...] = ("0.0.0.0:110", "[::]:110")
    ssl_bindings: tuple[str, ...] = ("0.0.0.0:995", "[::]:995")
    certificate: str | None = None  # PEM path (certificate, and the key unless certificate_key)
    certificate_key: str | None = None
    banner: str = DEFAULT_POP_BANNER
    max_connections: int = 2147483647
    max_connections_from_single_ip: int = 2147483647
    max_connections_per_user: int = 16
    max_command_size: int = 512
    authenticated_timeout: int = 1800  # seconds
    preauthenticated_timeout: int = 60  # seconds
    sort_order: SortOrder = SortOrder.ASCENDING
    protocol_log: bool = False

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["login_type"] = self.login_type.value
        data["sort_order"] = self.sort_order.value
        data["bindings"] = list(self.bindings)
        data["ssl_bindings"] = list(self.ssl_bindings)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "PopSettings":
        known = {f.name for f in fields(cls)}
        return cls().with_changes(**{k: v for k, v in data.items() if k in known})

    def with_changes(self, **changes: Any) -> "PopSettings":
        """A validated copy. Unknown names and bad values raise ValidationError."""
        known = {f.name for f in fields(self)}
        clean: dict[str, Any] = {}
        for name, value in changes.items():
            if name not in known:
                raise ValidationError(name, "is not a POP setting", sorted(known))
            clean[name] = _POP_VALIDATORS[name](name, value)
        return replace(self, **clean)


def _optional_text(name: str, value: Any) -> str | None:
    if value in (None, ""):
        return None
    return str(value)


def _banner(name: str, value: Any) -> str:
    text = str(value)
    if not 1 <= len(text) <= 200 or not text.isprintable():
        raise ValidationError(name, "must be 1 to 200 printable characters on one line")
    return text


def _bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "on", "yes", "1", "enabled"):
        return True
    if text in ("false", "off", "no", "0", "disabled"):
        return False
    raise ValidationError(name, f"{value!r} is not allowed", ["enabled", "disabled"])


_MAX_INT32 = 2147483647
_POP_VALIDATORS: dict[str, Any] = {
    "login_type": lambda n, v: enum_value(LoginType, n, v),
    "bindings": normalise_bindings,
    "ssl_bindings": normalise_bindings,
    "certificate": _optional_text,
    "certificate_key": _optional_text,
    "banner": _banner,
    "max_connections": lambda n, v: int_in_range(n, v, 1, _MAX_INT32),
    "max_connections_from_single_ip": lambda n, v: int_in_range(n, v, 1, _MAX_INT32),
    "max_connections_per_user": lambda n, v: int_in_range(n, v, 1, _MAX_INT32),
    "max_command_size": lambda n, v: int_in_range(n, v, 40, 1024),
    "authenticated_timeout": lambda n, v: parse_duration(n, v, 30, 3600),
    "preauthenticated_timeout": lambda n, v: parse_duration(n, v, 30, 3600),
    "sort_order": lambda n, v: enum_value(SortOrder, n, v),
    "protocol_log": _bool,
}


# RFC 1123 host names: labels of letters, digits and inner hyphens; the last label not all digits.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST = rf"(?:{_LABEL}\.)+(?=[A-Za-z0-9-]*[A-Za-z])(?:{_LABEL})"
_DOMAIN = re.compile(_HOST)
_ADDRESS = re.compile(rf"[A-Za-z0-9.!#$%&'*+/=?^_`{{|}}~-]{{1,64}}@{_HOST}")


def normalise_address(value: str, field_name: str = "address") -> str:
    """Mailbox addresses compare case-insensitively; we store them lower-case."""
    text = str(value).strip()
    if len(text) > 254 or not _ADDRESS.fullmatch(text):
        raise ValidationError(field_name, f"{value!r} is not an email address like alice@example.com")
    return text.lower()


def normalise_domain(value: str, field_name: str = "domain") -> str:
    text = str(value).strip().rstrip(".").lower()
    if len(text) > 253 or not _DOMAIN.fullmatch(text):
        raise ValidationError(field_name, f"{value!r} is not a domain name like example.com")
    return text


@dataclass(frozen=True)
class Server:
    name: str
    fqdn: str


@dataclass(frozen=True)
class Service:
    server: str
    name: str
    startup: Startup
    status: ServiceStatus  # the desired state; the node reports what it actually does


@dataclass(frozen=True)
class Mailbox:
    id: int
    address: str
    display_name: str
    password_hash: str | None
    enabled: bool = True
    pop_enabled: bool = True
    imap_enabled: bool = True
    created_at: str = ""


@dataclass(frozen=True)
class MessageInfo:
    """One stored message: `size` is the exact octet count of its wire form (CRLF lines)."""

    id: int
    uidl: str
    size: int
    received_at: str = ""


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: str
    actor: str
    action: str
    target: str
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None


@dataclass(frozen=True)
class NodeReport:
    """What a running node says about itself: per service, what listens and what failed."""

    server: str
    heartbeat_at: float  # unix time
    pid: int
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
