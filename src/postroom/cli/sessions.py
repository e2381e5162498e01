"""`postroom session list|end`: the live POP3 and SMTP sessions of every node sharing the store,
and ending them (Dovecot: doveadm who, doveadm kick).

cli/__init__.py adds session_app to the `postroom` app.
"""
from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from ..service import sessions as session_ops
from .common import DEFAULT_DATA, Data, Json, run
from .output import console, emit, show_table

session_app = typer.Typer(help="Live POP3 and SMTP sessions on every server, and ending them (Dovecot: doveadm "
                               "who, doveadm kick; Exchange 2010: Get-LogonStatistics).", no_args_is_help=True)

COLUMNS = ["id", "service", "user", "source", "since", "state", "server"]
SessionId = Annotated[Optional[str], typer.Argument(help="The session's id, as `session list` shows it (e.g. "
                                                         "EX01-42).", show_default=False)]
User = Annotated[Optional[str], typer.Option("--user", help="Every session of this mailbox, on every server "
                                                            "(e.g. alice@example.com).", show_default=False)]


@session_app.command("list")
def session_list(data: Data = DEFAULT_DATA, json_out: Json = False,
                 server: Annotated[Optional[str], typer.Option(
                     "--server", help="Only this server's sessions (default: every server).")] = None,
                 service: Annotated[Optional[str], typer.Option(help="pop3 or smtp.")] = None,
                 user: Annotated[Optional[str], typer.Option(help="Only this mailbox's sessions.")] = None) -> None:
    """Who is connected now: each POP3 and SMTP session with its service, user, source address,
    start time (UTC), state and server, oldest first (Dovecot: doveadm who). States: POP3
    pre-auth, authenticating, authenticated, retrieving, updating; SMTP connected, greeted,
    authenticating, authenticated, in-transaction, receiving-data, delivering."""
    view = run(data, lambda ctx: session_ops.list_sessions(ctx, server=server, service=service, user=user))
    if json_out:
        emit(view)
        return
    if view["sessions"]:
        show_table([{**row, "user": row["user"] or "-"} for row in view["sessions"]], COLUMNS)
    else:
        console.print("No live session" + (" matches." if service or user else "."))
    for line in _server_notes(view["servers"]):
        console.print(line)


def _server_notes(servers: list[dict[str, Any]]) -> list[str]:
    notes = []
    for entry in servers:
        if not entry["serving"]:
            notes.append(f"{entry['server']}: no node is serving this server (`postroom serve`): no session listed.")
            continue
        for service, count in entry["sessions"].items():
            if entry["listed"][service] < count:
                notes.append(f"{entry['server']}: its node listed the oldest {entry['listed'][service]} of its "
                             f"{count} {service} sessions (`session end --user` reaches them all).")
    return notes


@session_app.command("end")
def session_end(session_id: SessionId = None, user: User = None, data: Data = DEFAULT_DATA,
                json_out: Json = False) -> None:
    """End a session, or every session of a mailbox, on whichever server holds it (Dovecot:
    doveadm kick). POP3 clients get -ERR and no deletion is applied (only QUIT applies them);
    SMTP clients get 421 4.3.2. Needs server-management or organization-management; audited."""
    view = run(data, lambda ctx: session_ops.end_sessions(ctx, session_id, user=user))
    if json_out:
        emit(view)
        return
    for row in view["ended"]:
        console.print(session_ops.ended_text(row))
    for server in view["pending"]:
        console.print(session_ops.pending_text(server) + ".")
