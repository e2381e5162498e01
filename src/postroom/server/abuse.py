"""Failed-login tracking: a growing delay, then a temporary block (Dovecot's auth_penalty,
Exchange's account lockout), per source IP and per mailbox.

Sans I/O: the clock (wall-clock seconds, because blocks are shared through the store with
other processes) is injected, and nothing here sleeps, logs or touches the store. The node
persists new blocks with its heartbeat (`drain_new`) and adopts the store's list
(`adopt`), so `postroom security blocks --clear` from another process applies within a
heartbeat.

Policy (the organization's LoginPolicy setting, `postroom security policy`; defaults, see
docs/operations.md):
- each failed login from an untrusted source doubles that source's delay, starting from the
  authenticator's base delay and capped at `max_delay` (2 s, 4 s, 8 s, 15 s with the 2 s base);
- `max_source_failures` (10) failures from one source within `window` (15 min) block the
  source for `block_time` (15 min); `max_mailbox_failures` (20) failures on one mailbox from
  untrusted sources block that mailbox for untrusted sources (a trusted source still logs in);
- a trusted network (default: loopback only) is never blocked nor delayed beyond the base delay;
- a running node installs a changed policy within a second (Node.reconcile sets `guard.policy`);
- a successful login from a source resets that source's count.
"""
from __future__ import annotations

import ipaddress
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Iterable

from ..model import Block, LoginPolicy

SOURCE, MAILBOX = "source", "mailbox"
MAX_TRACKED = 100_000  # sources and mailbox names with recent failures kept in memory
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# Read by versions before the policy became a stored setting; a node warns when one is set.
RETIRED_POLICY_ENV = ("POSTROOM_TRUSTED_NETWORKS", "POSTROOM_AUTH_MAX_FAILURES", "POSTROOM_AUTH_MAX_MAILBOX_FAILURES",
                      "POSTROOM_AUTH_BLOCK_TIME")


def parse_networks(text: str | Iterable[str]) -> tuple[Network, ...]:
    """CIDR ranges from a comma-separated text or a list; "none" (or empty) is no network."""
    items = text.split(",") if isinstance(text, str) else list(text)
    out = []
    for item in items:
        item = item.strip()
        if item and item.lower() != "none":
            out.append(ipaddress.ip_network(item, strict=False))
    return tuple(out)


@dataclass(frozen=True)
class Policy:
    """The stored LoginPolicy in the form the guard runs it: networks parsed, times in seconds."""

    max_source_failures: int = LoginPolicy.max_source_failures
    max_mailbox_failures: int = LoginPolicy.max_mailbox_failures
    window: float = float(LoginPolicy.window)
    block_time: float = float(LoginPolicy.block_time)
    max_delay: float = float(LoginPolicy.max_delay)
    trusted: tuple[Network, ...] = field(default_factory=lambda: parse_networks(LoginPolicy.trusted_networks))

    @classmethod
    def of(cls, setting: LoginPolicy) -> "Policy":
        """What a node installs in its guard, at start and after every change of the setting."""
        return cls(setting.max_source_failures, setting.max_mailbox_failures, float(setting.window),
                   float(setting.block_time), float(setting.max_delay), parse_networks(setting.trusted_networks))


def mailbox_key(username: str) -> str:
    return username.strip().lower()[:100]


