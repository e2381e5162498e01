"""Sans-IO IMAP4rev1 server core (RFC 3501) with LITERAL+ (7888), SASL-IR (4959), IDLE (2177),
STARTTLS, COMPRESS=DEFLATE (4978), and the parsing of every command in types.py; IMAP4rev2
(RFC 9051) and UTF8=ACCEPT (RFC 6855) once ENABLE turns them on (`mode`, modes.py).

The adapter feeds received bytes with `receive_data()` (b"" means EOF), pulls events with
`next_event()` until NEED_DATA or PAUSED, answers them and writes `data_to_send()`:

- Authenticate -> `auth_succeeded()` / `auth_failed(text, code)`
- StartTls -> `tls_started()` once the handshake is done
- Request(command) -> any number of `send_data(untagged)`, then `complete(tag, status, text, code)`
- IdleStarted(tag) -> push updates with `send_data()`; IdleDone(tag) -> `complete(tag, "OK", ...)`
- LoginRefused -> nothing to answer: the core refused a login itself (NO [PRIVACYREQUIRED])
- StartCompression -> write the queued OK as it is, then compress what follows (both ways)
- CloseConnection -> flush and close.

The core answers CAPABILITY, LOGOUT, STARTTLS, LOGIN/AUTHENTICATE framing, NOOP and ID
before login, and COMPRESS itself. Commands are answered strictly in order: while a Request is out the core
is PAUSED and later commands wait in the buffer. `selected(True/False)` tells the core whether
a mailbox is selected (SELECT/EXAMINE success, CLOSE, UNSELECT do it implicitly on complete()).
Every legal (state, command) pair is in TRANSITIONS at the end of this module.
"""
from __future__ import annotations

import re
from typing import Any, Callable

from .._common import NEED_DATA, PAUSED, CoreBase, LocalProtocolError
from ..lines import TooLong
from . import _login
from . import types as T
from ._framing import MAX_TAG, CommandBuffer, command_name, literal_marker, tag_of
from ._parser import PARSERS
from ._replies import CONTINUE_LITERAL, Bye, response
from ._states import (
    AUTHENTICATED, CLOSED, NOT_AUTHENTICATED, SELECTED, Authenticating, Executing, Idling, ImapPhase, TlsNegotiating,
)
from ._tokens import Cursor, ParseError, shown
from .modes import Mode, enable
from ._types import (
    DEFAULT_IMAP_BANNER, SHUTDOWN_STATES, WAITING_STATES, Authenticate, CloseConnection, Event, IdleDone,
    IdleStarted, ImapConfig, LoginRefused, Request, SavedResultReset, StartCompression, StartTls, State,
)

__all__ = [
    "DEFAULT_IMAP_BANNER", "KNOWN_COMMANDS", "NEED_DATA", "PAUSED", "TRANSITIONS", "Authenticate", "CloseConnection",
    "Event", "IdleDone", "IdleStarted", "ImapConfig", "ImapServer", "LocalProtocolError", "LoginRefused", "Request",
    "SavedResultReset", "StartCompression", "StartTls", "State", "literal_marker", "response",
]

_COMMAND = re.compile(rb"[^ ]+")
_INVALID_TAG = (f'Invalid tag: a tag is up to {MAX_TAG} ASCII letters, digits and punctuation other than '
                '( ) { % * " \\ +.')
_STATUSES = frozenset({"OK", "NO", "BAD"})
_SELECTED_ONLY = frozenset({"CHECK", "CLOSE", "UNSELECT", "EXPUNGE", "SEARCH", "FETCH", "STORE", "COPY", "MOVE", "UID"})
KNOWN_COMMANDS = frozenset({"CAPABILITY", "LOGOUT", "STARTTLS", "LOGIN", "AUTHENTICATE", "IDLE", "COMPRESS", *PARSERS})


