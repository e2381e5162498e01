"""`postroom doctor send ADDRESS` (diagnostics/doctor_send.py runs it): the facts, the plan and
the probe; diagnostics/checks_send.py judges them.

The checks, in the order mail travels: is the address remote (`recipient`), does a node deliver
(`delivery-service`), which send connector routes the domain and why none does
(`send-connector`), what DNS answers with the resolver the transport settings name (`dns`),
what DANE asks (`dane`), a live session with the next hop (`next-hop`: greeting, EHLO,
STARTTLS, the TLS result and how the certificate was checked; QUIT, no mail is sent), what
the queue holds for the address (`queue`) and what message tracking last recorded (`tracking`).

The plan and the connection are delivery's own (nexthop/plan.py, nexthop/connection.py): the
same targets in the same order, the same TLS policy and DANE rules, the same smart-host login.
Checks that depend on an earlier failure say "not checked" (a warning) instead of failing again
for the same cause.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone

from ..errors import PostroomError
from ..model import (
    QueuedMessage, QueuedRecipient, QueueInfo, ReceiveConnector, Route, SendConnector, Server, Service, TrackingEvent,
    TransportSettings, parse_binding, route,
)
from ..model.queue import POISON_QUEUE, QueueKey
from ..nexthop.connection import ClientConnection, HostFailure, TlsPolicy
from ..nexthop.plan import HopPlan, credentials
from ..storage import StoreReader
from .facts import node_report

PROBE_TIMEOUT = 10.0  # per target: a doctor answers in seconds, delivery waits longer (the connector's timeout)
QUEUE_SCAN = 500  # queued messages read per queue to find the address's
TRACKING_WINDOW = timedelta(days=30)  # as long as tracking is kept
TRACKING_EVENTS = 10


@dataclass
class Attempt:
    """One target the probe tried."""

    where: str  # "mx1.example.net [192.0.2.1]:25"
    error: str | None = None  # the reply that made it unusable
    greeting: str = ""
    extensions: tuple[str, ...] = ()
    starttls: bool = False
    tls: str | None = None  # "TLSv1.3 (certificate validated)"
    clear_fallback: bool = False  # opportunistic TLS failed: connected again in clear, as delivery does
    tls_error: str | None = None


@dataclass
class SendFacts:
    address: str
    server: Server
    local: bool
    data_dir: str
    smtp: Service | None
    node_serving: bool
    heartbeat_age: float | None
    transport: TransportSettings
    connectors: list[SendConnector]
    domains: list[str]
    receive: list[ReceiveConnector]
    route: Route | None
    queues: list[QueueInfo]
    queued: list[tuple[QueuedMessage, QueuedRecipient]]  # the address's rows still in the queue
    tracking: list[TrackingEvent]  # the address's newest events, oldest first
    plan: HopPlan | None = None
    plan_error: str | None = None  # planning itself failed (a PostroomError)
    attempts: list[Attempt] = field(default_factory=list)
    connected: Attempt | None = None
    probe_skipped: str | None = None  # why no connection was tried

    @property
    def domain(self) -> str:
        return self.address.rsplit("@", 1)[1]

    @property
    def is_local(self) -> bool:
        return self.domain in {d.lower() for d in self.domains}

    def on_server(self, *words: str) -> tuple[str, ...]:
        return words if self.local else (*words, "--server", self.server.name)

    @property
    def resolver_text(self) -> str:
        servers = self.transport.dns_servers
        return f"DNS servers {', '.join(servers)} (transport settings)" if servers else "the system resolver"


def own_endpoints(receive: list[ReceiveConnector]) -> set[tuple[str, int]]:
    """This server's SMTP listeners (its enabled receive connectors' bindings): a next hop that
    is one of them is a loop."""
    found: set[tuple[str, int]] = set()
    for connector in receive:
        if connector.enabled:
            for binding in connector.bindings:
                found.add(parse_binding("bindings", binding))
    return found


async def _queued(store: StoreReader, address: str, names: list[str]) -> list[tuple[QueuedMessage, QueuedRecipient]]:
    rows: list[tuple[QueuedMessage, QueuedRecipient]] = []
    seen: set[str] = set()
    for name in names:
        for message in await store.list_queued_messages(queue=name, limit=QUEUE_SCAN):
            if message.id in seen:
                continue
            seen.add(message.id)
            try:
                message, recipients = await store.get_queued_message(message.id)
            except PostroomError:  # delivered or removed meanwhile
                continue
            rows += [(message, r) for r in recipients if r.address.lower() == address.lower()]
    return rows


async def gather(store: StoreReader, server: str, address: str, data_dir: str, local: bool) -> SendFacts:
    server_row = await store.get_server(server)  # NotFound names the server
    services = {s.name: s for s in await store.list_services(server)}
    report, age = await node_report(store, server)
    connectors = await store.list_send_connectors()
    domain = address.rsplit("@", 1)[1]
    found = route(connectors, domain, server)
    queues = await store.list_queues()
    names = [q.name for q in queues if q.name == POISON_QUEUE or (found is not None and q.name == queue_name(found))
             or _queue_domain(q) == domain]
    since = (datetime.now(timezone.utc) - TRACKING_WINDOW).isoformat()
    return SendFacts(
        address=address, server=server_row, local=local, data_dir=data_dir, smtp=services.get("smtp"),
        node_serving=report is not None, heartbeat_age=age,
        transport=await store.get_transport_settings(server), connectors=connectors,
        domains=await store.list_domains(), receive=await store.list_connectors(server), route=found,
        queues=queues, queued=await _queued(store, address, names),
        tracking=await store.list_tracking(recipient=address, since=since, limit=TRACKING_EVENTS),
    )


def queue_name(found: Route) -> str:
    """The queue (next hop) a route's mail waits in, as the delivery worker names it."""
    if not found.connector.dns_routing:
        return QueueKey.smart_host(found.connector.name).name
    return QueueKey.dns(found.next_hop_domain, found.connector.name).name


