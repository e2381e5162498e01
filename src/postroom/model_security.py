"""The login block policy: when repeated failed POP3/SMTP logins delay and then block a source
IP or a mailbox (Dovecot's auth_penalty, Exchange's account lockout policy).

One policy for the whole organization (every server applies the same), stored like any other
setting and changed with `postroom security policy set`, the REST API or the console; nodes
apply a change within a second (lockout.py runs it). Values are checked here, once.
"""
from __future__ import annotations

import ipaddress
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from .errors import ValidationError
from .validation import ValidatedSettings, int_in_range, parse_duration

FAILURE_LIMITS = (1, 1000)  # failed logins that start a block (Exchange's lockout threshold: up to 999)
WINDOW_LIMITS = (60, 86400)  # seconds in which those failures count: 1 min..24 h
BLOCK_TIME_LIMITS = (60, 7 * 86400)  # seconds a block lasts: 1 min..7 days
MAX_DELAY_LIMITS = (1, 60)  # seconds: the longest a failed login's reply is held
MAX_TRUSTED_NETWORKS = 100
_EXAMPLE = "give CIDR blocks such as 10.0.0.0/8 or ::1/128, comma-separated, or none"


def trusted_networks(field_name: str, value: Any) -> tuple[str, ...]:
    """CIDR blocks (or single addresses), comma-separated text or a list; `none` or empty: none."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none")):
        return ()
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        raise ValidationError(field_name, f"{value!r} is not a list of networks ({_EXAMPLE})")
    texts = [str(i).strip() for i in items if str(i).strip()]
    if [t.lower() for t in texts] == ["none"]:  # ["none"], as a JSON list
        return ()
    networks: list[str] = []
    for item in texts:
        try:
            network = ipaddress.ip_network(item, strict=False).compressed
        except ValueError:
            raise ValidationError(field_name, f"{item!r} is not an IP address or CIDR block ({_EXAMPLE})") from None
        if network not in networks:
            networks.append(network)
    if len(networks) > MAX_TRUSTED_NETWORKS:
        raise ValidationError(field_name, f"{len(networks)} networks is too many (allowed: at most "
                                          f"{MAX_TRUSTED_NETWORKS}; give wider CIDR blocks)")
    return tuple(networks)


@dataclass(frozen=True)
class LoginPolicy(ValidatedSettings):
    """Defaults: a source is blocked after 10 failed logins within 15 min, a mailbox (for
    untrusted sources) after 20, for 15 min; the delay before a failed login's reply doubles
    up to 15 s; loopback is trusted (never blocked, never delayed beyond the base delay)."""

    _kind: ClassVar[str] = "a login policy setting"

    trusted_networks: tuple[str, ...] = ("127.0.0.0/8", "::1/128")
    max_source_failures: int = 10
    max_mailbox_failures: int = 20
    window: int = 900  # seconds
    block_time: int = 900  # seconds
    max_delay: int = 15  # seconds

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["trusted_networks"] = list(self.trusted_networks)
        return data


LoginPolicy._validators = {
    "trusted_networks": trusted_networks,
    "max_source_failures": lambda n, v: int_in_range(n, v, *FAILURE_LIMITS),
    "max_mailbox_failures": lambda n, v: int_in_range(n, v, *FAILURE_LIMITS),
    "window": lambda n, v: parse_duration(n, v, *WINDOW_LIMITS),
    "block_time": lambda n, v: parse_duration(n, v, *BLOCK_TIME_LIMITS),
    "max_delay": lambda n, v: parse_duration(n, v, *MAX_DELAY_LIMITS),
}
__all__ = ["BLOCK_TIME_LIMITS", "FAILURE_LIMITS", "LoginPolicy", "MAX_DELAY_LIMITS", "WINDOW_LIMITS"]
