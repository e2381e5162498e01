"""Receive connectors and message tracking: Exchange's Hub Transport objects, in postroom's names.

Part of the domain-model contract (`postroom.model` re-exports everything here); values are
validated here, once, with the same field-naming errors as the rest of the model.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import asdict, dataclass, replace
from enum import Enum
from typing import Any, ClassVar

from ..errors import ValidationError
from ..settings_table import age_text, setting, size_text
from ..validation import (
    _LABEL, _MAX_INT32, DEFAULT_LOG_MAX_AGE, DEFAULT_LOG_MAX_DIRECTORY_SIZE, DEFAULT_LOG_MAX_FILE_SIZE, LOG_SIZE_LIMITS,
    ValidatedSettings, _banner, _bool, _optional_text, check_proxy, enum_value, int_in_range, normalise_bindings,
    normalise_domain, parse_age, parse_duration, parse_quota, proxy_networks,
)


class AuthMechanism(str, Enum):
    """Exchange's receive-connector AuthMechanism flags that postroom implements."""

    NONE = "none"  # no TLS, no AUTH: stands alone
    TLS = "tls"  # STARTTLS offered
    BASIC = "basic"  # AUTH PLAIN/LOGIN offered
    BASIC_REQUIRE_TLS = "basic-require-tls"  # ...but only after STARTTLS


class PermissionGroup(str, Enum):
    ANONYMOUS = "anonymous"  # unauthenticated senders may deliver to local mailboxes
    USERS = "users"  # mailbox owners who logged in with AUTH may submit (to any domain a send connector routes)
    # Exchange's anonymous relay (ms-Exch-SMTP-Accept-Any-Recipient for ANONYMOUS LOGON): clients
    # in the connector's remote IP ranges (application servers) may send to any routed domain
    # without logging in; Postfix's mynetworks.
    ANONYMOUS_RELAY = "anonymous-relay"


_SIZE_UNITS = {"": 1, "b": 1, "kb": 1024, "mb": 1024 ** 2, "gb": 1024 ** 3}


def parse_size(field_name: str, value: Any, low: int, high: int) -> int:
    """Octets from `65536`, `64KB`, `36MB` or `1GB` (binary units, as Exchange's ByteQuantifiedSize)."""
    if isinstance(value, int) and not isinstance(value, bool):
        octets = value
    else:
        match = re.fullmatch(r"\s*(\d+)\s*([kKmMgG]?[bB]?)\s*", str(value))
        if not match:
            raise ValidationError(field_name, f"{value!r} is not a size (use octets or 64KB, 36MB, 1GB)")
        octets = int(match.group(1)) * _SIZE_UNITS[match.group(2).lower()]
    if not low <= octets <= high:
        raise ValidationError(field_name, f"{octets} octets is out of range (allowed: {low}..{high})")
    return octets


IPRange = tuple[int, int, int]  # (IP version, first address, last address) as integers


def parse_ip_range(field_name: str, text: str) -> tuple[str, IPRange]:
    """A single address, a range `a-b` or a CIDR block -> (canonical text, numeric range)."""
    text = str(text).strip()
    try:
        if "/" in text:
            network = ipaddress.ip_network(text, strict=False)
            first, last = network.network_address, network.broadcast_address
            canonical = network.compressed
        elif "-" in text:
            start, _, end = text.partition("-")
            first, last = ipaddress.ip_address(start.strip()), ipaddress.ip_address(end.strip())
            if first.version != last.version or int(first) > int(last):
                raise ValueError
            canonical = f"{first.compressed}-{last.compressed}"
        else:
            first = last = ipaddress.ip_address(text)
            canonical = first.compressed
    except ValueError:
        raise ValidationError(
            field_name, f"{text!r} is not an IP address, range (a-b) or CIDR block (e.g. 10.0.0.0/8)"
        ) from None
    return canonical, (first.version, int(first), int(last))


ALL_IPV4 = "0.0.0.0-255.255.255.255"
ALL_IPV6 = "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
DEFAULT_MAX_MESSAGE_SIZE = 36 * 1024 * 1024  # Exchange's 36 MB


def _ip_ranges(name: str, values: Any) -> tuple[str, ...]:
    if isinstance(values, str):
        values = [v for v in values.split(",") if v.strip()]
    result: list[str] = []
    for value in values:
        canonical = parse_ip_range(name, value)[0]
        if canonical not in result:
            result.append(canonical)
    if not result:
        raise ValidationError(name, "needs at least one address, range or CIDR block (all: 0.0.0.0/0,::/0)")
    return tuple(result)


