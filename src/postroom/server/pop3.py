"""The POP3 service: feeds socket bytes to the sans-IO core and does what its events ask.

One `Pop3Service` per node holds the live settings, TLS context and connection counts;
each connection is a `Pop3Session` (an asyncio.Protocol). Settings changes apply to new
connections at once; existing sessions keep the rules they started with. The login, the
connection counts and the evidence of a session that ends without a login (the service's
`on_session_end`) are IMAP4's too (server/login.py); POP3 adds its replies, its mailbox lock
and the maildrop.
"""
from __future__ import annotations

import logging
import ssl
from collections import Counter
from typing import Any, Callable

from ..activity import Activity
from ..auth import Authenticator
from ..errors import NotFound, PostroomError
from ..lockout import BLOCKED, AbuseGuard
from ..model import Mailbox, PopSettings, SortOrder
from ..protocol.pop3 import (
    NEED_DATA, PAUSED, Authenticate, AuthFailure, CloseConnection, Commit, LoginRefused, Pop3Config, Pop3Server,
    Retrieve, StartTls,
)
from ..storage import MailStore
from .evidence import SessionEnd, report_login
from .login import ClientAccessSession
from .metrics import Metrics
from .protocol_log import POP3_LOGGED, POP3_MASKED, ProtocolLog
from .trail import Pop3Trail

log = logging.getLogger("postroom.pop3")
TOO_MANY_CONNECTIONS = b"-ERR [SYS/TEMP] Too many connections, try again later.\r\n"
IDLE_TIMEOUT = b"-ERR Disconnected for inactivity.\r\n"


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


class Pop3Session(ClientAccessSession[Pop3Server]):
    log = log
    service_name = "pop3"
    internal_error = "-ERR [SYS/TEMP] Internal error, ref {ref}.\r\n"
    idle_reply = IDLE_TIMEOUT
    too_many_connections = TOO_MANY_CONNECTIONS
    feature = ("pop_enabled", AuthFailure.POP_DISABLED.value)
    trail_type = Pop3Trail
    idle_on_bytes = False  # the timeouts count from the last complete command, not any byte
    need_data, paused = NEED_DATA, PAUSED
    logged_verbs, masked_verbs = POP3_LOGGED, POP3_MASKED
    service: Pop3Service

    def __init__(self, service: Pop3Service, implicit_tls: bool, local: str) -> None:
        super().__init__(service, implicit_tls, local)
        self.locked_mailbox: int | None = None
        self.maildrop: list[Any] = []

    def make_core(self) -> Pop3Server:
        return Pop3Server(self.service.core_config, tls_active=self.implicit_tls,
                          tls_available=self.service.tls is not None)

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
            self.spawn(self.start_tls_answer())
        elif isinstance(event, LoginRefused):
            self.login_refused(event.reason, event.username)
        elif isinstance(event, CloseConnection):
            self.ending = self.ending or event.reason
            self.flush()
            self.close()
            return True
        return False

    # login (server/login.py): POP3's replies, and its mailbox lock and maildrop ---------------
    def answer_success(self) -> None:
        assert self.conn is not None
        self.conn.auth_succeeded(self.maildrop)

    def answer_failure(self, reason: str) -> None:
        assert self.conn is not None
        self.conn.auth_failed(AuthFailure.TEMPORARY if reason == BLOCKED else reason)

    async def open_mailbox(self, mailbox: Mailbox) -> str | None:
        if not await self.service.store.try_lock_mailbox(mailbox.id, self.id):
            return AuthFailure.IN_USE.value
        self.locked_mailbox = mailbox.id
        messages = await self.service.store.list_messages(mailbox.id)
        if self.service.settings.sort_order == SortOrder.DESCENDING:
            messages.reverse()
        self.maildrop = messages
        return None

    async def close_mailbox(self) -> None:
        await self._unlock()

    # event handlers ------------------------------------------------------------------
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
                # an expunge for IMAP4 sessions: the store tells the node's (storage/changes.py)
                await self.service.store.delete_messages(self.locked_mailbox, event.delete_ids)
            except PostroomError as exc:
                log.warning("pop3 session %s could not apply deletions: %s", self.id, exc.message)
                ok = False
        await self._unlock()
        self.conn.update_done(ok)

    # cleanup ---------------------------------------------------------------------------
    def released(self) -> None:
        super().released()
        if self.locked_mailbox is not None and not self.answering:
            self.loop.create_task(self._unlock(), context=self.log_context)

    async def _unlock(self) -> None:
        mailbox, self.locked_mailbox = self.locked_mailbox, None
        if mailbox is not None:
            try:
                await self.service.store.unlock_mailbox(mailbox, self.id)
            except PostroomError as exc:
                log.warning("pop3 session %s could not release its mailbox lock: %s", self.id, exc.message)
