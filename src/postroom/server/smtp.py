"""The SMTP service: receive connectors on this node, feeding sessions to the sans-IO core.

Each listening IP:port may carry several connectors; a new connection gets the enabled
connector on that binding whose remote IP ranges hold the client's address most
specifically (Exchange's rule). The connector decides everything about the session: TLS,
AUTH, who may send, limits, timeouts, banner and FQDN. Settings changes apply to new
connections at once; sessions keep the rules they started with.

Submission policy (server/submission.py, protocol/_smtp_policy.py): an authenticated session
may send only as its mailbox and the mailbox's send-as grants (the core checks MAIL FROM and
the header From), within the node's per-mailbox rate limits (reserved at MAIL and RCPT,
counted once stored); every message is refused beyond the hop limit.

DSN (RFC 3461): the core parses RET, ENVID, NOTIFY and ORCPT; remote recipients are queued with
them (the worker honours them), and a local mailbox recipient with NOTIFY=SUCCESS gets its
sender a "delivered" report once the message is stored (`outbound.success`).
"""
from __future__ import annotations

import ipaddress
import logging
from collections import Counter
from typing import Any, Callable, Sequence

from ..activity import Activity
from ..auth import Authenticator
from ..errors import PostroomError, ValidationError
from ..lockout import BLOCKED, AbuseGuard, verify_login
from ..model import (
    Mailbox, PermissionGroup, SendConnector, normalise_address, route,
)
from ..protocol.smtp import (
    NEED_DATA, PAUSED, RELAY_DENIED, RELAY_NOT_PERMITTED, TEMPORARY_FAILURE,
    UNKNOWN_MAILBOX, Authenticate, AuthFailure, CheckRecipient, CheckSender, CloseConnection, Deliver, Reply, SendAs,
    SmtpServer, StartTls, State,
)
from ..storage import DeliveryStore
from . import delivery
from .evidence import report_login
from .metrics import Metrics
from .outbound.hops import HopDeliveries
from .protocol_log import SMTP_LOGGED
from .smtp_connectors import CLIENT_CACHE_SIZE, ConnectorRuntime
from .smtp_delivery import SmtpDelivery
from .spool import SPOOL_THRESHOLD, Spool
from .submission import SubmissionLimits, SubmissionQuota, Ticket

log = logging.getLogger("postroom.smtp")
TOO_MANY_CONNECTIONS = b"421 4.7.0 Too many connections, try again later\r\n"
NO_CONNECTOR = b"554 5.7.1 This server accepts no mail from your address\r\n"
OUTSIDE_TRANSACTION = frozenset({State.CONNECTED, State.READY, State.CLOSED})