class ImapServer(CoreBase):
    """One IMAP4 connection, server side. The greeting is queued at construction."""

    CLOSED_STATE, TLS_STATE, WAITING_STATES = State.CLOSED, State.TLS_NEGOTIATING, WAITING_STATES
    SHUTDOWN_STATES, CLOSED_PHASE, CLOSE_EVENT = SHUTDOWN_STATES, CLOSED, CloseConnection
    SHUTDOWN_REPLY = Bye("Server shutting down.")
    ENDED_REPLY = Bye("Session ended by an administrator.")
    _phase: ImapPhase

    def __init__(self, config: ImapConfig, *, tls_active: bool = False, tls_available: bool = False) -> None:
        self.config = config
        self.tls_active = tls_active
        self.tls_available = tls_available
        self.compressed = False  # COMPRESS DEFLATE was answered OK: it stays on to the end
        self._start(NOT_AUTHENTICATED, config.max_command_size)
        self._lines = self._buffer = CommandBuffer(config.max_command_size)
        #: Optional `(line, is_sasl_response)` callback for every command line the core reads
        #: (TooLong for an overlong one; literal octets are not passed): for protocol logs.
        self.observer: Callable[[Any, bool], None] | None = None
        self._errors = 0
        self._auth_failures = 0
        self._is_selected = False
        self._parts: list[bytes] = []  # the command being assembled: text, literal, ..., text
        self._size = 0  # its octets so far (those counted against max_command_size)
        self._literal_total = 0  # APPEND: its literals' octets
        self._literal_left = 0  # octets of the current literal still to read
        self._literal: list[bytes] = []  # the current literal's chunks
        self.mode = Mode()  # UTF8=ACCEPT, IMAP4rev2: set as an ENABLE naming them completes OK
        caps = " ".join(self._capabilities())
        self._out.append(f"* OK [CAPABILITY {caps}] {config.banner}\r\n".encode("utf-8"))

    # ----------------------------------------------------------------- adapter interface
    @property
    def state(self) -> State:
        return self._phase.kind

    @property
    def authenticated(self) -> bool:
        return self._phase.kind in (State.AUTHENTICATED, State.SELECTED, State.EXECUTING, State.IDLING)

    # Each answer is ignored once the connection is closed: a timeout or shutdown may have
    # ended it while the adapter was still working on the event.
    def auth_succeeded(self) -> None:
        if self._phase.kind is State.CLOSED:
            return
        phase = self._answering(Authenticating)
        self._phase = AUTHENTICATED
        self._is_selected = False
        caps = " ".join(self._capabilities())
        self._out.append(response(phase.tag, "OK", "Logged in.", f"CAPABILITY {caps}"))

    def auth_failed(self, text: str = "Logon failure: unknown user name or bad password.",
                    code: str | None = "AUTHENTICATIONFAILED") -> None:
        if self._phase.kind is State.CLOSED:
            return
        phase = self._answering(Authenticating)
        self._phase = NOT_AUTHENTICATED
        self._auth_failure(response(phase.tag, "NO", text, code))

    def tls_started(self) -> None:
        if self._phase.kind is State.CLOSED:
            return
        self._answering(TlsNegotiating)
        self.tls_active = True
        self._buffer.clear()
        self._phase = NOT_AUTHENTICATED  # RFC 3501 6.2.1: no new greeting

    def send_data(self, data: bytes) -> None:
        """Untagged response data (whole lines, or a literal's octets) from the server, at any
        time; dropped once the connection is closed."""
        if self._phase.kind is not State.CLOSED:
            self._out.append(data)

    def complete(self, tag: str, status: str, text: str, code: str | None = None) -> None:
        """Finish the Request (or IDLE) `tag` with a tagged OK, NO or BAD."""
        if self._phase.kind is State.CLOSED:
            return
        phase = self._answering(Executing)
        if tag != phase.command.tag:
            raise LocalProtocolError(f"complete({tag!r}) but the command out is {phase.command.tag!r}")
        if status not in _STATUSES:
            raise LocalProtocolError(f"status must be OK, NO or BAD, not {status!r}")
        command = phase.command
        if isinstance(command, T.Select):
            self._is_selected = status == "OK"
        elif isinstance(command, (T.Close, T.Unselect)) and status == "OK":
            self._is_selected = False
        elif isinstance(command, T.Enable) and status == "OK":
            self.mode = enable(self.mode, command.capabilities)[0]
        self._phase = SELECTED if self._is_selected else AUTHENTICATED
        if status == "BAD":
            self._protocol_error(tag, text, code)
        else:
            self._out.append(response(tag, status, text, code))

    def selected(self, selected: bool) -> None:
        """A mailbox is (no longer) selected: the state after the command being answered."""
        if self._phase.kind is State.CLOSED:
            return
        if not self.authenticated:
            raise LocalProtocolError("no mailbox can be selected before login")
        self._is_selected = selected
        if self._phase.kind in (State.AUTHENTICATED, State.SELECTED):
            self._phase = SELECTED if selected else AUTHENTICATED

    def shutdown(self, ended_by_admin: bool | str = False) -> bool:
        """The server stops (or an administrator ended the session): `* BYE` and close, at
        once between commands or while idling; False while a command is being answered (call
        again after complete()). A str is the BYE text."""
        if not isinstance(ended_by_admin, str):
            return super().shutdown(ended_by_admin)
        if self._phase.kind not in SHUTDOWN_STATES:
            return self._phase.kind is State.CLOSED
        self._send(Bye(ended_by_admin))
        self._close("shutdown")
        return True

    def timeout(self, text: str = "Autologout; idle for too long.") -> None:
        """The session timed out (pre- or post-login): `* BYE` and close, in any state."""
        if self._phase.kind is not State.CLOSED:
            self._send(Bye(text))
            self._close("timeout")

    # ------------------------------------------------------------------------- framing
    def _step(self) -> bool:
        buffer = self._buffer
        if self._literal_left:
            chunk = buffer.take(self._literal_left)
            if not chunk:
                return False
            self._literal_left -= len(chunk)
            self._literal.append(chunk)
            if not self._literal_left:  # one join: no regrowing buffer for a big APPEND
                self._parts.append(chunk if len(self._literal) == 1 else b"".join(self._literal))
                self._literal = []
            return True
        if buffer.literal_plus_skipped:
            self._send(Bye("Literal data followed a command that was too long; closing."))
            self._close("literal-too-big")
            return True
        line = buffer.next_line()
        if line is None:
            return False
        kind = self._phase.kind
        if self.observer is not None:
            self.observer(line, kind is State.SASL_EXCHANGE)
        if kind is State.SASL_EXCHANGE:
            _login.sasl_line(self, line)
        elif kind is State.IDLING:
            self._idle_line(line)
        elif line is TooLong:
            self._too_long()
        else:
            assert isinstance(line, bytes)
            self._command_line(line)
        return True

    def _command_line(self, line: bytes) -> None:
        marker = literal_marker(line)
        self._size += len(line) + 2
        if self._size > self.config.max_command_size:
            if marker is not None and not marker[1]:
                self._refuse_literal_plus(tag_of((self._parts or [line])[0]) or "*", "Command too long: the limit "
                                          f"is {self.config.max_command_size} octets.")
            else:
                self._too_long()
            return
        self._parts.append(line)
        if marker is None:
            parts = self._parts
            self._reset_command()
            self._dispatch(parts)
            return
        size, synchronising = marker
        if synchronising and command_name(self._parts) == "LOGIN" and self._phase.kind is State.NOT_AUTHENTICATED \
                and not self.config.login_allowed(self.tls_active):
            tag, parts = tag_of(self._parts[0]) or "*", self._parts
            self._reset_command()  # refused before the client sends its password in clear
            _login.privacy_required(self, tag, _login.login_name(parts))
            return
        refusal = self._literal_refusal(size)
        if refusal is not None:
            tag, append = tag_of(self._parts[0]) or "*", self.authenticated and command_name(self._parts) == "APPEND"
            if not synchronising:
                self._refuse_literal_plus(tag, refusal)
                return
            self._reset_command()
            if append:
                self._out.append(response(tag, "NO", refusal, "TOOBIG"))
            else:
                self._protocol_error(tag, refusal, "TOOBIG")
            return
        if synchronising:
            self._out.append(CONTINUE_LITERAL)
        self._literal_left = size
        if size == 0:
            self._parts.append(b"")

    def _refuse_literal_plus(self, tag: str, text: str) -> None:
        """A non-synchronising literal that will not be read: its octets are on their way and
        nothing tells them from commands, so the connection ends (RFC 7888 section 4)."""
        self._reset_command()
        self._out.append(response(tag, "BAD", text, "TOOBIG"))
        self._send(Bye("Literal too big; closing."))
        self._close("literal-too-big")

    def _literal_refusal(self, size: int) -> str | None:
        """Why a literal of `size` octets cannot be read, or None. APPEND's literals may reach
        max_literal_size (once logged in); any other command's count against max_command_size."""
        if self.authenticated and command_name(self._parts) == "APPEND":
            limit = self.config.max_literal_size
            if size > limit or self._literal_total + size > limit + self.config.max_command_size:
                return f"The message is too big: {size} octets, the limit is {limit}."
            self._literal_total += size
            return None
        self._size += size
        if self._size > self.config.max_command_size:
            return f"Command too long: the limit is {self.config.max_command_size} octets."
        return None

    def _reset_command(self) -> None:
        self._parts = []
        self._size = self._literal_total = 0

    def _too_long(self) -> None:
        head = self._parts[0] if self._parts else self._buffer.overlong_head
        self._reset_command()
        self._protocol_error(tag_of(head) or "*", f"Command line too long: the limit is "
                             f"{self.config.max_command_size} octets.", "TOOBIG")

    def _dispatch(self, parts: list[bytes]) -> None:
        first = parts[0]
        if not first and len(parts) == 1:
            return  # an empty line: ignored, as other servers do
        tag = tag_of(first)
        if tag is None:
            bare = tag_of(first + b" ")
            if bare is not None and len(parts) == 1:
                self._protocol_error(bare, "Missing command.")
            else:
                self._protocol_error("*", _INVALID_TAG)
            return
        cur = Cursor(parts, len(tag) + 1, self.mode)
        name = (cur.match(_COMMAND) or b"").decode("latin-1").upper()
        handler = TRANSITIONS[self._phase.kind].get(name)
        try:
            if handler is None:
                raise ParseError(self._not_valid(name))
            handler(self, tag, cur, name)
        except ParseError as error:
            if error.status == "BAD":
                self._protocol_error(tag, error.text, error.code)
            else:
                self._out.append(response(tag, error.status, error.text, error.code))
                if error.saving:
                    self._events.append(SavedResultReset())

    def _not_valid(self, name: str) -> str:
        if name not in KNOWN_COMMANDS:
            return f"Unknown command {shown(name)}." if name else "Expected a command name after the tag."
        kind = self._phase.kind
        if kind is State.NOT_AUTHENTICATED:
            return f"{name} is not valid before login: log in first."
        if name in _SELECTED_ONLY and kind is State.AUTHENTICATED:
            return f"{name} needs a selected mailbox: SELECT one first."
        return f"{name} is not valid in the {kind.value} state."

    # -------------------------------------------------------------------------- errors
    def _protocol_error(self, tag: str, text: str, code: str | None = None) -> None:
        self._out.append(response(tag, "BAD", text, code))
        self._count_error()

    def _count_error(self) -> None:
        self._errors += 1
        if self._errors >= self.config.max_errors:
            self._send(Bye("Too many invalid commands."))
            self._close("too-many-errors")

    def _auth_failure(self, reply: bytes) -> None:
        self._auth_failures += 1
        self._out.append(reply)
        if self._auth_failures >= self.config.max_auth_failures:
            self._send(Bye("Too many failed logins."))
            self._close("too-many-auth-failures")

    def _capabilities(self) -> tuple[str, ...]:
        return self.config.capabilities(tls_active=self.tls_active, tls_available=self.tls_available,
                                        authenticated=self.authenticated, compressed=self.compressed)

    # ------------------------------------------------------------------- any state
    def _capability(self, tag: str, cur: Cursor, name: str) -> None:
        cur.end(name)
        self._out.append(b"* CAPABILITY " + " ".join(self._capabilities()).encode("ascii") + b"\r\n")
        self._out.append(response(tag, "OK", "CAPABILITY completed."))

    def _logout(self, tag: str, cur: Cursor, name: str) -> None:
        cur.end(name)
        self._send(Bye("Logging out."))
        self._out.append(response(tag, "OK", "LOGOUT completed."))
        self._close("logout")

    # ------------------------------------------------------------- authenticated states
    def _request(self, tag: str, cur: Cursor, name: str) -> None:
        command = PARSERS[name](tag, cur)
        self._phase = Executing(command)
        self._events.append(Request(command))

    def _idle(self, tag: str, cur: Cursor, name: str) -> None:
        cur.end(name)
        self._phase = Idling(tag)
        self._out.append(b"+ idling\r\n")
        self._events.append(IdleStarted(tag))

    def _compress(self, tag: str, cur: Cursor, name: str) -> None:
        """COMPRESS DEFLATE: OK, then everything after the OK's CRLF (and after the command's
        CRLF the other way) is compressed. What the client pipelined after the command is
        compressed data already: it leaves the line buffer with the event."""
        cur.sp("a compression mechanism")
        mechanism = cur.keyword("a compression mechanism")
        cur.end(name)
        if mechanism != "DEFLATE":
            raise ParseError(f"Unknown compression mechanism {shown(mechanism)}: DEFLATE is the one supported.")
        if self.compressed:
            self._out.append(response(tag, "NO", "DEFLATE compression is already active.", "COMPRESSIONACTIVE"))
            return
        self.compressed = True
        self._out.append(response(tag, "OK", "DEFLATE active."))
        self._events.append(StartCompression(tag, self._buffer.take()))

    def _idle_line(self, line: Any) -> None:
        phase = self._phase
        assert isinstance(phase, Idling)
        if line is TooLong or line.strip().upper() != b"DONE":
            self._out.append(b"* BAD Expected DONE to end IDLE.\r\n")
            self._count_error()
            return
        self._phase = Executing(T.Idle(phase.tag))
        self._events.append(IdleDone(phase.tag))


