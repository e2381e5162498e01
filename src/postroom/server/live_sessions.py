"""Live sessions on this node, for `postroom session list|end` (Dovecot: doveadm who, doveadm kick).

Nodes share only the store, so both directions go through it, as configuration does:
- The node's report (written with each heartbeat) carries, per service, up to MAX_LISTED of its
  sessions, oldest first, and whether the list was cut (the count is already there).
- `SessionEnds.poll()`, called twice a second beside the config_version check, takes the end
  requests for this server from the store, ends the sessions they name and answers with the
  sessions it ended. A session ends as at shutdown, but with its own reply: POP3 `-ERR
  [SYS/TEMP]` (DELE marks are not applied: only QUIT applies them), SMTP `421 4.3.2`; one still
  busy END_GRACE seconds later (a message arriving, a slow RETR) is dropped.
The states are named in model/sessions.py.
"""
from __future__ import annotations

import asyncio
import heapq
import logging
import time
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping

from ..errors import PostroomError
from ..model import SessionEndRequest
from ..protocol.imap4.core import State as ImapState
from ..protocol.pop3 import State as Pop3State
from ..protocol.smtp import State as SmtpState
from ..storage import SessionControl

log = logging.getLogger("postroom.node")
MAX_LISTED = 100  # sessions a node lists per service in its report (written every second)
END_GRACE = 1.0  # seconds an ended session may take to reach a command boundary before it is dropped

POP3_STATE = {
    Pop3State.AUTHORIZATION: "pre-auth", Pop3State.AWAITING_PASS: "pre-auth", Pop3State.SASL_EXCHANGE: "pre-auth",
    Pop3State.TLS_NEGOTIATING: "pre-auth", Pop3State.AUTHENTICATING: "authenticating",
    Pop3State.TRANSACTION: "authenticated", Pop3State.RETRIEVING: "retrieving", Pop3State.UPDATE: "updating",
    Pop3State.CLOSED: "closing",
}
IMAP4_STATE = {
    ImapState.NOT_AUTHENTICATED: "pre-auth", ImapState.SASL_EXCHANGE: "pre-auth", ImapState.TLS_NEGOTIATING: "pre-auth",
    ImapState.AUTHENTICATING: "authenticating", ImapState.AUTHENTICATED: "authenticated",
    ImapState.SELECTED: "selected", ImapState.EXECUTING: "executing", ImapState.IDLING: "idling",
    ImapState.CLOSED: "closing",
}
SMTP_STATE = {
    SmtpState.CONNECTED: "connected", SmtpState.TLS_NEGOTIATING: "connected", SmtpState.READY: "greeted",
    SmtpState.SASL: "authenticating", SmtpState.AUTHENTICATING: "authenticating",
    SmtpState.MAIL: "in-transaction", SmtpState.CHECKING_SENDER: "in-transaction", SmtpState.RCPT: "in-transaction",
    SmtpState.CHECKING_RECIPIENT: "in-transaction", SmtpState.DATA: "receiving-data", SmtpState.BDAT: "receiving-data",
    SmtpState.CHUNKING: "receiving-data", SmtpState.DELIVERING: "delivering", SmtpState.CLOSED: "closing",
}


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="seconds")


def describe(session: Any, now: float) -> dict[str, Any]:
    """One session as `session list` shows it. `now`: the loop's time (idle is counted in it)."""
    conn, service = session.conn, session.service_name
    if conn is None or session.ended:
        state = "closing"
    elif service == "pop3":
        state = POP3_STATE.get(conn.state, "closing")
    elif service == "imap4":
        state = IMAP4_STATE.get(conn.state, "closing")
    else:
        state = SMTP_STATE.get(conn.state, "closing")
        if state == "greeted" and session.user:
            state = "authenticated"
    runtime = getattr(session, "runtime", None)
    return {
        "id": session.id, "service": service, "user": session.user or None, "source": session.remote_ip,
        "since": _iso(session.connected_at), "state": state, "tls": bool(conn is not None and conn.tls_active),
        "listener": session.local, "connector": runtime.name if runtime is not None else None,
        "idle_seconds": round(max(0.0, now - session.last_activity), 1),
    }


def listed(sessions: Iterable[Any]) -> dict[str, Any]:
    """What the report says of one service's sessions: the oldest MAX_LISTED, and whether
    there were more (its `sessions` count says how many)."""
    now = asyncio.get_running_loop().time()  # sessions keep last_activity in loop time
    pool = list(sessions)
    oldest = heapq.nsmallest(MAX_LISTED, pool, key=lambda s: s.connected_at)
    return {"live_sessions": [describe(s, now) for s in oldest], "live_sessions_truncated": len(pool) > MAX_LISTED}


class SessionEnds:
    """Takes this server's end requests from the store and ends the sessions they name."""

    def __init__(self, store: SessionControl, server: str, services: Mapping[str, Any]) -> None:
        self.store = store
        self.server = server
        self.services = services  # "pop3", "smtp" -> the service, whose `sessions` are live
        # Requests made from a report written before this node started name sessions of an
        # earlier process (whose ids this one gives out again): they end nothing.
        self.started_at = time.time()
        self.unanswered: dict[int, list[dict[str, Any]]] = {}  # what was ended, for an answer the store refused

    async def poll(self) -> None:
        for request in await self.store.pending_session_ends(self.server):
            ended = self.unanswered.pop(request.id, None)
            if ended is None:
                ended = self.end(request) if request.seen_at >= self.started_at else []
            try:
                await self.store.finish_session_end(request.id, _iso_now(), ended)
            except PostroomError as exc:  # answered next time round, with the same sessions
                self.unanswered[request.id] = ended
                log.warning("node %s cannot answer session end request %s: %s", self.server, request.id, exc.message)

    def end(self, request: SessionEndRequest) -> list[dict[str, Any]]:
        loop_time = asyncio.get_running_loop().time()
        ended: list[dict[str, Any]] = []
        for service in self.services.values():
            for session in list(service.sessions):
                wanted = session.id == request.session if request.session is not None else \
                    (session.user or "").lower() == (request.mailbox or "").lower()
                if wanted and not session.ended:
                    ended.append(describe(session, loop_time))
                    session.end_by_admin(END_GRACE)
        for entry in ended:
            log.info("session %s (%s, %s from %s) ended by %s", entry["id"], entry["service"], entry["user"] or "-",
                     entry["source"], request.requested_by)
        return ended


def _iso_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")