class SmtpService:
    """State shared by every SMTP connection of this node."""

    def __init__(self, store: DeliveryStore, authenticator: Authenticator, node_name: str,
                 on_login: Callable[[str, str, str, str], None] | None = None,
                 activity: Activity | None = None, spool_dir: str | None = None) -> None:
        self.store = store
        # Where content past SPOOL_THRESHOLD goes while it arrives (server/spool.py); None
        # (embedded uses without a data directory): held in memory, however big.
        self.spool_dir = spool_dir
        self.authenticator = authenticator
        self.node_name = node_name
        self.activity = activity  # the node's counters for the dashboard
        self.routes: dict[str, list[ConnectorRuntime]] = {}  # binding -> connectors on it
        self.chosen: dict[tuple[str, str], ConnectorRuntime | None] = {}  # (binding, client ip) -> choice
        self.recipients = delivery.Recipients(store)
        self.sessions: set[SmtpSession] = set()
        self.per_connector: Counter[str] = Counter()
        self.per_source: Counter[tuple[str, str]] = Counter()
        self.on_login = on_login
        self.stopping = False  # the node is shutting down: sessions are being drained
        self.guard = AbuseGuard()  # the node shares its own with POP3
        self.metrics = Metrics()  # the node shares its own with POP3 and the admin service
        # Per-mailbox submission rate limits; the node installs this server's limits (set_limits).
        self.quota = SubmissionQuota()
        # Outbound: the send connectors that route remote domains, and the node's delivery
        # worker (told when mail was queued); the node installs both.
        self.send_connectors: Sequence[SendConnector] = ()
        self.outbound: Any = None
        self.reports: Any = None  # outbound.reports_queue.ReportSender: success reports (NOTIFY=SUCCESS)

    @property
    def limits(self) -> SubmissionLimits:
        return self.quota.limits

    def set_limits(self, limits: SubmissionLimits) -> None:
        """Install this server's submission limits: rates apply to the next MAIL/RCPT at once;
        the hop limit to connectors configured after this (the node calls it before building
        its connector runtimes with `core_config(..., limits.max_hop_count)`)."""
        self.quota.configure(limits)

    def configure(self, runtimes: list[ConnectorRuntime], domains: list[str]) -> None:
        routes: dict[str, list[ConnectorRuntime]] = {}
        for runtime in runtimes:
            for binding in runtime.connector.bindings:
                routes.setdefault(binding, []).append(runtime)
        self.routes = routes
        self.chosen = {}
        self.recipients.reset(domains)

    def choose(self, binding: str, remote_ip: str) -> ConnectorRuntime | None:
        """The connector for a client on `binding` (remembered per binding and address until
        the connectors change: a busy client does not re-parse its address every connection)."""
        key = (binding, remote_ip)
        if key in self.chosen:
            return self.chosen[key]
        if len(self.chosen) >= CLIENT_CACHE_SIZE:
            self.chosen.clear()
        runtime = self.chosen[key] = self._choose(binding, remote_ip)
        return runtime

    def _choose(self, binding: str, remote_ip: str) -> ConnectorRuntime | None:
        try:
            ip = ipaddress.ip_address(remote_ip)
        except ValueError:
            return None
        if ip.version == 6 and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        best, best_size = None, None
        for runtime in self.routes.get(binding, ()):
            size = runtime.specificity(ip)
            if size is not None and (best_size is None or size < best_size):
                best, best_size = runtime, size
        return best

    def protocol_factory(self, binding: str) -> Callable[[], "SmtpSession"]:
        return lambda: SmtpSession(self, binding)

    def close_sessions(self, connector: str | None = None) -> None:
        for session in list(self.sessions):
            if connector is None or (session.runtime and session.runtime.name == connector):
                session.abort()

    def drain_sessions(self) -> None:
        """Shutting down: idle sessions get 421 4.3.2 now, the others after what is in flight."""
        self.stopping = True
        for session in list(self.sessions):
            session.drain()

    def login_event(self, result: str, remote: str, user: str) -> None:
        report_login(log, self.on_login, "smtp", result, remote, user, metrics=self.metrics)


