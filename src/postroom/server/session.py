"""What every protocol connection shares: the asyncio.Protocol that drives a sans-IO core.

A `Session` feeds received bytes to its core, pulls events until the core needs data or
waits for an answer, runs one answering coroutine at a time, writes replies, enforces the
idle (and optional total) timeouts, stops reading while the client is behind (bounded memory
whatever it sends), upgrades to TLS in place (tls_transport.py: a layer small enough for ten
thousand idle connections), and turns an unexpected
failure into a protocol reply carrying a reference, never a traceback. SMTP, POP3 and IMAP4
sessions (the last two through login.py) only say how to admit a connection and answer events.
"""
from __future__ import annotations

import asyncio
import contextvars
import itertools
import logging
import ssl
import threading
import time
import uuid
from abc import ABCMeta, abstractmethod
from typing import Any, Callable, Coroutine, Generic

from ..logs import log_context
from .protocol_log import ProtocolLog, redact_command
from .session_types import CLOSED, CLOSING, LIVE, OPEN, TLS_HANDSHAKE, Core, Life
from .tls_transport import start_tls

MAX_BUFFERED_INPUT = 64 * 1024  # pipelined input held while earlier commands are answered
TLS_HANDSHAKE_TIMEOUT = 30.0
SCRATCH_SIZE = 256 * 1024
_session_ids = itertools.count(1)
_per_thread = threading.local()


def _scratch() -> memoryview:
    """Where a transport writes what it received for a session that is not receiving message
    content; copied out at once. One per thread: each event loop runs on its own thread, and
    between a read and its callback no other session's read can happen on that loop."""
    view = getattr(_per_thread, "view", None)
    if view is None:
        view = _per_thread.view = memoryview(bytearray(SCRATCH_SIZE))
    return view