def _flag_set(enum: type[Enum]) -> Any:
    def validate(name: str, values: Any) -> tuple[str, ...]:
        if isinstance(values, str):
            values = [v.strip() for v in values.split(",") if v.strip()]
        chosen = {enum_value(enum, name, v.strip().lower() if isinstance(v, str) else v).value for v in values}
        return tuple(m.value for m in enum if m.value in chosen)  # canonical order
    return validate


def _connector_banner(name: str, value: Any) -> str | None:
    if value in (None, ""):
        return None
    text = str(value)
    if text.startswith("220 "):  # Exchange's banners carry the code; ours is the text after it
        text = text[4:]
    return _banner(name, text)


def _optional_fqdn(name: str, value: Any) -> str | None:
    if value in (None, ""):
        return None
    return normalise_domain(str(value), name) if "." in str(value) else _hostname(name, value)


def _hostname(name: str, value: Any) -> str:
    text = str(value).strip().lower()
    if not re.fullmatch(_LABEL, text):
        raise ValidationError(name, f"{value!r} is not a host name")
    return text


@dataclass(frozen=True)
class ReceiveConnector(ValidatedSettings):
    """Exchange's Set-ReceiveConnector, per server. Defaults are Exchange's (Custom usage).
    `name` and `server` identify it; every other field is a setting declared once (settings_table.py)."""

    _kind: ClassVar[str] = "a receive connector property"

    name: str
    server: str
    enabled: bool = setting(True, _bool, "Whether the connector accepts connections.", exchange="Enabled",
                            tab="general", cli_type=bool, cli_flag="--enabled/--disabled", widget="checkbox")
    bindings: tuple[str, ...] = setting(
        ("0.0.0.0:25", "[::]:25"), normalise_bindings,
        "Local listeners, comma-separated IP:port, e.g. 0.0.0.0:587,[::]:587.", exchange="Bindings",
        metavar="IP:PORT,...", tab="network", widget="lines")
    remote_ip_ranges: tuple[str, ...] = setting(
        (ALL_IPV4, ALL_IPV6), _ip_ranges, "Client addresses served: IPs, ranges a-b or CIDR blocks, comma-separated "
        "(the most specific match picks the connector).", exchange="RemoteIPRanges", metavar="RANGE,...", tab="network",
        label="remote IP ranges", widget="lines")
    auth: tuple[str, ...] = setting(
        ("tls",), _flag_set(AuthMechanism),
        "Comma-separated: none (alone), tls, basic, basic-require-tls (needs basic and tls).",
        exchange="AuthMechanism", metavar="MECHANISM,...", tab="authentication", label="authentication",
        widget="checkboxes", unchecked="none")  # no box at all is Exchange's None
    permission_groups: tuple[str, ...] = setting(
        (), _flag_set(PermissionGroup), "Comma-separated: anonymous, users, anonymous-relay (needs limited "
        "--remote-ip-ranges) ('' for none).",
        exchange="PermissionGroups", metavar="GROUP,...", tab="permissions", label="permission groups",
        widget="checkboxes")
    require_tls: bool = setting(
        False, _bool, "Refuse mail before STARTTLS (needs tls in --auth).", exchange="RequireTLS",
        tab="authentication", label="require TLS", cli_type=bool, cli_flag="--require-tls/--no-require-tls",
        widget="checkbox")
    max_message_size: int = setting(
        DEFAULT_MAX_MESSAGE_SIZE, lambda n, v: parse_size(n, v, 65536, _MAX_INT32),
        "Largest message: 64KB to 2147483647 octets, e.g. 36MB or 1GB.", exchange="MaxMessageSize",
        tab="general", tab_rank=1, unit="octets", display=size_text)
    max_recipients_per_message: int = setting(
        200, lambda n, v: int_in_range(n, v, 1, 512000), "Recipients per message (1..512000).",
        exchange="MaxRecipientsPerMessage", tab="general", tab_rank=1)
    max_inbound_connections: int = setting(
        5000, lambda n, v: int_in_range(n, v, 1, _MAX_INT32), "Connections at once (1..2147483647).",
        exchange="MaxInboundConnection", tab="general", tab_rank=1)
    max_inbound_connections_per_source: int = setting(
        20, lambda n, v: int_in_range(n, v, 1, 10000), "Connections at once from one IP (1..10000).",
        exchange="MaxInboundConnectionPerSource", tab="general", tab_rank=1)
    connection_timeout: int = setting(
        600, lambda n, v: parse_duration(n, v, 1, 86400), "Longest connection: 1s..24h, e.g. 10m, 1h or 00:10:00.",
        exchange="ConnectionTimeout", tab="general", tab_rank=1, unit="seconds")
    connection_inactivity_timeout: int = setting(
        300, lambda n, v: parse_duration(n, v, 1, 86400),
        "Longest idle time, shorter than --connection-timeout, e.g. 5m.", exchange="ConnectionInactivityTimeout",
        tab="general", tab_rank=1, unit="seconds")
    # text after "220 "; None: "<fqdn> postroom ESMTP service ready"
    banner: str | None = setting(None, _connector_banner, "Greeting text after 220 ('' for the default).",
                                 exchange="Banner", tab="general")
    fqdn: str | None = setting(None, _optional_fqdn,  # None: the server's FQDN
                               "Name in the greeting, EHLO reply and Received header ('' for the server's).",
                               exchange="Fqdn", metavar="HOST", tab="general", label="FQDN")
    certificate: str | None = setting(  # None: the server's certificate (its POP3 certificate)
        None, _optional_text, "PEM file with the certificate (and key), or a name under DATA/tls "
        "('' for the POP3 one).", metavar="FILE")
    certificate_key: str | None = setting(None, _optional_text,
                                          "PEM file with the private key, if not inside --certificate.",
                                          metavar="FILE")
    protocol_log: bool = setting(False, _bool, "Log each session's commands and replies (AUTH data masked, "
                                 "message content never) in DATA/logs/smtp/NAME/.", exchange="ProtocolLoggingLevel",
                                 tab="general", tab_rank=1, label="protocol logging", widget="checkbox")
    # Exchange sets these per server (Set-TransportService -ReceiveProtocolLogMaxAge,
    # -ReceiveProtocolLogMaxDirectorySize, -ReceiveProtocolLogMaxFileSize); postroom keeps each
    # connector's log in its own folder, so they are the connector's, with Exchange's defaults.
    protocol_log_max_age: int = setting(
        DEFAULT_LOG_MAX_AGE, parse_age, "Delete protocol-log files older than this, e.g. 30d or 30.00:00:00 (0: keep).",
        exchange="ReceiveProtocolLogMaxAge", tab="general", tab_rank=1, label="log maximum age", unit="seconds",
        display=age_text)
    protocol_log_max_directory_size: int = setting(
        DEFAULT_LOG_MAX_DIRECTORY_SIZE, lambda n, v: parse_quota(n, v, *LOG_SIZE_LIMITS),
        "Largest protocol-log folder, oldest files deleted first, e.g. 250MB (0 or unlimited: no limit).",
        exchange="ReceiveProtocolLogMaxDirectorySize", tab="general", tab_rank=1, label="log folder size limit",
        unit="octets", display=size_text)
    protocol_log_max_file_size: int = setting(
        DEFAULT_LOG_MAX_FILE_SIZE, lambda n, v: parse_quota(n, v, *LOG_SIZE_LIMITS),
        "Largest protocol-log file, e.g. 10MB (0 or unlimited: one file a day).",
        exchange="ReceiveProtocolLogMaxFileSize", tab="general", tab_rank=1, label="log file size limit",
        unit="octets", display=size_text)
    # Behind a TCP load balancer (not an Exchange setting): the connector's bindings expect a
    # PROXY header (v1 or v2), accepted only from these balancers (server/proxy.py).
    proxy_protocol: bool = setting(False, _bool,
                                   "The bindings expect a PROXY header (v1/v2) from a load balancer first.",
                                   tab="network", label="PROXY protocol", widget="checkbox")
    proxy_trusted_networks: tuple[str, ...] = setting(
        (), proxy_networks, "Load balancers allowed to send it: IPs or CIDR blocks, comma-separated.",
        metavar="NETWORK,...", tab="network", label="load balancers", widget="lines")

    @property
    def key(self) -> str:
        return f"server/{self.server}/connector/{self.name}"

    def offers_tls(self) -> bool:
        return AuthMechanism.TLS.value in self.auth

    def offers_basic(self) -> bool:
        return AuthMechanism.BASIC.value in self.auth

    def basic_requires_tls(self) -> bool:
        return AuthMechanism.BASIC_REQUIRE_TLS.value in self.auth

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "server": self.server, **self.table().to_dict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ReceiveConnector":
        base = cls(name=connector_name(data["name"]), server=str(data["server"]))
        return base.with_changes(**{k: v for k, v in data.items() if k in cls.table()})

    def with_changes(self, **changes: Any) -> "ReceiveConnector":
        """A validated copy; Exchange's cross-field rules are checked on the result."""
        clean: dict[str, Any] = {}
        table = self.table()
        for name, value in changes.items():
            if name not in table:
                raise ValidationError(name, "is not a receive connector property", list(table.names))
            clean[name] = table.parse(name, value)
        result = replace(self, **clean)
        result._check_rules()
        return result

    def _check_rules(self) -> None:
        auth = set(self.auth)
        if not auth:
            raise ValidationError("auth", "needs at least one mechanism (none alone, or tls/basic/basic-require-tls)",
                                  [m.value for m in AuthMechanism])
        if AuthMechanism.NONE.value in auth and len(auth) > 1:
            raise ValidationError("auth", "none stands alone: it cannot be combined with other mechanisms",
                                  [m.value for m in AuthMechanism])
        if self.basic_requires_tls() and not (self.offers_basic() and self.offers_tls()):
            raise ValidationError("auth", "basic-require-tls needs basic and tls as well "
                                          "(e.g. tls,basic,basic-require-tls)")
        if self.require_tls and not self.offers_tls():
            raise ValidationError("require_tls", "needs tls in --auth (clients must be able to start TLS)")
        if self.connection_inactivity_timeout >= self.connection_timeout:
            raise ValidationError("connection_inactivity_timeout",
                                  f"must be shorter than connection_timeout ({self.connection_timeout}s)")
        if not self.bindings and self.enabled:
            raise ValidationError("bindings", "an enabled connector needs at least one IP:port")
        if PermissionGroup.ANONYMOUS_RELAY.value in self.permission_groups and self.relays_for_everyone():
            raise ValidationError("permission_groups", "anonymous-relay would make this an open relay: limit "
                                  "--remote-ip-ranges to the application servers that may relay (e.g. 10.0.0.5)")
        check_proxy(self.proxy_protocol, self.proxy_trusted_networks)

    def relays_for_everyone(self) -> bool:
        """One of its remote IP ranges is wider than an IPv4 /8 or an IPv6 /32 (the defaults cover everything)."""
        for text in self.remote_ip_ranges:
            _, (version, first, last) = parse_ip_range("remote_ip_ranges", text)
            if last - first > (1 << (24 if version == 4 else 96)) - 1:
                return True
        return False


