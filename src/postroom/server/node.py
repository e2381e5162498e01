"""A node: one `postroom serve` process, reconciling its listeners with the store.

Every admin change bumps the store's config version; the node polls it (twice a second),
re-reads what changed and opens/closes listeners, swaps TLS contexts and settings, so a
change applies within a second without a restart. The node reports what it actually does
(listening endpoints, bind errors) with a heartbeat, which `service list` and the doctor show.

Listeners are keyed by (service, binding, implicit TLS). SMTP opens one listener per
binding of its enabled connectors; connectors sharing a binding share the listener. The admin
service (REST API, console) listens on HTTPS bindings (implicit TLS, the server certificate)
and loopback-only HTTP bindings. The store's feed of mailbox changes (storage/changes.py: this
node's writes, other nodes' and processes') goes to the IMAP4 sessions' notifier.
"""
from __future__ import annotations

import asyncio
import logging
import os
import re
import ssl
import time
from dataclasses import replace
from typing import Any

from ..activity import Activity
from ..auth import Authenticator
from ..errors import NotFound, PostroomError
from ..lockout import RETIRED_POLICY_ENV, AbuseGuard, Policy, parse_networks
from ..model import ImapSettings, PopSettings, ReceiveConnector, ServiceStatus, Startup, parse_binding
from ..storage import Store
from ..tls import switching_context
from .admin import AdminAppFactory, AdminService
from .certificates import CertificateCache
from .deferred import DeferredWrites
from .evidence import LoginEvidence
from .imap4 import ImapService
from .live_sessions import SessionEnds
from .metrics import Metrics
from .node_outbound import configure_outbound
from .node_report import connector_reports, listener_kind, put_report
from .pop3 import Pop3Service
from .protocol_log import LogLimits, ProtocolLog
from .proxy import ProxyListener
from .retention import TrackingRetention
from .smtp import SmtpService
from .smtp_connectors import ConnectorRuntime, core_config
from .outbound.hops import HopDeliveries
from .outbound.reports_queue import ReportSender
from .outbound.worker import OutboundWorker, lease_seconds
from .spool import clear_orphans, spool_dir
from .tls_transport import tls_server_factory

log = logging.getLogger("postroom.node")
POLL_INTERVAL = 0.5
HEARTBEAT_INTERVAL = 1.0
RETRY_BIND_INTERVAL = 5.0
DRAIN_POLL_INTERVAL = 0.05  # how often a stopping node looks whether its sessions are done
SESSION_PURGE_INTERVAL = 600.0  # expired console sessions are removed this often
ListenerKey = tuple[str, str, bool]  # (service, binding, implicit TLS)


