"""Prometheus metrics of one node, served at GET /metrics on the admin service.

Each node owns its own CollectorRegistry (never the process-wide default), so tests can
run several nodes in one process. Sessions count with one increment on the hot path; the
live figures (open sessions per service, blocked sources) are read from the node at scrape
time by a custom collector, so nothing has to keep them up to date.
"""
from __future__ import annotations

from typing import Callable, Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# From a local SQLite write (milliseconds) to a slow disk under load (seconds).
DELIVERY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# From acceptance to the next hop's 250: milliseconds on a LAN, days for a retried message.
OUTBOUND_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0, 86400.0, 172800.0)


def login_result(result: str) -> str:
    """report_login's result as a label: "ok", or the failure's reason ("failed
    (bad-credentials)" -> "bad-credentials", "refused (tls-required)" -> "tls-required")."""
    if result == "succeeded":
        return "ok"
    return result.partition("(")[2].rstrip(")") or result


class _Live(Collector):
    """The gauges read from the node when scraped."""

    def __init__(self) -> None:
        self.sessions: Callable[[], Mapping[str, int]] | None = None
        self.blocked_sources: Callable[[], int] | None = None
        self.queue: Mapping[str, int] = {}  # queued messages by status, refreshed by the delivery worker

    def collect(self) -> Iterable[Metric]:
        sessions = GaugeMetricFamily("postroom_sessions", "Open connections per service", labels=["service"])
        for service, count in sorted((self.sessions() if self.sessions else {}).items()):
            sessions.add_metric([service], count)
        yield sessions
        yield GaugeMetricFamily("postroom_blocked_sources", "Source IP addresses blocked for failed logins now",
                                value=self.blocked_sources() if self.blocked_sources else 0)
        queue = GaugeMetricFamily("postroom_queue_messages", "Messages in the outbound queue by status "
                                  "(every node's, as last read from the store)", labels=["status"])
        for status, count in sorted(self.queue.items()):
            queue.add_metric([status], count)
        yield queue


class Metrics:
    content_type = CONTENT_TYPE  # of `render()`, for whoever serves it (web/app.py)

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry(auto_describe=True)
        self.connections = Counter("postroom_connections", "Connections accepted, per service", ["service"],
                                   registry=registry)
        self.logins = Counter("postroom_logins", "POP3 and SMTP AUTH logins by result (ok or the failure reason)",
                              ["service", "result"], registry=registry)
        self.messages_received = Counter("postroom_messages_received",
                                         "Messages accepted over SMTP (durably stored, 250 sent)", registry=registry)
        self.messages_retrieved = Counter("postroom_messages_retrieved", "Messages sent by POP3 RETR",
                                          registry=registry)
        self.bytes_received = Counter("postroom_bytes_received",
                                      "Message bytes of the messages accepted over SMTP", registry=registry)
        self.bytes_sent = Counter("postroom_bytes_sent", "Message bytes sent by POP3 RETR", registry=registry)
        self.delivery_seconds = Histogram("postroom_delivery_seconds",
                                          "Time from the end of DATA to the durable 250", registry=registry,
                                          buckets=DELIVERY_BUCKETS)
        self.outbound = Counter("postroom_outbound_recipients", "Outbound delivery outcomes per recipient "
                                "(sent, failed, expired, deferred)", ["result"], registry=registry)
        self.outbound_seconds = Histogram("postroom_outbound_delivery_seconds",
                                          "Time from acceptance to the final outcome of a remote recipient",
                                          registry=registry, buckets=OUTBOUND_BUCKETS)
        self.live = _Live()
        registry.register(self.live)
        self._connections: dict[str, Counter] = {}
        self._logins: dict[tuple[str, str], Counter] = {}

    def watch(self, sessions: Callable[[], Mapping[str, int]], blocked_sources: Callable[[], int]) -> None:
        """Where the scrape-time gauges come from (the node's live state)."""
        self.live.sessions = sessions
        self.live.blocked_sources = blocked_sources

    # the hot path: one dict lookup and one increment ------------------------------------
    def connection(self, service: str) -> None:
        child = self._connections.get(service)
        if child is None:
            child = self._connections[service] = self.connections.labels(service)
        child.inc()

    def login(self, service: str, result: str) -> None:
        key = (service, result)
        child = self._logins.get(key)
        if child is None:
            child = self._logins[key] = self.logins.labels(service, login_result(result))
        child.inc()

    def received(self, size: int, seconds: float) -> None:
        self.messages_received.inc()
        self.bytes_received.inc(size)
        self.delivery_seconds.observe(seconds)

    def retrieved(self, size: int) -> None:
        self.messages_retrieved.inc()
        self.bytes_sent.inc(size)

    def outbound_result(self, result: str, seconds: float | None) -> None:
        """One remote recipient's attempt: its result, and for a final one the time since acceptance."""
        self.outbound.labels(result).inc()
        if seconds is not None and result != "deferred":
            self.outbound_seconds.observe(max(0.0, seconds))

    def queue_counts(self, counts: Mapping[str, int]) -> None:
        self.live.queue = dict(counts)

    def render(self) -> bytes:
        """The text exposition format (CONTENT_TYPE)."""
        return generate_latest(self.registry)
