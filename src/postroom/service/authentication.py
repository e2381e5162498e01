"""Who is calling the admin service: HTTP Basic, bearer API tokens and console sessions.

Every way in ends in a `Caller` with the principal's current roles (read per request, so a
role change or a removed principal takes effect at once). Failures say only "not signed in":
which of name, password or token was wrong is never revealed, and unknown names cost the
same argon2 verification as known ones.

A name and password (Basic, session, console) is a login attempt like POP3's
(service/login_attempts.py): counted per source address and per principal name (block kind
`admin`), delayed, logged with the `postroom auth failure: service=admin` WARNING line, and
refused before the check (TooManyAttempts, HTTP 429 with Retry-After) while the address or
the name is blocked or has as many failures and checks in flight as its threshold. The
refusal is the same whether the name exists or not.
"""
from __future__ import annotations

import hmac
import logging
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Protocol

from ..auth import Authenticator
from ..errors import TooManyAttempts, Unauthenticated, ValidationError
from ..lockout import OK, AbuseGuard
from ..model import Admin, WebSession, admin_name
from ..storage import AdminStore, LoginEvidence
from . import login_attempts
from .admins import TOKEN_PREFIX, hash_secret
from .context import Caller

log = logging.getLogger("postroom.admin")
TOUCH_EVERY = timedelta(seconds=60)  # last_used_at precision: a token in a busy script is not a write per call
NOT_SIGNED_IN = ("sign in with an API token (Authorization: Bearer ...), admin credentials (HTTP Basic) or a "
                 "console session")


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")


@dataclass(frozen=True)
class SignedIn:
    """A console session just created: the cookie value is only ever in this object and the browser."""

    cookie: str
    session: WebSession
    caller: Caller


class SignInStore(AdminStore, LoginEvidence, Protocol):
    """What signing in uses: admin principals, tokens and sessions, and the failed logins and blocks
    a wrong password leaves (service/login_attempts.py)."""


class AdminAuthenticator:
    def __init__(self, store: SignInStore, authenticator: Authenticator | None = None, *,
                 guard: AbuseGuard | None = None, server: str = "") -> None:
        self.store = store
        # Admin passwords are cached apart from mailbox passwords ("admin:" keys never meet mailbox addresses).
        self.passwords = authenticator or Authenticator()
        self.guard = guard  # the node's (shared with POP3 and SMTP); the web app sets one if none is given
        self.server = server  # the node's server, named on the blocks it starts

    def _caller(self, admin: Admin, channel: str) -> Caller:
        return Caller(admin.name, frozenset(admin.roles), channel)

    async def password(self, name: str, password: str, channel: str, source: str = "") -> Caller:
        """An admin principal's name and password (HTTP Basic, console sign-in)."""
        try:
            key: str | None = admin_name(name)
        except ValidationError:
            key = None
        if self.guard is None:
            self.guard = AbuseGuard()  # no node in this process: the default policy
        admin = await self.store.find_admin(key) if key else None
        verdict = await login_attempts.attempt(
            self.guard, self.store, self.server, self.passwords, service="admin", remote=source,
            name=key or name.strip().lower(), kind=login_attempts.ADMIN_KIND, address=f"admin:{key or ''}",
            password=password, password_hash=admin.password_hash if admin else None)
        if verdict.outcome == login_attempts.BLOCKED:
            raise TooManyAttempts("too many failed sign-ins from this address or for this name: "
                                  f"try again in {verdict.retry_after} s", verdict.retry_after)
        if verdict.outcome != OK or admin is None:
            log.info("admin login failed: channel=%s source=%s name=%r", channel, source or "-", name[:64])
            raise Unauthenticated(NOT_SIGNED_IN)
        return self._caller(admin, channel)

    async def bearer(self, token: str, channel: str = "api") -> Caller:
        token_id, _, secret = token.strip().removeprefix(TOKEN_PREFIX).partition(".")
        record = await self.store.find_token(token_id) if token_id and secret else None
        if record is None or not hmac.compare_digest(record.secret_hash, hash_secret(secret)):
            raise Unauthenticated(NOT_SIGNED_IN)
        now = _now()
        if record.expires_at is not None and datetime.fromisoformat(record.expires_at) <= now:
            raise Unauthenticated(f"this API token expired at {record.expires_at}; create a new one")
        admin = await self.store.find_admin(record.admin)
        if admin is None:
            raise Unauthenticated(NOT_SIGNED_IN)
        if record.last_used_at is None or datetime.fromisoformat(record.last_used_at) + TOUCH_EVERY < now:
            await self.store.touch_token(record.id, _iso(now))
        return self._caller(admin, channel)

    async def sign_in(self, name: str, password: str, timeout: int, source: str = "") -> SignedIn:
        caller = await self.password(name, password, "console", source)
        cookie = secrets.token_urlsafe(32)
        now = _now()
        session = WebSession(hash_secret(cookie), caller.name, secrets.token_urlsafe(24), _iso(now),
                             _iso(now + timedelta(seconds=timeout)))
        await self.store.add_session(session)
        return SignedIn(cookie, session, caller)

    async def session(self, cookie: str, timeout: int) -> tuple[Caller, WebSession]:
        """The caller of a console cookie; each use slides the expiry forward by `timeout`."""
        session = await self.store.find_session(hash_secret(cookie)) if cookie else None
        now = _now()
        if session is None or datetime.fromisoformat(session.expires_at) <= now:
            raise Unauthenticated("the console session has expired; sign in again")
        admin = await self.store.find_admin(session.admin)
        if admin is None:
            raise Unauthenticated(NOT_SIGNED_IN)
        expires = now + timedelta(seconds=timeout)
        if expires - datetime.fromisoformat(session.expires_at) > TOUCH_EVERY:
            await self.store.extend_session(session.id_hash, _iso(expires))
            session = replace(session, expires_at=_iso(expires))
        return self._caller(admin, "console"), session

    async def sign_out(self, cookie: str) -> None:
        if cookie:
            await self.store.remove_session(hash_secret(cookie))

    async def purge_sessions(self) -> int:
        return await self.store.remove_expired_sessions(_iso(_now()))

    def close(self) -> None:
        self.passwords.close()
