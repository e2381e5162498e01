"""Login policy: failed-login tracking with a growing delay, then a temporary block (Dovecot's
auth_penalty, Exchange's account lockout), per source IP and per mailbox; and one login
attempt checked against it (`guarded_check`, `verify_login`).

Beside auth.py (the layer that checks passwords), below the server adapters and the service
layer, which both use it: POP3, SMTP AUTH, admin sign-ins and the doctor's password checks
count in the same guard. `AbuseGuard` is sans I/O: the clock (wall-clock seconds, because
blocks are shared through the store with other processes) is injected, and it never sleeps,
logs or touches the store. The node persists new blocks with its heartbeat (`drain_new`)
and adopts the store's list (`adopt`), so `postroom security blocks --clear` from another
process applies within a heartbeat; a process without a node builds its guard from the
store (`stored_guard`).

Policy (the organization's LoginPolicy setting, `postroom security policy`; defaults, see
docs/operations.md):
- each failed login from an untrusted source doubles that source's delay, starting from the
  authenticator's base delay and capped at `max_delay` (2 s, 4 s, 8 s, 15 s with the 2 s base);
- `max_source_failures` (10) failures from one source within `window` (15 min) block the
  source for `block_time` (15 min); `max_mailbox_failures` (20) failures on one mailbox from
  untrusted sources block that mailbox for untrusted sources (a trusted source still logs in);
- a trusted network (default: loopback only) is never blocked nor delayed beyond the base delay;
- a running node installs a changed policy within a second (Node.reconcile sets `guard.policy`);
- a successful login from a source resets that source's count;
- attempts in flight count too (`begin`): once a source, or a mailbox, has as many recorded
  failures plus password checks still running as its threshold, a further attempt is refused
  before its password is checked, so a burst of concurrent guesses gets no more checks than a
  slow series would;
- admin sign-ins are counted the same way, per source and per principal (kind `admin`, so an
  admin's name never shares a count or a block with a mailbox name), against
  `max_mailbox_failures`.
"""
from __future__ import annotations

import asyncio
import ipaddress
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Awaitable, Callable, Iterable

from .auth import Authenticator, log_block
from .errors import ValidationError
from .model import Block, LoginPolicy, Mailbox, normalise_address
from .storage import Store

SOURCE, MAILBOX, ADMIN = "source", "mailbox", "admin"  # Block.kind
OK, BAD_CREDENTIALS, BLOCKED = "ok", "bad-credentials", "blocked"  # one login attempt's outcome
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


class Attempt:
    """One password check in flight, counted against its source's and its name's thresholds
    from `AbuseGuard.begin` until it is settled: `failed` turns it into a recorded failure,
    `release` (a success, an error, a cancelled task) just lets it go. Settling twice is
    harmless, so callers release in a `finally`."""

    def __init__(self, guard: "AbuseGuard", remote_ip: str, name: str, kind: str,
                 keys: tuple[tuple[str, str], ...]) -> None:
        self.guard, self.remote_ip, self.name, self.kind = guard, remote_ip, name, kind
        self.keys = keys  # empty for a trusted source: nothing is counted
        self.settled = False

    def release(self) -> None:
        if not self.settled:
            self.settled = True
            self.guard._unreserve(self.keys)

    def failed(self, service: str) -> list[Block]:
        """The password was wrong: count the failure (the blocks it starts)."""
        if self.settled:
            return []
        self.release()
        return self.guard.failed(service, self.remote_ip, self.name, self.kind)

    def __enter__(self) -> "Attempt":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class AbuseGuard:
    """One per node, shared by its POP3 and SMTP services."""

    def __init__(self, policy: Policy | None = None, clock: Callable[[], float] = time.time) -> None:
        self.policy = policy or Policy()
        self.clock = clock
        self.failures: dict[tuple[str, str], deque[float]] = {}  # (kind, value) -> failure times
        self.blocks: dict[tuple[str, str], Block] = {}
        self.new: dict[tuple[str, str], Block] = {}  # made here, not yet in the store
        self.in_flight: dict[tuple[str, str], int] = {}  # password checks begun, not yet settled

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

    def blocked(self, remote_ip: str, username: str, kind: str = MAILBOX) -> Block | None:
        """The block refusing this login before any password check, or None."""
        if self.trusted(remote_ip):
            return None
        return self._active((SOURCE, remote_ip)) or self._active((kind, mailbox_key(username)))

    def _limits(self, remote_ip: str, name: str, kind: str) -> list[tuple[tuple[str, str], int]]:
        """The counted keys of a login and their thresholds (a principal's is the mailbox's)."""
        limits = [((SOURCE, remote_ip), self.policy.max_source_failures)] if remote_ip else []
        if mailbox_key(name):
            limits.append(((kind, mailbox_key(name)), self.policy.max_mailbox_failures))
        return limits

    def begin(self, remote_ip: str, name: str, kind: str = MAILBOX) -> Attempt | None:
        """Reserve one password check, or None when it must be refused before the check: the
        source or the name is blocked, or already has as many recorded failures plus checks
        in flight as its threshold. A trusted source is never refused and counts nothing."""
        if self.trusted(remote_ip):
            return Attempt(self, remote_ip, name, kind, ())
        limits = self._limits(remote_ip, name, kind)
        for key, limit in limits:
            if self._active(key) is not None or len(self._recent(key)) + self.in_flight.get(key, 0) >= limit:
                return None
        keys = tuple(key for key, _ in limits)
        for key in keys:
            self.in_flight[key] = self.in_flight.get(key, 0) + 1
        return Attempt(self, remote_ip, name, kind, keys)

    def _unreserve(self, keys: tuple[tuple[str, str], ...]) -> None:
        for key in keys:
            left = self.in_flight.get(key, 0) - 1
            if left > 0:
                self.in_flight[key] = left
            else:
                self.in_flight.pop(key, None)

    def retry_after(self, remote_ip: str, name: str, kind: str = MAILBOX) -> int:
        """Seconds until a refused login may be tried again: what is left of the longest block
        on its source or name, or (refused for the checks in flight) the longest delay."""
        now = self.clock()
        left = [block.until - now for key, _ in self._limits(remote_ip, name, kind)
                if (block := self._active(key)) is not None]
        return max(1, int(max(left, default=self.policy.max_delay) + 0.999))

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

    def failed(self, service: str, remote_ip: str, username: str, kind: str = MAILBOX) -> list[Block]:
        """Count one failed login; the blocks it starts."""
        if self.trusted(remote_ip):
            return []
        now, made = self.clock(), []
        for key, limit in self._limits(remote_ip, username, kind):
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

    def seed(self, kind: str, value: str, times: Iterable[float]) -> None:
        """Failures recorded by other processes (a CLI command has no node's memory): counted
        from now on, within the window, but starting no block by themselves."""
        key = (kind, value if kind == SOURCE else mailbox_key(value))
        horizon = self.clock() - self.policy.window
        recent = sorted(t for t in times if t > horizon)
        if key[1] and recent:
            self.failures[key] = deque(sorted([*self.failures.get(key, ()), *recent]))

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

    def stored(self, blocks: Iterable[Block]) -> None:
        """Blocks already written to the store by whoever started them (an admin sign-in, the
        doctor): the heartbeat must not write them again, which would undo a clear meanwhile."""
        for block in blocks:
            if self.new.get((block.kind, block.value)) is block:
                del self.new[(block.kind, block.value)]

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


