"""Connection caps and read timeouts for the admin service's HTTP listeners.

uvicorn's h11 protocol only times out the wait *between* requests (keep-alive); a client that
opens a connection and sends half a request, or a body that never ends, would hold a file
descriptor for ever. `AdminConnection` adds what the POP3 and SMTP sessions already have:

- a request read timeout (`request_timeout`): from the connection's start, or the first byte of a
  later request, until the request's headers and body are complete (Apache's RequestReadTimeout,
  nginx's client_header_timeout/client_body_timeout); past it the client gets a 408 and is closed;
- the idle keep-alive timeout (`keep_alive_timeout`): uvicorn's, between requests;
- a total cap (`max_connections`) and a cap per client address (`max_connections_per_source`):
  a connection beyond either is answered 503 and closed at once, before any request is read.

The total cap is also held to a quarter of the process's file limit, so a flood of the admin port
never takes the descriptors POP3 and SMTP need. Refusals and timeouts are logged, at most one
line per source and reason a minute (`SourceLog`).
"""
from __future__ import annotations

import asyncio
import logging
import resource
import time
from collections import Counter
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from ..model import WebSettings

log = logging.getLogger("postroom.admin")
LOG_INTERVAL = 60.0  # seconds: one line per source and reason at most this often
FD_SHARE = 4  # the admin service may hold at most 1/FD_SHARE of the process's file descriptors
REFUSED = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
           b"Retry-After: 10\r\nConnection: close\r\nContent-Length: 21\r\n\r\ntoo many connections\n")
TIMED_OUT = (b"HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain; charset=utf-8\r\n"
             b"Connection: close\r\nContent-Length: 16\r\n\r\nrequest timeout\n")
_READING = (h11.IDLE, h11.SEND_BODY)  # the client's side of h11 while a request is still arriving


def descriptor_budget() -> int:
    """The admin service's share of the process's (soft) file limit."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(1, soft // FD_SHARE) if soft != resource.RLIM_INFINITY else 1 << 30


class SourceLog:
    """One WARNING line per (reason, source) per interval; what was held back is counted in the next."""

    def __init__(self, interval: float = LOG_INTERVAL, clock: Any = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self._last: dict[tuple[str, str], tuple[float, int]] = {}  # -> (logged at, held back since)

    def warn(self, reason: str, source: str, message: str, *args: Any) -> None:
        now = self.clock()
        logged, held = self._last.get((reason, source), (None, 0))
        if logged is not None and now - logged < self.interval:
            self._last[(reason, source)] = (logged, held + 1)
            return
        if len(self._last) > 10_000:  # many sources: forget the lines older than the interval
            self._last = {k: v for k, v in self._last.items() if now - v[0] < self.interval}
        self._last[(reason, source)] = (now, 0)
        more = f" ({held} more since the last such line)" if held else ""
        log.warning(message + more, *args)


class AdminLimits:
    """The admin service's live caps and timeouts, and its open connections per source."""

    def __init__(self, settings: WebSettings | None = None) -> None:
        self.settings = settings or WebSettings()
        self.budget = descriptor_budget()
        self.open = 0
        self.per_source: Counter[str] = Counter()
        self.log = SourceLog()
        self._held: tuple[int, int] | None = None  # (max_connections, budget) last warned about

    def configure(self, settings: WebSettings) -> None:
        self.budget = descriptor_budget()
        held = (settings.max_connections, self.budget) if settings.max_connections > self.budget else None
        if held is not None and held != self._held:  # once per setting and limit, not per reconcile
            log.warning("admin max_connections=%d is above a quarter of the process file limit: at most %d "
                        "admin connections are accepted, leaving the rest to POP3 and SMTP",
                        settings.max_connections, self.budget)
        self._held = held
        self.settings = settings

    @property
    def max_connections(self) -> int:
        return min(self.settings.max_connections, self.budget)

    def admit(self, source: str) -> str | None:
        """Count a new connection; or the name of the cap it would exceed (not counted)."""
        if self.open >= self.max_connections:
            return "max_connections"
        if self.per_source[source] >= self.settings.max_connections_per_source:
            return "max_connections_per_source"
        self.open += 1
        self.per_source[source] += 1
        return None

    def release(self, source: str) -> None:
        self.open -= 1
        self.per_source[source] -= 1
        if self.per_source[source] <= 0:
            del self.per_source[source]


class AdminConnection(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, admitted against the caps and with a request read timeout."""

    def __init__(self, limits: AdminLimits, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.limits = limits
        settings = limits.settings  # a connection keeps the timeouts it started with
        self.request_timeout = settings.request_timeout
        self.timeout_keep_alive = settings.keep_alive_timeout
        self.source = "?"
        self.counted = False
        self.read_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # a stream's Transport
        peer = transport.get_extra_info("peername") or ("?", 0)
        self.source = str(peer[0])
        cap = self.limits.admit(self.source)
        if cap is not None:
            self.transport = transport
            limit = self.limits.max_connections if cap == "max_connections" else \
                self.limits.settings.max_connections_per_source
            self.limits.log.warn(cap, self.source, "admin refused a connection from %s: %s=%d reached",
                                 self.source, cap, limit)
            transport.write(REFUSED)
            transport.close()
            return
        self.counted = True
        super().connection_made(transport)
        self._arm_read_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_read_timer()
        if not self.counted:  # refused at connect: uvicorn never saw it
            return
        self.counted = False
        self.limits.release(self.source)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.read_timer is None and self.conn.their_state is h11.IDLE:  # a new request begins
            self._arm_read_timer()
        super().data_received(data)
        if self.conn.their_state not in _READING:  # the request is complete (or the connection done)
            self._cancel_read_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # A pipelined request already (partly) buffered is being read now: its clock starts.
        if (not self.transport.is_closing() and self.read_timer is None and self.conn.their_state in _READING
                and (self.conn.their_state is h11.SEND_BODY or self.conn.trailing_data[0])):
            self._unset_keepalive_if_required()
            self._arm_read_timer()

    def _arm_read_timer(self) -> None:
        self._cancel_read_timer()
        self.read_timer = self.loop.call_later(self.request_timeout, self._read_timed_out)

    def _cancel_read_timer(self) -> None:
        if self.read_timer is not None:
            self.read_timer.cancel()
            self.read_timer = None

    def _read_timed_out(self) -> None:
        self.read_timer = None
        if self.transport is None or self.transport.is_closing() or self.conn.their_state not in _READING:
            return
        part = "body" if self.conn.their_state is h11.SEND_BODY else "headers"
        self.limits.log.warn("request_timeout", self.source,
                             "admin closed a connection from %s: request %s not received within "
                             "request_timeout=%ds", self.source, part, self.request_timeout)
        # No response begun to this request: say why (Apache and nginx send 408).
        if self.conn.their_state is h11.IDLE or self.cycle is None or not self.cycle.response_started:
            self.transport.write(TIMED_OUT)
        self.transport.close()