class SmtpSession(SmtpDelivery):
    log = log
    service_name = "smtp"
    internal_error = "451 4.3.0 Internal error, ref {ref}; try again later\r\n"
    idle_reply = b"421 4.4.2 Connection timed out, closing connection\r\n"
    blocked_refusal = AuthFailure.TEMPORARY
    need_data, paused = NEED_DATA, PAUSED
    takes_content = True
    logged_verbs = SMTP_LOGGED

    def stopping(self) -> bool:
        return self.service.stopping

    def __init__(self, service: SmtpService, binding: str) -> None:
        super().__init__(service.node_name, binding)
        self.service = service
        self.runtime: ConnectorRuntime | None = None
        self.counted = False
        self.user: str | None = None
        self.resolved: dict[str, Mailbox] = {}  # RCPT address -> mailbox, for the transaction
        # RCPT address as sent -> (the address queued, the queue (next hop) it goes to)
        self.relayed: dict[str, tuple[str, str]] = {}
        self.ticket: Ticket | None = None  # the transaction's rate-limit reservations (authenticated)
        self.spool: Spool | None = None  # the start of the message being received, once it spools

    def admit(self) -> bool:
        service = self.service
        service.metrics.connection("smtp")
        self.runtime = runtime = service.choose(self.local, self.remote_ip)
        if runtime is None:
            return self.refuse(NO_CONNECTOR)
        connector = runtime.connector
        self.protocol_log = runtime.protocol_log
        self._log("+", "")  # known only now: which connector (and so which log) the session is on
        service.sessions.add(self)
        service.per_connector[connector.name] += 1
        service.per_source[(connector.name, self.remote_ip)] += 1
        self.counted = True
        if (service.per_connector[connector.name] > connector.max_inbound_connections
                or service.per_source[(connector.name, self.remote_ip)] > connector.max_inbound_connections_per_source):
            return self.refuse(TOO_MANY_CONNECTIONS)
        self.conn = SmtpServer(runtime.config_for(self.remote_ip))
        self.timeout = connector.connection_inactivity_timeout
        self.deadline = self.loop.time() + connector.connection_timeout
        return True

    def log_sent(self, chunk: bytes) -> None:
        for line in chunk.decode("utf-8", "replace").splitlines():
            self._log(">", line[:200])

    def handle(self, event: Any) -> bool:
        if isinstance(event, CheckSender):
            self._check_sender(event)
        elif isinstance(event, CheckRecipient):
            self.spawn(self._check_recipient(event))
        elif isinstance(event, Deliver):
            spool, self.spool = self.spool, None
            if spool is not None and not spool.size:  # nothing was written to it
                spool.remove()
                spool = None
            if (spool.size if spool is not None else 0) != event.spooled:  # never store a part of a message
                if spool is not None:
                    spool.remove()
                raise RuntimeError(f"spooled {spool.size if spool else 0} octets, the message says {event.spooled}")
            self.spawn(self._deliver(event, self.loop.time(), spool))  # end of DATA: the latency starts
        elif isinstance(event, Authenticate):
            self.spawn(self._authenticate(event))
        elif isinstance(event, StartTls):
            self.flush()
            self.spawn(self._start_tls())
        elif isinstance(event, CloseConnection):
            self.flush()
            self.close()
            return True
        return False

    # spooling ------------------------------------------------------------------------
    def pump(self) -> None:
        super().pump()
        conn = self.conn
        if self.ticket is not None and conn is not None and conn.state in OUTSIDE_TRANSACTION:
            self._release_ticket()  # the transaction ended without a stored message (RSET, a refusal)
        if (conn is not None and self.service.spool_dir is not None
                and (self.spool is not None or conn.content_held > SPOOL_THRESHOLD)):
            try:
                self._spool_content()
            except Exception:  # a bug: answer with a reference, never leak a traceback
                self.fail()

    def _spool_content(self) -> None:
        """Past the threshold, hand the finished start of the content to the spool file; one
        write at a time, and no reading while the next piece waits for it."""
        conn, spool = self.conn, self.spool
        assert conn is not None
        if spool is not None and spool.size != conn.content_taken:  # that message is gone (RSET, 552, ...)
            spool.remove()
            self.spool = spool = None
        held = conn.content_held
        if self.ended or held <= SPOOL_THRESHOLD:
            self.hold_input = False
        elif spool is not None and spool.writing:
            self.hold_input = True
        else:
            if spool is None:
                spool = self.spool = Spool(self.service.spool_dir)
            piece = conn.take_content()
            if piece:
                spool.write(piece, self._spool_written)
            self.hold_input = False
        self._update_reading()

    def _spool_written(self) -> None:
        if not self.ended and self.conn is not None:
            self.pump()

    # event handlers ------------------------------------------------------------------
    def _check_sender(self, event: CheckSender) -> None:
        """MAIL of an authenticated session (its ownership checked by the core): reserve the
        message against the mailbox's rate limits, in this one synchronous step."""
        assert self.conn is not None and self.user is not None
        self._release_ticket()  # the previous transaction ended without a stored message
        outcome = self.service.quota.begin(self.user)
        if isinstance(outcome, Ticket):
            self.ticket = outcome
            self.conn.sender_accepted()
            return
        self._rate_limited(outcome)
        self.conn.sender_rejected(outcome)

    def _reserve_recipient(self) -> Reply | None:
        """Count a recipient about to be accepted against the mailbox's rate limits: None, or
        the 450 4.7.0 to answer. Call it with no await between it and the answer (atomic);
        every recipient an authenticated session may get accepted goes through it."""
        if self.ticket is None:  # an anonymous session: no per-mailbox limits
            return None
        refused = self.service.quota.add_recipient(self.ticket)
        if refused is not None:
            self._rate_limited(refused)
        return refused

    def _rate_limited(self, refusal: Reply) -> None:
        text = refusal.to_bytes().decode().strip()[:200]
        log.info("smtp session %s from %s: %s", self.id, self.remote_ip, text)
        self.note(f"rate limited: {text}")

    async def _check_recipient(self, event: CheckRecipient) -> None:
        assert self.conn is not None
        try:
            found = await self.service.recipients.resolve(event.address)
        except PostroomError as exc:
            log.warning("smtp session %s cannot look up %s: %s", self.id, event.address[:100], exc.message)
            self.conn.recipient_rejected(TEMPORARY_FAILURE)
            return
        if isinstance(found, Mailbox):
            refused = self._reserve_recipient()
            if refused is not None:
                self.conn.recipient_rejected(refused)
                return
            self.resolved[event.address] = found
            self.conn.recipient_accepted()
            return
        reply = self._relay(event.address, found[6:]) if found.startswith("relay:") else UNKNOWN_MAILBOX
        if reply is None:
            self.conn.recipient_accepted()
            return
        self.conn.recipient_rejected(reply)
        self._track_failure(event.sender, event.address, reply)

    def _relay(self, address: str, domain: str) -> Reply | None:
        """A recipient in a domain we do not accept: queued for a send connector if this session
        may relay (None), else the refusal. Never an open relay: only a logged-in session on a
        connector with the `users` group, or a client of an `anonymous-relay` connector (its
        remote IP ranges are the application servers an admin listed), may relay."""
        assert self.runtime is not None
        groups = self.runtime.connector.permission_groups
        allowed = (PermissionGroup.USERS.value in groups if self.user is not None
                   else PermissionGroup.ANONYMOUS_RELAY.value in groups)
        if not allowed:
            return RELAY_NOT_PERMITTED(domain)
        try:
            original, address = address, normalise_address(address).lower()
        except ValidationError:
            return UNKNOWN_MAILBOX
        found = route(self.service.send_connectors, domain, self.service.node_name)
        if found is None:
            return RELAY_DENIED(domain)
        refused = self._reserve_recipient()
        if refused is not None:
            return refused
        self.relayed[original] = (address, HopDeliveries.key(found))
        return None

    def _tls_object(self) -> bool:
        return self.transport is not None and self.transport.get_extra_info("ssl_object") is not None

    async def _authenticate(self, event: Authenticate) -> None:
        assert self.conn is not None
        service = self.service
        if service.guard.blocked(self.remote_ip, event.username) is not None:
            self.refuse_blocked(event.username)  # before any lookup or password check
            return
        try:
            # Through the cache the node clears on every configuration change (password too).
            outcome, mailbox = await verify_login(service.recipients.find, service.authenticator, service.guard,
                                                  "smtp", self.remote_ip, event.username, event.password)
        except PostroomError as exc:
            log.warning("smtp session %s login unavailable: %s", self.id, exc.message)
            self.conn.auth_failed(AuthFailure.TEMPORARY)
            return
        if outcome == BLOCKED:
            self.refuse_blocked(event.username)
            return
        if mailbox is None or not mailbox.enabled:
            self.conn.auth_failed(AuthFailure.BAD_CREDENTIALS)
            service.login_event("failed (bad-credentials)" if mailbox is None else "failed (mailbox-disabled)",
                                self.remote_ip, event.username[:100])
            self.note("authentication failed (bad-credentials)" if mailbox is None
                      else "authentication failed (mailbox-disabled)")
            return
        self.user = mailbox.address
        service.guard.succeeded(self.remote_ip)
        self.conn.auth_succeeded(SendAs(mailbox.address, mailbox.send_as))
        service.login_event("succeeded", self.remote_ip, mailbox.address)
        self.note(f"authenticated as {mailbox.address}")

    async def _start_tls(self) -> None:
        assert self.conn is not None and self.runtime is not None and self.runtime.tls is not None
        if await self.start_tls(self.runtime.tls):
            self.conn.tls_started()

    def released(self) -> None:
        if self.ticket is not None and self.conn is not None and self.conn.state is State.DELIVERING:
            self.service.quota.commit(self.ticket)  # being stored as the client left: it counts
            self.ticket = None
        self._release_ticket()  # the connection ended before its message was stored
        if self.spool is not None:  # the connection ended mid-message
            self.spool.remove()
            self.spool = None
        if self.counted and self.runtime is not None:
            self.counted = False
            service, name = self.service, self.runtime.name
            service.sessions.discard(self)
            service.per_connector[name] -= 1
            if service.per_connector[name] <= 0:
                del service.per_connector[name]
            key = (name, self.remote_ip)
            service.per_source[key] -= 1
            if service.per_source[key] <= 0:
                del service.per_source[key]