def connector_name(value: Any) -> str:
    text = str(value).strip()
    if not 1 <= len(text) <= 64 or not text.isprintable() or "/" in text:
        raise ValidationError("name", "must be 1 to 64 printable characters without '/'")
    return text


def default_connectors(server: str, *, dev: bool = False) -> tuple[ReceiveConnector, ReceiveConnector]:
    """`Default <SERVER>` (25: anonymous and users, STARTTLS offered) and `Client <SERVER>`
    (587: users only, AUTH only after STARTTLS), as an Exchange 2010 hub has them."""
    default_bindings = ("127.0.0.1:2525",) if dev else ("0.0.0.0:25", "[::]:25")
    client_bindings = ("127.0.0.1:2587",) if dev else ("0.0.0.0:587", "[::]:587")
    default = ReceiveConnector(f"Default {server}", server).with_changes(
        bindings=default_bindings, auth="tls,basic,basic-require-tls", permission_groups="anonymous,users")
    client = ReceiveConnector(f"Client {server}", server).with_changes(
        bindings=client_bindings, auth="tls,basic,basic-require-tls", permission_groups="users")
    return default, client


# ------------------------------------------------------------------ message tracking
class TrackingEventId(str, Enum):
    """Exchange's message-tracking event ids that postroom records."""

    RECEIVE = "RECEIVE"  # the message was accepted (one row per recipient)
    DELIVER = "DELIVER"  # it is in the recipient's mailbox
    FAIL = "FAIL"  # it was not delivered to this recipient; `status` says why
    # the outbound queue's (Exchange's names):
    SEND = "SEND"  # the next hop took it for this recipient
    DEFER = "DEFER"  # a transient failure: tried again later
    DSN = "DSN"  # a delivery status notification (NDR, delay, success) was made
    RESUBMIT = "RESUBMIT"  # an admin resumed or retried it
    POISONMESSAGE = "POISONMESSAGE"  # set aside: its delivery crashed the worker twice


@dataclass(frozen=True)
class TrackingEvent:
    """One message-tracking row (Exchange's Get-MessageTrackingLog fields, postroom's names)."""

    event_id: TrackingEventId
    server: str
    source: str  # "SMTP" (received) or "STOREDRIVER" (delivered to a mailbox)
    queue_id: str  # postroom's id for the message on this server (in the 250 reply)
    message_id: str  # the Message-ID header ("" when the message had none)
    sender: str  # envelope MAIL FROM ("" for the null sender <>)
    recipient: str
    status: str = ""  # the reply or reason, e.g. "250 2.1.5" or "550 5.1.1 unknown mailbox"
    size: int = 0
    client_ip: str = ""
    connector: str = ""
    at: str = ""  # set by the store
    id: int = 0  # set by the store

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["event_id"] = self.event_id.value
        return data
