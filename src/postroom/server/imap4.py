"""The IMAP4 service: feeds socket bytes to the sans-IO core and does what its events ask.

As POP3 (server/pop3.py): one `ImapService` per node holds the live settings, TLS context and
connection counts (total, per source, per mailbox), and shares the node's login guard and
metrics; each connection is an `ImapSession` (a server/session.py Session: listeners, TLS and
STARTTLS, timeouts, back-pressure, protocol log). The login, the connection counts and the
evidence of a session that ends without a login (the service's `on_session_end`) are shared
with POP3 (server/login.py); IMAP4 adds its replies. Once logged in, each command the core hands over is
executed by the session's `MailboxEngine` (server/imap4_mailbox.py). IDLE waits on the node's
MailboxNotifier (imap4_notify.py), which the store's feed of mailbox changes sets: an idling
session looks at the store when its mailbox changed, never on a timer. After COMPRESS DEFLATE
the session's transport is a CompressedTransport (server/compression.py): replies are
compressed on their way out, and what arrives is inflated as the core has room for it.
"""
from __future__ import annotations

import asyncio
import logging
import ssl
from collections import Counter
from typing import Any, Callable

from ..activity import Activity
from ..auth import Authenticator
from ..errors import PostroomError
from ..lockout import BLOCKED, AbuseGuard
from ..model import ImapSettings, Mailbox
from ..protocol.imap4.core import (
    NEED_DATA, PAUSED, Authenticate, CloseConnection, IdleDone, IdleStarted, ImapConfig, ImapServer, LoginRefused,
    Request, SavedResultReset, StartCompression, StartTls,
)
from ..protocol.imap4.types import Command
from .evidence import SessionEnd, report_login
from .compression import CompressedTransport, CompressionError
from .imap4_cache import BodyCache, HeaderCache, ListingCache, RenderedCache
from .imap4_common import ImapStore, Outcome
from .imap4_mailbox import MailboxEngine
from .imap4_notify import MailboxNotifier
from .login import ClientAccessSession
from .metrics import Metrics
from .protocol_log import ImapReplyLines, ProtocolLog, redact_imap_command
from .session import MAX_BUFFERED_INPUT
from .session_types import OPEN
from .trail import ImapTrail

log = logging.getLogger("postroom.imap4")
TOO_MANY_CONNECTIONS = b"* BYE [UNAVAILABLE] Too many connections, try again later.\r\n"
IDLE_TIMEOUT = b"* BYE Disconnected for inactivity.\r\n"
UNAVAILABLE = Outcome("NO", "The mailbox is not available now, try again later.", "UNAVAILABLE")
BAD_LOGIN = "Authentication failed."  # the one answer for an unknown name and a wrong password
RETRY_LOOK = 1.0  # seconds before an idling session looks again when the store refused a look
# A refused login's reason (server/login.py) -> the tagged NO's text and response code.
REFUSALS = {
    "bad-credentials": (BAD_LOGIN, "AUTHENTICATIONFAILED"),
    "mailbox-disabled": ("This mailbox is disabled.", "AUTHORIZATIONFAILED"),
    "imap-disabled": ("IMAP4 access is disabled for this mailbox.", "AUTHORIZATIONFAILED"),
    "bad-authzid": ("Logging in as another user is not allowed.", "AUTHORIZATIONFAILED"),
    "too-many-connections": ("Too many connections for this mailbox.", "LIMIT"),
    "temporary": (UNAVAILABLE.text, "UNAVAILABLE"),
    BLOCKED: ("Too many failed logins, try again later.", "UNAVAILABLE"),
}
HOLD_OCTETS = 64 * 1024  # untagged replies held for one write with the tagged one, up to this much
# Rounds of inflating held compressed input (each up to what the core has room for) in one go;
# then the loop runs others first: a small input inflating to gigabytes cannot hog it.
INFLATE_ROUNDS = 16


