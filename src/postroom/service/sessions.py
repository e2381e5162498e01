"""Live sessions: `postroom session list` and `postroom session end ID | --user ADDRESS` (Dovecot:
doveadm who, doveadm kick), on every node sharing the store.

Nodes share only the store. Listing reads what each node published in its last report (its
POP3 and SMTP sessions, at most 100 per service, the oldest first; the report says when there
were more): every role group reads. Ending needs server-management or organization-management:
it stores a request, audited in the same transaction, which the node serving that server takes
within a second; the node ends the sessions (POP3 `-ERR [SYS/TEMP]`, no deletion applied; SMTP
`421 4.3.2`) and answers. We wait up to three seconds for the answer and say what ended, or
which servers have not answered yet. The states a session can be in: model/sessions.py.
"""
from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone
from typing import Any

from ..errors import NotFound, ValidationError
from ..model import SESSION_SERVICES, NodeReport, SessionEndRequest, normalise_address, session_server
from .context import READ, SERVER_CONFIG, Context
from .services import NODE_CONFIRM_TIMEOUT, NODE_STALE_AFTER

CONFIRM_TIMEOUT = NODE_CONFIRM_TIMEOUT  # seconds `end` waits for the nodes' answers
CONFIRM_POLL = 0.1
BRIEF = ("id", "server", "service", "user", "source")  # what the audit entry keeps of a session


async def _reports(ctx: Context, server: str | None) -> list[tuple[str, NodeReport | None]]:
    """(server, its node's report if a node serves it now) for `server`, or every server."""
    if server is None or server == "all":
        names = [s.name for s in await ctx.store.list_servers()]
    else:
        names = [(await ctx.store.get_server(server)).name]  # NotFound names the server
    found: list[tuple[str, NodeReport | None]] = []
    for name in names:
        report = await ctx.store.get_node_report(name)
        fresh = report is not None and time.time() - report.heartbeat_at <= NODE_STALE_AFTER
        found.append((name, report if fresh else None))
    return found


