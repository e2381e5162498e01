"""Passwords the admin service checks itself, counted like POP3 logins: an admin principal's
sign-in (HTTP Basic, `POST /api/v1/session`, the console) and a mailbox password given to the
doctor or to `postroom test`. Each is one login attempt against the same AbuseGuard the node's
POP3 and SMTP services use (lockout.py): refused before the check when its source or
name is blocked or already has as many failures and checks in flight as its threshold; a
wrong password is counted, delayed like a POP3 failure and logged with the fixed-format
`postroom auth failure` WARNING line (service=admin or service=doctor).

Where the guard comes from: a node passes its own to the web app (app.state.login_guard),
which puts it in each request's Context with the caller's address. A process without a node
(the CLI, a test's app) builds one from the store (`lockout.stored_guard`); a block it starts
is written to the store at once, so every node applies it within a heartbeat.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from ..auth import Authenticator, log_failure
from ..errors import PostroomError
from ..lockout import ADMIN, BAD_CREDENTIALS, BLOCKED, MAILBOX, OK, AbuseGuard, guarded_check, stored_guard
from ..model import Block, LoginFailure
from ..storage import LoginEvidence

if TYPE_CHECKING:
    from .context import Context

log = logging.getLogger("postroom.admin")
ADMIN_KIND = ADMIN  # an admin principal's count and block
MAILBOX_KIND = MAILBOX
LOOPBACK = "127.0.0.1"  # the CLI's local operator connects from the machine itself
__all__ = ["ADMIN_KIND", "BAD_CREDENTIALS", "BLOCKED", "LOOPBACK", "OK", "Verdict", "attempt", "guard_of",
           "mailbox_attempt"]


@dataclass(frozen=True)
class Verdict:
    outcome: str  # OK, BAD_CREDENTIALS or BLOCKED (refused before the check)
    retry_after: int = 0  # seconds, for BLOCKED

    @property
    def result(self) -> str:
        """The audit log's word: pass, fail or blocked."""
        return {OK: "pass", BAD_CREDENTIALS: "fail"}.get(self.outcome, "blocked")


async def guard_of(ctx: "Context", mailbox: str | None = None) -> AbuseGuard:
    """The request's guard (the node's), or one built from the store for this command."""
    if ctx.guard is None:
        ctx.guard = await stored_guard(ctx.store, mailbox)
    return ctx.guard


async def attempt(guard: AbuseGuard, store: LoginEvidence, server: str, authenticator: Authenticator, *, service: str,
                  remote: str, name: str, kind: str, address: str, password: str,
                  password_hash: str | None, evidence: bool = False) -> Verdict:
    """One password check as a login attempt (see the module's docstring). `evidence`: record
    a failure for the doctor's recent-failed-logins check, as a node records POP3's."""
    made: list[Block]
    if guard.blocked(remote, name, kind) is not None:
        outcome, made = BLOCKED, []
    else:
        outcome, made = await guarded_check(guard, authenticator, service=service, remote=remote, name=name,
                                            kind=kind, address=address, password=password,
                                            password_hash=password_hash)
    if made:  # at once: a process without a node has no heartbeat to write them
        try:
            await store.add_blocks(server, made)
            guard.stored(made)
        except PostroomError as exc:  # a node's heartbeat writes them later
            log.warning("cannot store the login blocks started by a %s password check: %s", service, exc.message)
    if outcome == OK:
        guard.succeeded(remote)
        return Verdict(OK)
    log_failure(service, remote, name, outcome)
    if evidence:
        at = datetime.now(timezone.utc).isoformat(timespec="microseconds")
        try:
            await store.record_login_failures([LoginFailure(at, server, service, remote or "?", name[:100], outcome)])
        except PostroomError as exc:
            log.warning("cannot record a failed %s password check: %s", service, exc.message)
    return Verdict(outcome, guard.retry_after(remote, name, kind) if outcome == BLOCKED else 0)


async def mailbox_attempt(ctx: "Context", address: str, password: str, password_hash: str | None,
                          failure_delay: float) -> Verdict:
    """A mailbox password given to the doctor or to `postroom test`, as a login from the
    caller's address (the CLI: loopback) to that mailbox (service=doctor in the log line)."""
    guard = await guard_of(ctx, address)
    authenticator = Authenticator(failure_delay=failure_delay, cache_size=0)  # never a cached answer
    try:
        return await attempt(guard, ctx.store, ctx.local_server, authenticator, service="doctor", remote=ctx.source,
                             name=address, kind=MAILBOX_KIND, address=address, password=password,
                             password_hash=password_hash, evidence=True)
    finally:
        authenticator.close()