class Session(asyncio.BufferedProtocol, Generic[Core], metaclass=ABCMeta):
    """One connection driving a core of type `Core`. Subclasses set `log`, `internal_error`
    and `idle_reply`, and implement `admit()`, `handle(event)` and optionally `released()`.

    A buffered protocol: the transport (plain or TLS) writes received octets into a buffer
    we hand it. Message content goes straight into the core's content buffer (no copy on the
    way in, see `SmtpServer.content_buffer`); anything else lands in a scratch buffer and is passed on
    as bytes through `data_received`.

    State: `life` (OPEN, TLS_HANDSHAKE, CLOSING, CLOSED); whether an answering task runs
    (`answering`); the input flow (`reading`: what the transport was last told, from
    `write_paused`, `hold_input` and the input the core holds); `draining` (the node is
    stopping: close at the next command boundary)."""

    log = logging.getLogger("postroom.session")
    service_name = "session"  # "pop3", "smtp": the `service` field of JSON log lines
    internal_error = "internal error, ref {ref}\r\n"  # the reply sent when an answer crashes
    idle_reply = b""  # sent when the idle or total timeout closes the connection
    # Whether any received byte restarts the idle clock. False (POP3): only a complete command
    # does (our reply to it), so a client trickling a byte a second is still cut off.
    idle_on_bytes = True
    need_data: Any = None  # the core's NEED_DATA and PAUSED sentinels
    peer_override: tuple[str, int] | None = None  # the client a PROXY header named
    takes_content = False  # the core can receive message content into its own buffer (SMTP)
    paused: Any = None
    blocked_refusal: Any = None  # the core's temporary AuthFailure: the answer to a blocked login
    # Protocol log redaction (protocol_log.redact_command): commands logged with their
    # arguments, and commands logged with their arguments masked; anything else is "****".
    logged_verbs: frozenset[str] = frozenset()
    masked_verbs: frozenset[str] = frozenset()
    service: Any  # the subclass's service (its settings, guard and login listener)

    def __init__(self, node_name: str, local: str, implicit_tls: bool = False) -> None:
        self.local = local
        self.implicit_tls = implicit_tls
        self.id = f"{node_name}-{next(_session_ids)}"
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.conn: Core | None = None  # the sans-IO core, made by admit()
        self.remote_ip = ""
        self.remote = ""
        self.life = OPEN
        self.answering = False  # an answering task is running: the core waits for its answer
        self.draining = False  # the node is stopping: close at the next command boundary
        # How it ended: the core's CloseConnection reason (quit, eof, ...), "timeout", "aborted"
        # (the service stopped), "internal-error"; None while open, or when the client just left.
        self.ending: str | None = None
        self.ended_by_admin = False  # `postroom session end`: draining, with the core's reply for it
        self.connected_at = time.time()  # `postroom session list` shows it (wall clock, not loop time)
        # input flow: reading stops while the client does not read our replies (write_paused),
        # while a subclass waits for something (hold_input; SMTP: its spool) or while the core
        # holds MAX_BUFFERED_INPUT of pipelined input
        self.reading = True
        self.write_paused = False
        self.hold_input = False
        self.into_content = False  # the buffer last handed to the transport is the core's content buffer
        self.scratch = _scratch()
        self.tls_early: bytearray | None = None  # TLS_HANDSHAKE: decrypted before the core knows TLS is up
        self.last_activity = self.loop.time()
        self.timeout = 60.0  # idle seconds allowed now
        self.deadline: float | None = None  # loop time at which the connection ends regardless
        self.timer: asyncio.TimerHandle | None = None
        self.task: asyncio.Task[Any] | None = None
        self.protocol_log: ProtocolLog | None = None
        self.sequence = 0  # the protocol log's sequence number of this session's next line
        self.log_fields: dict[str, str] = {}
        self.log_context: contextvars.Context | None = None  # set once a peer connects

    # hooks ---------------------------------------------------------------------------
    @abstractmethod
    def admit(self) -> bool:
        """Count the connection and make `self.conn`; False after writing a refusal."""

    @abstractmethod
    def handle(self, event: Any) -> bool:
        """Act on one core event; True stops the pump (the connection is closing)."""

    def released(self) -> None:
        """Give back what the session holds (counts, locks). Called at the end and again when
        an answer in flight finishes after the client left, so it must be idempotent."""

    def log_sent(self, chunk: bytes) -> None:
        """Write one sent chunk to the protocol log (subclasses skip message bodies)."""

    def stopping(self) -> bool:
        """Whether the node is shutting down (a connection accepted now is drained at once)."""
        return False

    def command_observer(self) -> Callable[[Any, bool], None] | None:
        """What the core tells each command line it reads: the protocol log, if on."""
        return self.log_command if self.protocol_log is not None else None

    @property
    def ended(self) -> bool:
        """We closed the connection or the client left."""
        return self.life is CLOSING or self.life is CLOSED

    # asyncio.Protocol ----------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # asyncio gives a stream server a Transport
        # Behind a load balancer (PROXY protocol, server/proxy.py) the client is the one the
        # header named, not the balancer the socket comes from.
        peer = self.peer_override or transport.get_extra_info("peername") or ("?", 0)
        self.remote_ip = str(peer[0])
        self.remote = f"{peer[0]}:{peer[1]}"
        # Once per connection: the context this session's answering tasks run in, so every
        # record they log names the session and the peer (logs.py; no per-command cost).
        self.log_fields = {"session": self.id, "service": self.service_name, "remote_ip": self.remote_ip}
        self.log_context = contextvars.copy_context()
        self.log_context.run(log_context.set, self.log_fields)
        self._log("+", "", self.tls_context() if self.protocol_log else "")
        if not self.admit():
            self.close()
            return
        if self.conn is not None:
            self.conn.observer = self.command_observer()
        self.flush()
        self.arm_timer()
        if self.stopping():
            self.drain()

    def get_buffer(self, sizehint: int) -> memoryview:
        if self.takes_content and self.life is OPEN and self.conn is not None:
            room = self.conn.content_buffer(sizehint)  # None unless message content is arriving
            if room is not None:
                self.into_content = True
                return room
        self.into_content = False
        return self.scratch

    def buffer_updated(self, nbytes: int) -> None:
        if not self.into_content:
            self.data_received(bytes(self.scratch[:nbytes]))
            return
        self.into_content = False
        if self.life is not OPEN or self.conn is None:
            return
        if self.idle_on_bytes:
            self.last_activity = self.loop.time()
        self.conn.content_received(nbytes)  # content is never protocol-logged
        self.pump()

    def data_received(self, data: bytes) -> None:
        if self.life is not OPEN or self.conn is None:
            if self.life is TLS_HANDSHAKE and self.conn is not None and self.tls_early is not None:
                self.tls_early += data  # the client spoke first over TLS: keep it
            return
        if self.idle_on_bytes:
            self.last_activity = self.loop.time()
        self.conn.receive_data(data)
        self.pump()

    def eof_received(self) -> bool:
        if self.conn is not None and self.life in LIVE:
            self.conn.receive_data(b"")
            self.pump()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        # A TLS transport holds bound methods of ours and we hold it: a cycle of some thirty
        # objects per session that only the garbage collector would free. Let go of it.
        self.transport = None
        self._end(CLOSED)

    def pause_writing(self) -> None:
        # The client reads slower than we answer: stop answering (and reading) until it catches up.
        self.write_paused = True
        self._update_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.transport and self.life in LIVE:
            self.pump()

    def _update_reading(self) -> None:
        if self.transport is None or self.conn is None or self.life not in LIVE:
            return
        wanted = not self.write_paused and not self.hold_input and self.conn.bytes_buffered < MAX_BUFFERED_INPUT
        if wanted != self.reading:
            self.reading = wanted
            (self.transport.resume_reading if wanted else self.transport.pause_reading)()

    # driving the core ----------------------------------------------------------------
    def pump(self) -> None:
        try:
            conn = self.conn
            while conn is not None and self.life is OPEN and not (self.answering or self.write_paused):
                if self.draining and conn.shutdown(self.ended_by_admin):
                    self.draining = False  # the reply and CloseConnection are queued
                event = conn.next_event()
                if event is self.need_data or event is self.paused:
                    break
                if self.handle(event):
                    return
            self.flush()
            self._update_reading()
        except Exception:  # a bug in the core or a handler: answer, never leak a traceback
            self.fail()

    def fail(self) -> None:
        """Log the current exception under a reference, tell the peer that reference, close."""
        ref = uuid.uuid4().hex[:12]
        self.ending = self.ending or "internal-error"
        self.log.exception("session %s internal error, ref %s", self.id, ref, extra=self.log_fields)
        if self.transport and self.life in LIVE:
            self.transport.write(self.internal_error.format(ref=ref).encode())
        self.answering = False
        self.close()

    def in_log_context(self, function: Callable[..., Any], *args: Any) -> Any:
        """Call `function` in this session's log context: for the few records logged outside
        an answering task (those already run in it)."""
        if self.log_context is None or log_context.get() is self.log_fields:
            return function(*args)
        return self.log_context.run(function, *args)

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        self.answering = True
        self.task = self.loop.create_task(self._answer(coroutine), context=self.log_context)

    async def _answer(self, coroutine: Coroutine[Any, Any, None]) -> None:
        try:
            await coroutine
        except asyncio.CancelledError:
            raise
        except Exception:  # never leak a traceback to the peer: log it under a reference
            self.fail()
            return
        self.answering = False
        self.last_activity = self.loop.time()  # the client's idle time starts with our answer
        if self.life is TLS_HANDSHAKE:  # the core knows TLS is up now: it reads what came meanwhile
            self.life = OPEN
            early, self.tls_early = self.tls_early, None
            if early:
                self.data_received(bytes(early))
                return
        if self.ended:  # the client left while we were working: let go of what we hold
            self._release()
        else:
            self.pump()

    def flush(self) -> None:
        if self.conn is None or self.transport is None:
            return
        chunks = self.conn.data_to_send()
        if chunks and self.life in LIVE:
            self.last_activity = self.loop.time()  # a reply: the client's idle time starts now
            if self.protocol_log:
                for chunk in chunks:
                    self.log_sent(chunk)
            self.transport.writelines(chunks)

    async def start_tls(self, context: ssl.SSLContext) -> bool:
        """Upgrade in place (STLS/STARTTLS); False when the handshake failed and we closed.
        Called by an answering task, which then tells the core (see `_answer`)."""
        if self.transport is None:  # the client left before its STARTTLS was answered
            return False
        self.life, self.tls_early = TLS_HANDSHAKE, bytearray()  # only decrypted data reaches data_received now
        try:
            transport = await start_tls(self.transport, self, context, TLS_HANDSHAKE_TIMEOUT)
        except (OSError, ssl.SSLError, ConnectionError, asyncio.TimeoutError) as exc:
            self.log.info("session %s TLS handshake failed: %s", self.id, exc.__class__.__name__)
            self.note(f"TLS negotiation failed ({exc.__class__.__name__})")
            self.close()
            return False
        if transport is None:
            self.close()
            return False
        self.transport = transport
        self.reading = True  # the TLS transport starts reading
        if self.protocol_log:
            self.note(self.tls_context())
        return True

    # timers and cleanup ----------------------------------------------------------------
    def arm_timer(self) -> None:
        due = self.last_activity + self.timeout
        if self.deadline is not None:
            due = min(due, self.deadline)
        self.timer = self.loop.call_at(due, self._check_idle)

    def _check_idle(self) -> None:
        if self.ended:
            return
        now = self.loop.time()
        over = self.deadline is not None and now >= self.deadline
        if not over and (self.answering or now - self.last_activity < self.timeout):
            if self.answering:  # we are the ones working: the client is not idle (and no timer in the past)
                self.last_activity = now
            self.arm_timer()
            return
        self.ending = self.ending or "timeout"
        if self.transport and self.idle_reply:
            self._log(">", self.idle_reply.decode().strip())
            self.transport.write(self.idle_reply)
        self.close()

    def refuse(self, reply: bytes) -> bool:
        """Write a refusal at connect time (admit() then returns False)."""
        assert self.transport is not None
        self._log(">", reply.decode().strip())
        self.transport.write(reply)
        return False

    def close(self) -> None:
        if self.transport and not self.transport.is_closing():
            self.transport.close()
        self._end(CLOSING)

    def drain(self) -> None:
        """The node is stopping: between commands, the core answers its shutdown reply and the
        connection closes now; otherwise once the command or content in progress is done."""
        if self.ended or self.conn is None:
            return
        self.draining = True
        if not self.answering:
            self.pump()

    def end_by_admin(self, grace: float) -> None:
        """`postroom session end`: as drain(), with the core's reply saying an administrator
        ended the session; dropped if still open `grace` seconds later (content arriving, a
        slow client), so it ends promptly whatever it is doing. Nothing pending is applied."""
        if self.ended or self.conn is None:
            return
        self.ended_by_admin = True
        self.drain()
        self.loop.call_later(grace, lambda: None if self.ended else self.abort())

    @property
    def finished(self) -> bool:
        """Nothing of this connection is left: the transport is gone and no answer is running."""
        return (self.life is CLOSED or self.transport is None) and (self.task is None or self.task.done())

    def abort(self) -> None:
        """The service is stopping: drop the connection now."""
        self.ending = self.ending or "aborted"
        if self.transport:
            self.transport.abort()
        self._end(CLOSING)

    def _end(self, life: Life) -> None:
        """Closed by us (CLOSING) or by the client leaving (CLOSED): the protocol log's last
        line for this session, once, then give back what it holds."""
        if self.life in LIVE:
            self._log("-", "")
        if self.life is not CLOSED:
            self.life = life
        self._release()

    def _release(self) -> None:
        if self.timer:
            self.timer.cancel()
            self.timer = None
        self.released()

    def _log(self, event: str, data: str, context: str = "") -> None:
        plog = self.protocol_log
        if plog is not None and self.life in LIVE:  # nothing after the session's last line
            plog.write(self.id, self.sequence, self.local, self.remote, event, data, context)
            self.sequence += 1

    def log_command(self, line: Any, sasl_response: bool) -> None:
        """The core's observer: one received command line as it reads it (a SASL response,
        TooLong for an overlong one; never message content), credentials redacted."""
        self._log("<", redact_command(line, sasl_response, self.logged_verbs, self.masked_verbs))

    def refuse_blocked(self, username: str) -> None:
        """The source or the name is blocked, or has as many failures and checks in flight as
        its threshold: a temporary refusal that says nothing about the mailbox, then close."""
        assert self.conn is not None
        self.conn.auth_failed(self.blocked_refusal)
        self.service.login_event("failed (blocked)", self.remote_ip, username[:100])
        self.note("authentication refused (blocked)")
        self.flush()
        self.close()

    def note(self, context: str) -> None:
        """An information line (Exchange's event `*`): what the server knows now, in `context`
        (TLS negotiated, authenticated as, delivered). Never a credential."""
        self._log("*", "", context)

    def tls_context(self) -> str:
        """'TLS negotiated (TLSv1.3, TLS_AES_256_GCM_SHA384)' on a TLS connection, else ''."""
        tls = self.transport.get_extra_info("ssl_object") if self.transport is not None else None
        if tls is None:
            return ""
        cipher = tls.cipher()
        return f"TLS negotiated ({tls.version()}{', ' + cipher[0] if cipher else ''})"
