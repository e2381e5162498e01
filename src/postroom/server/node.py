"""A node: one `postroom serve` process, reconciling its listeners with the store.

Every admin change bumps the store's config version; the node polls it (twice a second),
re-reads what changed and opens/closes listeners, swaps TLS contexts and settings, so a
change applies within a second without a restart. The node reports what it actually does
(listening endpoints, bind errors) with a heartbeat, which `service list` and the doctor show.
"""
from __future__ import annotations

import asyncio
import logging
import os
import ssl
import time
from dataclasses import replace
from typing import Any

from ..auth import Authenticator
from ..errors import PostroomError
from ..model import PopSettings, ServiceStatus, Startup, NodeReport, parse_binding
from ..storage import Store
from ..tls import server_context, switching_context
from .pop3 import Pop3Service
from .protocol_log import ProtocolLog

log = logging.getLogger("postroom.node")
POLL_INTERVAL = 0.5
HEARTBEAT_INTERVAL = 1.0
RETRY_BIND_INTERVAL = 5.0


class Node:
    def __init__(self, store: Store, data_dir: str, server: str, *, authenticator: Authenticator | None = None) -> None:
        self.store = store
        self.data_dir = data_dir
        self.server = server
        self.pop3 = Pop3Service(store, authenticator or Authenticator(), server)
        self.listeners: dict[tuple[str, bool], asyncio.AbstractServer] = {}
        self.bind_errors: dict[tuple[str, bool], str] = {}
        self.tls_key: tuple[Any, ...] | None = None
        self.tls_error: str | None = None
        self._tls: ssl.SSLContext | None = None
        # One context for all implicit-TLS listeners; it defers to the current certificate.
        self.listener_tls = switching_context(lambda: self.pop3.tls)
        self.applied_version = -1
        self.pop_state = "stopped"
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        """Boot like a Windows service host: automatic services start, the others stay stopped."""
        for service in await self.store.list_services(self.server):
            wanted = ServiceStatus.RUNNING if service.startup == Startup.AUTOMATIC else ServiceStatus.STOPPED
            if service.status != wanted:
                await self.store.update_service(replace(service, status=wanted))
        await self.reconcile()
        await self.report()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        self._stopping.set()
        if self._task:
            await self._task
        await self._close_listeners(set(self.listeners))
        self.pop3.close_sessions()
        self.pop_state = "stopped"
        try:
            await self.report(alive=False)
        except PostroomError:
            pass
        if self.pop3.protocol_log:
            self.pop3.protocol_log.close()

    async def _run(self) -> None:
        last_report = last_retry = time.monotonic()
        while not self._stopping.is_set():
            try:
                await asyncio.wait_for(self._stopping.wait(), POLL_INTERVAL)
                break
            except asyncio.TimeoutError:
                pass
            try:
                now = time.monotonic()
                retry = bool(self.bind_errors) and now - last_retry > RETRY_BIND_INTERVAL
                if retry or await self.store.config_version() != self.applied_version:
                    last_retry = now
                    await self.reconcile()
                    await self.report()
                    last_report = now
                elif now - last_report > HEARTBEAT_INTERVAL:
                    await self.report()
                    last_report = now
                if self.pop3.protocol_log:
                    self.pop3.protocol_log.flush()
            except PostroomError as exc:  # store unavailable: keep serving what runs, try again
                log.warning("node %s cannot reach the store: %s", self.server, exc.message)

    async def reconcile(self) -> None:
        version = await self.store.config_version()
        service = await self.store.get_service(self.server, "pop3")
        settings = await self.store.get_pop_settings(self.server)
        running = service.status == ServiceStatus.RUNNING
        tls = self._tls_context(settings)
        plog = self.pop3.protocol_log
        if settings.protocol_log and plog is None:
            plog = ProtocolLog(os.path.join(self.data_dir, "logs", "pop3"), "POP3")
        elif not settings.protocol_log:
            plog = None
        self.pop3.configure(settings, tls, plog)

        desired: set[tuple[str, bool]] = set()
        if running:
            desired = {(b, False) for b in settings.bindings} | {(b, True) for b in settings.ssl_bindings}
        await self._close_listeners(set(self.listeners) - desired)
        self.bind_errors = {k: v for k, v in self.bind_errors.items() if k in desired}
        for key in sorted(desired - set(self.listeners)):
            await self._open_listener(key, tls)
        if not running:
            self.pop3.close_sessions()
        self.pop_state = "running" if running else "stopped"
        if running and not self.listeners:
            self.pop_state = "failed" if desired else "running (no bindings)"
        self.applied_version = version

    def _tls_context(self, settings: PopSettings) -> ssl.SSLContext | None:
        """Reload only when the certificate files or their mtimes change."""
        if not settings.certificate:
            self.tls_key, self.tls_error = None, None
            return None
        key = (settings.certificate, settings.certificate_key,
               *(_mtime(p) for p in (settings.certificate, settings.certificate_key)))
        if key != self.tls_key:
            try:
                self._tls = server_context(settings.certificate, settings.certificate_key)
                self.tls_error = None
            except PostroomError as exc:
                self._tls, self.tls_error = None, exc.message
                log.error("pop3 certificate unusable: %s", exc.message)
            self.tls_key = key
        return self._tls

    async def _open_listener(self, key: tuple[str, bool], tls: ssl.SSLContext | None) -> None:
        binding, implicit = key
        if implicit and tls is None:
            self.bind_errors[key] = f"{binding}: no usable certificate ({self.tls_error or 'none set'})"
            return
        host, port = parse_binding("bindings", binding)
        factory = self.pop3.protocol_factory(implicit, binding)
        loop = asyncio.get_running_loop()
        try:
            server = await loop.create_server(factory, host, port, ssl=self.listener_tls if implicit else None,
                                              reuse_address=True, backlog=1024,
                                              ssl_handshake_timeout=30 if implicit else None)
        except OSError as exc:
            self.bind_errors[key] = f"{binding}: {exc.strerror or exc}"
            log.error("pop3 cannot listen on %s: %s", binding, exc.strerror or exc)
            return
        self.bind_errors.pop(key, None)
        self.listeners[key] = server
        log.info("pop3 listening on %s (%s)", binding, "SSL" if implicit else "plain/STLS")

    async def _close_listeners(self, keys: set[tuple[str, bool]]) -> None:
        for key in keys:
            server = self.listeners.pop(key)
            server.close()
            log.info("pop3 stopped listening on %s", key[0])

    async def report(self, alive: bool = True) -> None:
        listening = [f"{b} ({'SSL' if ssl_ else 'plain/STLS'})" for b, ssl_ in sorted(self.listeners)]
        errors = [self.bind_errors[k] for k in sorted(self.bind_errors)]
        if self.tls_error:
            errors.append(f"certificate: {self.tls_error}")
        services = {"pop3": {
            "state": self.pop_state if alive else "stopped",
            "listening": listening if alive else [],
            "errors": errors,
            "sessions": len(self.pop3.sessions),
            "applied_version": self.applied_version,
        }}
        heartbeat = time.time() if alive else 0.0
        await self.store.put_node_report(NodeReport(self.server, heartbeat, os.getpid(), services))


def _mtime(path: str | None) -> float | None:
    if not path:
        return None
    try:
        return os.stat(path).st_mtime
    except OSError:
        return None