class AbuseGuard:
    """One per node, shared by its POP3 and SMTP services."""

    def __init__(self, policy: Policy | None = None, clock: Callable[[], float] = time.time) -> None:
        self.policy = policy or Policy()
        self.clock = clock
        self.failures: dict[tuple[str, str], deque[float]] = {}  # (kind, value) -> failure times
        self.blocks: dict[tuple[str, str], Block] = {}
        self.new: dict[tuple[str, str], Block] = {}  # made here, not yet in the store

    def trusted(self, remote_ip: str) -> bool:
        try:
            ip = ipaddress.ip_address(remote_ip)
        except ValueError:
            return False
        if ip.version == 6 and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip.version == net.version and ip in net for net in self.policy.trusted)

    def _active(self, key: tuple[str, str]) -> Block | None:
        block = self.blocks.get(key)
        if block is None:
            return None
        if block.until <= self.clock():
            del self.blocks[key]
            self.new.pop(key, None)
            self.failures.pop(key, None)
            return None
        return block

    def blocked(self, remote_ip: str, username: str) -> Block | None:
        """The block refusing this login before any password check, or None."""
        if self.trusted(remote_ip):
            return None
        return self._active((SOURCE, remote_ip)) or self._active((MAILBOX, mailbox_key(username)))

    def _recent(self, key: tuple[str, str]) -> deque[float]:
        times = self.failures.get(key)
        if times is None:
            return deque()
        horizon = self.clock() - self.policy.window
        while times and times[0] <= horizon:
            times.popleft()
        if not times:
            del self.failures[key]
        return times

    def delay(self, remote_ip: str, base: float) -> float:
        """How long to hold the reply to a failed login (the base delay included)."""
        if base <= 0 or self.trusted(remote_ip):
            return max(base, 0.0)
        earlier = max(len(self._recent((SOURCE, remote_ip))) - 1, 0)  # this failure is recorded
        return min(self.policy.max_delay, base * 2 ** min(earlier, 30))

    def failed(self, service: str, remote_ip: str, username: str) -> list[Block]:
        """Count one failed login; the blocks it starts."""
        if self.trusted(remote_ip):
            return []
        now, made = self.clock(), []
        for key, limit in (((SOURCE, remote_ip), self.policy.max_source_failures),
                           ((MAILBOX, mailbox_key(username)), self.policy.max_mailbox_failures)):
            if not key[1]:
                continue
            times = self._recent(key)
            times.append(now)
            self.failures[key] = times
            if len(self.failures) > MAX_TRACKED:
                self._prune(key)
            if len(times) >= limit and self._active(key) is None:
                block = Block(key[0], key[1], now, now + self.policy.block_time, len(times), service)
                self.blocks[key] = self.new[key] = block
                made.append(block)
        return made

    def _prune(self, keep: tuple[str, str]) -> None:
        """Bounded memory whatever names and addresses are tried: forget failures outside the
        window, then (still too many) the oldest half; blocks are kept."""
        horizon = self.clock() - self.policy.window
        self.failures = {k: t for k, t in self.failures.items() if t and t[-1] > horizon}
        if len(self.failures) > MAX_TRACKED:
            newest = sorted(self.failures.items(), key=lambda item: item[1][-1])[len(self.failures) // 2:]
            self.failures = dict(newest)
            self.failures.setdefault(keep, deque([self.clock()]))

    def blocked_sources(self) -> int:
        """How many source addresses are blocked now (the metrics gauge)."""
        now = self.clock()
        return sum(1 for (kind, _), block in self.blocks.items() if kind == SOURCE and block.until > now)

    def succeeded(self, remote_ip: str) -> None:
        self.failures.pop((SOURCE, remote_ip), None)

    # syncing with the store ---------------------------------------------------------------
    def drain_new(self) -> list[Block]:
        made, self.new = list(self.new.values()), {}
        return made

    def restore_new(self, blocks: Iterable[Block]) -> None:
        for block in blocks:
            self.new.setdefault((block.kind, block.value), block)

    def adopt(self, stored: Iterable[Block]) -> None:
        """The store's blocks are the truth (another process may have cleared some or another
        node added some); blocks made here since the last write are kept. A block that was
        cleared also forgets its failures, so the next failure does not block again at once."""
        now = self.clock()
        wanted = {(b.kind, b.value): b for b in stored if b.until > now}
        wanted.update(self.new)
        for key in set(self.blocks) - set(wanted):
            self.failures.pop(key, None)
        self.blocks = wanted
