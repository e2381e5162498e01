"""Sending mail out: send connectors (organisation-wide, Exchange's New-/Set-SendConnector) and
the pure routing function that picks the send connector for a recipient domain (the transport
settings of each server are in transport_settings.py).

Part of the domain-model contract (`postroom.model` re-exports everything here); each setting is
declared once with `setting(...)` (settings_table.py), from which the CLI, REST and console are
generated. The smart-host password is never held in clear here: `auth_password` is the sealed
(AES-GCM) form `secrets.seal` makes, and every view shows it masked.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from enum import Enum
from typing import Any, ClassVar, Sequence

from ..errors import ValidationError
from ..settings_table import age_text, setting, size_text
from ..validation import (
    _LABEL, _MAX_INT32, ValidatedSettings, _bool, enum_value, int_in_range, parse_age, parse_quota,
)
from .transport import connector_name

SEALED_PREFIX = "aesgcm:v1:"  # the stored form of a secret (secrets.py); never shown
MASK = "********"  # what show, list, the API, the audit log and the bundle give for a secret that is set
DEFAULT_SEND_MAX_MESSAGE_SIZE = 35 * 1024 ** 2  # New-SendConnector -MaxMessageSize: 35 MB (Exchange 2013+)
MAX_COST = 100  # Exchange's address-space cost: 1..100


class DeliveryType(str, Enum):
    """Exchange's Get-Queue DeliveryType for mail that leaves through a send connector."""

    DNS = "dns-connector-delivery"
    SMART_HOST = "smart-host-connector-delivery"


class SmartHostAuth(str, Enum):
    """-SmartHostAuthMechanism: none, or basic (AUTH PLAIN/LOGIN, only ever sent after STARTTLS)."""

    NONE = "none"
    BASIC = "basic"


class TlsAuthLevel(str, Enum):
    """-TlsAuthLevel (needs require_tls): what the next hop's certificate must prove."""

    ENCRYPTION_ONLY = "encryption-only"  # any certificate: encrypted, not authenticated
    CERTIFICATE_VALIDATION = "certificate-validation"  # a chain to a trusted root, not expired
    DOMAIN_VALIDATION = "domain-validation"  # ...and naming tls_domain


# values -------------------------------------------------------------------------------------
def _domain_labels(field_name: str, text: str, original: Any) -> str:
    labels = text.split(".")
    if len(text) > 253 or not all(re.fullmatch(_LABEL, label) for label in labels):
        raise ValidationError(field_name, f"{original!r} is not a domain (use *, example.com or *.example.com, "
                                          "optionally with ;cost, e.g. example.com;10)")
    return text


def parse_address_space(field_name: str, value: Any) -> tuple[str, int]:
    """`*`, `example.com` or `*.example.com` (that domain and its subdomains), with an optional
    `;cost` (1..100, default 1) -> (pattern, cost)."""
    text = str(value).strip().lower()
    if text.startswith("smtp:"):  # Exchange writes SMTP:*;1
        text = text[5:]
    pattern, _, cost_text = text.partition(";")
    pattern = pattern.strip().rstrip(".")
    cost = 1
    if cost_text.strip():
        cost = int_in_range(field_name, cost_text.strip(), 1, MAX_COST)
    if pattern != "*":
        bare = pattern[2:] if pattern.startswith("*.") else pattern
        _domain_labels(field_name, bare, value)
    return pattern, cost


def _address_spaces(name: str, values: Any) -> tuple[str, ...]:
    items = [v for v in values.split(",") if v.strip()] if isinstance(values, str) else list(values)
    result: list[str] = []
    seen: set[str] = set()
    for item in items:
        pattern, cost = parse_address_space(name, item)
        if pattern in seen:
            raise ValidationError(name, f"{pattern} is listed twice (give each address space once, with one cost)")
        seen.add(pattern)
        result.append(f"{pattern};{cost}")
    return tuple(result)


def _host_port(name: str, value: Any) -> str:
    """A smart host: a name or an IP address, with an optional :port (IPv6 in brackets)."""
    text = str(value).strip().lower().rstrip(".")
    port = ""
    host = text
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValidationError(name, f"{value!r} is not host[:port] (IPv6: [2001:db8::1]:25)")
        port = rest[1:]
        try:
            host = f"[{ipaddress.IPv6Address(host).compressed}]"
        except ValueError:
            raise ValidationError(name, f"{value!r} is not an IPv6 address in brackets") from None
    elif text.count(":") == 1:
        host, port = text.split(":")
    elif ":" in text:
        raise ValidationError(name, f"{value!r}: write an IPv6 smart host in brackets, e.g. [2001:db8::1]:25")
    if not host.startswith("["):
        try:
            host = ipaddress.IPv4Address(host).compressed
        except ValueError:
            if not host or not all(re.fullmatch(_LABEL, label) for label in host.split(".")):
                raise ValidationError(name, f"{value!r} is not a host name or IP address (host[:port], "
                                            "e.g. smtp.example.net:587)") from None
    if port:
        port = str(int_in_range(name, port, 1, 65535))
    return f"{host}:{port}" if port else host


