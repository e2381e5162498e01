"""Password hashing and verification: the only code that sees passwords.

argon2id costs ~35 ms per verification, so it runs in a thread pool (never on the event loop)
and sits behind a short-lived cache of recently verified credentials. The cache holds an HMAC
of the password under a random per-process key, never the password or a plain hash of it.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections import OrderedDict
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from .errors import ValidationError

# argon2id at OWASP's recommended cost (19 MiB, 2 passes, 1 lane): ~30 ms of one core per
# uncached login. The library default (64 MiB, 4 lanes) costs ~150 ms of CPU per login,
# which a polling application with many mailboxes pays every cache period.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)

_dummy_lock = threading.Lock()
_dummy_hash_value: str | None = None


def hash_password(password: str) -> str:
    """An argon2id hash (PHC string) of `password`."""
    if not isinstance(password, str) or password == "":
        raise ValidationError("password", "must not be empty")
    return _hasher.hash(password)


def _dummy_hash() -> str:
    # Computed once per process: unknown users cost the same argon2 work as known ones.
    global _dummy_hash_value
    with _dummy_lock:
        if _dummy_hash_value is None:
            _dummy_hash_value = _hasher.hash(secrets.token_urlsafe(24))
        return _dummy_hash_value


def _argon2_verify(password_hash: str | None, password: str) -> bool:
    """Blocking; runs in the executor. Any malformed hash counts as a mismatch."""
    if password_hash is None:
        try:
            _hasher.verify(_dummy_hash(), password)
        except (VerificationError, InvalidHashError):
            pass
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@dataclass
class _Entry:
    password_hash: str  # the stored hash it was verified against: a password change misses
    mac: bytes  # HMAC-SHA256(process key, address NUL password)
    expires: float  # on the injected (monotonic) clock


class Authenticator:
    """Verifies credentials without blocking the event loop.

    One instance serves every session of a process; it is safe to share between tasks.
    """

    def __init__(
        self,
        *,
        failure_delay: float = 2.0,
        cache_ttl: float = 300.0,
        cache_size: int = 10000,
        executor: Executor | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failure_delay = failure_delay
        self.cache_ttl = cache_ttl
        self.cache_size = cache_size
        self._clock = clock
        self._own_executor = executor is None
        self._executor: Executor | None = executor
        self._key = secrets.token_bytes(32)  # per process: cached MACs are useless elsewhere
        self._cache: OrderedDict[str, _Entry] = OrderedDict()

    def _get_executor(self) -> Executor:
        if self._executor is None:
            # Two workers: argon2 is memory-hard, so more threads mostly add contention.
            self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="postroom-auth")
        return self._executor

    def _mac(self, address: str, password: str) -> bytes:
        # The address is inside the MAC too, so an entry can only ever vouch for its own identity.
        message = address.encode("utf-8", "surrogatepass") + b"\0" + password.encode("utf-8", "surrogatepass")
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def _cache_hit(self, address: str, password_hash: str, mac: bytes) -> bool:
        entry = self._cache.get(address)
        if entry is None:
            return False
        if self._clock() >= entry.expires:
            del self._cache[address]
            return False
        if entry.password_hash != password_hash or not hmac.compare_digest(entry.mac, mac):
            return False
        self._cache.move_to_end(address)
        return True

    def _remember(self, address: str, password_hash: str, mac: bytes) -> None:
        if self.cache_size <= 0 or self.cache_ttl <= 0:
            return
        self._cache[address] = _Entry(password_hash, mac, self._clock() + self.cache_ttl)
        self._cache.move_to_end(address)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)  # least recently used

    async def verify(self, address: str, password: str, password_hash: str | None) -> bool:
        """True when `password` matches `password_hash` for `address`.

        `password_hash` None (unknown user, or no password set) still costs one argon2
        verification so response time does not reveal which addresses exist. A failure returns
        only after `failure_delay`, which slows this session alone.
        """
        if await self.check(address, password, password_hash):
            return True
        if self.failure_delay > 0:
            await asyncio.sleep(self.failure_delay)
        return False

    async def check(self, address: str, password: str, password_hash: str | None) -> bool:
        """`verify` without the failure delay: for a caller that counts the failure first
        (`guarded_check`), so that dropping the connection during the delay cannot undo it."""
        # The cache key is the full address as given (never a local part or a domain alone):
        # Dovecot's CVE-2025-30189 came from cache keys built on partial identity.
        if password_hash is not None:
            mac = self._mac(address, password)
            if self._cache_hit(address, password_hash, mac):
                return True
        loop = asyncio.get_running_loop()
        ok = await loop.run_in_executor(self._get_executor(), _argon2_verify, password_hash, password)
        if ok and password_hash is not None:
            self._remember(address, password_hash, mac)
            return True
        return False

    def invalidate(self, address: str) -> None:
        """Forget the cached credential for `address` (password changed, mailbox disabled)."""
        self._cache.pop(address, None)

    def clear(self) -> None:
        self._cache.clear()

    def close(self) -> None:
        """Shut down the executor if this instance created it."""
        if self._own_executor and self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None
        self._cache.clear()


# The fixed-format log lines of failed logins and blocks (lockout.py runs the policy) --------
auth_log = logging.getLogger("postroom.auth")


def log_field(text: str) -> str:
    """One log field: no spaces or control characters (the client chose the text)."""
    return "".join(c if c.isprintable() and not c.isspace() and c != "=" else "?" for c in text[:100]) or "-"


def log_failure(service: str, remote: str, user: str, reason: str) -> None:
    """The one fixed-format WARNING line per failed login, for fail2ban (docs/operations.md)."""
    auth_log.warning("postroom auth failure: service=%s remote=%s user=%s reason=%s",
                     service, remote or "-", log_field(user), log_field(reason))


def log_block(block: Any, service: str) -> None:
    auth_log.warning("postroom auth block: kind=%s value=%s failures=%d seconds=%d service=%s",
                     block.kind, log_field(block.value), block.failures, block.until - block.since, service)