Handler = Callable[[ImapServer, str, Cursor, str], None]
_S = ImapServer
_ANY: dict[str, Handler] = {"CAPABILITY": _S._capability, "LOGOUT": _S._logout}
_AUTHENTICATED: dict[str, Handler] = {
    **_ANY, "IDLE": _S._idle, "COMPRESS": _S._compress,
    **{name: _S._request for name in PARSERS if name not in _SELECTED_ONLY},
}
#: The state machine: every legal (state, command) pair and its handler. States mapped to {}
#: wait for the adapter (or are closed) or read their lines otherwise (SASL, IDLE).
TRANSITIONS: dict[State, dict[str, Handler]] = {
    State.NOT_AUTHENTICATED: {
        **_ANY, "NOOP": _login.noop_unauthenticated, "ID": _login.id_unauthenticated, "STARTTLS": _login.starttls,
        "LOGIN": _login.login, "AUTHENTICATE": _login.authenticate,
    },
    State.AUTHENTICATED: _AUTHENTICATED,
    # RFC 5161: ENABLE only before a mailbox is selected.
    State.SELECTED: {**{k: v for k, v in _AUTHENTICATED.items() if k != "ENABLE"},
                     **{name: _S._request for name in _SELECTED_ONLY}},
    State.SASL_EXCHANGE: {},
    State.AUTHENTICATING: {},
    State.TLS_NEGOTIATING: {},
    State.EXECUTING: {},
    State.IDLING: {},
    State.CLOSED: {},
}
