"""Sans-IO SMTP server core: RFC 5321 with PIPELINING, SIZE, 8BITMIME, ENHANCEDSTATUSCODES,
SMTPUTF8, CHUNKING (BDAT), STARTTLS and AUTH PLAIN/LOGIN.

The adapter feeds received bytes with `receive_data()` (b"" means EOF), pulls events with
`next_event()` until it gets NEED_DATA or PAUSED, answers the events that need an answer
(`auth_succeeded`/`auth_failed`, `tls_started`, `recipient_accepted`/`recipient_rejected`,
`delivered`/`delivery_failed`) and writes what `data_to_send()` returns. Pipelined commands
are answered strictly in order; while an answer is outstanding the core is PAUSED and later
commands wait in the buffer. Every legal (state, command) pair sits in `TRANSITIONS` at the
end of this module; refusals that depend only on the state are entries there too.

Choices the contract left open:
- Bare LF in DATA/BDAT content is normalised to CRLF (as Postfix's smtpd_forbid_bare_newline
  = normalize), lone CRs stay, and a line after a bare LF is unstuffed like any other. Only
  <CRLF>.<CRLF> ends DATA: never <LF>.<LF>, <LF>.<CRLF>, <CRLF>.<LF>.
- The size limit applies to the content as delivered; oversized content is read to its end
  with bounded memory, then refused.
- Protocol errors, counted towards max_errors (the one reaching it is answered 421 instead):
  500, 501, 503, 504, 530, 538, 553, 555 caused by the client. Not counted: 552, 554, 452,
  502, 501 5.0.0 (AUTH cancelled) and the adapter's answers. BDAT chunks pipelined after a
  552 are read and get 503 each, counted.
- STARTTLS: 502 5.5.1 when not offered, 503 5.5.1 when TLS is active; allowed before EHLO and
  after AUTH (tls_started forgets the login). AUTH before HELO/EHLO: 503 5.5.1.
- The require_tls gate is on MAIL and AUTH, and on RCPT/DATA/BDAT outside a transaction.
- Bad mailbox inside <>: 501 5.1.7 / 501 5.1.3; source routes are dropped; RCPT after BDAT:
  503 5.5.1; BDAT works after HELO too. Control characters in a command line: 500 5.5.2.
- EOF closes at once: buffered commands and unfinished content are dropped, never delivered.
"""
from __future__ import annotations

from typing import Any, Callable

from . import _smtp_replies as R
from . import sasl
from ._common import CoreBase
from ._smtp_content import ChunkReader, ContentCore, DataReader
from ._smtp_replies import (
    RELAY_DENIED, STORAGE_FULL, TEMPORARY_FAILURE, UNKNOWN_MAILBOX, RemoteProtocolError, Reply, reply,
)
from ._smtp_types import (
    NEED_DATA, PAUSED, WAITING_STATES, Authenticate, AuthFailure, CheckRecipient,
    CloseConnection, Deliver, Envelope, Event, LocalProtocolError, SmtpConfig, StartTls, State,
    Transaction,
)
from .lines import TooLong

__all__ = [
    "NEED_DATA", "PAUSED", "RELAY_DENIED", "STORAGE_FULL", "TEMPORARY_FAILURE", "TRANSITIONS",
    "UNKNOWN_MAILBOX", "AuthFailure", "Authenticate", "CheckRecipient", "CloseConnection",
    "Deliver", "Envelope", "Event", "LocalProtocolError", "RemoteProtocolError", "Reply",
    "SmtpConfig", "SmtpServer", "StartTls", "State", "reply",
]

_ANY_LINE = ""  # TRANSITIONS key: every line goes to this handler, undecoded (SASL)
_RAW = "\0"  # TRANSITIONS key: the state reads raw octets, not lines (DATA, BDAT)