def _smart_hosts(name: str, values: Any) -> tuple[str, ...]:
    items = [v for v in values.split(",") if v.strip()] if isinstance(values, str) else list(values)
    result: list[str] = []
    for item in items:
        host = _host_port(name, item)
        if host not in result:
            result.append(host)
    return tuple(result)


def _optional_host(name: str, value: Any) -> str | None:
    if value in (None, ""):
        return None
    text = str(value).strip().lower().rstrip(".")
    if not all(re.fullmatch(_LABEL, label) for label in text.split(".")) or len(text) > 253:
        raise ValidationError(name, f"{value!r} is not a host name (e.g. mail.example.com)")
    return text


def _optional_domain(name: str, value: Any) -> str | None:
    if value in (None, ""):
        return None
    text = str(value).strip().lower().rstrip(".")
    bare = text[2:] if text.startswith("*.") else text
    if not bare or not all(re.fullmatch(_LABEL, label) for label in bare.split(".")) or len(bare) > 253:
        raise ValidationError(name, f"{value!r} is not a domain (e.g. example.net or *.example.net)")
    return text


def _optional_ip(name: str, value: Any) -> str | None:
    if value in (None, ""):
        return None
    try:
        return ipaddress.ip_address(str(value).strip()).compressed
    except ValueError:
        raise ValidationError(name, f"{value!r} is not an IP address of this server (e.g. 192.0.2.10)") from None


def _optional_enum(enum: type[Enum]) -> Any:
    def parse(name: str, value: Any) -> str | None:
        if value in (None, "", "none", "opportunistic"):
            return None
        return str(enum_value(enum, name, str(value).strip().lower()).value)
    return parse


def _username(name: str, value: Any) -> str | None:
    if value in (None, ""):
        return None
    text = str(value)
    if len(text) > 256 or not text.isprintable():
        raise ValidationError(name, "must be 1 to 256 printable characters")
    return text


def _sealed(name: str, value: Any) -> str | None:
    """The stored form only: the service seals what the admin typed (secrets.seal) before it gets here."""
    if value in (None, ""):
        return None
    text = str(value)
    if not text.startswith(SEALED_PREFIX):
        raise ValidationError(name, "is kept sealed: set it with `postroom send-connector set NAME "
                                    "--auth-password-stdin` (or the API's auth_password)")
    return text


def _server_names(name: str, values: Any) -> tuple[str, ...]:
    items = [v for v in values.split(",") if v.strip()] if isinstance(values, str) else list(values)
    result: list[str] = []
    for item in items:
        text = str(item).strip()
        if not 1 <= len(text) <= 64 or not text.isprintable() or "/" in text or "," in text:
            raise ValidationError(name, f"{item!r} is not a server name")
        if text not in result:
            result.append(text)
    return tuple(result)


def _span(low: int, high: int) -> Any:
    """A duration with days: 30s, 5m, 4h, 2d, 00:05:00 or 2.00:00:00, within low..high seconds."""
    def parse(name: str, value: Any) -> int:
        seconds = parse_age(name, value)
        if not low <= seconds <= high:
            raise ValidationError(name, f"{seconds}s is out of range (allowed: {age_text(low)}..{age_text(high)})")
        return seconds
    return parse


