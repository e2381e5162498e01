"""Sans-IO SMTP server core: RFC 5321 with PIPELINING, SIZE, 8BITMIME, ENHANCEDSTATUSCODES,
SMTPUTF8, DSN (`_smtp_dsn`), CHUNKING (BDAT), STARTTLS and AUTH PLAIN/LOGIN.

The adapter feeds received bytes with `receive_data()` (b"" means EOF), pulls events with
`next_event()` until it gets NEED_DATA or PAUSED, answers the events that need an answer
(`auth_succeeded`/`auth_failed`, `tls_started`, `recipient_accepted`/`recipient_rejected`,
`delivered`/`delivery_failed`) and writes what `data_to_send()` returns. Pipelined commands
are answered strictly in order; while an answer is outstanding the core is PAUSED and later
commands wait in the buffer. Every legal (state, command) pair sits in `TRANSITIONS` at the
end of this module (state-only refusals too). Each state is an object carrying its data
(`_smtp_states`); DATA and BDAT content is framed by readers the core owns (`_smtp_content`).

Choices the contract left open (for message content: see `_smtp_content`):
- Protocol errors, counted towards max_errors (the one reaching it is answered 421 instead): 500, 501,
  503, 504, 530, 538, 553, 555 caused by the client. Not counted: 552, 554, 452, 502, 501 5.0.0 (AUTH
  cancelled) and the adapter's answers. BDAT chunks pipelined after a 552 are read and get 503 each, counted.
- STARTTLS: 502 5.5.1 when not offered, 503 5.5.1 when TLS is active; allowed before EHLO and
  after AUTH (tls_started forgets the login). AUTH before HELO/EHLO: 503 5.5.1.
- The require_tls gate is on MAIL and AUTH, and on RCPT/DATA/BDAT outside a transaction.
- Bad mailbox inside <>: 501 5.1.7 / 501 5.1.3; source routes are dropped; RCPT after BDAT:
  503 5.5.1; BDAT works after HELO too. Control characters in a command line: 500 5.5.2.
- EOF closes at once: buffered commands and unfinished content are dropped, never delivered.
- Submission policy (sender ownership, `auth_succeeded(send_as)`; the hop limit): `_smtp_policy`.
"""
from __future__ import annotations

from typing import Any, Callable

from . import _smtp_replies as R, sasl
from ._common import NEED_DATA, PAUSED, LocalProtocolError
from ._smtp_content import ChunkedContent, DataReader
from ._smtp_intake import ContentIntake
from ._smtp_policy import SendAs, content_refusal
from ._smtp_replies import (
    RELAY_DENIED, RELAY_NOT_PERMITTED, STORAGE_FULL, TEMPORARY_FAILURE, UNKNOWN_MAILBOX, RemoteProtocolError, Reply,
    reply,
)
from ._smtp_states import (
    CLOSED, CONNECTED, DELIVERING, READY, TLS_NEGOTIATING, Authenticating, CheckingRecipient, CheckingSender,
    Chunking, Client, Delivering, InTransaction, Mail, Rcpt, ReadingChunk, ReadingData, Sasl, SmtpPhase,
    TlsNegotiating, Transaction,
)
from ._smtp_types import (
    SHUTDOWN_STATES, WAITING_STATES, Authenticate, AuthFailure, CheckRecipient, CheckSender, CloseConnection, Deliver,
    NO_DSN, Envelope, Event, RecipientDsn, SmtpConfig, StartTls, State,
)
from .lines import TooLong

__all__ = [
    "NEED_DATA", "NO_DSN", "PAUSED", "RELAY_DENIED", "RELAY_NOT_PERMITTED", "STORAGE_FULL", "TEMPORARY_FAILURE",
    "TRANSITIONS", "UNKNOWN_MAILBOX", "AuthFailure", "Authenticate", "CheckRecipient", "CheckSender", "CloseConnection",
    "Deliver", "Envelope", "Event", "LocalProtocolError", "RecipientDsn", "RemoteProtocolError", "Reply", "SendAs",
    "SmtpConfig", "SmtpServer", "StartTls", "State", "reply",
]

