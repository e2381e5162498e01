"""The core of the domain model: services and their POP3 settings, servers, mailboxes and their
messages, audit entries, node reports, login failures, POP3 sessions that ended without a login, and
blocks.

Values are validated once (validators in `postroom.validation`), so that every front end
refuses the same input with the same message (field name plus allowed values).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, ClassVar

from ..errors import ValidationError
from ..settings_table import age_text, setting, size_text
from ..validation import (  # noqa: F401  (re-exported: part of the model's contract)
    _LABEL,
    _MAX_INT32,
    DEFAULT_LOG_MAX_AGE,
    DEFAULT_LOG_MAX_DIRECTORY_SIZE,
    DEFAULT_LOG_MAX_FILE_SIZE,
    LOG_SIZE_LIMITS,
    ValidatedSettings,
    _banner,
    _bool,
    check_display_name,
    _optional_text,
    check_proxy,
    enum_value,
    format_binding,
    int_in_range,
    normalise_address,
    normalise_bindings,
    normalise_domain,
    parse_age,
    send_as_addresses,
    parse_binding,
    parse_duration,
    parse_quota,
    proxy_networks,
)
from ..values import DEFAULT_POP_BANNER, LoginType  # noqa: F401  (re-exported; the protocol cores' values)


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


# Services a server has; the Client Access protocols (pop3, imap4) are stopped, startup manual,
# after `init` (automatic with --dev), as Exchange installs them.
SERVICE_NAMES = ("pop3", "imap4", "smtp", "admin")


# The protocol-log file settings POP3 and IMAP4 share (each call is a new dataclass field).
def log_file_roll_over_setting() -> Any:
    return setting(
        LogFileRollOver.DAILY, lambda n, v: enum_value(LogFileRollOver, n, v),
        "When the protocol log starts a new file: hourly, daily, weekly or monthly.",
        exchange="LogFileRollOverSettings", tab="retrieval", label="log file roll-over", widget="choice")


def log_per_file_size_quota_setting() -> Any:
    return setting(
        0, lambda n, v: parse_quota(n, v, *LOG_SIZE_LIMITS),
        "Largest protocol-log file, e.g. 10MB (0 or unlimited: no limit, one file per period).",
        exchange="LogPerFileSizeQuota", tab="retrieval", label="log file size limit", unit="octets",
        display=size_text, form_label="Maximum log file size",
        hint="Octets or 64KB, 10MB, 1GB; unlimited (or 0) for one file per period.")


def log_max_age_setting() -> Any:
    return setting(
        DEFAULT_LOG_MAX_AGE, parse_age,
        "Delete protocol-log files older than this, e.g. 30d or 30.00:00:00 (0: keep).",
        tab="retrieval", label="log maximum age", unit="seconds", display=age_text,
        form_label="Maximum log file age",
        hint="Older files are deleted: 30d, 12h, 30.00:00:00 or seconds; 0 keeps them.")


def log_max_directory_size_setting() -> Any:
    return setting(
        DEFAULT_LOG_MAX_DIRECTORY_SIZE, lambda n, v: parse_quota(n, v, *LOG_SIZE_LIMITS),
        "Largest protocol-log folder, oldest files deleted first, e.g. 250MB (0 or unlimited: no limit).",
        tab="retrieval", label="log folder size limit", unit="octets", display=size_text,
        form_label="Maximum log folder size",
        hint="The oldest files are deleted beyond it: e.g. 250MB; unlimited (or 0) for no limit.")


def proxy_trusted_networks_setting() -> Any:
    return setting(
        (), proxy_networks, "Load balancers allowed to send it: IPs or CIDR blocks, comma-separated ('' for none).",
        metavar="NETWORK,...", tab="binding", label="load balancers")


@dataclass(frozen=True)
class PopSettings(ValidatedSettings):
    """Exchange's Set-PopSettings, per server. Defaults are Exchange's. Each field is the one
    declaration of a setting (settings_table.py): CLI option, API field, console field, check."""

    _kind: ClassVar[str] = "a POP setting"

    login_type: LoginType = setting(
        LoginType.SECURE_LOGIN, lambda n, v: enum_value(LoginType, n, v),
        "plain-text-login, plain-text-authentication or secure-login.", exchange="LoginType",
        tab="authentication", label="logon method", widget="choice")
    bindings: tuple[str, ...] = setting(
        ("0.0.0.0:110", "[::]:110"), normalise_bindings,
        "Plain/STLS listeners, comma-separated IP:port ('' for none).", exchange="UnencryptedOrTLSBindings",
        metavar="IP:PORT,...", tab="binding", label="unencrypted or TLS bindings", widget="list")
    ssl_bindings: tuple[str, ...] = setting(
        ("0.0.0.0:995", "[::]:995"), normalise_bindings,
        "Implicit-TLS listeners, comma-separated IP:port ('' for none).", exchange="SSLBindings",
        metavar="IP:PORT,...", tab="binding", label="SSL bindings", widget="list")
    # PEM path (certificate, and the key unless certificate_key)
    certificate: str | None = setting(
        None, _optional_text, "PEM file with the certificate (and key), or a name under DATA/tls.",
        exchange="X509CertificateName", metavar="FILE", tab="certificate", label="certificate")
    certificate_key: str | None = setting(
        None, _optional_text, "PEM file with the private key, if not inside --certificate.",
        metavar="FILE", tab="certificate", label="certificate key")
    banner: str = setting(DEFAULT_POP_BANNER, _banner, "Greeting text after +OK.", exchange="Banner",
                          tab="general", label="banner")
    max_connections: int = setting(
        2147483647, lambda n, v: int_in_range(n, v, 1, _MAX_INT32), "Total connections (1..2147483647).",
        exchange="MaxConnections", tab="connection", widget="number", form_label="Maximum connections",
        hint="All sessions on this server, logged on or not (2147483647: unlimited).")
    max_connections_from_single_ip: int = setting(
        2147483647, lambda n, v: int_in_range(n, v, 1, _MAX_INT32), "Connections from one IP (1..2147483647).",
        exchange="MaxConnectionFromSingleIP", tab="connection",
        widget="number", form_label="Maximum connections from a single IP address")
    max_connections_per_user: int = setting(
        16, lambda n, v: int_in_range(n, v, 1, _MAX_INT32), "Connections per mailbox (1..2147483647).",
        exchange="MaxConnectionsPerUser", tab="connection", widget="number", form_label="Maximum connections per user",
        hint="Sessions one mailbox may have at once (Exchange's default: 16).")
    max_command_size: int = setting(
        512, lambda n, v: int_in_range(n, v, 40, 1024), "Longest command line in bytes (40..1024).",
        exchange="MaxCommandSize", tab="connection", unit="octets", widget="number",
        form_label="Maximum command size (bytes)",
        hint="40 to 1024; 512 by default.")
    authenticated_timeout: int = setting(
        1800, lambda n, v: parse_duration(n, v, 30, 3600), "Idle time after login: 30s..1h (e.g. 30m, 00:30:00).",
        exchange="AuthenticatedConnectionTimeout", tab="connection", unit="seconds",
        form_label="Authenticated connection time-out (seconds)",
        hint="Idle time before a logged-on session is closed: 30 to 3600 (also 30m or 00:30:00).")
    preauthenticated_timeout: int = setting(
        60, lambda n, v: parse_duration(n, v, 30, 3600), "Idle time before login: 30s..1h.",
        exchange="PreAuthenticatedConnectionTimeout", tab="connection", unit="seconds",
        form_label="Unauthenticated connection time-out (seconds)",
        hint="Idle time before a session that has not logged on is closed: 30 to 3600.")
    sort_order: SortOrder = setting(
        SortOrder.ASCENDING, lambda n, v: enum_value(SortOrder, n, v),
        "ascending or descending (message numbering).", exchange="MessageRetrievalSortOrder",
        tab="retrieval", label="sort order", widget="choice")
    protocol_log: bool = setting(False, _bool, "Log each session's commands and replies (passwords never) in "
                                 "DATA/logs/pop3/.", exchange="ProtocolLogEnabled",
                                 tab="retrieval", label="protocol logging", widget="checkbox")
    # Exchange's LogFileRollOverSettings (Daily as in Exchange 2010/2013; 2016+ say Hourly) and
    # LogPerFileSizeQuota (0: no size limit). Exchange has no clean-up for the POP3 log; postroom
    # deletes old files with the transport's receive-protocol-log defaults (30 days, 250 MB).
    log_file_roll_over: LogFileRollOver = log_file_roll_over_setting()
    log_per_file_size_quota: int = log_per_file_size_quota_setting()
    log_max_age: int = log_max_age_setting()
    log_max_directory_size: int = log_max_directory_size_setting()
    # Behind a TCP load balancer (not an Exchange setting): every POP3 binding expects a PROXY
    # header (v1 or v2), accepted only from these balancers (server/proxy.py).
    proxy_protocol: bool = setting(
        False, _bool, "Every POP3 binding expects a PROXY header (v1/v2) from a load balancer first.",
        tab="binding", label="PROXY protocol", widget="checkbox")
    proxy_trusted_networks: tuple[str, ...] = proxy_trusted_networks_setting()

    def _check_rules(self) -> None:
        check_proxy(self.proxy_protocol, self.proxy_trusted_networks)


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
    # Exchange's Send As permission: other addresses (or `*@domain`) this mailbox may submit
    # mail as, in MAIL FROM and the header From, besides its own address.
    send_as: tuple[str, ...] = ()


def _on_off(name: str, value: Any) -> bool:
    """A feature's state: true/false (API, console) or enabled/disabled (the CLI), nothing else."""
    if isinstance(value, bool):
        return value
    if str(value).lower() not in ("enabled", "disabled"):
        raise ValidationError(name, f"{value!r} is not allowed", ["enabled", "disabled"])
    return str(value).lower() == "enabled"


