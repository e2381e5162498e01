"""Sans-IO SMTP client core: RFC 5321 with PIPELINING (RFC 2920), SIZE, 8BITMIME, SMTPUTF8,
DSN (RFC 3461), CHUNKING (BDAT), ENHANCEDSTATUSCODES, STARTTLS and AUTH PLAIN/LOGIN.

One connection is one `SmtpClient`. The adapter feeds what the socket reads to
`receive_data()` (`receive_eof()` at EOF), pulls events with `next_event()` until NEED_DATA,
calls command methods in answer to them, and writes what `data_to_send()` returns (a list of
byte strings, for `writelines`; message content is passed on without a copy when it needs no
dot-stuffing). A command method called in the wrong state raises `LocalProtocolError`: an
adapter bug, never the peer's doing. Once the connection has ended (state CLOSED, which
`Closed` reports after any events still queued), command methods do nothing and `begin()`
answers a local 421 4.4.2, so an adapter answering those earlier events needs no check.
Whatever the server sends, nothing escapes `next_event()`: a malformed reply is a
`ProtocolViolation` event. Command lines, the transaction's bookkeeping and content framing
live in `_smtp_client_commands`; replies and capabilities in `_smtp_client_replies`.

Every command gets exactly one event, and `Closed` is always the last event: when the
connection ends with commands unanswered (EOF, `abort()`, a violation, a 421), each of them
gets its event with a stand-in reply (the 421, or a local 421 4.4.2 "Connection lost ...";
`Reply.local`), then `Closed`. A `RecipientsDone` that wants content is always followed by one
`ContentDone`.

Choices the contract left open:
- Commands are sent as soon as RFC 2920 allows: with PIPELINING, MAIL, every RCPT and DATA go
  in one write (EHLO, STARTTLS, AUTH, DATA, the end of data, BDAT and QUIT end a group);
  without it, one command at a time, and the client stops early (no RCPT after a refused
  MAIL, no DATA when nobody was accepted). A transaction that ends without content (refusals)
  is reset with an RSET of the client's own, whose answer is not an event.
- BDAT is used when CHUNKING and PIPELINING are offered (its chunks are pipelined;
  `chunking=False` turns it off), else DATA with dot-stuffing. Content may be given whole or
  in pieces (one BDAT chunk each). It is normalised to CRLF first: a bare CR or LF could make
  another server see an end of data inside it (SMTP smuggling).
- EHLO refused with 5xx: HELO is tried (RFC 5321 3.2), without extensions.
- `begin()` refuses (returns a local reply, sends nothing) a message the server cannot take:
  SMTPUTF8 needed and not offered -> 554 5.6.7; larger than the SIZE offered -> 552 5.3.4.
  An 8-bit body to a server without 8BITMIME is sent as it is (no MIME downgrade) and noted in
  `RecipientsDone.notes`. DSN parameters only when DSN is offered; SIZE=, BODY=8BITMIME and
  SMTPUTF8 only when their extension is.
- AUTH only over TLS (`tls_started()`, or `tls_active=True` for implicit TLS): credentials are
  never sent in clear. After a positive STARTTLS reply, bytes already received in plaintext are
  dropped unread (an injection before the handshake), and so is anything fed before
  `tls_started()`.
- A reply to nothing is a violation, except a 421 (a server timing the session out).
"""
from __future__ import annotations

import base64
from collections import deque
from typing import Callable

from ._common import NEED_DATA, LocalProtocolError, _Sentinel
from ._smtp_client_commands import ENDS_GROUP, Cmd, Command, Transaction, dot_stuff, envelope_commands
from ._smtp_client_replies import (
    MAX_REPLY_LINE, BadReply, Capabilities, Reply, ReplyReader, local_reply, parse_capabilities,
)
from ._smtp_client_types import (
    AuthDone, Closed, ContentDone, EhloDone, Envelope, Event, Greeting, ProtocolViolation, RecipientSpec,
    RecipientsDone, RsetDone, State, TlsReady,
)
from .lines import LineBuffer, TooLong