# ------------------------------------------------------------------------------------ core
class SmtpServer(ContentCore, CoreBase):
    """One SMTP connection, server side. The greeting is queued at construction."""

    CLOSED_STATE, TLS_STATE, WAITING_STATES = State.CLOSED, State.TLS_NEGOTIATING, WAITING_STATES
    SHUTDOWN_REPLY = R.SHUTTING_DOWN

    def __init__(self, config: SmtpConfig, *, tls_active: bool = False) -> None:
        self.config = config
        self.tls_active = tls_active
        self._start(State.CONNECTED, config.max_command_line)
        #: Optional `(line, is_sasl_response)` callback for every command line the core reads
        #: (TooLong for an overlong one), never for message content: for protocol logs.
        self.observer: Callable[[Any, bool], None] | None = None
        self._errors = self._auth_failures = 0
        self._helo: str | None = None
        self._esmtp = False
        self._user: str | None = None
        self._sasl: sasl.SaslExchange | None = None
        self._pending = ""  # the username being verified, or the recipient being checked
        self._tx: Transaction | None = None
        self._reader: DataReader | None = None
        self._chunk: ChunkReader | None = None
        self._send(Reply(220, "", config.greeting_text))

    # ----------------------------------------------------------------- adapter interface
    @property
    def state(self) -> State:
        return self._state

    @property
    def receiving_content(self) -> bool:
        """Whether octets received now are message content (DATA, BDAT): e.g. not to log them."""
        return self._state is State.DATA or self._state is State.BDAT

    def auth_succeeded(self) -> None:
        self._expect(State.AUTHENTICATING)
        self._user = self._pending
        self._state = State.READY
        self._send(R.AUTH_SUCCEEDED)

    def auth_failed(self, failure: AuthFailure | str) -> None:
        self._expect(State.AUTHENTICATING)
        failure = AuthFailure(failure)
        self._state = State.READY
        if failure is AuthFailure.TEMPORARY:
            self._send(R.AUTH_TEMPORARY)
            return
        self._auth_failures += 1  # DISABLED too: same reply, same count, no enumeration
        if self._auth_failures >= self.config.max_auth_failures:
            self._send(R.too_many_auth_failures(self.config.fqdn))
            self._close("too-many-auth-failures")
        else:
            self._send(R.BAD_CREDENTIALS)

    def tls_started(self) -> None:
        """RFC 3207 4.2: forget everything learnt before TLS; the client must EHLO again."""
        self._expect(State.TLS_NEGOTIATING)
        self.tls_active = True
        self._lines.clear()
        self._helo, self._esmtp, self._user, self._tx = None, False, None, None
        self._state = State.CONNECTED

    def recipient_accepted(self) -> None:
        self._expect(State.CHECKING_RECIPIENT)
        assert self._tx is not None
        self._tx.recipients.append(self._pending)
        self._state = State.RCPT
        self._send(R.RECIPIENT_OK)

    def recipient_rejected(self, reply: Reply) -> None:
        self._expect(State.CHECKING_RECIPIENT, reply)
        assert self._tx is not None
        self._state = State.RCPT if self._tx.recipients else State.MAIL
        self._send(reply)

    def delivered(self, queue_id: str) -> None:
        self._expect(State.DELIVERING)
        self._end_transaction(R.accepted(queue_id))

    def delivery_failed(self, reply: Reply) -> None:
        self._expect(State.DELIVERING, reply)
        self._end_transaction(reply)

    # ------------------------------------------------------------------------- internals
    def _expect(self, state: State, refusal: Reply | None = None) -> None:
        super()._expect(state)
        if refusal is not None and not (isinstance(refusal, Reply) and refusal.code >= 400):
            raise LocalProtocolError("a refusal needs a 4xx or 5xx reply")

    def _close(self, reason: str) -> None:
        self._state = State.CLOSED
        self._lines.clear()
        self._tx = self._reader = self._chunk = None
        self._events.append(CloseConnection(reason))

    def _protocol_error(self, reply: Reply) -> None:
        self._errors += 1
        if self._errors >= self.config.max_errors:
            self._send(R.too_many_errors(self.config.fqdn))
            self._close("too-many-errors")
        else:
            self._send(reply)

    def _refusal(self, reply: Reply, counted: bool = True) -> None:
        if counted:
            raise RemoteProtocolError(reply)
        self._send(reply)

    def _step(self) -> bool:
        """Process one line or one batch of raw octets; False when more input is needed."""
        handlers = TRANSITIONS[self._state]
        try:
            if _RAW in handlers:
                return handlers[_RAW](self)
            line = self._lines.next_line()
            if line is None:
                return False
            if self.observer is not None:
                self.observer(line, self._state is State.SASL)
            self._dispatch(handlers, line)
        except RemoteProtocolError as exc:
            self._protocol_error(exc.reply)
        return True

    def _dispatch(self, handlers: dict[str, Handler], line: bytes | Any) -> None:
        if line is TooLong:
            if self._state is State.SASL:
                self._sasl, self._state = None, State.READY
            raise RemoteProtocolError(R.LINE_TOO_LONG)
        if _ANY_LINE in handlers:
            handlers[_ANY_LINE](self, line)
            return
        name, space, arg = R.decode_command(line).partition(" ")
        handler = handlers.get(name.upper())  # every state that reads commands knows them all
        if handler is None:
            raise RemoteProtocolError(R.UNKNOWN_COMMAND)
        handler(self, arg if space else None)

    def _tls_gate(self) -> None:
        if self.config.require_tls and not self.tls_active:
            raise RemoteProtocolError(R.TLS_FIRST)

    def _end_transaction(self, reply: Reply) -> None:
        self._tx = self._reader = None
        self._state = State.CONNECTED if self._helo is None else State.READY
        self._send(reply)

    # --------------------------------------------------------------- session commands
    def _greet(self, arg: str | None, esmtp: bool) -> None:
        domain = (arg or "").strip()
        if not domain:
            raise RemoteProtocolError(R.EHLO_SYNTAX if esmtp else R.HELO_SYNTAX)
        self._helo, self._esmtp, self._tx = domain, esmtp, None
        self._state = State.READY
        if not esmtp:
            self._send(Reply(250, "", self.config.fqdn))
            return
        auth = sasl.MECHANISMS if self._auth_offered() else ()
        self._send(R.ehlo(self.config, not self.tls_active and self.config.offer_tls, auth))

    def _rset(self, arg: str | None) -> None:
        R.no_args(arg, R.RSET_SYNTAX)
        self._end_transaction(R.OK)

    def _quit(self, arg: str | None) -> None:
        R.no_args(arg, R.QUIT_SYNTAX)
        self._send(R.closing(self.config.fqdn))
        self._close("quit")

    def _starttls(self, arg: str | None) -> None:
        R.no_args(arg, R.STARTTLS_SYNTAX)
        if self.tls_active:
            raise RemoteProtocolError(R.TLS_ACTIVE)
        if not self.config.offer_tls:
            self._send(R.TLS_NOT_AVAILABLE)
            return
        self._send(R.READY_FOR_TLS)
        self._lines.clear()  # never execute plaintext the client pipelined after STARTTLS
        self._state = State.TLS_NEGOTIATING
        self._events.append(StartTls())

    # ------------------------------------------------------------------------- AUTH
    def _auth_offered(self) -> bool:
        cfg = self.config
        return cfg.offer_basic and (self.tls_active or not cfg.basic_requires_tls)

    def _auth(self, arg: str | None) -> None:
        if self._user is not None:
            raise RemoteProtocolError(R.ALREADY_AUTHENTICATED)
        self._tls_gate()
        if not self.config.offer_basic:
            raise RemoteProtocolError(R.AUTH_NOT_AVAILABLE)
        if not self._auth_offered():
            raise RemoteProtocolError(R.ENCRYPTION_REQUIRED)
        mechanism, initial = R.auth_args(arg, sasl.MECHANISMS)
        self._sasl = sasl.SaslExchange()
        self._sasl_outcome(self._sasl.start(mechanism, initial))

    def _sasl_line(self, line: bytes) -> None:
        assert self._sasl is not None
        self._sasl_outcome(self._sasl.step(line))

    def _sasl_outcome(self, outcome: sasl.Outcome) -> None:
        if isinstance(outcome, sasl.Challenge):
            self._state = State.SASL
            self._send(Reply(334, "", outcome.encoded()))
            return
        self._sasl, self._state = None, State.READY
        if isinstance(outcome, sasl.Credentials):
            self._pending, self._state = outcome.username, State.AUTHENTICATING
            event = Authenticate(outcome.username, outcome.password, outcome.mechanism, outcome.authzid)
            self._events.append(event)
        elif isinstance(outcome, sasl.Cancelled):
            self._send(R.AUTH_CANCELLED)
        else:
            raise RemoteProtocolError(R.BAD_BASE64 if outcome.reason == "bad-base64" else R.MALFORMED_AUTH)

    # ---------------------------------------------------------------------- MAIL, RCPT
    def _mail(self, arg: str | None) -> None:
        self._tls_gate()
        if self._user is None and not self.config.anonymous_allowed:
            raise RemoteProtocolError(R.AUTH_FIRST)
        sender, size, body, smtputf8 = R.parse_mail(arg, self._esmtp)
        if size is not None and size > self.config.max_message_size:
            self._send(R.SIZE_EXCEEDED)
            return
        self._tx = Transaction(sender, size, body, smtputf8)
        self._state = State.MAIL
        self._send(R.SENDER_OK)

    def _rcpt(self, arg: str | None) -> None:
        tx = self._tx
        assert tx is not None
        address = R.parse_rcpt(arg, tx.smtputf8)
        if len(tx.recipients) >= self.config.max_recipients:
            self._send(R.TOO_MANY_RECIPIENTS)
            return
        self._pending, self._state = address, State.CHECKING_RECIPIENT
        self._events.append(CheckRecipient(address, tx.sender))

    def _without_mail(self) -> Reply:  # the refusal of RCPT, DATA and BDAT outside a transaction
        return R.TLS_FIRST if self.config.require_tls and not self.tls_active else R.NEED_MAIL


