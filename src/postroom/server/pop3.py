"""The POP3 service: feeds socket bytes to the sans-IO core and does what its events ask.

One `Pop3Service` per node holds the live settings, TLS context and connection counts;
each connection is a `Pop3Session` (an asyncio.Protocol). Settings changes apply to new
connections at once; existing sessions keep the rules they started with.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import ssl
import uuid
from collections import Counter
from typing import Any, Callable

from ..auth import Authenticator
from ..errors import NotFound, PostroomError, ValidationError
from ..model import PopSettings, SortOrder, normalise_address
from ..protocol.pop3 import (
    NEED_DATA, PAUSED, Authenticate, AuthFailure, CloseConnection, Commit, LoginRefused,
    Pop3Config, Pop3Server, Retrieve, StartTls,
)
from ..storage import Store
from .protocol_log import ProtocolLog, redact

log = logging.getLogger("postroom.pop3")
TOO_MANY_CONNECTIONS = b"-ERR [SYS/TEMP] Too many connections, try again later.\r\n"
IDLE_TIMEOUT = b"-ERR Disconnected for inactivity.\r\n"
MAX_BUFFERED_INPUT = 64 * 1024  # pipelined input held while earlier commands are answered
_session_ids = itertools.count(1)


class Pop3Service:
    """State shared by every POP3 connection of this node."""

    def __init__(self, store: Store, authenticator: Authenticator, node_name: str,
                 on_login: Callable[[str, str, str, str], None] | None = None) -> None:
        self.store = store
        self.authenticator = authenticator
        self.node_name = node_name
        self.settings = PopSettings()
        self.tls: ssl.SSLContext | None = None
        self.protocol_log: ProtocolLog | None = None
        self.sessions: set[Pop3Session] = set()
        self.per_ip: Counter[str] = Counter()
        self.per_user: Counter[str] = Counter()
        self.on_login = on_login  # (result, service, remote ip, mailbox) for evidence/metrics
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
            login_type=self.settings.login_type.value,
            banner=self.settings.banner,
            max_command_size=self.settings.max_command_size,
            implementation="postroom",
        )

    def protocol_factory(self, implicit_tls: bool, local: str) -> Callable[[], "Pop3Session"]:
        return lambda: Pop3Session(self, implicit_tls, local)

    def close_sessions(self) -> None:
        for session in list(self.sessions):
            session.abort()

    def login_event(self, result: str, remote: str, user: str) -> None:
        log.info("pop3 login %s remote=%s user=%s", result, remote, user)
        if self.on_login:
            self.on_login(result, "pop3", remote, user)


class Pop3Session(asyncio.Protocol):
    def __init__(self, service: Pop3Service, implicit_tls: bool, local: str) -> None:
        self.service = service
        self.implicit_tls = implicit_tls
        self.local = local
        self.id = f"{service.node_name}-{next(_session_ids)}"
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.conn: Pop3Server | None = None
        self.remote_ip = ""
        self.remote = ""
        self.counted = False
        self.user: str | None = None  # counted against max_connections_per_user
        self.locked_mailbox: int | None = None
        self.busy = False  # an adapter task is answering an event
        self.closed = False
        self.write_paused = False
        self.reading = True
        self.last_activity = self.loop.time()
        self.timer: asyncio.TimerHandle | None = None
        self.authenticated = False
        self.sequence = 0
        self.task: asyncio.Task[Any] | None = None
        self.maildrop: list[Any] = []

    # asyncio.Protocol ----------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername") or ("?", 0)
        self.remote_ip = str(peer[0])
        self.remote = f"{peer[0]}:{peer[1]}"
        service, settings = self.service, self.service.settings
        service.sessions.add(self)
        service.per_ip[self.remote_ip] += 1
        self.counted = True
        self._log("+", "")
        if (len(service.sessions) > settings.max_connections
                or service.per_ip[self.remote_ip] > settings.max_connections_from_single_ip):
            self._log(">", TOO_MANY_CONNECTIONS.decode().strip())
            transport.write(TOO_MANY_CONNECTIONS)
            self._close()
            return
        self.conn = Pop3Server(service.core_config, tls_active=self.implicit_tls,
                               tls_available=service.tls is not None)
        self.timeout = settings.preauthenticated_timeout
        self.authenticated_timeout = settings.authenticated_timeout
        self._flush()
        self._arm_timer()

    def data_received(self, data: bytes) -> None:
        if self.closed or self.conn is None:
            return
        self.last_activity = self.loop.time()
        if self.service.protocol_log:
            for line in data.splitlines():
                self._log("<", redact(line))
        self.conn.receive_data(data)
        self._pump()

    def eof_received(self) -> bool:
        if self.conn is not None and not self.closed:
            self.conn.receive_data(b"")
            self._pump()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._release()

    def pause_writing(self) -> None:
        # The client reads slower than we answer: stop answering (and reading) until it catches up.
        self.write_paused = True
        self._update_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.transport and not self.closed:
            self._pump()

    def _update_reading(self) -> None:
        """Read only while we keep up: bounded memory per connection whatever the client sends."""
        if self.transport is None or self.closed or self.conn is None:
            return
        wanted = not self.write_paused and self.conn.bytes_buffered < MAX_BUFFERED_INPUT
        if wanted != self.reading:
            self.reading = wanted
            (self.transport.resume_reading if wanted else self.transport.pause_reading)()

    # driving the core ----------------------------------------------------------------
    def _pump(self) -> None:
        conn = self.conn
        while conn is not None and not (self.busy or self.closed or self.write_paused):
            event = conn.next_event()
            if event is NEED_DATA or event is PAUSED:
                break
            if isinstance(event, Retrieve):
                self._spawn(self._retrieve(event))
            elif isinstance(event, Authenticate):
                self._spawn(self._authenticate(event))
            elif isinstance(event, Commit):
                self._spawn(self._commit(event))
            elif isinstance(event, StartTls):
                self._flush()
                self._spawn(self._start_tls())
            elif isinstance(event, LoginRefused):
                self.service.login_event(f"refused ({event.reason})", self.remote_ip, event.username or "-")
            elif isinstance(event, CloseConnection):
                self._flush()
                self._close()
                return
        self._flush()
        self._update_reading()

    def _spawn(self, coroutine: Any) -> None:
        self.busy = True
        self.task = self.loop.create_task(self._answer(coroutine))

    async def _answer(self, coroutine: Any) -> None:
        try:
            await coroutine
        except asyncio.CancelledError:
            raise
        except Exception:  # never leak a traceback to the peer: log it under a reference
            ref = uuid.uuid4().hex[:12]
            log.exception("pop3 session %s internal error, ref %s", self.id, ref)
            if self.transport and not self.closed:
                self.transport.write(f"-ERR [SYS/TEMP] Internal error, ref {ref}.\r\n".encode())
            self._close()
            return
        self.busy = False
        if self.closed:  # the client left while we were working: let go of what we hold
            self._release()
        else:
            self._pump()

    def _flush(self) -> None:
        if self.conn is None or self.transport is None:
            return
        chunks = self.conn.data_to_send()
        if chunks and not self.closed:
            if self.service.protocol_log:
                for chunk in chunks:
                    if chunk[:1] in (b"+", b"-"):
                        self._log(">", chunk.split(b"\r\n", 1)[0].decode("utf-8", "replace"))
            self.transport.writelines(chunks)

    # event handlers ------------------------------------------------------------------
    async def _authenticate(self, event: Authenticate) -> None:
        assert self.conn is not None
        failure = await self._check_login(event)
        if failure is None:
            self.conn.auth_succeeded(self.maildrop)
            self.authenticated = True
            self.timeout = self.authenticated_timeout
            self.service.login_event("succeeded", self.remote_ip, self.user or "-")
        else:
            self.conn.auth_failed(failure)
            self.service.login_event(f"failed ({failure.name.lower().replace('_', '-')})",
                                     self.remote_ip, event.username[:100])

    async def _check_login(self, event: Authenticate) -> AuthFailure | None:
        service = self.service
        try:
            address = normalise_address(event.username)
        except ValidationError:
            address = None
        try:
            mailbox = await service.store.find_mailbox(address) if address else None
            verified = await service.authenticator.verify(
                address or "", event.password, mailbox.password_hash if mailbox else None)
            if not verified or mailbox is None:
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
        self.conn.message_content(data)

    async def _commit(self, event: Commit) -> None:
        assert self.conn is not None
        ok = True
        if event.delete_ids and self.locked_mailbox is not None:
            try:
                await self.service.store.delete_messages(self.locked_mailbox, event.delete_ids)
            except PostroomError as exc:
                log.warning("pop3 session %s could not apply deletions: %s", self.id, exc.message)
                ok = False
        await self._unlock()
        self.conn.update_done(ok)

    async def _start_tls(self) -> None:
        assert self.conn is not None and self.transport is not None and self.service.tls is not None
        try:
            transport = await self.loop.start_tls(self.transport, self, self.service.tls, server_side=True,
                                                  ssl_handshake_timeout=30)
        except (OSError, ssl.SSLError, ConnectionError, asyncio.TimeoutError) as exc:
            log.info("pop3 session %s STLS handshake failed: %s", self.id, exc.__class__.__name__)
            self._close()
            return
        if transport is None:
            self._close()
            return
        self.transport = transport  # type: ignore[assignment]
        self.reading = True  # the TLS transport starts reading
        self.conn.tls_started()

    # timers and cleanup ----------------------------------------------------------------
    def _arm_timer(self) -> None:
        due = self.last_activity + self.timeout
        self.timer = self.loop.call_at(due, self._check_idle)

    def _check_idle(self) -> None:
        if self.closed:
            return
        if self.busy or self.loop.time() - self.last_activity < self.timeout:
            self._arm_timer()
            return
        if self.transport:
            self._log(">", IDLE_TIMEOUT.decode().strip())
            self.transport.write(IDLE_TIMEOUT)
        self._close()

    def _close(self) -> None:
        if self.transport and not self.transport.is_closing():
            self.transport.close()
        self.closed = True
        self._release()

    def abort(self) -> None:
        """The service is stopping: drop the connection now (nothing is deleted)."""
        if self.transport:
            self.transport.abort()
        self.closed = True
        self._release()

    def _release(self) -> None:
        service = self.service
        if self.timer:
            self.timer.cancel()
            self.timer = None
        if self.counted:
            self.counted = False
            self._log("-", "")
            service.sessions.discard(self)
            service.per_ip[self.remote_ip] -= 1
            if service.per_ip[self.remote_ip] <= 0:
                del service.per_ip[self.remote_ip]
        if self.user:
            service.per_user[self.user] -= 1
            if service.per_user[self.user] <= 0:
                del service.per_user[self.user]
            self.user = None
        if self.locked_mailbox is not None and not self.busy:
            self.loop.create_task(self._unlock())

    async def _unlock(self) -> None:
        mailbox, self.locked_mailbox = self.locked_mailbox, None
        if mailbox is not None:
            try:
                await self.service.store.unlock_mailbox(mailbox, self.id)
            except PostroomError as exc:
                log.warning("pop3 session %s could not release its mailbox lock: %s", self.id, exc.message)

    def _log(self, event: str, data: str) -> None:
        plog = self.service.protocol_log
        if plog is not None:
            plog.write(self.id, self.sequence, self.local, self.remote, event, data)
            self.sequence += 1
