"""Sans-IO POP3 server core: RFC 1939, CAPA and response codes (RFC 2449, RFC 3206), STLS
(RFC 2595) and SASL AUTH with PLAIN and LOGIN (RFC 5034).

The adapter feeds received bytes with `receive_data()` (b"" means EOF), pulls events with
`next_event()` until it gets NEED_DATA or PAUSED, answers the events that need an answer
(`auth_succeeded`/`auth_failed`, `tls_started`, `message_content`/`message_failed`,
`update_done`) and writes what `data_to_send()` returns. Commands pipelined by the client are
answered strictly in order; while an answer is outstanding the core is PAUSED and later
commands wait in the buffer.

Every legal (state, command) pair sits in `TRANSITIONS` at the end of this module; a command
missing there for the current state is refused and counted as a protocol error.

After `CloseConnection` the core is finished: `next_event()` returns NEED_DATA, received
bytes are ignored. EOF drops any commands not yet processed, so a dropped connection never
reaches the UPDATE state and deletes nothing.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

from ..values import LoginType
from . import _pop3_replies as R
from . import sasl
from ._common import NEED_DATA, PAUSED, CoreBase, LocalProtocolError
from ._pop3_replies import AuthFailure, RemoteProtocolError, Reply, dot_stuff, top_of_message
from ._pop3_states import (
    AUTHENTICATING, AUTHORIZATION, CLOSED, TLS_NEGOTIATING, Authenticating, AwaitingPass, InSasl, Maildrop, Pop3Phase,
    Retrieving, TlsNegotiating, Updating,
)
from ._pop3_types import (
    WAITING_STATES, Authenticate, CloseConnection, Commit, LoginRefused, MessageLike, Pop3Config, Retrieve, StartTls,
    State,
)
from .lines import TooLong

__all__ = [
    "CLEARTEXT_MECHANISMS", "NEED_DATA", "PAUSED", "TRANSITIONS", "AuthFailure", "Authenticate",
    "CloseConnection", "Commit", "LocalProtocolError", "LoginRefused", "Pop3Config", "Pop3Server",
    "RemoteProtocolError", "Reply", "Retrieve", "StartTls", "State",
]

#: The mechanism name of a USER/PASS logon in `Authenticate.mechanism`.
USER_PASS = "USER"
#: Logon methods that expose the password on an unencrypted connection.
CLEARTEXT_MECHANISMS: frozenset[str] = frozenset({USER_PASS}) | sasl.CLEARTEXT_MECHANISMS
#: Every command this server knows (APOP is not supported, so it is unknown).
KNOWN_COMMANDS = frozenset(
    "USER PASS STAT LIST RETR DELE NOOP RSET QUIT TOP UIDL CAPA STLS AUTH".split()
)


_ANY_LINE = ""  # TRANSITIONS key: every line goes to this handler, undecoded


# ------------------------------------------------------------------------------------ core
class Pop3Server(CoreBase):
    """One POP3 connection, server side. The greeting is queued at construction."""

    CLOSED_STATE, TLS_STATE, WAITING_STATES = State.CLOSED, State.TLS_NEGOTIATING, WAITING_STATES
    SHUTDOWN_REPLY, CLOSED_PHASE, CLOSE_EVENT = R.SHUTTING_DOWN, CLOSED, CloseConnection
    ENDED_REPLY = R.ENDED_BY_ADMIN
    _phase: Pop3Phase

    def __init__(self, config: Pop3Config, *, tls_active: bool = False, tls_available: bool = False) -> None:
        self.config = config
        self.tls_active = tls_active
        self.tls_available = tls_available
        self._start(AUTHORIZATION, config.max_command_size)
        #: Optional `(line, is_sasl_response)` callback for every command line the core reads
        #: (TooLong for an overlong one), as the SMTP core has: for protocol logs.
        self.observer: Callable[[Any, bool], None] | None = None
        self._errors = 0
        self._auth_failures = 0
        self._send(R.ok(config.banner))

    # ----------------------------------------------------------------- adapter interface
    @property
    def state(self) -> State:
        return self._phase.kind

    def auth_succeeded(self, maildrop: Sequence[MessageLike]) -> None:
        self._answering(Authenticating)
        self._phase = drop = Maildrop(maildrop)
        self._send(R.logged_on(len(drop.ids), drop.total_octets))

    def auth_failed(self, failure: AuthFailure | str) -> None:
        self._answering(Authenticating)
        failure = AuthFailure(failure)
        self._phase = AUTHORIZATION
        reply = R.AUTH_FAILURE_REPLIES[failure]
        if failure is AuthFailure.BAD_CREDENTIALS:
            self._auth_failure(reply)
        else:
            self._send(reply)

    def tls_started(self) -> None:
        self._answering(TlsNegotiating)
        self.tls_active = True
        self._lines.clear()
        self._phase = AUTHORIZATION  # RFC 2595: no new greeting

    def message_content(self, data: bytes) -> None:
        phase = self._answering(Retrieving)
        if not isinstance(data, bytes):
            data = bytes(data)
        top_lines = phase.top_lines
        if top_lines is None:
            head = b"+OK %d octets\r\n" % phase.maildrop.sizes[phase.number - 1]
        else:
            head = R.TOP_FOLLOWS.to_bytes()
            data = top_of_message(data, top_lines)
        prefix, body, terminator = dot_stuff(data)
        self._out.append(head + prefix)
        if body:
            self._out.append(body)  # the big chunk travels alone: no concatenation copy
        self._out.append(terminator)
        self._phase = phase.maildrop

    def message_failed(self, permanent: bool = False) -> None:
        """The message could not be read: gone for good (SYS/PERM) or for now (SYS/TEMP)."""
        self._phase = self._answering(Retrieving).maildrop
        self._send(R.MESSAGE_GONE if permanent else R.MESSAGE_FAILED)

    def update_done(self, ok: bool) -> None:
        phase = self._answering(Updating)
        self._send(R.signing_off(phase.maildrop.count()) if ok else R.UPDATE_FAILED)
        self._close("quit")

    # ------------------------------------------------------------------------- internals
    def _protocol_error(self, reply: Reply) -> None:
        self._errors += 1
        if self._errors >= self.config.max_errors:
            self._send(R.TOO_MANY_ERRORS)
            self._close("too-many-errors")
        else:
            self._send(reply)

    def _auth_failure(self, reply: Reply) -> None:
        self._auth_failures += 1
        if self._auth_failures >= self.config.max_auth_failures:
            self._send(R.TOO_MANY_AUTH_FAILURES)
            self._close("too-many-auth-failures")
        else:
            self._send(reply)

    def _step(self) -> bool:
        line = self._lines.next_line()
        if line is None:
            return False
        if self.observer is not None:
            self.observer(line, self._phase.kind is State.SASL_EXCHANGE)
        self._handle(line)
        return True

    def _handle(self, line: bytes | Any) -> None:
        try:
            if line is TooLong:
                if self._phase.kind is State.SASL_EXCHANGE:
                    self._phase = AUTHORIZATION
                raise RemoteProtocolError(R.LINE_TOO_LONG)
            handlers = TRANSITIONS[self._phase.kind]
            if _ANY_LINE in handlers:
                handlers[_ANY_LINE](self, line)
                return
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError:
                raise RemoteProtocolError(R.BAD_UTF8) from None
            name, space, arg = text.partition(" ")
            command = name.upper() if name.isascii() else ""
            handler = handlers.get(command)
            if handler is None:
                known = command in KNOWN_COMMANDS
                raise RemoteProtocolError(R.NOT_VALID_IN_STATE if known else R.UNKNOWN_COMMAND)
            handler(self, arg if space else None)
        except RemoteProtocolError as exc:
            self._protocol_error(exc.reply)

    # -------------------------------------------------------------------- login policy
    def _allowed(self, mechanism: str) -> bool:
        """May the client log on with `mechanism` right now (login type x TLS state)?"""
        login_type = self.config.login_type
        if self.tls_active or login_type is LoginType.PLAIN_TEXT_LOGIN:
            return True
        if login_type is LoginType.PLAIN_TEXT_AUTHENTICATION:
            return mechanism not in CLEARTEXT_MECHANISMS  # cleartext credentials need TLS
        return False  # SECURE_LOGIN: no logon at all before the connection is encrypted

    def _tls_required(self) -> Reply:
        return R.TLS_REQUIRED_STLS if self.tls_available else R.TLS_REQUIRED_NO_STLS

    def _refuse(self, username: str | None) -> None:
        self._events.append(LoginRefused(username, "tls-required"))
        self._auth_failure(self._tls_required())

    def _authenticate(self, event: Authenticate) -> None:
        self._phase = AUTHENTICATING
        self._events.append(event)

    # ---------------------------------------------------------------- AUTHORIZATION
    def _capa(self, arg: str | None) -> None:
        R.command_args(arg, 0, 0)
        lines = ["TOP", "UIDL", "RESP-CODES"]
        if self._phase.kind is State.TRANSACTION:
            lines.append("PIPELINING")
        else:
            lines += ["AUTH-RESP-CODE", "PIPELINING"]
            if self.tls_available and not self.tls_active:
                lines.append("STLS")
            if self._allowed(USER_PASS):
                lines.append("USER")
            mechanisms = [m for m in sasl.MECHANISMS if self._allowed(m)]
            if mechanisms:
                lines.append("SASL " + " ".join(mechanisms))
        lines.append("IMPLEMENTATION " + self.config.implementation)
        self._send(R.ok(R.CAPA_FOLLOWS, tuple(lines)))

    def _user_cmd(self, arg: str | None) -> None:
        (name,) = R.command_args(arg, 1, 1)
        self._phase = AUTHORIZATION  # a second USER forgets the first
        if not self._allowed(USER_PASS):
            self._refuse(name)
            return
        self._phase = AwaitingPass(name)
        self._send(R.USER_ACCEPTED)

    def _pass_without_user(self, arg: str | None) -> None:
        raise RemoteProtocolError(R.NO_USER_GIVEN if self._allowed(USER_PASS) else self._tls_required())

    def _pass(self, arg: str | None) -> None:
        if arg is None:  # the whole rest of the line is the password, spaces included
            raise RemoteProtocolError(R.SYNTAX_ERROR)
        phase = self._phase
        assert isinstance(phase, AwaitingPass)
        self._authenticate(Authenticate(phase.username, arg, USER_PASS))

    def _auth(self, arg: str | None) -> None:
        self._phase = AUTHORIZATION  # forgets a USER name
        if arg is None:  # pre-RFC 5034 mechanism listing, still sent by some clients
            mechanisms = tuple(m for m in sasl.MECHANISMS if self._allowed(m))
            self._send(R.ok(R.MECHANISMS_FOLLOW, mechanisms) if mechanisms else self._tls_required())
            return
        args = R.command_args(arg, 1, 2)
        mechanism = args[0].upper()
        if mechanism not in sasl.MECHANISMS:
            raise RemoteProtocolError(R.UNSUPPORTED_MECHANISM)
        if not self._allowed(mechanism):
            self._refuse(None)
            return
        exchange = sasl.SaslExchange()
        self._sasl_outcome(exchange, exchange.start(mechanism, args[1] if len(args) == 2 else None))

    def _sasl_line(self, line: bytes) -> None:
        phase = self._phase
        assert isinstance(phase, InSasl)
        self._sasl_outcome(phase.exchange, phase.exchange.step(line))

    def _sasl_outcome(self, exchange: sasl.SaslExchange, outcome: sasl.Outcome) -> None:
        if isinstance(outcome, sasl.Challenge):
            self._phase = InSasl(exchange)
            self._out.append(b"+ " + outcome.encoded().encode("ascii") + b"\r\n")
            return
        self._phase = AUTHORIZATION
        if isinstance(outcome, sasl.Credentials):
            self._authenticate(
                Authenticate(outcome.username, outcome.password, outcome.mechanism, outcome.authzid)
            )
        elif isinstance(outcome, sasl.Cancelled):
            self._send(R.AUTH_CANCELLED)
        else:
            raise RemoteProtocolError(R.err(outcome.text))

    def _stls(self, arg: str | None) -> None:
        R.command_args(arg, 0, 0)
        if self.tls_active or not self.tls_available:
            raise RemoteProtocolError(R.NOT_VALID_IN_STATE)
        self._send(R.BEGIN_TLS)
        self._lines.clear()  # never execute plaintext the client pipelined after STLS
        self._phase = TLS_NEGOTIATING  # forgets a USER name
        self._events.append(StartTls())

    def _quit_authorization(self, arg: str | None) -> None:
        R.command_args(arg, 0, 0)
        self._send(R.SIGNING_OFF)
        self._close("quit")

    # ------------------------------------------------------------------ TRANSACTION
    def _maildrop(self) -> Maildrop:
        phase = self._phase
        assert isinstance(phase, Maildrop)
        return phase

    @staticmethod
    def _lookup(drop: Maildrop, text: str) -> int | Reply:
        """A visible message number, or the negative reply for an absent/deleted one."""
        number = R.decimal_arg(text, R.BAD_MESSAGE_NUMBER)
        if not 1 <= number <= len(drop.ids):
            return R.NO_SUCH_MESSAGE
        if number in drop.deleted:
            return R.message_deleted(number)
        return number

    def _stat(self, arg: str | None) -> None:
        R.command_args(arg, 0, 0)
        drop = self._maildrop()
        self._send(R.ok(f"{drop.count()} {drop.octets()}"))

    def _list(self, arg: str | None) -> None:
        args, drop = R.command_args(arg, 0, 1), self._maildrop()
        if not args:
            lines = tuple(f"{n} {drop.sizes[n - 1]}" for n in drop.visible())
            self._send(R.ok(f"{drop.count()} messages ({drop.octets()} octets)", lines))
            return
        number = self._lookup(drop, args[0])
        self._send(number if isinstance(number, Reply) else R.ok(f"{number} {drop.sizes[number - 1]}"))

    def _uidl(self, arg: str | None) -> None:
        args, drop = R.command_args(arg, 0, 1), self._maildrop()
        if not args:
            lines = tuple(f"{n} {drop.uidls[n - 1]}" for n in drop.visible())
            self._send(R.ok(R.UIDL_FOLLOWS, lines))
            return
        number = self._lookup(drop, args[0])
        self._send(number if isinstance(number, Reply) else R.ok(f"{number} {drop.uidls[number - 1]}"))

    def _retrieve(self, number_text: str, top_lines: int | None) -> None:
        drop = self._maildrop()
        number = self._lookup(drop, number_text)
        if isinstance(number, Reply):
            self._send(number)
            return
        self._phase = Retrieving(drop, number, top_lines)
        self._events.append(Retrieve(drop.ids[number - 1], number, top_lines))

    def _retr(self, arg: str | None) -> None:
        (number,) = R.command_args(arg, 1, 1)
        self._retrieve(number, None)

    def _top(self, arg: str | None) -> None:
        number, lines = R.command_args(arg, 2, 2)
        R.decimal_arg(number, R.BAD_MESSAGE_NUMBER)
        self._retrieve(number, R.decimal_arg(lines, R.BAD_LINE_COUNT))

    def _dele(self, arg: str | None) -> None:
        (text,) = R.command_args(arg, 1, 1)
        drop = self._maildrop()
        number = self._lookup(drop, text)
        if isinstance(number, Reply):
            self._send(number)
            return
        drop.delete(number)
        self._send(R.ok(f"Message {number} deleted."))

    def _noop(self, arg: str | None) -> None:
        R.command_args(arg, 0, 0)
        self._send(R.NOOP)

    def _rset(self, arg: str | None) -> None:
        R.command_args(arg, 0, 0)
        drop = self._maildrop()
        drop.undelete_all()
        self._send(R.ok(f"Maildrop has {drop.count()} messages ({drop.octets()} octets)."))

    def _quit_transaction(self, arg: str | None) -> None:
        R.command_args(arg, 0, 0)
        drop = self._maildrop()
        self._phase = Updating(drop)
        self._events.append(Commit(tuple(drop.ids[n - 1] for n in sorted(drop.deleted))))


Handler = Callable[[Pop3Server, Any], None]
_S = Pop3Server
_AUTHORIZATION: dict[str, Handler] = {
    "CAPA": _S._capa, "USER": _S._user_cmd, "PASS": _S._pass_without_user, "AUTH": _S._auth,
    "STLS": _S._stls, "QUIT": _S._quit_authorization,
}
#: The state machine: every legal (state, command) pair and its handler. Handlers make the
#: transitions; states mapped to {} are waiting for the adapter (or closed) and read no input.
TRANSITIONS: dict[State, dict[str, Handler]] = {
    State.AUTHORIZATION: _AUTHORIZATION,
    State.AWAITING_PASS: {**_AUTHORIZATION, "PASS": _S._pass},
    State.SASL_EXCHANGE: {_ANY_LINE: _S._sasl_line},
    State.TRANSACTION: {
        "CAPA": _S._capa, "STAT": _S._stat, "LIST": _S._list, "RETR": _S._retr, "DELE": _S._dele,
        "NOOP": _S._noop, "RSET": _S._rset, "QUIT": _S._quit_transaction, "TOP": _S._top,
        "UIDL": _S._uidl,
    },
    State.AUTHENTICATING: {},
    State.TLS_NEGOTIATING: {},
    State.RETRIEVING: {},
    State.UPDATE: {},
    State.CLOSED: {},
}
#: States in which `shutdown()` answers -ERR [SYS/TEMP] and closes at once (a RETR or QUIT being
#: answered finishes first). Closing from TRANSACTION never reaches UPDATE: DELE marks are
#: dropped, as for a dropped connection (RFC 1939: only QUIT applies them).
SHUTDOWN_STATES = frozenset({State.AUTHORIZATION, State.AWAITING_PASS, State.SASL_EXCHANGE, State.TRANSACTION})
Pop3Server.SHUTDOWN_STATES = SHUTDOWN_STATES
