"""What the POP3 and IMAP4 sessions share (the Client Access protocols): the connection counts
(in total, per source, per mailbox), the login and its bookkeeping, and the evidence of a
session that ends without a login.

The login: a blocked source or name is refused before any lookup; then `verify_login` (the
password, through the guard and the credential cache), the mailbox's checks (enabled, the
protocol's feature, the protocol's own: IMAP4's authorization identity), the per-user limit and
the protocol's opening of the mailbox (POP3: its lock and maildrop). Every outcome is a login
event (the fail2ban line, metrics, the doctor's refused logins) and, refused, a reason the
protocol maps to its own reply (`answer_failure`). A login the core refused itself (TLS
required) arrives as its `LoginRefused` event (`login_refused`).

Before a login each command's verb goes to the session's `Trail` (server/trail.py); a session
that ends without a login tells the service's `on_session_end` what it did and why (`SessionEnd`).
"""
from __future__ import annotations

from abc import abstractmethod
from typing import Any, Callable, Protocol, TypeVar

from ..errors import PostroomError
from ..lockout import BLOCKED, verify_login
from ..model import LoginType, Mailbox
from .evidence import SessionEnd
from .session import Session
from .session_types import ServerCore
from .trail import Trail


class AccessCore(ServerCore, Protocol):
    """What the shared code needs of a POP3 or IMAP4 core besides a session's."""

    tls_active: bool
    config: Any  # its login_type

    def tls_started(self) -> None: ...


C = TypeVar("C", bound=AccessCore)


class ClientAccessSession(Session[C]):
    """A POP3 or IMAP4 session. Subclasses set `too_many_connections` (the refusal at connect),
    `feature` (the Mailbox field that enables the protocol, and the refusal's reason when it is
    off) and `trail_type`, and implement `make_core`, `answer_success` and `answer_failure`."""

    too_many_connections = b""
    feature = ("", "")  # e.g. ("pop_enabled", "pop-disabled")
    trail_type: type[Trail]  # the protocol's (Pop3Trail, ImapTrail)

    def __init__(self, service: Any, implicit_tls: bool, local: str) -> None:
        super().__init__(service.node_name, local, implicit_tls)
        self.service = service
        self.protocol_log = service.protocol_log
        self.counted = False
        self.user: str | None = None  # counted against max_connections_per_user
        self.authenticated = False
        self.trail = self.trail_type()  # what it did before a login, for evidence if it ends without one
        self.end_reported = False

    def stopping(self) -> bool:
        return bool(self.service.stopping)

    # connection ----------------------------------------------------------------------
    @abstractmethod
    def make_core(self) -> C:
        """The protocol's core for this connection (admitted)."""

    def admit(self) -> bool:
        service, settings = self.service, self.service.settings
        service.metrics.connection(self.service_name)
        service.sessions.add(self)
        service.per_ip[self.remote_ip] += 1
        self.counted = True
        if (len(service.sessions) > settings.max_connections
                or service.per_ip[self.remote_ip] > settings.max_connections_from_single_ip):
            return self.refuse(self.too_many_connections)
        self.conn = self.make_core()
        self.timeout = settings.preauthenticated_timeout
        self.authenticated_timeout = settings.authenticated_timeout  # the rules it started with
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

    # login -----------------------------------------------------------------------------
    @abstractmethod
    def answer_success(self) -> None:
        """Tell the core the login succeeded (the mailbox is open: `open_mailbox` ran)."""

    @abstractmethod
    def answer_failure(self, reason: str) -> None:
        """Tell the core the login was refused, in the protocol's words for `reason`
        (bad-credentials, blocked, mailbox-disabled, the feature's, too-many-connections,
        temporary, or one of `mailbox_refusal`'s and `open_mailbox`'s)."""

    def mailbox_refusal(self, mailbox: Mailbox, event: Any) -> str | None:
        """Why the mailbox whose password this is may not log in now, or None."""
        if not mailbox.enabled:
            return "mailbox-disabled"
        field, refusal = self.feature
        return None if getattr(mailbox, field) else refusal

    async def open_mailbox(self, mailbox: Mailbox) -> str | None:
        """The last step (store I/O allowed): why the login is refused after all, or None."""
        return None

    async def close_mailbox(self) -> None:
        """Undo `open_mailbox` after a store failure."""

    async def _authenticate(self, event: Any) -> None:
        if self.service.guard.blocked(self.remote_ip, event.username) is not None:
            self.refuse_blocked(event.username)  # before any lookup or password check
            return
        refusal = await self._check_login(event)
        if refusal == BLOCKED:  # refused before its password was checked
            self.refuse_blocked(event.username)
        elif refusal is not None:
            self._login_failed(refusal, event.username)
        else:
            assert self.conn is not None
            self.service.guard.succeeded(self.remote_ip)
            self.answer_success()
            self.authenticated = True
            self.conn.observer = self.command_observer()  # the trail is done with
            self.timeout = self.authenticated_timeout
            self.service.login_event("succeeded", self.remote_ip, self.user or "-")
            self.note(f"authenticated as {self.user}")

    async def _check_login(self, event: Any) -> str | None:
        """None when the mailbox is this session's now (counted per user), else why not."""
        service = self.service
        try:
            outcome, mailbox = await verify_login(service.store.find_mailbox, service.authenticator, service.guard,
                                                  self.service_name, self.remote_ip, event.username, event.password)
            if outcome == BLOCKED:
                return BLOCKED
            if mailbox is None:
                return "bad-credentials"
            # Only now, with the password proven, may the reply say more about the mailbox.
            refusal = self.mailbox_refusal(mailbox, event)
            if refusal is None and service.per_user[mailbox.address] >= service.settings.max_connections_per_user:
                refusal = "too-many-connections"
            refusal = refusal or await self.open_mailbox(mailbox)
            if refusal is not None:
                return refusal
        except PostroomError as exc:
            self.log.warning("%s session %s login unavailable: %s", self.service_name, self.id, exc.message)
            await self.close_mailbox()
            return "temporary"
        service.per_user[mailbox.address] += 1
        self.user = mailbox.address
        return None

    def _login_failed(self, reason: str, username: str) -> None:
        self.answer_failure(reason)
        self.trail.login_failed(reason, username)
        self.note(f"authentication {'refused' if reason == BLOCKED else 'failed'} ({reason})")
        self.service.login_event(f"failed ({reason})", self.remote_ip, username[:100])

    def refuse_blocked(self, username: str) -> None:
        """The source or the name is blocked, or has as many failures and checks in flight as
        its threshold: a temporary refusal that says nothing about the mailbox, then close."""
        self._login_failed(BLOCKED, username)
        self.flush()
        self.close()

    def login_refused(self, reason: str, username: str | None) -> None:
        """The core refused a login itself (its LoginRefused: TLS required) and answered it:
        evidence, the fail2ban line and the metric. Maybe outside an answering task: in the
        session's log context."""
        self.trail.login_refused(reason, username)
        self.in_log_context(self.service.login_event, f"refused ({reason})", self.remote_ip, username or "-")

    async def start_tls_answer(self) -> None:
        """STLS/STARTTLS was answered: upgrade, and tell the core (or the trail, if it failed)."""
        assert self.conn is not None and self.service.tls is not None
        client_left = self.transport is None
        if await self.start_tls(self.service.tls):
            self.conn.tls_started()
        elif not client_left:
            self.trail.tls_failed = True

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
            listener(SessionEnd(self.service_name, self.remote_ip or "?", self.local, tls, reason,
                                self.trail.commands, self.trail.mailbox))

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