class Node:
    def __init__(self, store: Store, data_dir: str, server: str, *, admin_app: AdminAppFactory,
                 authenticator: Authenticator | None = None) -> None:
        """`admin_app` builds the admin service's application (web/app.py `node_admin_app`)."""
        self.store = store
        self.data_dir = data_dir
        self.server = server
        authenticator = authenticator or Authenticator()
        self.activity = Activity()  # logins and deliveries for the dashboard, stored per heartbeat
        # refused logins and POP3/IMAP4 sessions that ended without one, for the doctor, stored per heartbeat
        self.logins = LoginEvidence(server)
        self.retention = TrackingRetention(store, server)  # message tracking older than 30 days goes
        self.pop3 = Pop3Service(store, authenticator, server, activity=self.activity, on_login=self.logins.record,
                                on_session_end=self.logins.session_ended)
        self.smtp = SmtpService(store, authenticator, server, activity=self.activity, on_login=self.logins.record,
                                spool_dir=spool_dir(data_dir))
        # IMAP4: its sessions are told of mailbox changes by the store, whoever made them (watch_mailboxes)
        self.imap4 = ImapService(store, authenticator, server, activity=self.activity, on_login=self.logins.record,
                                 on_session_end=self.logins.session_ended)
        # failed-login delays and blocks; the stored policy is installed by reconcile
        self.guard = self.pop3.guard = self.smtp.guard = self.imap4.guard = AbuseGuard()
        # GET /metrics on the admin service
        self.metrics = self.pop3.metrics = self.smtp.metrics = self.imap4.metrics = Metrics()
        # Outbound delivery: the queue's worker runs while the SMTP (transport) service does.
        self.hops = HopDeliveries(store, server, data_dir, own_endpoints=self._smtp_endpoints)
        self.reports = self.smtp.reports = ReportSender(store, server)
        self.outbound = self.smtp.outbound = OutboundWorker(store, server, hops=self.hops,
                                                            submit_report=self.reports.submit, metrics=self.metrics,
                                                            activity=self.activity, lease_seconds=lease_seconds())
        self.reports.wake = self.outbound.notify
        self.metrics.watch(self._session_counts, self.guard.blocked_sources)
        self.session_ends = SessionEnds(store, server, {"pop3": self.pop3, "smtp": self.smtp,
                                                        "imap4": self.imap4})  # `session end`
        self.admin = AdminService(store, server, data_dir, admin_app, self.metrics, self.guard)
        self.listeners: dict[ListenerKey, Any] = {}  # asyncio servers, or ProxyListeners
        # Bindings behind a load balancer: the balancers allowed to send a PROXY header, as
        # wanted now (proxy_wanted) and as each open listener was opened with (proxy_opened).
        self.proxy_wanted: dict[ListenerKey, tuple[str, ...]] = {}
        self.proxy_opened: dict[ListenerKey, tuple[str, ...]] = {}
        self.bind_errors: dict[ListenerKey, str] = {}
        self.certificates = CertificateCache()
        self.tls_error: str | None = None  # POP3's certificate
        self.imap_tls_error: str | None = None  # IMAP4's (POP3's when IMAP4 names none)
        # One context for the implicit-TLS listeners of POP3 and admin, one for IMAP4's; each
        # defers to the current certificate.
        self.listener_tls = switching_context(lambda: self.pop3.tls)
        self.imap_listener_tls = switching_context(lambda: self.imap4.tls)
        self.protocol_logs: dict[str, ProtocolLog] = {}
        self.applied_version = -1
        self.states = {"pop3": "stopped", "imap4": "stopped", "smtp": "stopped", "admin": "stopped"}
        self.pop_settings = PopSettings()
        self.imap_settings = ImapSettings()
        self.connectors: list[ReceiveConnector] = []
        self.connector_errors: dict[str, str] = {}
        self.connector_reports: dict[str, dict[str, Any]] = {}
        self.deferred = DeferredWrites(server)  # start-up writes a full disk refused, retried later
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self.drain_deadline = 0.0  # monotonic time at which a stopping node drops what is left

    def _smtp_endpoints(self) -> set[tuple[str, int]]:
        """Where this node's SMTP listens: an MX that is one of these is a mail loop."""
        found = set()
        for key in self.listeners:
            if key[0] == "smtp":
                found.add(parse_binding("binding", key[1]))
        return found

    def _session_counts(self) -> dict[str, int]:
        return {"pop3": len(self.pop3.sessions), "imap4": len(self.imap4.sessions), "smtp": len(self.smtp.sessions),
                "admin": len(self.admin.sessions)}

    async def start(self) -> None:
        """Boot like a Windows service host: automatic services start, the others stay stopped.
        On a full disk the node starts all the same and serves what is stored (start-up
        writes wait for space, see deferred.py)."""
        if self.smtp.spool_dir is not None:
            clear_orphans(self.smtp.spool_dir)  # before any session can own a spool file
        retired = [name for name in RETIRED_POLICY_ENV if name in os.environ]
        if retired:  # an install upgraded from a version that read them: say where the policy went
            log.warning("%s no longer set the login block policy and are ignored; it is a stored setting now: "
                        "postroom security policy set (see docs/operations.md)", ", ".join(retired))
        await self.deferred.run("service start-up states", self._boot_services)
        await self.store.watch_mailboxes(self.imap4.notifier.changed)  # before any IMAP4 session
        await self.reconcile()
        await self.deferred.run("node report", self.report)
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _boot_services(self) -> None:
        for service in await self.store.list_services(self.server):
            wanted = ServiceStatus.RUNNING if service.startup == Startup.AUTOMATIC else ServiceStatus.STOPPED
            if service.status != wanted:
                await self.store.update_service(replace(service, status=wanted))

    async def stop(self, grace: float = 0.0) -> None:
        """Close the listeners (no new connections), let sessions finish for up to `grace`
        seconds (idle ones are told at once, deliveries and RETRs in flight complete), then
        drop what is left."""
        self._stopping.set()
        if self._task:
            await self._task
        await self.retention.stop()
        await self.outbound.stop()
        await self._close_listeners(set(self.listeners))
        self.admin.close()
        await self.drain_sessions(grace)
        await self.store.unwatch_mailboxes()
        self.states = {name: "stopped" for name in self.states}
        try:
            await self.report(alive=False)
        except PostroomError:
            pass
        await self.flush_activity()
        await self.logins.flush(self.store)
        for plog in self.protocol_logs.values():
            plog.close()

    def hurry(self) -> None:
        """End the grace period now (a second SIGTERM/SIGINT while stopping)."""
        self.drain_deadline = 0.0

    async def drain_sessions(self, grace: float) -> None:
        self.pop3.drain_sessions()
        self.imap4.drain_sessions()
        self.smtp.drain_sessions()
        sessions: set[Any] = set()
        self.drain_deadline = time.monotonic() + grace
        while True:
            sessions |= self.pop3.sessions | self.imap4.sessions | self.smtp.sessions  # late accepts are drained too
            left = [s for s in sessions if not s.finished]
            if not left or time.monotonic() >= self.drain_deadline:
                break
            await asyncio.sleep(DRAIN_POLL_INTERVAL)
        if left:
            log.warning("node %s: %d session(s) still open after the %.1f s grace period, closing them",
                        self.server, len(left), grace)
        for session in left:
            session.abort()
        tasks = [s.task for s in left if s.task is not None and not s.task.done()]
        for task in tasks:  # an answer still running (e.g. a delivery): its client is gone
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=1.0)
        await asyncio.sleep(0)  # let aborted transports report connection_lost

    async def _run(self) -> None:
        last_report = last_retry = last_purge = time.monotonic()
        while not self._stopping.is_set():
            try:
                await asyncio.wait_for(self._stopping.wait(), POLL_INTERVAL)
                break
            except asyncio.TimeoutError:
                pass
            self.admin.refresh_date()
            self.retention.tick()
            try:
                await self.session_ends.poll()  # `postroom session end` requests, as promptly as changes
                now = time.monotonic()
                if now - last_purge > SESSION_PURGE_INTERVAL:
                    last_purge = now
                    await self.admin.auth.purge_sessions()
                if self.deferred and now - last_report > HEARTBEAT_INTERVAL:
                    await self.deferred.retry()
                retry = bool(self.bind_errors) and now - last_retry > RETRY_BIND_INTERVAL
                if retry or await self.store.config_version() != self.applied_version:
                    last_retry = now
                    await self.reconcile()
                    await self.report()
                    await self.flush_activity()
                    await self.logins.flush(self.store)
                    await self.sync_blocks()
                    last_report = now
                elif now - last_report > HEARTBEAT_INTERVAL:
                    await self.report()
                    await self.flush_activity()
                    await self.logins.flush(self.store)
                    await self.sync_blocks()
                    last_report = now
                for plog in self.protocol_logs.values():
                    plog.flush()
            except PostroomError as exc:  # store unavailable: keep serving what runs, try again
                log.warning("node %s cannot reach the store: %s", self.server, exc.message)

    async def flush_activity(self) -> None:
        """Add what was counted since the last flush to the store's counters; if the store
        cannot take them now, keep them for the next heartbeat."""
        counts = self.activity.drain()
        if not counts:
            return
        try:
            await self.store.add_activity(self.server, counts)
        except PostroomError as exc:
            self.activity.restore(counts)
            log.warning("node %s cannot store its activity counters: %s", self.server, exc.message)

    async def sync_blocks(self) -> None:
        """Write the login blocks started here, then adopt the store's list (cleared blocks
        stop applying; other nodes' blocks apply here too). Kept for later if the store fails."""
        made = self.guard.drain_new()
        try:
            if made:
                await self.store.add_blocks(self.server, made)
            self.guard.adopt(await self.store.list_blocks())
        except PostroomError as exc:
            self.guard.restore_new(made)
            log.warning("node %s cannot sync login blocks: %s", self.server, exc.message)

    async def reconcile(self) -> None:
        version = await self.store.config_version()
        self.guard.policy = Policy.of(await self.store.get_login_policy())  # organization-wide, applies live
        self.proxy_wanted = {}
        desired = await self._configure_pop3() | await self._configure_imap4() | await self._configure_smtp() \
            | await self._configure_admin()
        # A binding whose PROXY setting changed is opened again, the other way.
        changed = {k for k in self.listeners if self.proxy_wanted.get(k, ()) != self.proxy_opened.get(k, ())}
        await self._close_listeners((set(self.listeners) - desired) | changed)
        self.bind_errors = {k: v for k, v in self.bind_errors.items() if k in desired}
        for key in sorted(desired - set(self.listeners)):
            await self._open_listener(key)
        for name in self.states:
            if self.states[name] == "running":
                wanted = {k for k in desired if k[0] == name}
                if wanted and not wanted & set(self.listeners):
                    self.states[name] = "failed"
                elif not wanted:
                    self.states[name] = "running (no bindings)"
        self.connector_reports = connector_reports(self)
        self.applied_version = version

    def _protocol_log(self, name: str, wanted: bool, prefix: str, limits: LogLimits | None = None,
                      connector_id: str = "") -> ProtocolLog | None:
        if not wanted:
            plog = self.protocol_logs.pop(name, None)
            if plog:
                plog.close()
            return None
        if name not in self.protocol_logs:
            # A connector's name is the admin's text: it becomes one safe folder name, never a path.
            folder = [re.sub(r"[^A-Za-z0-9_-]+", "-", part).strip("-") or "_" for part in name.split("/", 1)]
            self.protocol_logs[name] = ProtocolLog(os.path.join(self.data_dir, "logs", *folder), prefix,
                                                   connector_id=connector_id)
        plog = self.protocol_logs[name]
        plog.configure(limits or LogLimits(), connector_id)  # changed limits apply from the next line
        return plog

    async def _configure_pop3(self) -> set[ListenerKey]:
        self.pop_settings = settings = await self.store.get_pop_settings(self.server)
        tls, self.tls_error = self.certificates.context(settings.certificate, settings.certificate_key)
        return await self._configure_client_access("pop3", self.pop3, settings, tls, "POP3")

    async def _configure_imap4(self) -> set[ListenerKey]:
        """As POP3 (called after it): without a certificate of its own, IMAP4 uses POP3's."""
        self.imap_settings = settings = await self.store.get_imap_settings(self.server)
        if settings.certificate:
            tls, self.imap_tls_error = self.certificates.context(settings.certificate, settings.certificate_key)
        else:
            tls, self.imap_tls_error = self.pop3.tls, self.tls_error
        return await self._configure_client_access("imap4", self.imap4, settings, tls, "IMAP4")

    async def _configure_client_access(self, name: str, service: Any, settings: Any, tls: ssl.SSLContext | None,
                                       log_prefix: str) -> set[ListenerKey]:
        """POP3 and IMAP4: settings, certificate and protocol log to the service; its listeners
        if the service runs (else its sessions are closed)."""
        try:
            running = (await self.store.get_service(self.server, name)).status == ServiceStatus.RUNNING
        except NotFound:  # a server made without it (imap4 before its migration): stopped
            running = False
        limits = LogLimits(settings.log_file_roll_over, settings.log_per_file_size_quota, settings.log_max_age,
                           settings.log_max_directory_size)
        service.configure(settings, tls, self._protocol_log(name, settings.protocol_log, log_prefix, limits))
        self.states[name] = "running" if running else "stopped"
        if not running:
            service.close_sessions()
            return set()
        keys = {(name, b, False) for b in settings.bindings} | {(name, b, True) for b in settings.ssl_bindings}
        if settings.proxy_protocol:
            self.proxy_wanted.update((key, settings.proxy_trusted_networks) for key in keys)
        return keys

    async def _configure_smtp(self) -> set[ListenerKey]:
        service = await self.store.get_service(self.server, "smtp")
        connectors = await self.store.list_connectors(self.server)
        fqdn = (await self.store.get_server(self.server)).fqdn
        running = service.status == ServiceStatus.RUNNING
        await configure_outbound(self, running, fqdn)
        hops = self.smtp.limits.max_hop_count
        runtimes: list[ConnectorRuntime] = []
        self.connector_errors = {}
        for connector in connectors:
            if not connector.enabled:
                continue
            certificate = connector.certificate or self.pop_settings.certificate
            key = connector.certificate_key if connector.certificate else self.pop_settings.certificate_key
            tls, error = self.certificates.context(certificate, key) if connector.offers_tls() else (None, None)
            if error:
                self.connector_errors[connector.name] = f"certificate: {error}"
            elif connector.offers_tls() and tls is None:
                self.connector_errors[connector.name] = "certificate: none set, STARTTLS is not offered"
            limits = LogLimits(max_file_size=connector.protocol_log_max_file_size,
                               max_age=connector.protocol_log_max_age,
                               max_directory_size=connector.protocol_log_max_directory_size)
            plog = self._protocol_log(f"smtp/{connector.name}", connector.protocol_log, "SMTP", limits,
                                      connector.name)
            runtimes.append(ConnectorRuntime(connector, core_config(connector, fqdn, tls, hops), tls, plog))
        for name in [n for n in self.protocol_logs if n.startswith("smtp/")]:
            if not any(r.protocol_log is self.protocol_logs[name] for r in runtimes):
                self._protocol_log(name, False, "SMTP")
        self.smtp.configure(runtimes if running else [], await self.store.list_domains())
        self.connectors = connectors
        enabled = {r.name for r in runtimes}
        for connector in connectors:  # a disabled connector drops its sessions, like a stopped service
            if connector.name not in enabled or not running:
                self.smtp.close_sessions(connector.name)
        self.states["smtp"] = "running" if running else "stopped"
        if not running:
            return set()
        for runtime in runtimes:
            if runtime.connector.proxy_protocol:
                self.proxy_wanted.update((("smtp", b, False), runtime.connector.proxy_trusted_networks)
                                         for b in runtime.connector.bindings)
        return {("smtp", b, False) for r in runtimes for b in r.connector.bindings}

    async def _configure_admin(self) -> set[ListenerKey]:
        service = await self.store.get_service(self.server, "admin")
        web = await self.store.get_web_settings(self.server)
        self.admin.configure(web)
        running = service.status == ServiceStatus.RUNNING
        if not running:
            self.admin.close_sessions()
        self.states["admin"] = "running" if running else "stopped"
        if not running:
            return set()
        return {("admin", b, True) for b in web.bindings} | {("admin", b, False) for b in web.http_bindings}

    async def _open_listener(self, key: ListenerKey) -> None:
        service, binding, implicit = key
        imap = service == "imap4"
        if implicit and (self.imap4 if imap else self.pop3).tls is None:
            error = self.imap_tls_error if imap else self.tls_error
            self.bind_errors[key] = f"{binding}: no usable certificate ({error or 'none set'})"
            return
        host, port = parse_binding("bindings", binding)
        listener_tls = self.imap_listener_tls if imap else self.listener_tls
        if service == "pop3":
            factory: Any = self.pop3.protocol_factory(implicit, binding)
        elif imap:
            factory = self.imap4.protocol_factory(implicit, binding)
        elif service == "admin":
            factory = self.admin.protocol_factory()
        else:
            factory = self.smtp.protocol_factory(binding)
        loop = asyncio.get_running_loop()
        balancers = self.proxy_wanted.get(key, ())
        try:
            if balancers:  # behind a load balancer: the PROXY header first, then TLS if implicit
                server: Any = ProxyListener(factory, host, port, parse_networks(",".join(balancers)),
                                            listener_tls if implicit else None, binding)
                await server.start()
            else:
                # implicit TLS: our own small TLS layer in front of each session (tls_transport.py)
                server = await loop.create_server(tls_server_factory(factory, listener_tls, 30) if implicit
                                                  else factory, host, port, reuse_address=True, backlog=1024)
        except OSError as exc:
            self.bind_errors[key] = f"{binding}: {exc.strerror or exc}"
            log.error("%s cannot listen on %s: %s", service, binding, exc.strerror or exc)
            return
        self.bind_errors.pop(key, None)
        self.listeners[key] = server
        self.proxy_opened[key] = balancers
        log.info("%s listening on %s (%s%s)", service, binding, listener_kind(service, implicit),
                 f", PROXY protocol from {','.join(balancers)}" if balancers else "")

    async def _close_listeners(self, keys: set[ListenerKey]) -> None:
        for key in keys:
            server = self.listeners.pop(key)
            self.proxy_opened.pop(key, None)
            server.close()
            log.info("%s stopped listening on %s", key[0], key[1])

    async def report(self, alive: bool = True) -> None:
        await put_report(self, alive)