# send connectors -------------------------------------------------------------------------------
@dataclass(frozen=True)
class SendConnector(ValidatedSettings):
    """Exchange's New-/Set-SendConnector (organisation-wide, unique name ignoring case). `name`
    identifies it; every other field is a setting declared once. Defaults are Exchange's
    (Internet usage), except DANE, which Exchange on-premises lacks."""

    _kind: ClassVar[str] = "a send connector property"

    name: str = ""
    enabled: bool = setting(True, _bool, "Whether the connector routes mail.", exchange="Enabled", tab="general",
                            cli_type=bool, cli_flag="--enabled/--disabled", widget="checkbox")
    address_spaces: tuple[str, ...] = setting(
        (), _address_spaces, "Recipient domains it routes, comma-separated: *, example.com or *.example.com (with "
        "its subdomains), each with an optional ;cost 1..100 (default 1), e.g. *;10,partner.example.",
        exchange="AddressSpaces", metavar="SPACE,...", tab="general", label="address spaces", widget="lines",
        form_label="Address spaces", hint="One a line: *, example.com or *.example.com; add ;cost (1..100) to "
        "prefer one connector over another (the most specific space wins, then the lowest cost).")
    dns_routing: bool = setting(
        True, _bool, "Route by the recipient domain's MX records (off: through --smart-hosts).",
        exchange="DNSRoutingEnabled", tab="delivery", label="DNS (MX) routing", cli_type=bool,
        cli_flag="--dns-routing/--no-dns-routing", widget="checkbox")
    smart_hosts: tuple[str, ...] = setting(
        (), _smart_hosts, "Smart hosts, comma-separated host[:port] (needs --no-dns-routing), tried in order.",
        exchange="SmartHosts", metavar="HOST[:PORT],...", tab="delivery", label="smart hosts", widget="lines",
        form_label="Smart hosts",
        hint="One a line: host or host:port (IPv6: [2001:db8::1]:587); used when DNS routing is off.")
    port: int = setting(25, lambda n, v: int_in_range(n, v, 1, 65535),
                        "TCP port of the next hop (1..65535; a smart host's :port wins).", exchange="Port",
                        metavar="PORT", tab="delivery", widget="number", form_label="Port",
                        hint="The next hop's TCP port (default 25); a smart host's own :port wins.")
    smart_host_auth: str = setting(
        SmartHostAuth.NONE.value, lambda n, v: enum_value(SmartHostAuth, n, str(v).strip().lower()).value,
        "Authentication to the smart hosts: none or basic (sent only after STARTTLS).",
        exchange="SmartHostAuthMechanism", metavar="none|basic", tab="delivery", label="smart-host authentication")
    auth_username: str | None = setting(None, _username, "User name for basic smart-host authentication.",
                                        exchange="AuthenticationCredential", metavar="NAME", tab="delivery",
                                        label="user name")
    # Write-only: the sealed (encrypted) form; never shown. The CLI reads it with --auth-password-stdin.
    auth_password: str | None = setting(
        None, _sealed, "Password for basic smart-host authentication (write-only; stored encrypted).",
        exchange="AuthenticationCredential", tab="delivery", label="password", widget="password")
    require_tls: bool = setting(
        False, _bool, "Never send without TLS (off: STARTTLS when offered).", exchange="RequireTLS", tab="security",
        label="require TLS", cli_type=bool, cli_flag="--require-tls/--no-require-tls", widget="checkbox")
    tls_auth_level: str | None = setting(
        None, _optional_enum(TlsAuthLevel),
        "With --require-tls: encryption-only, certificate-validation or domain-validation ('' for none).",
        exchange="TlsAuthLevel", metavar="LEVEL", tab="security", label="TLS authentication level")
    tls_domain: str | None = setting(
        None, _optional_domain, "The name the certificate must carry for domain-validation, e.g. *.example.net.",
        exchange="TlsDomain", metavar="DOMAIN", tab="security", label="TLS domain")
    dane: bool = setting(
        True, _bool, "DANE (RFC 7672): when the next hop has DNSSEC-validated TLSA records, TLS is mandatory and "
        "must match them.", tab="security", label="DANE", cli_type=bool, cli_flag="--dane/--no-dane",
        widget="checkbox")
    max_message_size: int = setting(
        DEFAULT_SEND_MAX_MESSAGE_SIZE, lambda n, v: parse_quota(n, v, 65536, _MAX_INT32),
        "Largest message it sends: 64KB..2GB, e.g. 35MB, or unlimited.", exchange="MaxMessageSize", tab="general",
        label="maximum message size", unit="octets", display=size_text)
    fqdn: str | None = setting(None, _optional_host, "Name given in EHLO ('' for the server's FQDN).",
                               exchange="Fqdn", metavar="HOST", tab="general", label="FQDN")
    source_servers: tuple[str, ...] = setting(
        (), _server_names, "Servers that send through it, comma-separated (default: the server it is created on).",
        exchange="SourceTransportServers", metavar="SERVER,...", tab="general", label="source servers", widget="lines")
    connection_inactivity_timeout: int = setting(
        600, _span(1, 86400), "Longest idle time of a connection to the next hop, e.g. 10m (1s..1d).",
        exchange="ConnectionInactivityTimeOut", tab="general", label="connection inactivity time-out",
        unit="seconds", display=age_text)
    source_ip: str | None = setting(None, _optional_ip, "Local IP address to send from ('' for any).",
                                    exchange="SourceIPAddress", metavar="IP", tab="delivery", label="source IP address")
    protocol_log: bool = setting(False, _bool, "Log each session with the next hop in DATA/logs/send/NAME/.",
                                 exchange="ProtocolLoggingLevel",
                                 tab="general", label="protocol logging", widget="checkbox")

    @property
    def key(self) -> str:
        return f"send-connector/{self.name}"

    @property
    def password_purpose(self) -> str:
        """What its sealed password is bound to (sealing.seal/unseal's `purpose`): a sealed value
        copied to another connector does not open."""
        return f"send-connector/{self.name.casefold()}/auth_password"

    def spaces(self) -> list[tuple[str, int]]:
        return [parse_address_space("address_spaces", space) for space in self.address_spaces]

    def to_dict(self) -> dict[str, Any]:
        """The stored form (the password sealed): for the store only, see `view`."""
        return {"name": self.name, **self.table().to_dict(self)}

    def view(self) -> dict[str, Any]:
        """What show, list, the API, the audit log and the support bundle give: the password masked."""
        data = self.to_dict()
        data["auth_password"] = MASK if self.auth_password else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SendConnector":
        return cls(name=connector_name(data["name"])).with_changes(
            **{k: v for k, v in data.items() if k in cls.table()})

    def _check_rules(self) -> None:
        if not self.address_spaces:
            raise ValidationError("address_spaces", "a send connector needs at least one address space "
                                                    "(e.g. * for every domain, or partner.example)")
        if self.dns_routing and self.smart_hosts:
            raise ValidationError("smart_hosts", "smart hosts are used only without DNS routing: give "
                                                 "--no-dns-routing (dns_routing false) with them, or clear them")
        if not self.dns_routing and not self.smart_hosts:
            raise ValidationError("smart_hosts", "a connector without DNS routing (dns_routing false) needs at "
                                                 "least one smart host")
        if self.smart_host_auth == SmartHostAuth.BASIC.value:
            if self.dns_routing:
                raise ValidationError("smart_host_auth", "basic authentication is for smart hosts: it needs "
                                                         "dns_routing false and smart_hosts")
            if not self.auth_username or not self.auth_password:
                raise ValidationError("auth_username" if not self.auth_username else "auth_password",
                                      "basic smart-host authentication needs a user name and a password")
        if self.tls_auth_level is not None and not self.require_tls:
            raise ValidationError("tls_auth_level", "needs require_tls (a TLS authentication level applies only "
                                                    "when TLS is required)")
        if self.tls_auth_level == TlsAuthLevel.DOMAIN_VALIDATION.value and not self.tls_domain:
            raise ValidationError("tls_domain", "domain-validation needs the domain the certificate must name "
                                                "(e.g. --tls-domain smtp.example.net)")
        if self.tls_domain and self.tls_auth_level != TlsAuthLevel.DOMAIN_VALIDATION.value:
            raise ValidationError("tls_domain", "is used only with tls_auth_level domain-validation")
        if not self.source_servers:
            raise ValidationError("source_servers", "needs at least one server that sends through it")


