"""A fake IMAP4 adapter for the core's tests: scripts in, (output, events) out, at every chunk size.

Passwords: "secret" logs on, anything else fails. Requests are completed with
`OK <NAME> completed.` (SELECT/EXAMINE of "Nope" fail with NO), IDLE pushes `* 1 EXISTS`.
"""
from __future__ import annotations

from typing import Any, Callable

from conversation import converse

from postroom.protocol.imap4 import types as T
from postroom.protocol.imap4.core import (
    Authenticate, CloseConnection, IdleDone, IdleStarted, ImapConfig, ImapServer, Request, StartTls,
)

PLAIN_LOGIN = ImapConfig(login_type="plain-text-login")
CHUNKS = (None, 1, 2, 3, 5, 8, 13, 64)


def answer(conn: ImapServer) -> Callable[[Any], Callable[[], None] | None]:
    def reply(ev: Any) -> Callable[[], None] | None:
        if isinstance(ev, Authenticate):
            return conn.auth_succeeded if ev.password == "secret" else lambda: conn.auth_failed()
        if isinstance(ev, IdleStarted):
            return lambda: conn.send_data(b"* 1 EXISTS\r\n")
        if isinstance(ev, IdleDone):
            return lambda: conn.complete(ev.tag, "OK", "IDLE terminated.")
        if isinstance(ev, Request):
            command = ev.command
            if isinstance(command, T.Select) and command.mailbox == "Nope":
                return lambda: conn.complete(command.tag, "NO", "No such mailbox.", "NONEXISTENT")
            name = type(command).__name__.upper()
            return lambda: conn.complete(command.tag, "OK", f"{name} completed.")
        return None
    return reply


def run(phases: list[bytes] | bytes, *, chunk: int | None = None, deferred: bool = False, eof: bool = False,
        config: ImapConfig = PLAIN_LOGIN, tls_active: bool = False, tls_available: bool = True,
        ) -> tuple[bytes, list[Any], ImapServer]:
    conn = ImapServer(config, tls_active=tls_active, tls_available=tls_available)
    if isinstance(phases, bytes):
        phases = [phases]
    out, events = converse(conn, phases, chunk, deferred, answer=answer(conn), eof=eof,
                           close_type=CloseConnection, starttls_type=StartTls)
    return out, events, conn


def talk(phases: list[bytes] | bytes, **options: Any) -> tuple[bytes, list[Any]]:
    """Run the script at every chunk size, answering at once and deferred: all runs must agree."""
    first = None
    for chunk in CHUNKS:
        for deferred in (False, True):
            out, events, _ = run(phases, chunk=chunk, deferred=deferred, **options)
            if first is None:
                first = (out, events)
            else:
                assert (out, events) == first, (chunk, deferred)
    assert first is not None
    return first


def replies(out: bytes) -> list[bytes]:
    """The output without the greeting, as lines."""
    return out.split(b"\r\n")[1:-1]
