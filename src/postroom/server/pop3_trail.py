"""What a POP3 session did before it logged in, and why it ended without a login: the doctor's
evidence for the clients that give up before sending a name (a refused login is evidence of its
own, server/evidence.py).

A `Trail` is filled by the session as it goes (the core's observer gives it each command line;
the session tells it of refused and failed logins and of a failed STLS handshake) and read once
at the end (`reason`). Only verbs are kept, never arguments, so no credential gets in.
"""
from __future__ import annotations

from typing import Any

from ..model import CONNECTION_LIMIT, NOT_POP3, TLS_FAILED, TLS_NOT_STARTED, TLS_ON_PLAIN_PORT
from ..protocol.pop3 import KNOWN_COMMANDS

MAX_VERBS = 8
_TLS_RECORD = (0x16, 0x03)  # a TLS handshake record (ClientHello) starts with these two octets
# Endings that say nothing about the client (the node is stopping, a bug of ours): not evidence.
NOT_EVIDENCE = frozenset({"shutdown", "aborted", "internal-error"})
_ENDINGS = {"quit": "quit", "too-many-errors": "protocol-errors", "timeout": "timeout"}


class Trail:
    __slots__ = ("verbs", "more", "first_octets", "refused", "failure", "mailbox", "tls_failed")

    def __init__(self) -> None:
        self.verbs: list[str] = []
        self.more = False  # more than MAX_VERBS commands were sent
        self.first_octets = b""  # the first bytes received (a TLS ClientHello on a plain port)
        self.refused: str | None = None  # the core refused a login itself (tls-required)
        self.failure: str | None = None  # the last refused login's reason (bad-credentials, blocked, ...)
        self.mailbox = ""  # the name USER or AUTH gave
        self.tls_failed = False  # STLS was answered, the handshake failed

    def received(self, data: bytes) -> None:
        if not self.first_octets:
            self.first_octets = data[:2]

    def command(self, line: Any, sasl_response: bool) -> None:
        """The core's observer before a login: the command's verb (SASL responses are skipped:
        they carry credentials)."""
        if sasl_response:
            return
        if len(self.verbs) >= MAX_VERBS:
            self.more = True
            return
        verb = line.split(b" ", 1)[0].upper().decode("ascii", "replace") if isinstance(line, bytes) else ""
        self.verbs.append(verb if verb in KNOWN_COMMANDS else "?")  # TooLong, or not POP3

    def login_refused(self, reason: str, username: str | None) -> None:
        self.refused = reason
        self.mailbox = (username or self.mailbox)[:100]

    def login_failed(self, reason: str, username: str) -> None:
        self.failure = reason
        self.mailbox = username[:100]

    @property
    def commands(self) -> str:
        return " ".join(self.verbs) + (" ..." if self.more else "")

    def reason(self, *, admitted: bool, tls: str, login_needs_tls: bool, ending: str) -> str | None:
        """Why the session ended without a login, most telling first; None when it is not
        evidence (it sent nothing: a health check or a port scan; or the node stopped it)."""
        if ending in NOT_EVIDENCE:
            return None
        if not admitted:
            return CONNECTION_LIMIT
        if tls == "none" and tuple(self.first_octets) == _TLS_RECORD:
            return TLS_ON_PLAIN_PORT
        if self.refused:
            return self.refused  # TLS_REQUIRED: the only refusal the core makes itself
        if self.tls_failed:
            return TLS_FAILED
        if self.failure:
            return self.failure
        if not self.verbs:
            return None
        if all(verb == "?" for verb in self.verbs):
            return NOT_POP3  # a scanner, an HTTP client, a blank line: no application of ours
        if tls == "none" and login_needs_tls:
            return TLS_NOT_STARTED
        return _ENDINGS.get(ending, "disconnected")
