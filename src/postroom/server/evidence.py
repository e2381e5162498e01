"""What a node keeps for `postroom doctor`: refused logins, POP3 and IMAP4 sessions that ended
without a login, and who holds POP3 mailboxes now.

Refused logins arrive through the services' login listener (`report_login`), are appended to
an in-memory list (the hot path never waits for the store) and written with the heartbeat
(`Store.record_login_failures`). Sessions that ended without a login arrive through the POP3 and
IMAP4 services' `on_session_end` (`SessionEnd`, see trail.py) and are counted by kind until the
heartbeat writes one row per kind (`Store.record_ended_sessions`): a client retrying every
second costs one row a second, not one per session. Both are bounded while the store is away
and pruned after a week. The POP3 usage summary goes into the node report; it is bounded so
that a node with many sessions does not write a large report every second.
"""
from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from ..activity import LOGIN_KINDS, Activity
from ..auth import log_failure
from ..errors import PostroomError
from ..model import EndedSessions, LoginFailure
from ..storage import EvidenceStore
from .metrics import Metrics

log = logging.getLogger("postroom.node")
MAX_PENDING = 10000  # refusals (and kinds of ended sessions) kept while the store is away; more are dropped
KEEP_DAYS = 7
PRUNE_INTERVAL = 3600.0
MAX_REPORTED_MAILBOXES = 500
_RESULT = re.compile(r"(?:failed|refused) \((.+)\)")
LoginListener = Callable[[str, str, str, str], None]  # (result, service, remote ip, mailbox)


def report_login(logger: logging.Logger, listener: LoginListener | None, service: str, result: str,
                 remote: str, user: str, activity: Activity | None = None, metrics: Metrics | None = None) -> None:
    """A failed login is evidence an admin looks for (INFO); a successful one is routine
    (DEBUG): logging each costs more CPU than a login with cached credentials. POP3 and IMAP4
    logins are counted for the dashboard; a refused one (TLS required) counts as failed. The result
    is "succeeded", "failed (REASON)" or "refused (REASON)" (a POP3 or IMAP4 core refused the
    login itself: tls-required). Every login
    is counted in the node's metrics, by result (ok or the failure's reason)."""
    succeeded = result == "succeeded"
    if succeeded:
        logger.debug("%s login %s remote=%s user=%s", service, result, remote, user)
    else:  # one fixed-format line per failure, for fail2ban (docs/operations.md)
        log_failure(service, remote, user, result.partition("(")[2].rstrip(")") or result)
    if activity is not None and service in LOGIN_KINDS:
        activity.record(LOGIN_KINDS[service][0 if succeeded else 1])
    if metrics is not None:
        metrics.login(service, result)
    if listener:
        listener(result, service, remote, user)


@dataclass(frozen=True)
class SessionEnd:
    """How one POP3 or IMAP4 session ended without a login: the kind it is counted under."""

    service: str  # pop3, imap4
    remote_ip: str
    binding: str
    tls: str  # none, stls (STLS or STARTTLS), ssl
    reason: str
    commands: str
    mailbox: str


class LoginEvidence:
    """Refused logins and POP3 and IMAP4 sessions that ended without a login, since the last
    flush, for one server."""

    def __init__(self, server: str, clock: Callable[[], float] = time.time) -> None:
        self.server = server
        self._clock = clock
        self._pending: list[LoginFailure] = []
        self._ended: dict[SessionEnd, list[Any]] = {}  # kind -> [count, first end, last end]
        self.dropped = 0
        self._last_prune = 0.0

    def _now(self) -> str:
        return datetime.fromtimestamp(self._clock(), timezone.utc).isoformat(timespec="microseconds")

    def record(self, result: str, service: str, remote: str, user: str) -> None:
        """The services' login listener: (result, service, remote ip, mailbox tried)."""
        if result == "succeeded":
            return
        if len(self._pending) >= MAX_PENDING:
            self.dropped += 1
            return
        match = _RESULT.fullmatch(result)
        mailbox = "" if user == "-" else user
        self._pending.append(LoginFailure(self._now(), self.server, service, remote or "?", mailbox,
                                          match.group(1) if match else result))

    def session_ended(self, end: SessionEnd) -> None:
        """The POP3 and IMAP4 services' session-end listener: one more session of that kind."""
        kind = self._ended.get(end)
        if kind is not None:
            kind[0] += 1
            kind[2] = self._now()
        elif len(self._ended) >= MAX_PENDING:
            self.dropped += 1
        else:
            at = self._now()
            self._ended[end] = [1, at, at]

    def _restore_ended(self, kinds: dict[SessionEnd, list[Any]]) -> None:
        """Put back counts the store did not take, merged with those counted since."""
        for end, (count, first, last) in kinds.items():
            kind = self._ended.get(end)
            if kind is not None:
                kind[0], kind[1] = kind[0] + count, min(kind[1], first)
            elif len(self._ended) < MAX_PENDING:
                self._ended[end] = [count, first, last]

    async def flush(self, store: EvidenceStore) -> None:
        """Store what was recorded; if the store cannot take it now, keep it for the next try."""
        rows, self._pending = self._pending, []
        kinds, self._ended = self._ended, {}
        ended = [EndedSessions(last, first, self.server, end.service, end.remote_ip, end.binding, end.tls, end.reason,
                               end.commands, end.mailbox, count) for end, (count, first, last) in kinds.items()]
        try:
            if rows:
                await store.record_login_failures(rows)
                rows = []
            if ended:
                await store.record_ended_sessions(ended)
                kinds = {}
            if self.dropped:
                log.warning("node %s dropped %d failed-login or session records (the store was unavailable)",
                            self.server, self.dropped)
                self.dropped = 0
            now = self._clock()
            if now - self._last_prune > PRUNE_INTERVAL:
                self._last_prune = now
                cutoff = (datetime.fromtimestamp(now, timezone.utc) - timedelta(days=KEEP_DAYS)).isoformat()
                await store.remove_login_failures(cutoff)
                await store.remove_ended_sessions(cutoff)
        except PostroomError as exc:
            self._pending = (rows + self._pending)[:MAX_PENDING]
            self._restore_ended(kinds)
            log.warning("node %s cannot store failed logins or ended sessions: %s", self.server, exc.message)


def pop3_usage(service: Any) -> dict[str, Any]:
    """Who holds which mailbox, and which sources are at their limit: what the doctor needs to
    tell "limit exhausted" and "mailbox locked" apart without reaching into the node."""
    now = asyncio.get_running_loop().time()  # sessions keep last_activity in loop time
    mailboxes: dict[str, dict[str, Any]] = {}
    for session in service.sessions:
        user = getattr(session, "user", None)
        if not user:
            continue
        entry = mailboxes.get(user)
        if entry is None:
            if len(mailboxes) >= MAX_REPORTED_MAILBOXES:
                continue
            entry = mailboxes[user] = {"sessions": 0, "holders": []}
        entry["sessions"] += 1
        if len(entry["holders"]) < 5:
            entry["holders"].append({"session": session.id, "remote": session.remote_ip,
                                     "idle_seconds": round(max(0.0, now - session.last_activity), 1)})
    limit = service.settings.max_connections_from_single_ip
    sources = {ip: count for ip, count in service.per_ip.items() if count >= limit}
    return {"mailboxes": mailboxes, "mailboxes_truncated": len(mailboxes) >= MAX_REPORTED_MAILBOXES,
            "sources_at_limit": dict(list(sources.items())[:100])}

