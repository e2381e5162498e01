"""Live sessions (`postroom session list|end`; Dovecot: doveadm who, doveadm kick): the POP3,
IMAP4 and SMTP (receive) sessions a node holds now, and an administrator's request to end some of them.

Nodes share only the store. Each node publishes its sessions in its report (a bounded list,
with the count and whether it was cut), and takes the end requests for its server from the
store twice a second, as it looks for configuration changes.

A listed session's `state`, per protocol:
  POP3  pre-auth        connected, not logged in (greeting, CAPA, USER/PASS or AUTH, STLS)
        authenticating  the password is being checked
        authenticated   logged in (RFC 1939's TRANSACTION state): the mailbox is locked, and
                        DELE marks wait for QUIT (ending the session applies none)
        retrieving      a RETR or TOP is being sent
        updating        QUIT received: the deletions are being applied
        closing         the connection is ending
  IMAP4 pre-auth        connected, not logged in (greeting, CAPABILITY, STARTTLS, LOGIN/AUTHENTICATE)
        authenticating  the password is being checked
        authenticated   logged in, no folder selected
        selected        a folder is selected (SELECT or EXAMINE)
        executing       a command is being answered
        idling          IDLE: waiting for news of the mailbox
        closing         the connection is ending
  SMTP  connected       no EHLO/HELO yet (again after STARTTLS), or TLS being negotiated
        greeted         EHLO/HELO done; not authenticated, no mail transaction
        authenticating  AUTH under way
        authenticated   logged in; no mail transaction
        in-transaction  MAIL accepted: the envelope is being given (RCPT)
        receiving-data  message content arriving (DATA, BDAT)
        delivering      the message is being stored
        closing         the connection is ending
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..errors import ValidationError

SESSION_SERVICES = ("pop3", "imap4", "smtp")
POP3_STATES = ("pre-auth", "authenticating", "authenticated", "retrieving", "updating", "closing")
IMAP4_STATES = ("pre-auth", "authenticating", "authenticated", "selected", "executing", "idling", "closing")
SMTP_STATES = ("connected", "greeted", "authenticating", "authenticated", "in-transaction", "receiving-data",
               "delivering", "closing")
# A session's id is its node's server name and a number (server/session.py): EX01-42.
_SESSION_ID = re.compile(r"([A-Za-z0-9_-]{1,64})-([0-9]{1,18})")


def session_server(session_id: Any, field: str = "session") -> str:
    """The server whose node holds session `session_id` (SERVER-NUMBER, as `session list` shows)."""
    match = _SESSION_ID.fullmatch(str(session_id).strip()) if isinstance(session_id, str) else None
    if match is None:
        raise ValidationError(field, f"{session_id!r} is not a session id: SERVER-NUMBER, e.g. EX01-42, as "
                                     "`postroom session list` shows it")
    return match.group(1)


@dataclass(frozen=True)
class SessionEndRequest:
    """An administrator's request to end one session (`session`), or every session of a mailbox
    (`mailbox`), on one server. `seen_at` is the heartbeat of the node report it was made from:
    a node started after that ignores it (its session ids are new ones). The node answers with
    `done_at` and the sessions it ended, each as it listed them (`ended`)."""

    server: str
    session: str | None = None
    mailbox: str | None = None
    seen_at: float = 0.0
    requested_at: str = ""  # ISO-8601 UTC
    requested_by: str = ""
    id: int = 0  # given by the store
    done_at: str | None = None
    ended: tuple[dict[str, Any], ...] = ()
