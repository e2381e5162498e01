"""The POP3 service: feeds socket bytes to the sans-IO core and does what its events ask.

One `Pop3Service` per node holds the live settings, TLS context and connection counts;
each connection is a `Pop3Session` (an asyncio.Protocol). Settings changes apply to new
connections at once; existing sessions keep the rules they started with. A session that ends
without a login tells the service's `on_session_end` what it did and why (pop3_trail.py).
"""
from __future__ import annotations

import logging
import ssl
from collections import Counter
from typing import Any, Callable

from ..activity import Activity
from ..auth import Authenticator
from ..errors import NotFound, PostroomError
from ..lockout import BLOCKED, AbuseGuard, verify_login
from ..model import LoginType, PopSettings, SortOrder
from ..protocol.pop3 import (
    NEED_DATA, PAUSED, Authenticate, AuthFailure, CloseConnection, Commit, LoginRefused, Pop3Config, Pop3Server,
    Retrieve, StartTls,
)
from ..storage import MailStore
from .evidence import SessionEnd, report_login
from .metrics import Metrics
from .pop3_trail import Trail
from .protocol_log import POP3_LOGGED, POP3_MASKED, ProtocolLog
from .session import Session

log = logging.getLogger("postroom.pop3")
TOO_MANY_CONNECTIONS = b"-ERR [SYS/TEMP] Too many connections, try again later.\r\n"
IDLE_TIMEOUT = b"-ERR Disconnected for inactivity.\r\n"
_BLOCKED = object()  # _check_login's answer for a login refused before its password was checked


class Pop3Service:
    """State shared by every POP3 connection of this node."""

    def __init__(self, store: MailStore, authenticator: Authenticator, node_name: str,
                 on_login: Callable[[str, str, str, str], None] | None = None,
                 activity: Activity | None = None,
                 on_session_end: Callable[[SessionEnd], None] | None = None) -> None:
        self.store = store
        self.authenticator = authenticator
        self.node_name = node_name
        self.activity = activity  # the node's counters for the dashboard
        self.settings = PopSettings()
        self.tls: ssl.SSLContext | None = None
        self.protocol_log: ProtocolLog | None = None
        self.sessions: set[Pop3Session] = set()
        self.per_ip: Counter[str] = Counter()
        self.per_user: Counter[str] = Counter()
        self.on_login = on_login  # (result, service, remote ip, mailbox) for evidence/metrics
        self.on_session_end = on_session_end  # a session that ended without a login, for evidence
        self.stopping = False  # the node is shutting down: sessions are being drained
        self.mailbox_changed: Callable[[list[int]], None] = lambda ids: None  # wakes IMAP4 IDLE (the node's)
        self.guard = AbuseGuard()  # the node shares its own with SMTP
        self.metrics = Metrics()  # the node shares its own with SMTP and the admin service
        self.core_config = self._core_config()

    def configure(self, settings: PopSettings, tls: ssl.SSLContext | None, protocol_log: ProtocolLog | None) -> None:
        self.settings = settings
        self.tls = tls
        if self.protocol_log is not protocol_log and self.protocol_log is not None:
            self.protocol_log.close()
        self.protocol_log = protocol_log
        self.core_config = self._core_config()

    def _core_config(self) -> Pop3Config:
        return Pop3Config(
            login_type=self.settings.login_type,
            banner=self.settings.banner,
            max_command_size=self.settings.max_command_size,
            implementation="postroom",
        )

    def protocol_factory(self, implicit_tls: bool, local: str) -> Callable[[], "Pop3Session"]:
        return lambda: Pop3Session(self, implicit_tls, local)

    def close_sessions(self) -> None:
        for session in list(self.sessions):
            session.abort()

    def drain_sessions(self) -> None:
        """Shutting down: idle sessions get -ERR [SYS/TEMP] now (DELE marks are not applied),
        a RETR or QUIT being answered finishes first."""
        self.stopping = True
        for session in list(self.sessions):
            session.drain()

    def login_event(self, result: str, remote: str, user: str) -> None:
        report_login(log, self.on_login, "pop3", result, remote, user, self.activity, self.metrics)