Handler = Callable[..., Any]  # (server, argument) for a command; (server) for raw octets


def _refuse(reply: Reply) -> Handler:
    """A command the state forbids: a protocol error answered with `reply`."""
    return lambda self, arg: self._refusal(reply)


def _answer(reply: Reply) -> Handler:
    """A command that always gets the same answer, not an error (NOOP, VRFY, ...)."""
    return lambda self, arg: self._send(reply)


_S = SmtpServer
_ANY_STATE: dict[str, Handler] = {
    "EHLO": lambda self, arg: self._greet(arg, True), "HELO": lambda self, arg: self._greet(arg, False),
    "RSET": _S._rset, "QUIT": _S._quit, "NOOP": _answer(R.OK), "VRFY": _answer(R.CANNOT_VRFY),
    "EXPN": _answer(R.EXPN_NOT_AVAILABLE), "HELP": _answer(R.HELP),
}
_OUTSIDE_TRANSACTION: dict[str, Handler] = {
    **_ANY_STATE, "STARTTLS": _S._starttls,
    "RCPT": lambda self, arg: self._refusal(self._without_mail()),
    "DATA": lambda self, arg: self._refusal(self._without_mail()),
    "BDAT": lambda self, arg: self._refuse_chunk(arg, self._without_mail()),
}
_IN_TRANSACTION: dict[str, Handler] = {
    **_ANY_STATE, "MAIL": _refuse(R.NESTED_MAIL), "STARTTLS": _refuse(R.STARTTLS_IN_TRANSACTION),
    "AUTH": _refuse(R.AUTH_IN_TRANSACTION),
}
#: The state machine: every legal (state, command) pair and its handler. Handlers make the
#: transitions; states mapped to {} are waiting for the adapter (or closed) and read no input.
TRANSITIONS: dict[State, dict[str, Handler]] = {
    State.CONNECTED: {**_OUTSIDE_TRANSACTION, "AUTH": _refuse(R.NEED_HELO), "MAIL": _refuse(R.NEED_HELO)},
    State.READY: {**_OUTSIDE_TRANSACTION, "AUTH": _S._auth, "MAIL": _S._mail},
    State.MAIL: {
        **_IN_TRANSACTION, "RCPT": _S._rcpt, "DATA": _answer(R.NO_VALID_RECIPIENTS),
        "BDAT": lambda self, arg: self._refuse_chunk(arg, R.NO_VALID_RECIPIENTS, counted=False),
    },
    State.RCPT: {**_IN_TRANSACTION, "RCPT": _S._rcpt, "DATA": _S._data, "BDAT": _S._bdat},
    State.CHUNKING: {
        **_IN_TRANSACTION, "RCPT": _refuse(R.RCPT_AFTER_BDAT), "DATA": _refuse(R.DATA_AFTER_BDAT),
        "BDAT": _S._bdat,
    },
    State.SASL: {_ANY_LINE: _S._sasl_line},
    State.DATA: {_RAW: _S._read_data},
    State.BDAT: {_RAW: _S._read_chunk},
    State.AUTHENTICATING: {},
    State.TLS_NEGOTIATING: {},
    State.CHECKING_RECIPIENT: {},
    State.DELIVERING: {},
    State.CLOSED: {},
}
#: States in which `shutdown()` answers 421 4.3.2 and closes at once: no command is being
#: answered and no content is arriving (DATA, BDAT and CHUNKING run to the end of the message).
SHUTDOWN_STATES = frozenset({State.CONNECTED, State.READY, State.MAIL, State.RCPT, State.SASL})
SmtpServer.SHUTDOWN_STATES = SHUTDOWN_STATES
