"""A receive connector as this node runs it (the SMTP service's routing table, server/smtp.py):
its core settings per client address, its TLS context and protocol log, its remote IP ranges
for Exchange's most-specific-match rule; and the core settings a connector makes."""
from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass, field, replace

from ..model import PermissionGroup, ReceiveConnector, parse_ip_range
from ..protocol.smtp import SmtpConfig
from .protocol_log import ProtocolLog
from .submission import SubmissionLimits

CLIENT_CACHE_SIZE = 10_000  # client addresses remembered (connector chosen, core settings)


@dataclass
class ConnectorRuntime:
    """One enabled connector as this node runs it: its core settings, TLS and log."""

    connector: ReceiveConnector
    core_config: SmtpConfig
    tls: ssl.SSLContext | None
    protocol_log: ProtocolLog | None = None
    ranges: list[tuple[int, int, int]] = field(default_factory=list)
    # The core's settings for each client address seen (they differ only in remote_ip): built
    # once per address, not per connection. Bounded; the runtime is rebuilt on every change.
    configs: dict[str, SmtpConfig] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.ranges = [parse_ip_range("remote_ip_ranges", r)[1] for r in self.connector.remote_ip_ranges]

    def config_for(self, remote_ip: str) -> SmtpConfig:
        config = self.configs.get(remote_ip)
        if config is None:
            if len(self.configs) >= CLIENT_CACHE_SIZE:
                self.configs.clear()
            config = self.configs[remote_ip] = replace(self.core_config, remote_ip=remote_ip)
        return config

    @property
    def name(self) -> str:
        return self.connector.name

    def specificity(self, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> int | None:
        """The size of the smallest of our ranges holding `ip`; None when none does."""
        value, best = int(ip), None
        for version, first, last in self.ranges:
            if version == ip.version and first <= value <= last:
                size = last - first + 1
                best = size if best is None or size < best else best
        return best


def core_config(connector: ReceiveConnector, fqdn: str, tls: ssl.SSLContext | None,
                max_hop_count: int = SubmissionLimits.max_hop_count) -> SmtpConfig:
    groups = set(connector.permission_groups)
    return SmtpConfig(
        fqdn=connector.fqdn or fqdn,
        banner=connector.banner,
        max_message_size=connector.max_message_size,
        max_recipients=connector.max_recipients_per_message,
        offer_tls=connector.offers_tls() and tls is not None,
        require_tls=connector.require_tls,
        offer_basic=connector.offers_basic() and PermissionGroup.USERS.value in groups,
        basic_requires_tls=connector.basic_requires_tls(),
        anonymous_allowed=bool({PermissionGroup.ANONYMOUS.value, PermissionGroup.ANONYMOUS_RELAY.value} & set(groups)),
        max_hop_count=max_hop_count,
    )