def _queue_domain(queue: QueueInfo) -> str | None:
    try:
        key = QueueKey.parse(queue.name)
    except PostroomError:
        return None
    return key.next_hop if key.delivery_type == "dns-connector-delivery" else None


async def probe(f: SendFacts, timeout: float) -> None:
    """Connect to the plan's targets in order, as delivery does, until one takes a session."""
    assert f.route is not None and f.plan is not None
    connector = f.route.connector
    try:
        login = credentials(f.data_dir, connector)
    except PostroomError as exc:
        f.probe_skipped = f"the smart-host password cannot be read: {exc.message}"
        return
    timeout = min(timeout, float(connector.connection_inactivity_timeout))
    helo = connector.fqdn or f.server.fqdn or f.server.name
    for target, policy in f.plan.targets:
        attempt = Attempt(f"{target.host} [{target.address}]:{target.port}")
        f.attempts.append(attempt)
        lines: list[str] = []

        def watch(sent: bool, line: str) -> None:
            if not sent:
                lines.append(line)

        async def open_with(tls: TlsPolicy) -> ClientConnection:
            return await ClientConnection.open(target, helo, tls, timeout=timeout, source_ip=connector.source_ip,
                                               own_names=(f.server.fqdn,), credentials=login, observer=watch)

        conn: ClientConnection | None = None
        try:
            conn = await open_with(policy)
        except HostFailure as failure:
            attempt.error = failure.reply.text
            if failure.tls and not policy.mandatory:  # opportunistic: once more in clear, as delivery does
                attempt.tls_error = failure.reply.text
                try:
                    conn = await open_with(TlsPolicy(offer=False))
                    attempt.error, attempt.clear_fallback = None, True
                except HostFailure as again:
                    attempt.error = again.reply.text
        if conn is None:
            if attempt.error and "loops back to myself" in attempt.error:
                break
            continue
        attempt.greeting = conn.greeting
        attempt.extensions = conn.capabilities.extensions
        attempt.starttls = conn.capabilities.starttls or attempt.clear_fallback
        if conn.tls_version:
            attempt.tls = f"{conn.tls_version} ({conn.tls_note})"
        await conn.close()
        f.connected = attempt
        return


def candidates(f: SendFacts) -> list[tuple[SendConnector, Route]]:
    """Every connector whose address spaces match the domain, with the route it would give if
    it were enabled and sent from this server (to say why none does)."""
    found = []
    for connector in f.connectors:
        hypothetical = replace(connector, enabled=True, source_servers=(f.server.name,))
        matched = route([hypothetical], f.domain, f.server.name)
        if matched is not None:
            found.append((connector, matched))
    return found
