"""Domain model: the names here are the contract shared by store, server, CLI and API.

Values are validated once (validators in `postroom.validation`), so that every front end
refuses the same input with the same message (field name plus allowed values). Receive
connectors and message tracking are in `postroom.model_transport` and re-exported here.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any, ClassVar

from .validation import (  # noqa: F401  (re-exported: part of the model's contract)
    DEFAULT_LOG_MAX_AGE, DEFAULT_LOG_MAX_DIRECTORY_SIZE, DEFAULT_LOG_MAX_FILE_SIZE, LOG_SIZE_LIMITS, _LABEL, _MAX_INT32, ValidatedSettings, _banner, _bool, _optional_text, enum_value, format_binding, int_in_range,
    normalise_address, normalise_bindings, normalise_domain, parse_age, parse_binding, parse_duration, parse_quota,
    check_proxy, proxy_networks,
)
from .values import DEFAULT_POP_BANNER, LoginType  # noqa: F401  (re-exported; the protocol cores' values)


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


class LogFileRollOver(str, Enum):
    """Exchange's LogFileRollOverSettings: when a protocol log starts a new file."""

    HOURLY = "hourly"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"


# Services this version runs (imap4 comes later).
SERVICE_NAMES = ("pop3", "smtp", "admin")


@dataclass(frozen=True)
class PopSettings(ValidatedSettings):
    """Exchange's Set-PopSettings, per server. Defaults are Exchange's."""

    _kind: ClassVar[str] = "a POP setting"

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
    # Exchange's LogFileRollOverSettings (Daily as in Exchange 2010/2013; 2016+ say Hourly) and
    # LogPerFileSizeQuota (0: no size limit). Exchange has no clean-up for the POP3 log; postroom
    # deletes old files with the transport's receive-protocol-log defaults (30 days, 250 MB).
    log_file_roll_over: LogFileRollOver = LogFileRollOver.DAILY
    log_per_file_size_quota: int = 0  # octets
    log_max_age: int = DEFAULT_LOG_MAX_AGE  # seconds, 0: keep
    log_max_directory_size: int = DEFAULT_LOG_MAX_DIRECTORY_SIZE  # octets, 0: no limit
    # Behind a TCP load balancer (not an Exchange setting): every POP3 binding expects a PROXY
    # header (v1 or v2), accepted only from these balancers (server/proxy.py).
    proxy_protocol: bool = False
    proxy_trusted_networks: tuple[str, ...] = ()

    def _check_rules(self) -> None:
        check_proxy(self.proxy_protocol, self.proxy_trusted_networks)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["proxy_trusted_networks"] = list(self.proxy_trusted_networks)
        data["login_type"] = self.login_type.value
        data["sort_order"] = self.sort_order.value
        data["log_file_roll_over"] = self.log_file_roll_over.value
        data["bindings"] = list(self.bindings)
        data["ssl_bindings"] = list(self.ssl_bindings)
        return data


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
    "log_file_roll_over": lambda n, v: enum_value(LogFileRollOver, n, v),
    "log_per_file_size_quota": lambda n, v: parse_quota(n, v, *LOG_SIZE_LIMITS),
    "log_max_age": parse_age,
    "log_max_directory_size": lambda n, v: parse_quota(n, v, *LOG_SIZE_LIMITS),
    "proxy_protocol": _bool,
    "proxy_trusted_networks": proxy_networks,
}
PopSettings._validators = _POP_VALIDATORS


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
    channel: str = "cli"  # cli, api or console
    outcome: str = "success"  # success, or refused (the caller's role did not allow it)
    detail: str | None = None  # why it was refused


@dataclass(frozen=True)
class NodeReport:
    """What a running node says about itself: per service, what listens and what failed."""

    server: str
    heartbeat_at: float  # unix time
    pid: int
    services: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class LoginFailure:
    """A refused POP3 or SMTP login, kept as evidence for the doctor (never the password)."""

    at: str  # ISO-8601 UTC, when the login was refused
    server: str
    service: str  # pop3, smtp, or doctor (a password given to the doctor or `postroom test`)
    remote_ip: str
    mailbox: str  # the name the client tried, as sent (at most 100 characters)
    reason: str  # bad-credentials, tls-required, pop-disabled, mailbox-disabled, in-use, too-many-connections, ...


@dataclass(frozen=True)
class Block:
    """A temporary login block after repeated failures: a source IP, or a mailbox (for
    untrusted sources). Times are Unix seconds (wall clock, shared between processes)."""

    kind: str  # source, mailbox, or admin (an admin principal's name)
    value: str  # the IP address, or the mailbox or principal name as tried (lower case)
    since: float
    until: float
    failures: int
    service: str  # pop3, smtp, admin or doctor: where the failure that started it happened
    server: str = ""  # the server (node) that started it, as stored; "" before it is stored


# Receive connectors and message tracking (Exchange's Hub Transport objects) live in their own
# module; they are part of this contract and importable from here.
from .model_transport import (  # noqa: E402,F401
    ALL_IPV4, ALL_IPV6, DEFAULT_MAX_MESSAGE_SIZE, AuthMechanism, IPRange, PermissionGroup,
    ReceiveConnector, TrackingEvent, TrackingEventId, connector_name, default_connectors,
    parse_ip_range, parse_size,
)

from .model_admin import (  # noqa: E402,F401
    AUDIT_CHANNELS, AUDIT_OUTCOMES, DEV_WEB_SETTINGS, ROLE_GROUPS, Admin, ApiToken, WebSession, WebSettings,
    admin_name, role_groups,
)

from .model_security import LoginPolicy  # noqa: E402,F401
