"""What a POP3 or IMAP4 session did before it logged in, and why it ended without a login: the
doctor's evidence for the clients that give up before sending a name (a refused login is
evidence of its own, server/evidence.py).

A `Trail` is filled by the session as it goes (the core's observer gives it each command line;
the session tells it of refused and failed logins and of a failed STLS/STARTTLS handshake) and
read once at the end (`reason`). Only verbs are kept, never arguments, so no credential gets in.
Each protocol has its own small subclass: the verbs it knows, where a line's verb is (IMAP4: after
the tag), its name for lines that are no command of it, and its names for how a session ended.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from ..model import CONNECTION_LIMIT, NOT_IMAP4, NOT_POP3, TLS_FAILED, TLS_NOT_STARTED, TLS_ON_PLAIN_PORT
from ..protocol.imap4.core import KNOWN_COMMANDS as IMAP4_COMMANDS
from ..protocol.imap4.core import literal_marker
from ..protocol.pop3 import KNOWN_COMMANDS as POP3_COMMANDS

MAX_VERBS = 8
_TLS_RECORD = (0x16, 0x03)  # a TLS handshake record (ClientHello) starts with these two octets
# Endings that say nothing about the client (the node is stopping, a bug of ours): not evidence.
NOT_EVIDENCE = frozenset({"shutdown", "aborted", "internal-error"})


class Trail(ABC):
    __slots__ = ("verbs", "more", "first_octets", "refused", "failure", "mailbox", "tls_failed")
    known: frozenset[str] = frozenset()  # the protocol's commands; any other verb is kept as "?"
    not_the_protocol = ""  # the reason of a session that sent only lines that are no command of it
    endings: dict[str, str] = {}  # the core's CloseConnection reasons (and "timeout") -> the reason kept

    def __init__(self) -> None:
        self.verbs: list[str] = []
        self.more = False  # more than MAX_VERBS commands were sent
        self.first_octets = b""  # the first bytes received (a TLS ClientHello on a plain port)
        self.refused: str | None = None  # the core refused a login itself (tls-required)
        self.failure: str | None = None  # the last refused login's reason (bad-credentials, blocked, ...)
        self.mailbox = ""  # the name a login gave (USER, AUTH, LOGIN)
        self.tls_failed = False  # STLS/STARTTLS was answered, the handshake failed

    def received(self, data: bytes) -> None:
        if not self.first_octets:
            self.first_octets = data[:2]

    @abstractmethod
    def verb(self, line: Any) -> str | None:
        """The command's verb in upper case ("" when there is none: TooLong, a blank line), or
        None for a line that is no command (the rest of one, after a literal): each protocol's."""

    def command(self, line: Any, sasl_response: bool) -> None:
        """The core's observer before a login: the command's verb (SASL responses are skipped:
        they carry credentials)."""
        if sasl_response:
            return
        verb = self.verb(line)
        if verb is None:
            return
        if len(self.verbs) >= MAX_VERBS:
            self.more = True
            return
        self.verbs.append(verb if verb in self.known else "?")  # TooLong, or not the protocol

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
            return self.refused  # TLS_REQUIRED: the only refusal the cores make themselves
        if self.tls_failed:
            return TLS_FAILED
        if self.failure:
            return self.failure
        if not self.verbs:
            return None
        if all(verb == "?" for verb in self.verbs):
            return self.not_the_protocol  # a scanner, an HTTP client, a blank line: no application of ours
        if tls == "none" and login_needs_tls:
            return TLS_NOT_STARTED
        return self.endings.get(ending, "disconnected")


class Pop3Trail(Trail):
    """POP3: a command's verb is its first word."""

    __slots__ = ()
    known = POP3_COMMANDS
    not_the_protocol = NOT_POP3
    endings = {"quit": "quit", "too-many-errors": "protocol-errors", "timeout": "timeout"}

    def verb(self, line: Any) -> str | None:
        return line.split(b" ", 1)[0].upper().decode("ascii", "replace") if isinstance(line, bytes) else ""


class ImapTrail(Trail):
    """IMAP4: a command is `tag VERB ...`; a line that follows a literal (`a1 LOGIN alice {6}`,
    the literal, then the rest of the line) is the same command's, not another."""

    __slots__ = ("after_literal",)
    known = IMAP4_COMMANDS
    not_the_protocol = NOT_IMAP4
    endings = {"logout": "logout", "too-many-errors": "protocol-errors", "literal-too-big": "protocol-errors",
               "timeout": "timeout"}

    def __init__(self) -> None:
        super().__init__()
        self.after_literal = False  # the last line ended with a literal's {n}: its octets came next

    def verb(self, line: Any) -> str | None:
        if not isinstance(line, bytes):
            self.after_literal = False
            return ""
        # The rest of a command after a literal starts with a space or ")" or is empty; a new
        # command starts with its tag (so a literal the core refused does not hide the next).
        rest = self.after_literal and line[:1] in (b"", b" ", b")")
        self.after_literal = literal_marker(line) is not None
        if rest:
            return None
        words = line.split(b" ", 2)
        return words[1].upper().decode("ascii", "replace") if len(words) > 1 else ""