class ImapService:
    """State shared by every IMAP4 connection of this node."""

    def __init__(self, store: Any, authenticator: Authenticator, node_name: str,
                 on_login: Callable[[str, str, str, str], None] | None = None,
                 activity: Activity | None = None, notifier: MailboxNotifier | None = None,
                 on_session_end: Callable[[SessionEnd], None] | None = None) -> None:
        self.store = store  # a MailboxLookup and an ImapStore (FolderStore + read_message)
        self.authenticator = authenticator
        self.node_name = node_name
        self.activity = activity
        self.settings = ImapSettings()
        self.tls: ssl.SSLContext | None = None
        self.protocol_log: ProtocolLog | None = None
        self.sessions: set[ImapSession] = set()
        self.per_ip: Counter[str] = Counter()
        self.per_user: Counter[str] = Counter()
        self.on_login = on_login  # (result, service, remote ip, mailbox) for evidence/metrics
        self.on_session_end = on_session_end  # a session that ended without a login, for evidence
        self.stopping = False
        self.guard = AbuseGuard()  # the node shares its own with POP3 and SMTP
        self.metrics = Metrics()
        self.notifier = notifier or MailboxNotifier()  # the node's, set by the store's feed of mailbox changes
        self.headers = HeaderCache()  # header blocks read by this node's sessions
        self.listings = ListingCache()  # and the folder listings they read at SELECT
        self.rendered = RenderedCache()  # and the FETCH items they rendered
        self.bodies = BodyCache()  # and the small messages they read whole
        self.core_config = self._core_config()

    def configure(self, settings: ImapSettings, tls: ssl.SSLContext | None,
                  protocol_log: ProtocolLog | None) -> None:
        self.settings = settings
        self.tls = tls
        if self.protocol_log is not protocol_log and self.protocol_log is not None:
            self.protocol_log.close()
        self.protocol_log = protocol_log
        self.core_config = self._core_config()

    def _core_config(self) -> ImapConfig:
        return ImapConfig(login_type=self.settings.login_type, banner=self.settings.banner,
                          max_command_size=self.settings.max_command_size,
                          max_literal_size=self.settings.max_message_size, implementation="postroom")

    def protocol_factory(self, implicit_tls: bool, local: str) -> Callable[[], "ImapSession"]:
        return lambda: ImapSession(self, implicit_tls, local)

    def close_sessions(self) -> None:
        for session in list(self.sessions):
            session.abort()

    def drain_sessions(self) -> None:
        """Shutting down: sessions between commands (or idling) get * BYE now; a command
        being answered finishes first."""
        self.stopping = True
        for session in list(self.sessions):
            session.drain()

    def login_event(self, result: str, remote: str, user: str) -> None:
        report_login(log, self.on_login, "imap4", result, remote, user, self.activity, self.metrics)