def _published(server: str, report: NodeReport) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The sessions a node listed (each with its server), and per service how many it holds and
    lists, and whether it listed fewer than it holds."""
    rows: list[dict[str, Any]] = []
    counts: dict[str, int] = {}
    listed: dict[str, int] = {}
    truncated = False
    for service in SESSION_SERVICES:
        published = report.services.get(service, {})
        mine = published.get("live_sessions", [])
        counts[service], listed[service] = int(published.get("sessions", 0)), len(mine)
        truncated = truncated or bool(published.get("live_sessions_truncated"))
        rows += [{"server": server, **row} for row in mine]
    return rows, {"server": server, "serving": True, "sessions": counts, "listed": listed, "truncated": truncated}


def _user(row: dict[str, Any]) -> str:
    return str(row.get("user") or "").lower()


def _service(value: str | None) -> str | None:
    if value is None:
        return None
    name = str(value).strip().lower()
    if name not in SESSION_SERVICES:
        raise ValidationError("service", f"{value!r} is not a service with live sessions", list(SESSION_SERVICES))
    return name


async def list_sessions(ctx: Context, *, server: str | None = None, service: str | None = None,
                        user: str | None = None) -> dict[str, Any]:
    """The live POP3 and SMTP sessions of `server` (None or "all": every server), oldest first;
    `service` and `user` narrow the list. Beside them, per server: whether a node serves it,
    its session counts and whether its node listed them all."""
    await ctx.require(READ)
    wanted_service = _service(service)
    wanted_user = normalise_address(user, "user") if user else None
    sessions: list[dict[str, Any]] = []
    servers: list[dict[str, Any]] = []
    for name, report in await _reports(ctx, server):
        if report is None:
            none = {s: 0 for s in SESSION_SERVICES}
            servers.append({"server": name, "serving": False, "sessions": none, "listed": dict(none),
                            "truncated": False})
            continue
        rows, summary = _published(name, report)
        sessions += [row for row in rows if (wanted_service is None or row["service"] == wanted_service)
                     and (wanted_user is None or _user(row) == wanted_user)]
        servers.append(summary)
    sessions.sort(key=lambda row: (row["since"], row["server"], row["id"]))
    return {"sessions": sessions, "servers": servers}


async def end_sessions(ctx: Context, session_id: str | None = None, *, user: str | None = None) -> dict[str, Any]:
    """End one session (its id, as `list_sessions` shows it) or every session of a mailbox
    (`user`), on whichever node holds it. Returns the sessions ended and the servers whose node
    has not answered yet; NotFound if no node lists such a session."""
    if bool(session_id) == bool(user):
        raise ValidationError("session", "name one session (its id, as `postroom session list` shows it) or one "
                                         "mailbox (--user ADDRESS)" + (", not both" if session_id else ""))
    await ctx.require(SERVER_CONFIG, "session.end", f"session/{session_id}" if session_id else f"mailbox/{user}")
    address: str | None = None
    if session_id:
        session_id = session_id.strip()
        server: str | None = session_server(session_id)
        missing = NotFound("live session", session_id)
    else:
        session_id, address, server = None, normalise_address(str(user), "user"), None
        missing = NotFound("live session of", address)
    requests, seen = await _requests(ctx, server, session_id, address)
    if not requests:
        raise missing
    before = {"sessions": [{key: row.get(key) for key in BRIEF} for row in seen]}
    target = f"session/{session_id}" if session_id else f"mailbox/{address}"
    stored = await ctx.store.request_session_ends(requests, audit=ctx.change("session.end", target, before, None))
    answers = await _answers(ctx, stored)
    ended = [{"server": request.server, **entry} for request in answers for entry in request.ended]
    pending = [request.server for request in answers if request.done_at is None]
    if not ended and not pending:
        raise missing  # the node found none: it had just ended
    return {"ended": ended, "pending": pending}


def ended_text(row: dict[str, Any]) -> str:
    """One ended session (of `end_sessions`' answer) in a sentence, for the CLI and the console."""
    return (f"Ended {row['service']} session {row['id']} of {row.get('user') or '(not logged in)'} from "
            f"{row['source']} on {row['server']}")


def pending_text(server: str) -> str:
    """A server whose node has not answered yet, in a sentence."""
    return (f"Asked the node serving {server} to end it; it has not answered yet (it ends the session when it "
            "next looks at the store)")


async def _requests(ctx: Context, server: str | None, session_id: str | None,
                    address: str | None) -> tuple[list[SessionEndRequest], list[dict[str, Any]]]:
    """One request per server whose node lists the session (or the mailbox's sessions), or
    lists only part of its sessions (it may hold one without showing it); and the sessions seen."""
    now = datetime.now(timezone.utc).isoformat(timespec="microseconds")
    requests: list[SessionEndRequest] = []
    seen: list[dict[str, Any]] = []
    for name, report in await _reports(ctx, None):
        if report is None or server not in (None, name):
            continue
        rows, summary = _published(name, report)
        found = [row for row in rows if (row["id"] == session_id if session_id else _user(row) == address)]
        if found or summary["truncated"]:
            seen += found
            requests.append(SessionEndRequest(name, session=session_id, mailbox=address, seen_at=report.heartbeat_at,
                                              requested_at=now, requested_by=ctx.caller.name))
    return requests, seen


async def _answers(ctx: Context, requests: list[SessionEndRequest]) -> list[SessionEndRequest]:
    """The requests as their nodes answered them, waiting up to CONFIRM_TIMEOUT seconds."""
    deadline = time.monotonic() + CONFIRM_TIMEOUT
    while True:
        requests = [await ctx.store.get_session_end(r.id) if r.done_at is None else r for r in requests]
        if all(r.done_at is not None for r in requests) or time.monotonic() >= deadline:
            return requests
        await asyncio.sleep(CONFIRM_POLL)