class Pop3Session(Session[Pop3Server]):
    log = log
    service_name = "pop3"
    internal_error = "-ERR [SYS/TEMP] Internal error, ref {ref}.\r\n"
    idle_reply = IDLE_TIMEOUT
    blocked_refusal = AuthFailure.TEMPORARY
    idle_on_bytes = False  # the timeouts count from the last complete command, not any byte
    need_data, paused = NEED_DATA, PAUSED
    logged_verbs, masked_verbs = POP3_LOGGED, POP3_MASKED

    def stopping(self) -> bool:
        return self.service.stopping

    def __init__(self, service: Pop3Service, implicit_tls: bool, local: str) -> None:
        super().__init__(service.node_name, local, implicit_tls)
        self.service = service
        self.protocol_log = service.protocol_log
        self.counted = False
        self.user: str | None = None  # counted against max_connections_per_user
        self.locked_mailbox: int | None = None
        self.authenticated = False
        self.maildrop: list[Any] = []
        self.trail = Trail()  # what it did before a login, for evidence if it ends without one
        self.end_reported = False

    def admit(self) -> bool:
        service, settings = self.service, self.service.settings
        service.metrics.connection("pop3")
        service.sessions.add(self)
        service.per_ip[self.remote_ip] += 1
        self.counted = True
        if (len(service.sessions) > settings.max_connections
                or service.per_ip[self.remote_ip] > settings.max_connections_from_single_ip):
            return self.refuse(TOO_MANY_CONNECTIONS)
        self.conn = Pop3Server(service.core_config, tls_active=self.implicit_tls,
                               tls_available=service.tls is not None)
        self.timeout = settings.preauthenticated_timeout
        self.authenticated_timeout = settings.authenticated_timeout
        return True

    def command_observer(self) -> Callable[[Any, bool], None] | None:
        """Before a login, each command's verb goes to the trail too (and to the protocol log)."""
        logged = super().command_observer()
        if self.authenticated:
            return logged
        trail = self.trail.command
        if logged is None:
            return trail
        log_line: Callable[[Any, bool], None] = logged

        def both(line: Any, sasl_response: bool) -> None:
            trail(line, sasl_response)
            log_line(line, sasl_response)
        return both

    def data_received(self, data: bytes) -> None:
        if not self.trail.first_octets:
            self.trail.received(data)
        super().data_received(data)

    def log_sent(self, chunk: bytes) -> None:
        if chunk[:1] in (b"+", b"-"):
            self._log(">", chunk.split(b"\r\n", 1)[0].decode("utf-8", "replace"))

    def handle(self, event: Any) -> bool:
        if isinstance(event, Retrieve):
            self.spawn(self._retrieve(event))
        elif isinstance(event, Authenticate):
            self.spawn(self._authenticate(event))
        elif isinstance(event, Commit):
            self.spawn(self._commit(event))
        elif isinstance(event, StartTls):
            self.flush()
            self.spawn(self._start_tls())
        elif isinstance(event, LoginRefused):  # answered here, maybe outside an answering task: name the session
            self.trail.login_refused(event.reason, event.username)
            self.in_log_context(self.service.login_event, f"refused ({event.reason})", self.remote_ip,
                                event.username or "-")
        elif isinstance(event, CloseConnection):
            self.ending = self.ending or event.reason
            self.flush()
            self.close()
            return True
        return False

    # event handlers ------------------------------------------------------------------
    async def _authenticate(self, event: Authenticate) -> None:
        assert self.conn is not None
        if self.service.guard.blocked(self.remote_ip, event.username) is not None:
            self.refuse_blocked(event.username)  # before any lookup or password check
            return
        failure = await self._check_login(event)
        if failure is _BLOCKED:
            self.refuse_blocked(event.username)
        elif failure is None:
            self.service.guard.succeeded(self.remote_ip)
            self.conn.auth_succeeded(self.maildrop)
            self.authenticated = True
            self.conn.observer = self.command_observer()  # the trail is done with
            self.timeout = self.authenticated_timeout
            self.service.login_event("succeeded", self.remote_ip, self.user or "-")
            self.note(f"authenticated as {self.user}")
        else:
            assert isinstance(failure, AuthFailure)
            self.conn.auth_failed(failure)
            reason = failure.name.lower().replace("_", "-")
            self.trail.login_failed(reason, event.username)
            self.note(f"authentication failed ({reason})")
            self.service.login_event(f"failed ({reason})", self.remote_ip, event.username[:100])

    async def _check_login(self, event: Authenticate) -> AuthFailure | object | None:
        service = self.service
        try:
            outcome, mailbox = await verify_login(service.store.find_mailbox, service.authenticator, service.guard,
                                                  "pop3", self.remote_ip, event.username, event.password)
            if outcome == BLOCKED:
                return _BLOCKED
            if mailbox is None:
                return AuthFailure.BAD_CREDENTIALS
            # Only now, with the password proven, may the reply say more about the mailbox.
            if not mailbox.enabled:
                return AuthFailure.MAILBOX_DISABLED
            if not mailbox.pop_enabled:
                return AuthFailure.POP_DISABLED
            if service.per_user[mailbox.address] >= service.settings.max_connections_per_user:
                return AuthFailure.TOO_MANY_CONNECTIONS
            if not await service.store.try_lock_mailbox(mailbox.id, self.id):
                return AuthFailure.IN_USE
            self.locked_mailbox = mailbox.id
            messages = await service.store.list_messages(mailbox.id)
        except PostroomError as exc:
            log.warning("pop3 session %s login unavailable: %s", self.id, exc.message)
            await self._unlock()
            return AuthFailure.TEMPORARY
        service.per_user[mailbox.address] += 1
        self.user = mailbox.address
        if service.settings.sort_order == SortOrder.DESCENDING:
            messages.reverse()
        self.maildrop = messages
        return None

    async def _retrieve(self, event: Retrieve) -> None:
        assert self.conn is not None and self.locked_mailbox is not None
        try:
            data = await self.service.store.read_message(self.locked_mailbox, event.message_id)
        except PostroomError as exc:
            log.warning("pop3 session %s cannot read message %s: %s", self.id, event.message_id, exc.message)
            self.conn.message_failed(permanent=isinstance(exc, NotFound))
            return
        if event.top_lines is None:  # RETR (TOP sends a part)
            self.service.metrics.retrieved(len(data))
        self.conn.message_content(data)

    async def _commit(self, event: Commit) -> None:
        assert self.conn is not None
        ok = True
        if event.delete_ids and self.locked_mailbox is not None:
            try:
                await self.service.store.delete_messages(self.locked_mailbox, event.delete_ids)
                self.service.mailbox_changed([self.locked_mailbox])  # an expunge for IMAP4 sessions
            except PostroomError as exc:
                log.warning("pop3 session %s could not apply deletions: %s", self.id, exc.message)
                ok = False
        await self._unlock()
        self.conn.update_done(ok)

    async def _start_tls(self) -> None:
        assert self.conn is not None and self.service.tls is not None
        client_left = self.transport is None
        if await self.start_tls(self.service.tls):
            self.conn.tls_started()
        elif not client_left:
            self.trail.tls_failed = True

    def refuse_blocked(self, username: str) -> None:
        self.trail.login_failed("blocked", username)
        super().refuse_blocked(username)

    # cleanup ---------------------------------------------------------------------------
    def _report_end(self) -> None:
        """Once, at the end, for a session that never logged in: why, for the doctor."""
        self.end_reported = True
        listener = self.service.on_session_end
        if listener is None or self.authenticated or self.service.stopping:
            return
        conn = self.conn
        tls = "ssl" if self.implicit_tls else "stls" if conn is not None and conn.tls_active else "none"
        needs_tls = conn is not None and conn.config.login_type is not LoginType.PLAIN_TEXT_LOGIN
        reason = self.trail.reason(admitted=conn is not None, tls=tls, login_needs_tls=needs_tls,
                                   ending=self.ending or "disconnected")
        if reason is not None:
            listener(SessionEnd(self.remote_ip or "?", self.local, tls, reason, self.trail.commands,
                                self.trail.mailbox))

    def released(self) -> None:
        service = self.service
        if not self.end_reported and not self.answering and self.ended:
            self._report_end()
        if self.counted:
            self.counted = False
            service.sessions.discard(self)
            service.per_ip[self.remote_ip] -= 1
            if service.per_ip[self.remote_ip] <= 0:
                del service.per_ip[self.remote_ip]
        if self.user:
            service.per_user[self.user] -= 1
            if service.per_user[self.user] <= 0:
                del service.per_user[self.user]
            self.user = None
        if self.locked_mailbox is not None and not self.answering:
            self.loop.create_task(self._unlock(), context=self.log_context)

    async def _unlock(self) -> None:
        mailbox, self.locked_mailbox = self.locked_mailbox, None
        if mailbox is not None:
            try:
                await self.service.store.unlock_mailbox(mailbox, self.id)
            except PostroomError as exc:
                log.warning("pop3 session %s could not release its mailbox lock: %s", self.id, exc.message)