# One login attempt ------------------------------------------------------------------------
async def guarded_check(guard: AbuseGuard, authenticator: Authenticator, *, service: str, remote: str, name: str,
                        kind: str, address: str, password: str, password_hash: str | None) -> tuple[str, list[Block]]:
    """Check a password as one login attempt: (OK, BAD_CREDENTIALS or BLOCKED, the blocks it
    started). BLOCKED means refused before the check: the source or `name` is blocked or has
    as many failures and checks in flight as its threshold. A wrong password is counted as
    soon as it is known, then the reply waits (the base delay, growing with the source's
    failures); the reservation is released whatever happens (error, cancelled task)."""
    attempt = guard.begin(remote, name, kind)
    if attempt is None:
        return BLOCKED, []
    made: list[Block] = []
    try:
        ok = await authenticator.check(address, password, password_hash)
        if not ok:
            made = attempt.failed(service)
    finally:
        attempt.release()
    for block in made:
        log_block(block, service)
    if ok:
        return OK, made
    wait = guard.delay(remote, authenticator.failure_delay)
    if wait > 0:
        await asyncio.sleep(wait)
    return BAD_CREDENTIALS, made


async def verify_login(find: Callable[[str], Awaitable[Mailbox | None]], authenticator: Authenticator,
                       guard: AbuseGuard, service: str, remote: str, username: str,
                       password: str) -> tuple[str, Mailbox | None]:
    """A POP3 or SMTP AUTH login: (OK and the mailbox whose password this is, BAD_CREDENTIALS
    after the failure delay, or BLOCKED, refused before the password was checked). Unknown
    and malformed names cost the same as a wrong password (no enumeration). The mailbox is
    looked up before the reservation, so a check answered from the credential cache holds
    none across an await. Store failures raise PostroomError."""
    try:
        address: str | None = normalise_address(username)
    except ValidationError:
        address = None
    mailbox = await find(address) if address else None
    outcome, _ = await guarded_check(guard, authenticator, service=service, remote=remote, name=username,
                                     kind=MAILBOX, address=address or "", password=password,
                                     password_hash=mailbox.password_hash if mailbox else None)
    return outcome, mailbox if outcome == OK and mailbox is not None else None


async def stored_guard(store: Store, mailbox: str | None = None) -> AbuseGuard:
    """A guard for a process without a node (the CLI, a test's app): the stored policy, the
    store's blocks and, for `mailbox`, its failed logins in the window, so a command sees
    what the nodes see."""
    guard = AbuseGuard(Policy.of(await store.get_login_policy()))
    guard.adopt(await store.list_blocks())
    if mailbox:
        since = datetime.fromtimestamp(time.time() - guard.policy.window, timezone.utc).isoformat()
        times: dict[tuple[str, str], list[float]] = {}
        for row in await store.list_login_failures(mailbox, since=since):
            if row.reason == BAD_CREDENTIALS and not guard.trusted(row.remote_ip):
                at = datetime.fromisoformat(row.at).timestamp()
                times.setdefault((SOURCE, row.remote_ip), []).append(at)
                times.setdefault((MAILBOX, row.mailbox), []).append(at)
        for (kind, value), seen in times.items():
            guard.seed(kind, value, seen)
    return guard