@dataclass(frozen=True)
class MailboxFeatures(ValidatedSettings):
    """What `mailbox set` changes on a mailbox (Exchange: the mailbox's General and Mailbox
    Features tabs, Set-Mailbox and Set-CASMailbox). Each field is the one declaration of the
    CLI option, the API field, the console field and the check; the values live on `Mailbox`."""

    _kind: ClassVar[str] = "a mailbox feature"

    pop_enabled: bool = setting(
        True, _on_off, "enabled or disabled (Mailbox Features > POP3).", exchange="PopEnabled",
        tab="features", label="POP3", cli_alias="pop", api_type=bool)
    imap_enabled: bool = setting(
        True, _on_off, "enabled or disabled (Mailbox Features > IMAP4).", exchange="ImapEnabled",
        tab="features", label="IMAP4", cli_alias="imap", api_type=bool)
    enabled: bool = setting(
        True, _on_off, "The whole mailbox.", tab="general", label="mailbox enabled",
        cli_type=bool, cli_flag="--enabled/--disabled", api_type=bool)
    display_name: str = setting(
        "", lambda n, v: check_display_name(v, n), "Display name.", exchange="DisplayName",
        tab="general", label="display name", tab_rank=-1)
    send_as: tuple[str, ...] = setting(
        (), send_as_addresses,
        "Addresses it may send as besides its own (MAIL FROM and header From), comma-separated;"
        " *@domain for a whole domain ('' for none).", exchange="Add-ADPermission -ExtendedRights Send-As",
        metavar="ADDRESS,...",
        tab="delegation", label="send as", widget="lines")


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
    """A refused POP3, IMAP4 or SMTP login, kept as evidence for the doctor (never the password)."""

    at: str  # ISO-8601 UTC, when the login was refused
    server: str
    service: str  # pop3, imap4, smtp, or doctor (a password given to the doctor or `postroom test`)
    remote_ip: str
    mailbox: str  # the name the client tried, as sent (at most 100 characters)
    reason: str  # bad-credentials, tls-required, pop-disabled, mailbox-disabled, in-use, too-many-connections, ...


