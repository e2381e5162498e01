"""The login block policy: when repeated failed POP3/SMTP logins delay and then block a source
IP or a mailbox (Dovecot's auth_penalty, Exchange's account lockout policy).

One policy for the whole organization (every server applies the same), stored like any other
setting and changed with `postroom security policy set`, the REST API or the console; nodes
apply a change within a second (lockout.py runs it). Values are checked here, once.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, ClassVar

from ..errors import ValidationError
from ..settings_table import setting
from ..validation import ValidatedSettings, int_in_range, parse_duration

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

    trusted_networks: tuple[str, ...] = setting(
        ("127.0.0.0/8", "::1/128"), trusted_networks,
        "Sources never blocked nor delayed beyond the base delay: CIDR blocks, comma-separated, or none (default "
        "127.0.0.0/8,::1/128).", metavar="NETWORK,...", tab="policy", label="trusted networks", input_rank=1,
        form_label="Trusted networks",
        hint="Never blocked, and not delayed beyond the normal delay: CIDR blocks, comma-separated, or none "
             "(default 127.0.0.0/8, ::1/128).")
    max_source_failures: int = setting(
        10, lambda n, v: int_in_range(n, v, *FAILURE_LIMITS),
        "Failed logins from one IP address that block it (1..1000; default 10).", exchange="LockoutThreshold",
        tab="policy", label="failed logins that block a source", widget="number",
        form_label="Failed logins that block a source",
        hint="From one IP address within the window: 1 to 1000 (default 10).")
    max_mailbox_failures: int = setting(
        20, lambda n, v: int_in_range(n, v, *FAILURE_LIMITS),
        "Failed logins on one mailbox, from untrusted sources, that block it for them (1..1000; default 20).",
        tab="policy", label="failed logins that block a mailbox", widget="number",
        form_label="Failed logins that block a mailbox",
        hint="On one mailbox from untrusted sources within the window: 1 to 1000 (default 20); a trusted source "
             "still logs in.")
    window: int = setting(
        900, lambda n, v: parse_duration(n, v, *WINDOW_LIMITS),
        "Time within which failures count: 1m..24h (e.g. 15m, 900, 00:15:00; default 15m).",
        exchange="LockoutObservationWindow", tab="policy", label="counting window (s)", unit="seconds",
        form_label="Window (seconds)",
        hint="Failures older than this no longer count: 60 to 86400 (default 900, 15 min).")
    block_time: int = setting(
        900, lambda n, v: parse_duration(n, v, *BLOCK_TIME_LIMITS), "How long a block lasts: 1m..168h (default 15m).",
        exchange="LockoutDuration", tab="policy", label="block time (s)", unit="seconds",
        form_label="Block time (seconds)", hint="How long a block lasts: 60 to 604800 (default 900, 15 min).")
    max_delay: int = setting(
        15, lambda n, v: parse_duration(n, v, *MAX_DELAY_LIMITS),
        "Longest wait before a failed login's reply: 1s..60s (default 15s).", tab="policy",
        label="longest delay (s)", unit="seconds", form_label="Longest delay after a failed login (seconds)",
        hint="The wait before a failed login's reply doubles with each failure from a source, up to this: 1 to 60 "
             "(default 15).")


__all__ = ["BLOCK_TIME_LIMITS", "FAILURE_LIMITS", "LoginPolicy", "MAX_DELAY_LIMITS", "WINDOW_LIMITS"]
