"""The transport settings of each server (Exchange's Set-TransportService): the delivery
resolver, the retry and expiry timers, outbound connection limits, the hop limit and the
per-mailbox submission rates.

Part of the domain-model contract (`postroom.model` re-exports it); each setting is declared
once with `setting(...)` (settings_table.py), from which the CLI, REST and console are generated.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, ClassVar

from ..errors import ValidationError
from ..settings_table import age_text, setting
from ..validation import _MAX_INT32, ValidatedSettings, int_in_range
from .outbound import _span


def _dns_servers(name: str, values: Any) -> tuple[str, ...]:
    """ip or ip:port ([v6]:port); none or empty: the system resolver."""
    if values is None or (isinstance(values, str) and values.strip().lower() in ("", "none", "system")):
        return ()
    items = [v for v in values.split(",") if v.strip()] if isinstance(values, str) else list(values)
    result: list[str] = []
    for item in items:
        text = str(item).strip()
        try:
            if text.startswith("["):
                host, _, rest = text[1:].partition("]")
                address = f"[{ipaddress.IPv6Address(host).compressed}]"
                port = rest[1:] if rest.startswith(":") else ""
                if rest and not port:
                    raise ValueError
            elif text.count(":") == 1:
                host, port = text.split(":")
                address = ipaddress.IPv4Address(host).compressed
            else:
                parsed = ipaddress.ip_address(text)
                address = f"[{parsed.compressed}]" if parsed.version == 6 else parsed.compressed
                port = ""
        except ValueError:
            raise ValidationError(name, f"{text!r} is not a DNS server address (ip or ip:port, IPv6 as "
                                        "[2001:db8::53]:53; none: the system resolver)") from None
        entry = f"{address}:{int_in_range(name, port, 1, 65535)}" if port else address
        if entry.startswith("[") and not port:
            entry = entry[1:-1]
        if entry not in result:
            result.append(entry)
    return tuple(result)


@dataclass(frozen=True)
class TransportSettings(ValidatedSettings):
    """Exchange's Set-TransportService, per server: the delivery resolver, the retry and expiry
    timers, outbound connection limits, the hop limit and the per-mailbox submission rates
    (Exchange's throttling policy; 0 = unlimited). Defaults are Exchange's."""

    _kind: ClassVar[str] = "a transport setting"

    dns_servers: tuple[str, ...] = setting(
        (), _dns_servers, "DNS servers for delivery, comma-separated ip or ip:port; none: the system resolver "
        "(DANE trusts the AD bit only from servers listed here).", exchange="ExternalDNSServers",
        metavar="IP[:PORT],...", tab="transport", label="DNS servers", widget="lines", form_label="DNS servers",
        hint="One a line: ip or ip:port; empty: the system resolver. DANE trusts DNSSEC answers only from "
             "servers named here.")
    transient_failure_retry_attempts: int = setting(
        6, lambda n, v: int_in_range(n, v, 0, 15), "Quick retries after a failed connection (0..15; default 6).",
        exchange="TransientFailureRetryAttempts", tab="transport", label="transient failure retry attempts",
        widget="number", form_label="Transient failure retry attempts",
        hint="Quick retries after a connection failure, 0 to 15 (default 6).")
    transient_failure_retry_interval: int = setting(
        300, _span(1, 43200), "Time between those quick retries: 1s..12h (default 5m).",
        exchange="TransientFailureRetryInterval", tab="transport", label="transient failure retry interval",
        unit="seconds", display=age_text, form_label="Transient failure retry interval",
        hint="e.g. 5m, 30s or 00:05:00 (default 5m).")
    outbound_connection_failure_retry_interval: int = setting(
        600, _span(1, 20 * 86400), "Time before retrying a next hop after the quick retries failed: 1s..20d "
        "(default 10m).", exchange="OutboundConnectionFailureRetryInterval", tab="transport",
        label="outbound connection failure retry interval", unit="seconds", display=age_text,
        form_label="Outbound connection failure retry interval", hint="e.g. 10m (default 10m).")
    message_retry_interval: int = setting(
        900, _span(1, 15 * 86400), "Time before retrying a message deferred with a 4xx reply: 1s..15d "
        "(default 15m).", exchange="MessageRetryInterval", tab="transport", label="message retry interval",
        unit="seconds", display=age_text, form_label="Message retry interval", hint="e.g. 15m (default 15m).")
    delay_notification_timeout: int = setting(
        4 * 3600, _span(1, 30 * 86400), "Time undelivered before the sender gets a delay notice: 1s..30d "
        "(default 4h).", exchange="DelayNotificationTimeout", tab="transport", label="delay notification timeout",
        unit="seconds", display=age_text, form_label="Delay notification time-out",
        hint="e.g. 4h; shorter than the message expiration time-out.")
    message_expiration_timeout: int = setting(
        2 * 86400, _span(1, 90 * 86400), "Time undelivered before the message is returned with an NDR: 1s..90d "
        "(default 2d).", exchange="MessageExpirationTimeout", tab="transport", label="message expiration timeout",
        unit="seconds", display=age_text, form_label="Message expiration time-out", hint="e.g. 2d (default 2d).")
    max_outbound_connections: int = setting(
        1000, lambda n, v: int_in_range(n, v, 1, _MAX_INT32), "Outbound connections at once (default 1000).",
        exchange="MaxOutboundConnections", tab="limits", label="maximum outbound connections", widget="number",
        form_label="Maximum outbound connections", hint="At once, to every next hop (default 1000).")
    max_per_domain_outbound_connections: int = setting(
        20, lambda n, v: int_in_range(n, v, 1, _MAX_INT32), "Outbound connections at once to one next hop "
        "(default 20).", exchange="MaxPerDomainOutboundConnections", tab="limits",
        label="maximum connections per next hop", widget="number", form_label="Maximum connections per next hop",
        hint="At once, to one destination (default 20).")
    max_hop_count: int = setting(
        100, lambda n, v: int_in_range(n, v, 1, 500), "Received headers a message may carry before it is refused "
        "as a loop (1..500; default 100, RFC 5321 6.3).", exchange="MaxHopCount", tab="limits",
        label="hop limit", widget="number", form_label="Hop limit",
        hint="Received headers before a message is refused as a loop, 5.4.6 (default 100).")
    message_rate_limit_per_minute: int = setting(
        30, lambda n, v: int_in_range(n, v, 0, _MAX_INT32), "Messages one mailbox may submit a minute (0: "
        "unlimited; default 30).", exchange="MessageRateLimit", tab="limits",
        label="messages a minute per mailbox", widget="number", form_label="Messages a minute per mailbox",
        hint="Beyond it a submission is deferred with 4.7.0; 0: unlimited (default 30).")
    message_rate_limit_per_day: int = setting(
        0, lambda n, v: int_in_range(n, v, 0, _MAX_INT32), "Messages one mailbox may submit a day (0: unlimited; "
        "default 0).", tab="limits", label="messages a day per mailbox", widget="number",
        form_label="Messages a day per mailbox", hint="0: unlimited (default).")
    recipient_rate_limit_per_minute: int = setting(
        0, lambda n, v: int_in_range(n, v, 0, _MAX_INT32), "Recipients one mailbox may send to a minute (0: "
        "unlimited; default 0).", tab="limits", label="recipients a minute per mailbox", widget="number",
        form_label="Recipients a minute per mailbox", hint="0: unlimited (default).")
    recipient_rate_limit_per_day: int = setting(
        10000, lambda n, v: int_in_range(n, v, 0, _MAX_INT32), "Recipients one mailbox may send to a day (0: "
        "unlimited; default 10000).", exchange="RecipientRateLimit", tab="limits",
        label="recipients a day per mailbox", widget="number", form_label="Recipients a day per mailbox",
        hint="0: unlimited (default 10000).")

    def _check_rules(self) -> None:
        if self.delay_notification_timeout >= self.message_expiration_timeout:
            raise ValidationError("delay_notification_timeout", "must be shorter than message_expiration_timeout "
                                  f"({age_text(self.message_expiration_timeout)}): a delay notice after expiry "
                                  "is never sent")