# Why a POP3 or IMAP4 session ended without logging in (EndedSessions.reason). Besides these, a
# login the server refused ends one with that login's reason (bad-credentials, pop-disabled,
# imap-disabled, ...).
TLS_REQUIRED = "tls-required"  # tried to log in before TLS, refused: the login type requires TLS
TLS_NOT_STARTED = "tls-not-started"  # sent commands (CAPA, QUIT) but never STLS/STARTTLS, so no login was offered
TLS_FAILED = "tls-failed"  # sent STLS/STARTTLS, but the TLS handshake failed
TLS_ON_PLAIN_PORT = "tls-on-plain-port"  # opened with a TLS handshake on a plain/STLS binding (an SSL client)
CONNECTION_LIMIT = "connection-limit"  # refused at connect: too many connections (in total or from the source)
# Sent only lines that are no command of the protocol (an HTTP client, a scanner): one name per
# protocol, so POP3's stored value stays what it always was.
NOT_POP3 = "not-pop3"
NOT_IMAP4 = "not-imap4"
SESSION_END_REASONS = (TLS_REQUIRED, TLS_NOT_STARTED, TLS_FAILED, TLS_ON_PLAIN_PORT, CONNECTION_LIMIT, NOT_POP3,
                       NOT_IMAP4, "protocol-errors", "quit", "logout", "timeout", "disconnected")


@dataclass(frozen=True)
class EndedSessions:
    """POP3 or IMAP4 sessions from one source that ended alike without logging in: evidence for
    the doctor, as refused logins are, for the clients that give up before sending a name (curl
    without --ssl-reqd reads CAPA, finds no USER before TLS and quits; for IMAP4 it sees
    LOGINDISABLED). A node counts them between two heartbeats and writes one row per kind.
    Sessions that send nothing at all (health checks, port scans) are not recorded."""

    at: str  # ISO-8601 UTC: when the last of them ended
    first_at: str  # when the first of them ended
    server: str
    service: str  # pop3, imap4
    remote_ip: str
    binding: str  # the binding they connected to, e.g. 0.0.0.0:110
    tls: str  # none, stls (started with STLS, or IMAP4's STARTTLS) or ssl (an SSL binding)
    reason: str  # SESSION_END_REASONS, or the reason of the refused login that ended them
    commands: str  # the verbs they sent, e.g. "CAPA QUIT" (at most 8; "?" for anything not of the protocol)
    mailbox: str  # the name USER, AUTH or LOGIN gave, as sent (at most 100 characters); "" when none
    count: int


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