def send_connector_name(value: Any) -> str:
    return connector_name(value)


# routing ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Route:
    """Where mail for one recipient domain goes: through `connector`, to the next hop
    `next_hop_domain` (the recipient domain for DNS routing; the connector's name for smart
    hosts, so all its mail shares one queue), with Exchange's delivery type."""

    connector: SendConnector
    next_hop_domain: str
    delivery_type: str  # DeliveryType value
    address_space: str = ""  # the address space that matched ("*.example.com;1")

    @property
    def queue(self) -> str:
        """One queue per next hop: delivery type, next-hop domain and connector."""
        return f"{self.delivery_type}/{self.next_hop_domain}/{self.connector.name}"


def _specificity(pattern: str, domain: str) -> tuple[int, int] | None:
    """How closely `pattern` matches `domain`: (labels matched, exact) or None; `*` is (0, 0)."""
    if pattern == "*":
        return (0, 0)
    if pattern.startswith("*."):
        suffix = pattern[2:]
        if domain == suffix or domain.endswith("." + suffix):
            return (suffix.count(".") + 1, 0)
        return None
    return (pattern.count(".") + 1, 1) if domain == pattern else None


def route(connectors: Sequence[SendConnector], domain: str, server: str) -> Route | None:
    """The send connector for `domain` from `server`: among enabled connectors whose source
    servers include `server`, the most specific matching address space wins (more labels; an
    exact domain over *.domain of the same length), then the lowest cost, then the name
    (ignoring case). None: no connector routes the domain (the message is refused 5.7.1)."""
    domain = domain.strip().lower().rstrip(".")
    best: tuple[tuple[int, int, int, str], SendConnector, str] | None = None
    for connector in connectors:
        if not connector.enabled or server not in connector.source_servers:
            continue
        for pattern, cost in connector.spaces():
            match = _specificity(pattern, domain)
            if match is None:
                continue
            rank = (-match[0], -match[1], cost, connector.name.casefold())
            if best is None or rank < best[0]:
                best = (rank, connector, f"{pattern};{cost}")
    if best is None:
        return None
    _, connector, space = best
    if connector.dns_routing:
        return Route(connector, domain, DeliveryType.DNS.value, space)
    return Route(connector, connector.name, DeliveryType.SMART_HOST.value, space)