_ANY_LINE = ""  # TRANSITIONS key: every line goes to this handler, undecoded (SASL)
_RAW = "\0"  # TRANSITIONS key: the state reads raw octets, not lines (DATA, BDAT)


# ------------------------------------------------------------------------------------ core
class SmtpServer(ContentIntake):
    """One SMTP connection, server side. The greeting is queued at construction."""

    CLOSED_STATE, CLOSED_PHASE, CLOSE_EVENT, TLS_STATE = State.CLOSED, CLOSED, CloseConnection, State.TLS_NEGOTIATING
    WAITING_STATES, SHUTDOWN_STATES, SHUTDOWN_REPLY = WAITING_STATES, SHUTDOWN_STATES, R.SHUTTING_DOWN
    ENDED_REPLY = R.ENDED_BY_ADMIN
    _phase: SmtpPhase

    def __init__(self, config: SmtpConfig, *, tls_active: bool = False) -> None:
        self.config = config
        self.tls_active = tls_active
        self._start(CONNECTED, config.max_command_line)
        #: Optional `(line, is_sasl_response)` callback for every command line the core reads
        #: (TooLong for an overlong one), never for message content: for protocol logs.
        self.observer: Callable[[Any, bool], None] | None = None
        self._errors = self._auth_failures = 0
        self._client = Client()
        self._send(Reply(220, "", config.greeting_text))

    # ----------------------------------------------------------------- adapter interface
    @property
    def state(self) -> State:
        return self._phase.kind

    @property
    def receiving_content(self) -> bool:
        """Whether octets received now are message content (DATA, BDAT): e.g. not to log them."""
        kind = self._phase.kind
        return kind is State.DATA or kind is State.BDAT

    def auth_succeeded(self, send_as: SendAs | None = None) -> None:  # None: as its username only
        self._client.user = username = self._answering(Authenticating).username
        self._client.send_as = send_as or SendAs(username)
        self._phase = READY
        self._send(R.AUTH_SUCCEEDED)

    def auth_failed(self, failure: AuthFailure | str) -> None:
        self._answering(Authenticating)
        failure = AuthFailure(failure)
        self._phase = READY
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
        self._answering(TlsNegotiating)
        self._lines.clear()
        self.tls_active, self._client, self._phase = True, Client(), CONNECTED

    def sender_accepted(self) -> None:
        self._phase = Mail(self._answering(CheckingSender).tx)
        self._send(R.SENDER_OK)

    def sender_rejected(self, reply: Reply) -> None:
        self._answering(CheckingSender)
        R.check_refusal(reply)
        self._end_transaction(reply)

    def recipient_accepted(self) -> None:
        phase = self._answering(CheckingRecipient)
        phase.tx.add(phase.address, phase.dsn)
        self._phase = Rcpt(phase.tx)
        self._send(R.RECIPIENT_OK)

    def recipient_rejected(self, reply: Reply) -> None:
        phase = self._answering(CheckingRecipient)
        R.check_refusal(reply)
        self._phase = Rcpt(phase.tx) if phase.tx.recipients else Mail(phase.tx)
        self._send(reply)

    def delivered(self, queue_id: str) -> None:
        self._answering(Delivering)
        self._end_transaction(R.accepted(queue_id))

    def delivery_failed(self, reply: Reply) -> None:
        self._answering(Delivering)
        R.check_refusal(reply)
        self._end_transaction(reply)

    # ------------------------------------------------------------------------- internals
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
        handlers = TRANSITIONS[self._phase.kind]
        try:
            if _RAW in handlers:
                return bool(handlers[_RAW](self))
            line = self._lines.next_line()
            if line is None:
                return False
            if self.observer is not None:
                self.observer(line, self._phase.kind is State.SASL)
            self._dispatch(handlers, line)
        except RemoteProtocolError as exc:
            self._protocol_error(exc.reply)
        return True

    def _dispatch(self, handlers: dict[str, Handler], line: bytes | Any) -> None:
        if line is TooLong:
            if self._phase.kind is State.SASL:
                self._phase = READY
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
        if self.config.tls_first(self.tls_active):
            raise RemoteProtocolError(R.TLS_FIRST)

    def _transaction(self) -> Transaction:
        phase = self._phase
        assert isinstance(phase, InTransaction)
        return phase.tx

    def _end_transaction(self, reply: Reply) -> None:
        self._phase = CONNECTED if self._client.helo is None else READY
        self._send(reply)

    # --------------------------------------------------------------- session commands
    def _greet(self, arg: str | None, esmtp: bool) -> None:
        domain = (arg or "").strip()
        if not domain:
            raise RemoteProtocolError(R.EHLO_SYNTAX if esmtp else R.HELO_SYNTAX)
        self._client.helo, self._client.esmtp = domain, esmtp
        self._phase = READY  # a transaction in progress is gone
        if not esmtp:
            self._send(Reply(250, "", self.config.fqdn))
            return
        auth = sasl.MECHANISMS if self.config.auth_offered(self.tls_active) else ()
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
        self._phase = TLS_NEGOTIATING
        self._events.append(StartTls())

    # ------------------------------------------------------------------------- AUTH
    def _auth(self, arg: str | None) -> None:
        if self._client.user is not None:
            raise RemoteProtocolError(R.ALREADY_AUTHENTICATED)
        self._tls_gate()
        if not self.config.offer_basic:
            raise RemoteProtocolError(R.AUTH_NOT_AVAILABLE)
        if not self.config.auth_offered(self.tls_active):
            raise RemoteProtocolError(R.ENCRYPTION_REQUIRED)
        mechanism, initial = R.auth_args(arg, sasl.MECHANISMS)
        exchange = sasl.SaslExchange()
        self._sasl_outcome(exchange, exchange.start(mechanism, initial))

    def _sasl_line(self, line: bytes) -> None:
        phase = self._phase
        assert isinstance(phase, Sasl)
        self._sasl_outcome(phase.exchange, phase.exchange.step(line))

    def _sasl_outcome(self, exchange: sasl.SaslExchange, outcome: sasl.Outcome) -> None:
        if isinstance(outcome, sasl.Challenge):
            self._phase = Sasl(exchange)
            self._send(Reply(334, "", outcome.encoded()))
            return
        self._phase = READY
        if isinstance(outcome, sasl.Credentials):
            self._phase = Authenticating(outcome.username)
            self._events.append(Authenticate(outcome.username, outcome.password, outcome.mechanism, outcome.authzid))
        elif isinstance(outcome, sasl.Cancelled):
            self._send(R.AUTH_CANCELLED)
        else:
            raise RemoteProtocolError(R.BAD_BASE64 if outcome.reason == "bad-base64" else R.MALFORMED_AUTH)

    # ---------------------------------------------------------------------- MAIL, RCPT
    def _mail(self, arg: str | None) -> None:
        self._tls_gate()
        if self._client.user is None and not self.config.anonymous_allowed:
            raise RemoteProtocolError(R.AUTH_FIRST)
        sender, size, body, smtputf8, dsn = R.parse_mail(arg, self._client.esmtp)
        if size is not None and size > self.config.max_message_size:
            self._send(R.SIZE_EXCEEDED)
            return
        tx, user, send_as = Transaction(sender, size, body, smtputf8, dsn), self._client.user, self._client.send_as
        if user is None:
            self._phase = Mail(tx)
            self._send(R.SENDER_OK)
        elif send_as is None or not send_as.permits(sender):  # <> too: reports are the server's to send
            self._send(R.SEND_AS_DENIED)
        else:  # the adapter applies its rate limits
            self._phase = CheckingSender(tx)
            self._events.append(CheckSender(sender, user))

    def _rcpt(self, arg: str | None) -> None:
        tx = self._transaction()
        address, dsn = R.parse_rcpt(arg, tx.smtputf8, self._client.esmtp)
        if len(tx.recipients) >= self.config.max_recipients:
            self._send(R.TOO_MANY_RECIPIENTS)
            return
        self._phase = CheckingRecipient(tx, address, dsn)
        self._events.append(CheckRecipient(address, tx.sender))

    def _without_mail(self) -> Reply:  # the refusal of RCPT, DATA and BDAT outside a transaction
        return R.TLS_FIRST if self.config.tls_first(self.tls_active) else R.NEED_MAIL

    # ------------------------------------------------------------------ DATA, BDAT
    def _data(self, arg: str | None) -> None:
        R.no_args(arg, R.DATA_SYNTAX)
        tx = self._transaction()
        self._phase = ReadingData(tx, DataReader(self.config.max_message_size, tx.size_declared))
        self._send(R.START_DATA)

    def _read_data(self) -> bool:
        phase = self._phase
        assert isinstance(phase, ReadingData)
        reader = phase.reader
        if len(self._lines):
            reader.append(self._lines.take())
        rest = reader.scan()
        if rest is None:
            return False
        self._lines.feed(rest)  # took everything: these are the commands pipelined after it
        self._finish(phase.tx, reader)  # the reader goes with the state
        return True

    def _finish(self, tx: Transaction, reader: DataReader | ChunkedContent) -> None:
        """The content is complete: deliver it, or refuse it (too big, a loop, not the sender's)."""
        content, spooled = reader.content(), reader.taken
        if content is None or spooled + len(content) > self.config.max_message_size:
            self._end_transaction(R.SIZE_EXCEEDED)
            return
        refusal = content_refusal(reader.headers, content, self.config.max_hop_count, self._client.send_as)
        if refusal is not None:
            self._end_transaction(refusal)
            return
        self._phase = DELIVERING
        self._events.append(Deliver(tx.envelope(self._client, self.tls_active), content, spooled))

    def _bdat_size(self, arg: str | None) -> tuple[int, bool] | None:
        parsed = R.bdat_args(arg)
        if parsed is None:  # how much content follows is unknown: nothing else can be read
            self._send(R.BDAT_SYNTAX)
            self._close("bdat-syntax")
        return parsed

    def _read_chunk(self) -> bool:
        phase = self._phase
        assert isinstance(phase, ReadingChunk)
        data = self._lines.take(phase.left)
        phase.left -= len(data)
        if phase.into is not None:
            phase.into.raw += data
        if phase.left:
            return False
        self._phase = phase.resume
        phase.then()
        return True

    def _bdat(self, arg: str | None) -> None:
        phase, parsed = self._phase, self._bdat_size(arg)
        if parsed is None:
            return
        assert isinstance(phase, (Rcpt, Chunking))
        size, last = parsed
        content = phase.content if isinstance(phase, Chunking) else ChunkedContent()
        if content.size + size > self.config.max_message_size:
            self._phase = ReadingChunk(size, None, lambda: self._end_transaction(R.SIZE_EXCEEDED), phase)
        else:
            self._phase = ReadingChunk(size, content, lambda: self._chunk_done(phase.tx, content, size, last), phase)

    def _chunk_done(self, tx: Transaction, content: ChunkedContent, size: int, last: bool) -> None:
        if last:
            self._finish(tx, content)
        else:
            self._phase = Chunking(tx, content)
            self._send(R.chunk_received(size))

    def _refuse_chunk(self, arg: str | None, reply: Reply, counted: bool = True) -> None:
        """BDAT where it cannot be accepted: read the chunk all the same, then refuse it."""
        parsed = self._bdat_size(arg)
        if parsed is not None:
            self._phase = ReadingChunk(parsed[0], None, lambda: self._refusal(reply, counted), self._phase)


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
    **{state: {} for state in (*WAITING_STATES, State.CLOSED)},
}
