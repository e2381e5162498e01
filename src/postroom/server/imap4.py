"""The IMAP4 service: feeds socket bytes to the sans-IO core and does what its events ask.

As POP3 (server/pop3.py): one `ImapService` per node holds the live settings, TLS context and
connection counts (total, per source, per mailbox), and shares the node's login guard and
metrics; each connection is an `ImapSession` (a server/session.py Session: listeners, TLS and
STARTTLS, timeouts, back-pressure, protocol log). Logins go through the same verify_login path
as POP3's. Once logged in, each command the core hands over is executed by the session's
`MailboxEngine` (server/imap4_mailbox.py). IDLE waits on the node's MailboxNotifier.
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
from ..lockout import BLOCKED, AbuseGuard, verify_login
from ..model import ImapSettings
from ..protocol.imap4.core import (
    NEED_DATA, PAUSED, Authenticate, CloseConnection, IdleDone, IdleStarted, ImapConfig, ImapServer, Request,
    StartTls,
)
from ..protocol.imap4.types import Command
from .evidence import report_login
from .imap4_cache import HeaderCache, ListingCache
from .imap4_common import ImapStore, Outcome
from .imap4_mailbox import MailboxEngine
from .imap4_notify import POLL_INTERVAL, MailboxNotifier
from .metrics import Metrics
from .protocol_log import ProtocolLog, redact_imap_command
from .session import Session

log = logging.getLogger("postroom.imap4")
TOO_MANY_CONNECTIONS = b"* BYE [UNAVAILABLE] Too many connections, try again later.\r\n"
IDLE_TIMEOUT = b"* BYE Disconnected for inactivity.\r\n"
UNAVAILABLE = Outcome("NO", "The mailbox is not available now, try again later.", "UNAVAILABLE")
BAD_LOGIN = "Authentication failed."  # the one answer for an unknown name and a wrong password
HOLD_OCTETS = 64 * 1024  # untagged replies held for one write with the tagged one, up to this much


class ImapService:
    """State shared by every IMAP4 connection of this node."""

    def __init__(self, store: Any, authenticator: Authenticator, node_name: str,
                 on_login: Callable[[str, str, str, str], None] | None = None,
                 activity: Activity | None = None, notifier: MailboxNotifier | None = None) -> None:
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
        self.on_login = on_login
        self.stopping = False
        self.guard = AbuseGuard()  # the node shares its own with POP3 and SMTP
        self.metrics = Metrics()
        self.notifier = notifier or MailboxNotifier()  # the node's: deliveries and POP3 deletions touch it too
        self.headers = HeaderCache()  # header blocks read by this node's sessions
        self.listings = ListingCache()  # and the folder listings they read at SELECT
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
                          max_command_size=self.settings.max_command_size, implementation="postroom")

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


class ImapSession(Session[ImapServer]):
    log = log
    service_name = "imap4"
    internal_error = "* BYE Internal error, ref {ref}.\r\n"
    idle_reply = IDLE_TIMEOUT
    idle_on_bytes = False  # the timeouts count from our last reply, not from any byte received
    need_data, paused = NEED_DATA, PAUSED

    def stopping(self) -> bool:
        return self.service.stopping

    def __init__(self, service: ImapService, implicit_tls: bool, local: str) -> None:
        super().__init__(service.node_name, local, implicit_tls)
        self.service = service
        self.protocol_log = service.protocol_log
        self.counted = False
        self.user: str | None = None  # counted against max_connections_per_user
        self.authenticated = False
        self.engine: MailboxEngine | None = None
        self.idle_task: asyncio.Task[None] | None = None
        self.idle_wake: asyncio.Event | None = None
        self.writable = asyncio.Event()  # cleared while the client does not read our replies
        self.writable.set()
        self.held = 0  # octets of untagged replies not written yet

    def admit(self) -> bool:
        service, settings = self.service, self.service.settings
        service.metrics.connection("imap4")
        service.sessions.add(self)
        service.per_ip[self.remote_ip] += 1
        self.counted = True
        if (len(service.sessions) > settings.max_connections
                or service.per_ip[self.remote_ip] > settings.max_connections_from_single_ip):
            return self.refuse(TOO_MANY_CONNECTIONS)
        self.conn = ImapServer(service.core_config, tls_active=self.implicit_tls,
                               tls_available=service.tls is not None)
        self.timeout = settings.preauthenticated_timeout
        return True

    def log_command(self, line: Any, sasl_response: bool) -> None:
        self._log("<", redact_imap_command(line, sasl_response))

    def log_sent(self, chunk: bytes) -> None:
        # The first line of each reply chunk: never a message's content (it follows a literal's {n}).
        self._log(">", chunk.split(b"\r\n", 1)[0][:200].decode("utf-8", "replace"))

    def pause_writing(self) -> None:
        self.writable.clear()
        super().pause_writing()

    def resume_writing(self) -> None:
        self.writable.set()
        super().resume_writing()

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
            self.spawn(self._start_tls())
        elif isinstance(event, CloseConnection):
            self.ending = self.ending or event.reason
            self.flush()
            self.close()
            return True
        return False

    # login -----------------------------------------------------------------------------
    async def _authenticate(self, event: Authenticate) -> None:
        assert self.conn is not None
        if self.service.guard.blocked(self.remote_ip, event.username) is not None:
            self.refuse_blocked(event.username)  # before any lookup or password check
            return
        failure = await self._check_login(event)
        if isinstance(failure, str):  # BLOCKED: refused before the password was checked
            self.refuse_blocked(event.username)
        elif failure is None:
            assert self.engine is not None
            self.service.guard.succeeded(self.remote_ip)
            self.conn.auth_succeeded()
            self.authenticated = True
            self.timeout = self.service.settings.authenticated_timeout
            self.service.login_event("succeeded", self.remote_ip, self.user or "-")
            self.note(f"authenticated as {self.user}")
        else:
            text, code, reason = failure
            self.conn.auth_failed(text, code)
            self.note(f"authentication failed ({reason})")
            self.service.login_event(f"failed ({reason})", self.remote_ip, event.username[:100])

    async def _check_login(self, event: Authenticate) -> tuple[str, str, str] | str | None:
        service = self.service
        try:
            outcome, mailbox = await verify_login(service.store.find_mailbox, service.authenticator, service.guard,
                                                  "imap4", self.remote_ip, event.username, event.password)
            if outcome == BLOCKED:
                return BLOCKED
            if mailbox is None:
                return BAD_LOGIN, "AUTHENTICATIONFAILED", "bad-credentials"
            # Only now, with the password proven, may the reply say more about the mailbox.
            if not mailbox.enabled:
                return "This mailbox is disabled.", "AUTHORIZATIONFAILED", "mailbox-disabled"
            if not mailbox.imap_enabled:
                return "IMAP4 access is disabled for this mailbox.", "AUTHORIZATIONFAILED", "imap-disabled"
            if event.authzid and event.authzid.lower() != mailbox.address:
                return "Logging in as another user is not allowed.", "AUTHORIZATIONFAILED", "bad-authzid"
            if service.per_user[mailbox.address] >= service.settings.max_connections_per_user:
                return "Too many connections for this mailbox.", "LIMIT", "too-many-connections"
        except PostroomError as exc:
            log.warning("imap4 session %s login unavailable: %s", self.id, exc.message)
            return "The mailbox is not available now, try again later.", "UNAVAILABLE", "temporary"
        service.per_user[mailbox.address] += 1
        self.user = mailbox.address
        store: ImapStore = service.store
        self.engine = MailboxEngine(store, mailbox.id, self._emit, service.notifier, self._pace, service.headers,
                                    service.listings)
        return None

    def refuse_blocked(self, username: str) -> None:
        assert self.conn is not None
        self.conn.auth_failed("Too many failed logins, try again later.", "UNAVAILABLE")
        self.service.login_event("failed (blocked)", self.remote_ip, username[:100])
        self.note("authentication refused (blocked)")
        self.flush()
        self.close()

    async def _start_tls(self) -> None:
        assert self.conn is not None and self.service.tls is not None
        if await self.start_tls(self.service.tls):
            self.conn.tls_started()

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
        if not self.writable.is_set() and not self.ended:
            await self.writable.wait()

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
        """IDLE: the client waits for news; the core reads only DONE meanwhile."""
        self.flush()  # "+ idling"
        self.idle_wake = asyncio.Event()
        self.idle_task = self.loop.create_task(self._idle(self.idle_wake), context=self.log_context)

    async def _idle(self, wake: asyncio.Event) -> None:
        assert self.engine is not None
        notifier, mailbox_id = self.service.notifier, self.engine.mailbox_id
        changed = notifier.watch(mailbox_id)
        try:
            while not wake.is_set() and not self.ended:
                changed.clear()
                try:
                    await self.engine.poll()
                except PostroomError as exc:  # the store is away for a moment: look again later
                    log.warning("imap4 session %s cannot look for changes: %s", self.id, exc.message)
                self.flush()  # what it found goes out now: no tagged reply follows
                waits = [self.loop.create_task(changed.wait()), self.loop.create_task(wake.wait())]
                await asyncio.wait(waits, timeout=POLL_INTERVAL, return_when=asyncio.FIRST_COMPLETED)
                for task in waits:
                    task.cancel()
        except Exception:  # never leak a traceback to the peer: log it under a reference
            self.fail()
        finally:
            notifier.unwatch(mailbox_id, changed)

    async def _idle_done(self, tag: str) -> None:
        assert self.conn is not None
        if self.idle_wake is not None:
            self.idle_wake.set()
        if self.idle_task is not None:
            await asyncio.wait([self.idle_task])
            self.idle_task = self.idle_wake = None
        self.conn.complete(tag, "OK", "IDLE terminated.")

    # cleanup ---------------------------------------------------------------------------
    def released(self) -> None:
        service = self.service
        self.writable.set()  # a FETCH waiting for the client to read goes on (and stops: it is gone)
        if self.idle_task is not None and not self.idle_task.done():
            self.idle_task.cancel()
        if self.counted:
            self.counted = False
            service.sessions.discard(self)
            service.per_ip[self.remote_ip] -= 1
            if service.per_ip[self.remote_ip] <= 0:
                del service.per_ip[self.remote_ip]
        if self.engine is not None:
            self.engine.close()
        if self.user:
            service.per_user[self.user] -= 1
            if service.per_user[self.user] <= 0:
                del service.per_user[self.user]
            self.user = None