class ImapSession(ClientAccessSession[ImapServer]):
    log = log
    service_name = "imap4"
    internal_error = "* BYE Internal error, ref {ref}.\r\n"
    idle_reply = IDLE_TIMEOUT
    too_many_connections = TOO_MANY_CONNECTIONS
    feature = ("imap_enabled", "imap-disabled")
    trail_type = ImapTrail
    idle_on_bytes = False  # the timeouts count from our last reply, not from any byte received
    need_data, paused = NEED_DATA, PAUSED
    service: ImapService

    def __init__(self, service: ImapService, implicit_tls: bool, local: str) -> None:
        super().__init__(service, implicit_tls, local)
        self.engine: MailboxEngine | None = None
        # IDLE holds no task while nothing changes: the notifier calls `_idle_wake`, which starts
        # a look (`idle_look`) unless one runs; a change during a look makes it look again.
        self.idling = False
        self.idle_look: asyncio.Task[None] | None = None
        self.idle_again = False
        self.writable: asyncio.Future[None] | None = None  # a FETCH waits on it while the client is behind
        self.reply_lines: ImapReplyLines | None = None  # made when the protocol log is on
        self.held = 0  # octets of untagged replies not written yet
        self.compressed: CompressedTransport | None = None  # COMPRESS DEFLATE is on: the transport
        self.below_full = False  # the transport's buffer is over its limit: the client reads slowly
        self.compressing = False  # a big write is being compressed on a worker thread

    def make_core(self) -> ImapServer:
        return ImapServer(self.service.core_config, tls_active=self.implicit_tls,
                          tls_available=self.service.tls is not None)

    def log_command(self, line: Any, sasl_response: bool) -> None:
        self._log("<", redact_imap_command(line, sasl_response))

    def log_sent(self, chunk: bytes) -> None:
        if self.reply_lines is None:
            self.reply_lines = ImapReplyLines()
        for line in self.reply_lines.lines(chunk):  # never a literal's octets (a message's content)
            self._log(">", line)

    def pause_writing(self) -> None:
        self.below_full = True
        super().pause_writing()

    def resume_writing(self) -> None:
        self.below_full = False
        if not self.compressing:
            self._writable()
            super().resume_writing()

    def _compression_busy(self, busy: bool) -> None:
        """The compressed layer is (no longer) compressing a big write off the loop: answer and
        read nothing more meanwhile, as when the client reads slowly (compression.py)."""
        self.compressing = busy
        if busy:
            super().pause_writing()
        elif not self.below_full:
            self._writable()
            super().resume_writing()

    def _writable(self) -> None:
        waiter, self.writable = self.writable, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def handle(self, event: Any) -> bool:
        if isinstance(event, Request):
            self.spawn(self._request(event.command))
        elif isinstance(event, Authenticate):
            self.spawn(self._authenticate(event))
        elif isinstance(event, IdleStarted):
            self._start_idle()
        elif isinstance(event, IdleDone):
            self.spawn(self._idle_done(event.tag))
        elif isinstance(event, StartTls):
            self.flush()
            self.spawn(self.start_tls_answer())
        elif isinstance(event, StartCompression):
            self._start_compression(event.pending)
        elif isinstance(event, LoginRefused):
            self.login_refused(event.reason, event.username)
        elif isinstance(event, SavedResultReset):
            if self.engine is not None and self.engine.selected is not None:
                self.engine.selected.saved = []
        elif isinstance(event, CloseConnection):
            self.ending = self.ending or event.reason
            self.flush()
            self.close()
            return True
        return False

    # login (server/login.py): IMAP4's replies, its authorization identity, its engine ----------
    def answer_success(self) -> None:
        assert self.conn is not None
        self.conn.auth_succeeded()

    def answer_failure(self, reason: str) -> None:
        assert self.conn is not None
        self.conn.auth_failed(*REFUSALS[reason])

    def mailbox_refusal(self, mailbox: Mailbox, event: Any) -> str | None:
        refusal = super().mailbox_refusal(mailbox, event)
        if refusal is None and event.authzid and event.authzid.lower() != mailbox.address:
            return "bad-authzid"
        return refusal

    async def open_mailbox(self, mailbox: Mailbox) -> str | None:
        store: ImapStore = self.service.store
        self.engine = MailboxEngine(store, mailbox.id, self._emit, self.service.notifier, self._pace,
                                    self.service.headers, self.service.listings, self.service.rendered,
                                    self.service.bodies)
        return None

    # commands --------------------------------------------------------------------------
    def _emit(self, data: bytes) -> None:
        """Untagged replies: written with the tagged reply that follows them (one write per
        command), or as soon as HOLD_OCTETS are waiting (a long FETCH is not held in memory)."""
        if data and self.conn is not None and not self.ended:
            self.conn.send_data(data)
            self.held += len(data)
            if self.held >= HOLD_OCTETS:
                self.flush()

    def flush(self) -> None:
        self.held = 0
        super().flush()

    async def _pace(self) -> None:
        while self.write_paused and not self.ended:
            if self.writable is None:
                self.writable = self.loop.create_future()
            await self.writable

    async def _request(self, command: Command) -> None:
        assert self.conn is not None and self.engine is not None
        engine = self.engine
        try:
            outcome = await engine.run(command)
        except PostroomError as exc:
            log.warning("imap4 session %s: %s failed: %s", self.id, type(command).__name__.upper(), exc.message)
            outcome = UNAVAILABLE
        self.conn.selected(engine.selected is not None)  # complete() then follows SELECT, CLOSE, UNSELECT
        self.conn.complete(command.tag, outcome.status, outcome.text, outcome.code)

    def _start_idle(self) -> None:
        """IDLE: the client waits for news; the core reads only DONE meanwhile. Look at once,
        then whenever the notifier says the mailbox changed; nothing runs in between, however
        long the session idles."""
        assert self.engine is not None
        self.flush()  # "+ idling"
        self.idling = True
        self.service.notifier.watch(self.engine.mailbox_id, self._idle_wake)
        self._idle_wake()

    def _idle_wake(self) -> None:
        """The mailbox changed (or IDLE began): look, or have the look in progress look again."""
        if not self.idling or self.ended:
            return
        if self.idle_look is not None:
            self.idle_again = True
            return
        self.idle_look = self.loop.create_task(self._look(), context=self.log_context)

    async def _look(self) -> None:
        """What changed goes out now (no tagged reply follows it); a look the store refused is
        made again RETRY_LOOK seconds later."""
        assert self.engine is not None
        try:
            while True:
                self.idle_again = False
                try:
                    await self.engine.poll()
                except PostroomError as exc:  # the store is away for a moment: look again later
                    log.warning("imap4 session %s cannot look for changes: %s", self.id, exc.message)
                    self.loop.call_later(RETRY_LOOK, self._idle_wake)
                self.flush()
                if not (self.idle_again and self.idling and not self.ended):
                    return
        except Exception:  # never leak a traceback to the peer: log it under a reference
            self.fail()
        finally:
            self.idle_look = None

    def _stop_idle(self) -> None:
        if self.idling and self.engine is not None:
            self.service.notifier.unwatch(self.engine.mailbox_id, self._idle_wake)
        self.idling = False

    async def _idle_done(self, tag: str) -> None:
        assert self.conn is not None
        self._stop_idle()
        if self.idle_look is not None:  # the look in progress ends first: its replies precede ours
            await asyncio.wait([self.idle_look])
        self.conn.complete(tag, "OK", "IDLE terminated.")

    # COMPRESS DEFLATE (RFC 4978) ----------------------------------------------------------
    def _start_compression(self, pending: bytes) -> None:
        """The tagged OK goes out as it is; every octet after it through the compressed layer,
        above TLS if the connection has it. `pending`: compressed octets the core had read."""
        self.flush()
        if self.transport is None or self.conn is None:
            return
        self.compressed = layer = CompressedTransport(self.transport, self._compression_busy)
        self.transport = layer
        self.note("COMPRESS DEFLATE: compression on")
        if pending:
            self._inflate(layer, pending)

    def data_received(self, data: bytes) -> None:
        if self.compressed is None or self.life is not OPEN or self.conn is None:
            super().data_received(data)
        elif self._inflate(self.compressed, data):
            self.pump()

    def pump(self) -> None:
        super().pump()
        layer, rounds = self.compressed, 0
        # Compressed input held back while the core had no room: inflate more as it takes it.
        while layer is not None and layer.held and self.life is OPEN and self._room() > 0:
            if rounds == INFLATE_ROUNDS:
                self.loop.call_soon(self.pump)
                return
            rounds += 1
            if not self._inflate(layer, b""):
                return
            super().pump()

    def _room(self) -> int:
        return MAX_BUFFERED_INPUT - self.conn.bytes_buffered if self.conn is not None else 0

    def _inflate(self, layer: CompressedTransport, data: bytes) -> bool:
        """Pass what `data` (compressed) inflates to, as much as the core has room for, to the
        core; reading stops while more is held. False when the data was bad and we closed."""
        assert self.conn is not None
        if self.idle_on_bytes:
            self.last_activity = self.loop.time()
        try:
            plain = layer.inflate(data, self._room())
        except CompressionError as exc:
            self.ending = self.ending or "bad-compressed-data"
            bye = f"* BYE Cannot read the compressed data: {exc}.\r\n"
            self.flush()  # replies already made go first
            self._log(">", bye.strip())
            layer.write(bye.encode())
            self.close()
            return False
        self.hold_input = layer.held  # the pump's update of reading sees it
        if plain:
            self.conn.receive_data(plain)
        return True

    # cleanup ---------------------------------------------------------------------------
    def released(self) -> None:
        self.compressed = None  # the layer holds the transport below, which holds us: no cycle left
        self._writable()  # a FETCH waiting for the client to read goes on (and stops: it is gone)
        self._stop_idle()
        if self.idle_look is not None and not self.idle_look.done():
            self.idle_look.cancel()
        if self.engine is not None:
            self.engine.close()
        super().released()
