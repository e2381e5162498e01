"""Live POP3 and SMTP sessions on every node sharing the store, and ending them: `postroom
session list|end` (Dovecot: doveadm who, doveadm kick). Not the console's sign-in session
(/api/v1/session, routes_session.py)."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from ..service import sessions as session_ops
from .security import AdminRoute, Ctx
from .views import documented

router = APIRouter(prefix="/api/v1", route_class=AdminRoute)
SessionId = Annotated[str, Path(description="A session's id, as GET /api/v1/live-sessions lists it",
                                examples=["EX01-42"])]
ServerFilter = Annotated[str | None, Query(description="Only this server's sessions (default: every server)")]
ServiceFilter = Annotated[str | None, Query(description="pop3 or smtp")]
UserFilter = Annotated[str | None, Query(description="Only this mailbox's sessions", examples=["alice@example.com"])]
UserToEnd = Annotated[str, Query(description="End every session of this mailbox, on every server",
                                 examples=["alice@example.com"])]


class LiveSessionView(BaseModel):
    """One session as its node listed it (states: see `postroom session list --help`)."""

    id: str
    server: str
    service: str  # pop3, smtp
    user: str | None  # the mailbox logged in; None before a login (and for anonymous SMTP)
    source: str  # the client's IP address
    since: str  # ISO-8601 UTC, when it connected
    state: str
    tls: bool
    listener: str  # the binding it connected to
    connector: str | None  # SMTP: the receive connector
    idle_seconds: float


class ServerSessionsView(BaseModel):
    server: str
    serving: bool  # a node serves it now; if not, it has no session
    sessions: dict[str, int]  # per service, how many the node holds
    listed: dict[str, int]  # per service, how many it listed (the oldest, 100 at most)
    truncated: bool  # it listed fewer than it holds


class LiveSessionsView(BaseModel):
    sessions: list[LiveSessionView]
    servers: list[ServerSessionsView]


class EndedSessionView(BaseModel):
    id: str
    server: str
    service: str
    user: str | None
    source: str
    since: str
    state: str  # when it was ended


class SessionsEndedView(BaseModel):
    ended: list[EndedSessionView]
    pending: list[str]  # servers whose node has not answered within three seconds


@router.get("/live-sessions", tags=["live sessions"], **documented(LiveSessionsView))
async def list_live_sessions(ctx: Ctx, server: ServerFilter = None, service: ServiceFilter = None,
                             user: UserFilter = None) -> Any:
    """Who is connected now: every node's POP3 and SMTP sessions, oldest first (Dovecot: doveadm
    who), with each server's counts and whether its node listed them all."""
    return await session_ops.list_sessions(ctx, server=server, service=service, user=user)


@router.delete("/live-sessions/{session_id}", tags=["live sessions"], **documented(SessionsEndedView))
async def end_live_session(session_id: SessionId, ctx: Ctx) -> Any:
    """End one session on whichever node holds it (Dovecot: doveadm kick): POP3 gets -ERR and no
    deletion is applied, SMTP gets 421 4.3.2; answers once its node has (or after three seconds)."""
    return await session_ops.end_sessions(ctx, session_id)


@router.delete("/live-sessions", tags=["live sessions"], **documented(SessionsEndedView))
async def end_live_sessions_of(user: UserToEnd, ctx: Ctx) -> Any:
    """End every session of a mailbox, on every node (Dovecot: doveadm kick USER)."""
    return await session_ops.end_sessions(ctx, user=user)