__all__ = [
    "ALLOWED", "NEED_DATA", "AuthDone", "Capabilities", "Closed", "ContentDone", "EhloDone", "Envelope", "Event",
    "Greeting", "LocalProtocolError", "ProtocolViolation", "RecipientSpec", "RecipientsDone", "Reply", "RsetDone",
    "SmtpClient", "State", "TlsReady", "dot_stuff", "local_reply",
]

#: Which command methods the adapter may call in each state (`abort()`: always).
ALLOWED: dict[State, frozenset[str]] = {
    State.CONNECTED: frozenset(),
    State.GREETED: frozenset({"ehlo", "quit"}),
    State.REJECTED: frozenset({"quit"}),
    State.READY: frozenset({"starttls", "auth", "begin", "rset", "quit"}),
    State.TLS_STARTING: frozenset({"tls_started"}),
    State.CONTENT: frozenset({"send_content"}),  # BDAT mode also allows rset and quit (see _check)
}


class SmtpClient:
    """One SMTP connection, client side. The greeting is awaited from the start."""

    def __init__(self, helo_name: str, *, pipelining: bool = True, chunking: bool = True,
                 tls_active: bool = False) -> None:
        if not helo_name or not helo_name.isascii() or not helo_name.isprintable() or " " in helo_name:
            raise ValueError(f"EHLO name {helo_name!r}: a domain or an address literal")
        self.helo_name = helo_name
        self.tls_active = tls_active
        self.authenticated = False
        self.capabilities = Capabilities()
        #: Optional `(sent, line)` callback: every command line sent (sent=True; AUTH secrets
        #: replaced by "****"; content is not shown) and every reply received, for protocol logs.
        self.observer: Callable[[bool, str], None] | None = None
        self._use_pipelining, self._use_chunking = pipelining, chunking
        self._state = State.CONNECTED
        self._lines = LineBuffer(MAX_REPLY_LINE)
        self._reader = ReplyReader()
        self._out: list[bytes] = []
        self._events: deque[Event] = deque()
        self._pending: deque[Command] = deque([Command(Cmd.GREETING)])  # written, awaiting a reply
        self._queue: deque[Command] = deque()  # to write once RFC 2920 allows
        self._eof = self._closing = False
        self._content_tx: Transaction | None = None  # the transaction in CONTENT / CONTENT_SENT

    # ----------------------------------------------------------------- adapter interface
    @property
    def state(self) -> State:
        return self._state

    @property
    def waiting_for(self) -> str | None:
        """The command whose reply is awaited ("the greeting", "MAIL FROM", "the end of data"...),
        None when none is: for the adapter's timeouts (RFC 5321 4.5.3.2 gives each its own)."""
        return self._pending[0].kind.value if self._pending else None

    def receive_data(self, data: bytes) -> None:
        """Bytes read from the socket; b"" means EOF."""
        if not data:
            self._eof = True
        elif self._state is not State.CLOSED and self._state is not State.TLS_STARTING and not self._eof:
            self._lines.feed(data)

    def receive_eof(self) -> None:
        self._eof = True

    def data_to_send(self) -> list[bytes]:
        out, self._out = self._out, []
        return out

    def next_event(self) -> Event | _Sentinel:
        """The next event, or NEED_DATA when none is complete."""
        while not self._events:
            if self._state is State.CLOSED:
                return NEED_DATA
            line = self._lines.next_line()
            if line is None:
                if not self._eof:
                    return NEED_DATA
                self._terminate("Connection closed by the server")
            elif line is TooLong:
                self._violation(f"reply line longer than {MAX_REPLY_LINE} octets")
            else:
                assert isinstance(line, bytes)
                try:
                    reply = self._reader.line(line)
                except BadReply as exc:
                    self._violation(str(exc))
                else:
                    if reply is not None:
                        self._on_reply(reply)
        return self._events.popleft()

    def abort(self, reason: str = "Connection aborted") -> None:
        """The adapter gives up on the connection (timeout, TLS handshake failure...): nothing
        more is sent; commands still out get their events with a local reply saying `reason`,
        then Closed(None)."""
        if self._state is not State.CLOSED:
            self._out.clear()
            self._terminate(reason)

    # ------------------------------------------------------------------------- commands
    def ehlo(self) -> None:
        if self._closed("ehlo"):
            return
        self._state = State.EHLO
        self._command(Cmd.EHLO, f"EHLO {self.helo_name}")

    def starttls(self) -> None:
        if self._closed("starttls"):
            return
        if self.tls_active or not self.capabilities.starttls:
            raise LocalProtocolError("STARTTLS was not offered, or TLS is already active")
        self._state = State.STARTTLS
        self._command(Cmd.STARTTLS, "STARTTLS")

    def tls_started(self) -> None:
        """TLS is up (RFC 3207 4.2): what was learnt before is forgotten; call `ehlo()` again."""
        if self._closed("tls_started"):
            return
        self.tls_active = True
        self.capabilities = Capabilities()
        self._lines.clear()
        self._state = State.GREETED

    def auth_plain(self, username: str, password: str) -> None:
        """AUTH PLAIN with the initial response (RFC 4616, RFC 4954)."""
        if self._auth_check("PLAIN"):
            return
        token = base64.b64encode(f"\0{username}\0{password}".encode("utf-8"))
        self._command(Cmd.AUTH, b"AUTH PLAIN " + token, shown="AUTH PLAIN ****")

    def auth_login(self, username: str, password: str) -> None:
        """AUTH LOGIN: the username and the password, each after a 334 challenge."""
        if self._auth_check("LOGIN"):
            return
        steps = tuple(base64.b64encode(text.encode("utf-8")) for text in (username, password))
        self._command(Cmd.AUTH, b"AUTH LOGIN", steps=steps)

    def auth(self, username: str, password: str) -> None:
        """AUTH with PLAIN when offered, else LOGIN (e.g. Exchange offers LOGIN only)."""
        if "PLAIN" in self.capabilities.auth_mechs or "LOGIN" not in self.capabilities.auth_mechs:
            self.auth_plain(username, password)
        else:
            self.auth_login(username, password)

    def begin(self, envelope: Envelope) -> Reply | None:
        """Send MAIL and the RCPTs (and DATA), answered by one RecipientsDone. Returns None, or,
        sending nothing, a local permanent reply when this server cannot take the message."""
        if self._closed("begin"):
            return local_reply(421, "4.4.2", "Connection closed before the transaction could begin")
        caps = self.capabilities
        if envelope.needs_smtputf8 and not caps.smtputf8:
            return local_reply(554, "5.6.7", "SMTPUTF8 is required, but was not offered by the server")
        if caps.size and envelope.size > caps.size:
            return local_reply(552, "5.3.4", f"Message size ({envelope.size} octets) exceeds the server's "
                                             f"limit of {caps.size} octets")
        notes: tuple[str, ...] = ()
        if envelope.body_8bit and not caps.eightbitmime:
            notes = ("8-bit body sent unchanged to a server that did not offer 8BITMIME",)
        # BDAT chunks are pipelined (RFC 3030 4.2 needs PIPELINING for that): both, or DATA
        bdat = caps.chunking and caps.pipelining and self._use_chunking and self._use_pipelining
        tx = Transaction(envelope, bdat, notes)
        self._state = State.ENVELOPE
        self._queue.extend(envelope_commands(tx, caps))
        self._flush()
        return None

    def send_content(self, data: bytes, *, last: bool = True) -> None:
        """The message (headers and body, CRLF lines) after a RecipientsDone that wanted it:
        whole, or in pieces (`last=False` for all but the last) so that a big message is never
        held at once; pieces may be cut anywhere. With BDAT each piece is a chunk."""
        if self._closed("send_content"):
            return
        tx = self._content_tx
        assert tx is not None
        parts, size = tx.framer.frame(data, last)
        if not parts:
            return
        self._out += parts
        if tx.bdat:
            self._show(True, parts[0].decode("ascii").rstrip("\r\n"))
            self._pending.append(Command(Cmd.CONTENT if last else Cmd.CHUNK, tx=tx))
        elif last:
            self._show(True, "<content> .")
            self._pending.append(Command(Cmd.CONTENT, tx=tx))
        if last:
            self._state = State.CONTENT_SENT

    def rset(self) -> None:
        """RSET, answered by RsetDone: the check Postfix makes before reusing a connection."""
        if self._closed("rset"):
            return
        self._content_tx = None
        self._state = State.RSET
        self._command(Cmd.RSET, "RSET")

    def quit(self) -> None:
        """QUIT: Closed follows (with the 221, or None if the server just closes)."""
        if self._closed("quit"):
            return
        self._content_tx = None
        self._state = State.QUIT
        self._command(Cmd.QUIT, "QUIT")

    # ------------------------------------------------------------------------ internals
    def _closed(self, method: str) -> bool:
        """True when the connection is over: the call does nothing (its events are already out,
        `Closed` last). Otherwise `method` must be allowed now (else LocalProtocolError)."""
        state = self._state
        if state is State.CLOSED:
            return True
        if method in ALLOWED.get(state, ()):
            return False
        bdat = self._content_tx is not None and self._content_tx.bdat
        if state is State.CONTENT and bdat and method in ("rset", "quit"):
            return False  # no DATA was sent: the transaction can still be given up
        raise LocalProtocolError(f"{method}() is not allowed in state {state.name}")

    def _auth_check(self, mechanism: str) -> bool:
        if self._closed("auth"):
            return True
        if self.authenticated:
            raise LocalProtocolError("already authenticated")
        if not self.tls_active:
            raise LocalProtocolError("AUTH is only sent over TLS")
        if mechanism not in self.capabilities.auth_mechs:
            raise LocalProtocolError(f"AUTH {mechanism} was not offered")
        self._state = State.AUTH
        return False

    def _command(self, kind: Cmd, line: str | bytes, *, shown: str | None = None,
                 steps: tuple[bytes, ...] = ()) -> None:
        raw = line.encode("utf-8") if isinstance(line, str) else line
        self._queue.append(Command(kind, raw + b"\r\n", shown=shown, steps=steps))
        self._flush()

    def _flush(self) -> None:
        """Write queued commands as far as RFC 2920 allows (one at a time without PIPELINING)."""
        pipelining = self.capabilities.pipelining and self._use_pipelining
        while self._queue and not self._closing:
            pending = self._pending
            if pending and (not pipelining or pending[-1].kind in ENDS_GROUP):
                return
            command = self._queue.popleft()
            tx = command.tx
            if tx is not None and tx.mail is not None and (
                not tx.mail.positive or (command.kind is Cmd.DATA and not tx.accepted())
            ):  # without pipelining: no RCPT after a refused MAIL, no DATA when nobody was accepted
                self._answered(command, tx.mail if command.kind is Cmd.RCPT else None)
                continue
            self._out.append(command.line)
            self._show(True, command.shown)
            pending.append(command)

    def _show(self, sent: bool, line: str) -> None:
        if self.observer is not None:
            self.observer(sent, line)

    def _on_reply(self, reply: Reply) -> None:
        self._show(False, reply.text)
        if not self._pending:
            if reply.code == 421:
                self._terminate(reply, closed=reply)
            else:
                self._violation(f"reply with no command outstanding: {reply.text[:80]!r}")
            return
        command = self._pending[0]
        kind = command.kind
        if (reply.intermediate and kind is not Cmd.AUTH and kind is not Cmd.DATA) or (
            kind is Cmd.DATA and reply.positive
        ):  # a 3xx only after AUTH and DATA; DATA gets 354 or a refusal
            self._violation(f"{reply.code} is no answer to {command.kind.value}")
            return
        self._pending.popleft()
        self._answered(command, reply)
        if reply.code == 421 and self._state is not State.CLOSED:
            self._terminate(reply, closed=reply)
        else:
            self._flush()

    def _answered(self, command: Command, reply: Reply | None) -> None:
        """`reply` answers `command` (None: DATA not sent)."""
        kind, events = command.kind, self._events
        if kind is Cmd.GREETING:
            assert reply is not None
            self._state = State.GREETED if reply.positive else State.REJECTED
            events.append(Greeting(reply))
        elif kind is Cmd.EHLO or kind is Cmd.HELO:
            assert reply is not None
            if kind is Cmd.EHLO and reply.permanent and not self._closing:
                self._queue.appendleft(Command(Cmd.HELO, f"HELO {self.helo_name}\r\n".encode("ascii")))
                return
            if reply.positive:
                self.capabilities = parse_capabilities(reply) if kind is Cmd.EHLO else Capabilities()
            self._state = State.READY if reply.positive else State.REJECTED
            events.append(EhloDone(reply, self.capabilities))
        elif kind is Cmd.STARTTLS:
            assert reply is not None
            self._state = State.TLS_STARTING if reply.code == 220 else State.READY
            if reply.code == 220:
                self._lines.clear()  # plaintext after the go-ahead: an injection, never read
            events.append(TlsReady(reply))
        elif kind is Cmd.AUTH:
            assert reply is not None
            if reply.intermediate and not self._closing:  # 334: the next step, or cancel
                step = command.steps[0] if command.steps else b"*"
                self._queue.appendleft(Command(Cmd.AUTH, step + b"\r\n", shown="****", steps=command.steps[1:]))
                return
            self.authenticated = reply.positive
            self._state = State.READY
            events.append(AuthDone(reply))
        elif kind is Cmd.MAIL or kind is Cmd.RCPT or kind is Cmd.DATA:
            tx = command.tx
            assert tx is not None
            if kind is Cmd.MAIL:
                tx.mail = reply
            elif kind is Cmd.RCPT:
                tx.rcpts[command.index] = reply
            else:
                tx.data = reply
            tx.open -= 1
            if not tx.open:
                self._recipients_done(tx)
        elif kind is Cmd.CHUNK:
            tx = command.tx
            assert tx is not None and reply is not None
            if not reply.positive and not reply.local and tx.refused is None:
                tx.refused = reply  # the chunks after it are refused too; the first says why
        elif kind is Cmd.CONTENT:
            assert reply is not None and command.tx is not None
            self._content_tx = None
            self._state = State.READY
            events.append(ContentDone(command.tx.refused or reply))
        elif kind is Cmd.RSET:
            assert reply is not None
            self._state = State.READY
            events.append(RsetDone(reply))
        elif kind is Cmd.QUIT and not self._closing:
            assert reply is not None
            self._terminate(reply, closed=reply)
        # DISCARD, RESET: the client's own, no event

    def _recipients_done(self, tx: Transaction) -> None:
        mail = tx.mail
        assert mail is not None
        rcpts = tuple(r if mail.positive and r is not None else mail for r in tx.rcpts)
        accepted = tx.accepted()
        data = tx.data
        wanted = accepted and not self._closing and (tx.bdat or (data is not None and data.intermediate))
        if not self._closing:
            if data is not None and data.intermediate and not accepted:
                # RFC 2920 3.1: DATA was accepted though nobody was: end it empty, no message
                self._queue.append(Command(Cmd.DISCARD, b".\r\n"))
            elif mail.positive and not wanted:
                self._queue.append(Command(Cmd.RESET, b"RSET\r\n"))
        if accepted and not wanted and (data is None or data.positive or data.intermediate):
            data = local_reply(421, "4.4.2", "Connection lost before the content could be sent")
        self._content_tx = tx if wanted else None
        self._state = State.CONTENT if wanted else State.READY
        self._events.append(RecipientsDone(mail, rcpts, data, wanted, tx.notes))

    def _violation(self, text: str) -> None:
        self._events.append(ProtocolViolation(text))
        self._terminate(f"Protocol error from the server ({text})", enhanced="4.5.0")

    def _terminate(self, reason: str | Reply, *, closed: Reply | None = None, enhanced: str = "4.4.2") -> None:
        """End the connection: every command still out or queued gets its event with `reason`
        (a Reply, or the text of a local one), a wanted content its ContentDone, then Closed."""
        self._closing = True
        commands = [*self._pending, *self._queue]
        self._pending.clear()
        self._queue.clear()
        for command in commands:
            if isinstance(reason, Reply):
                self._answered(command, reason)
                continue
            text = f"{reason} while waiting for the reply to {command.kind.value}"
            if command.kind is Cmd.CONTENT:
                text += "; the message may have been delivered"
            self._answered(command, local_reply(421, enhanced, text))
        if self._state is State.CONTENT:
            self._events.append(ContentDone(reason if isinstance(reason, Reply) else local_reply(
                421, enhanced, f"{reason} before all the content was sent")))
        self._content_tx = None
        self._lines.clear()
        self._state = State.CLOSED
        self._events.append(Closed(closed))
