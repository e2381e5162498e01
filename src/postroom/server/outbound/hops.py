"""Delivering to one next hop: where to connect, with what TLS, and several messages per connection.

`HopDeliveries` keeps one `HopDelivery` per next hop (a queue) while it has work. A hop finds
its targets once per round (the smart hosts, or the MX hosts in preference order: at most five
addresses per attempt, as Postfix), then runs up to `max_per_domain_outbound_connections`
connections (within the node's `max_outbound_connections`); each connection takes the hop's
waiting messages one after the other (connection reuse) until none is left, waits IDLE_SECONDS
for more (as Postfix's connection cache, smtp_connection_cache_time_limit 2 s: a steady trickle
of mail to one next hop then costs one transaction per message, not a connection, an EHLO and a
QUIT each), then says QUIT.
A host that cannot be reached is skipped for the next address; when none can, every waiting
message of the hop gets that failure at once (one connection attempt per round, not one per
message). DANE (RFC 7672): when the MX host's TLSA records are DNSSEC-authenticated, TLS is
mandatory and the certificate must match them, or the message waits (4.7.5), never sent in clear.
"""
from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from ... import sealing
from ...errors import PostroomError
from ...model import QueuedRecipient, SendConnector, TransportSettings
from ...model.queue import QueueKey
from ...protocol.smtp_client import Envelope, RecipientSpec, Reply, local_reply
from ...resolver import DnsError, DnsFailure, Resolver
from .connection import ClientConnection, HostFailure, Target, TlsPolicy
from .message import without_return_path
from .schedule import CONNECTION
from .worker import MessageAttempt, Outcome, outcome_of

log = logging.getLogger("postroom.outbound")
MAX_ADDRESSES = 5  # addresses tried per attempt (Postfix's smtp_mx_address_limit)
TARGETS_TTL = 30.0  # a hop's resolved targets are reused this long (the resolver caches by TTL too)
IDLE_SECONDS = 2.0  # an open connection with nothing to send waits this long for the next message

HopDone = Callable[[MessageAttempt, list[Outcome]], None]


@dataclass
class Job:
    attempt: MessageAttempt
    recipients: list[QueuedRecipient]
    done: HopDone


@dataclass(frozen=True)
class HopPlan:
    """Where a hop's mail goes now: targets with their TLS policy, or why nowhere."""

    targets: tuple[tuple[Target, TlsPolicy], ...] = ()
    failure: Reply | None = None  # no target: the reply every waiting recipient gets
    permanent: bool = False


def password_purpose(name: str) -> str:
    return f"send-connector/{name.casefold()}/auth_password"


class HopDeliveries:
    def __init__(self, store: Any, server: str, data_dir: str, *,
                 own_endpoints: Callable[[], set[tuple[str, int]]] = set,
                 resolver_factory: Callable[..., Resolver] = Resolver,
                 connect_timeout: float = 30.0) -> None:
        self.store = store
        self.server = server
        self.data_dir = data_dir
        self.own_endpoints = own_endpoints
        self.resolver_factory = resolver_factory
        self.connect_timeout = connect_timeout
        self.settings = TransportSettings()
        self.connectors: Sequence[SendConnector] = ()
        self.fqdn = server
        self.resolver = resolver_factory(())
        self._dns_servers: tuple[str, ...] = ()
        self.slots = asyncio.Semaphore(self.settings.max_outbound_connections)
        self._slots_size = self.settings.max_outbound_connections
        self.hops: dict[str, HopDelivery] = {}

    def configure(self, settings: TransportSettings, connectors: Sequence[SendConnector], fqdn: str) -> None:
        self.settings, self.connectors, self.fqdn = settings, connectors, fqdn
        if tuple(settings.dns_servers) != self._dns_servers:
            self._dns_servers = tuple(settings.dns_servers)
            self.resolver = self.resolver_factory(self._dns_servers)
        if settings.max_outbound_connections != self._slots_size:
            self._slots_size = settings.max_outbound_connections
            self.slots = asyncio.Semaphore(self._slots_size)
        for hop in self.hops.values():
            hop.plan_until = 0.0  # routes may have changed: find the targets again

    @staticmethod
    def key(found: Any) -> str:
        """The queue (next hop) of a route: one per smart-host connector, one per domain and DNS connector."""
        if not found.connector.dns_routing:
            return QueueKey.smart_host(found.connector.name).name
        return QueueKey.dns(found.next_hop_domain, found.connector.name).name

    def add(self, key: str, found: Any, attempt: MessageAttempt, recipients: list[QueuedRecipient],
            done: HopDone) -> None:
        hop = self.hops.get(key)
        if hop is None:
            hop = self.hops[key] = HopDelivery(self, key)
        hop.route = found
        hop.add(Job(attempt, recipients, done))

    def finished(self, hop: HopDelivery) -> None:
        if not hop.jobs and not hop.tasks and self.hops.get(hop.key) is hop:
            del self.hops[hop.key]

    async def stop(self) -> None:
        tasks = [t for hop in self.hops.values() for t in hop.tasks]
        for task in tasks:
            task.cancel()
        for task in tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        self.hops.clear()

    # ---------------------------------------------------------------- finding the targets
    async def plan(self, found: Any) -> HopPlan:
        connector: SendConnector = found.connector
        if connector.dns_routing:
            return await self._plan_mx(connector, found.next_hop_domain)
        return await self._plan_smart_hosts(connector)

    async def _plan_smart_hosts(self, connector: SendConnector) -> HopPlan:
        targets: list[tuple[Target, TlsPolicy]] = []
        last_error: DnsError | None = None
        for entry in connector.smart_hosts:
            host, port = _host_port(entry, connector.port)
            try:
                addresses = await self.resolver.addresses(host)
            except DnsFailure as exc:
                last_error = exc.error
                continue
            for address in addresses:
                targets.append((Target(host, address, port), self._tls_policy(connector, ())))
        if not targets:
            text = last_error.text if last_error else "no smart host configured"
            return HopPlan(failure=local_reply(451, "4.4.3", f"smart hosts of {connector.name}: {text}"))
        return self._without_loops(targets[:MAX_ADDRESSES])

    async def _plan_mx(self, connector: SendConnector, domain: str) -> HopPlan:
        answer = await self.resolver.mx_hosts(domain)
        if answer.error is not None:
            code = 451 if answer.error.temporary else 550
            return HopPlan(failure=local_reply(code, answer.error.status, f"{domain}: {answer.error.text}"),
                           permanent=answer.error.permanent)
        targets: list[tuple[Target, TlsPolicy]] = []
        for host in answer.hosts:
            tlsa: tuple[Any, ...] = ()
            secure = (answer.authenticated or answer.implicit) and host.authenticated
            if connector.dane and self._dns_servers and secure:
                found = await self.resolver.tlsa(host.name, connector.port)
                if found.error is not None and found.authenticated is False and found.error.temporary:
                    # RFC 7672 2.2: a secure host whose TLSA lookup fails is not used
                    continue
                if found.authenticated and found.records:
                    tlsa = tuple(found.records)
            policy = self._tls_policy(connector, tlsa, (host.name, domain))
            for address in host.addresses:
                targets.append((Target(host.name, address, connector.port), policy))
                if len(targets) >= MAX_ADDRESSES:
                    break
            if len(targets) >= MAX_ADDRESSES:
                break
        if not targets:
            return HopPlan(failure=local_reply(451, "4.7.5", f"{domain}: no MX host usable with DANE "
                                                             "(TLSA lookup failed)"))
        return self._without_loops(targets)

    def _tls_policy(self, connector: SendConnector, tlsa: tuple[Any, ...], names: tuple[str, ...] = ()) -> TlsPolicy:
        if tlsa:  # DANE: the names matter only to DANE-TA records (RFC 7672 3.2.2)
            return TlsPolicy(offer=True, mandatory=True, tlsa=tlsa, names=names)
        level = connector.tls_auth_level
        mandatory = bool(connector.require_tls or level)
        verify = level in ("certificate-validation", "domain-validation")
        names = (connector.tls_domain,) if level == "domain-validation" and connector.tls_domain else ()
        return TlsPolicy(offer=True, mandatory=mandatory, verify=verify, names=names)

    def _without_loops(self, targets: list[tuple[Target, TlsPolicy]]) -> HopPlan:
        """RFC 5321 5.1: an MX that is this server would deliver the mail to itself, forever."""
        own = self.own_endpoints()
        wildcard_ports = {port for ip, port in own if ip in ("0.0.0.0", "::")}
        kept = []
        for target, policy in targets:
            mine = (target.address, target.port) in own or (
                target.port in wildcard_ports and _is_local_address(target.address))
            if not mine:
                kept.append((target, policy))
        if targets and not kept:
            host = targets[0][0].host
            return HopPlan(failure=local_reply(554, "5.4.6", f"mail for {host} loops back to myself"), permanent=True)
        return HopPlan(tuple(kept))

    def credentials(self, connector: SendConnector) -> tuple[str, str] | None:
        if connector.smart_host_auth != "basic" or not connector.auth_username or not connector.auth_password:
            return None
        return connector.auth_username, sealing.unseal(self.data_dir, connector.auth_password,
                                                       password_purpose(connector.name))


class HopDelivery:
    def __init__(self, manager: HopDeliveries, key: str) -> None:
        self.manager = manager
        self.key = key
        self.route: Any = None
        self.jobs: deque[Job] = deque()
        self.tasks: set[asyncio.Task[None]] = set()
        self.plan_until = 0.0
        self._plan: HopPlan | None = None
        self._planning: asyncio.Lock = asyncio.Lock()
        self.idle = 0  # connections open with nothing to send, waiting for `more`
        self.more = asyncio.Event()

    def add(self, job: Job) -> None:
        self.jobs.append(job)
        if self.idle:
            self.more.set()
            if len(self.jobs) <= self.idle:
                return  # an open connection takes it
        limit = max(1, self.manager.settings.max_per_domain_outbound_connections)
        if len(self.tasks) < min(limit, len(self.jobs) + len(self.tasks)):
            task = asyncio.get_running_loop().create_task(self._connection())
            self.tasks.add(task)
            task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("outbound: delivery to %s failed unexpectedly", self.key, exc_info=task.exception())
            self._fail_waiting(local_reply(451, "4.3.0", "internal error during delivery"), permanent=False)
        if self.jobs and not self.tasks:
            self.add(self.jobs.popleft())  # rare: work arrived as the last connection ended
        self.manager.finished(self)

    async def _current_plan(self) -> HopPlan:
        async with self._planning:
            loop = asyncio.get_running_loop()
            if self._plan is None or loop.time() >= self.plan_until:
                try:
                    self._plan = await self.manager.plan(self.route)
                except PostroomError as exc:
                    self._plan = HopPlan(failure=local_reply(451, "4.4.3", exc.message))
                self.plan_until = loop.time() + TARGETS_TTL
            return self._plan

    async def _connection(self) -> None:
        async with self.manager.slots:
            plan = await self._current_plan()
            if plan.failure is not None:
                self._fail_waiting(plan.failure, plan.permanent)
                return
            conn: ClientConnection | None = None
            try:
                while self.jobs or (conn is not None and conn.usable and await self._more_within(IDLE_SECONDS)):
                    if conn is None or not conn.usable or conn.spoken_to:
                        if conn is not None:
                            conn.abort()
                        conn = await self._connect(plan)
                        if conn is None:
                            return
                        if not self.jobs:
                            break  # another connection took the last job while this one connected
                    job = self.jobs.popleft()
                    await self._send(conn, job)
            finally:
                if conn is not None:
                    await conn.close()

    async def _more_within(self, seconds: float) -> bool:
        """Wait (an idle connection) until a job is waiting; False after `seconds` without one."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        self.idle += 1
        try:
            while not self.jobs:
                self.more.clear()
                left = deadline - loop.time()
                if left <= 0:
                    return False
                try:
                    await asyncio.wait_for(self.more.wait(), left)
                except asyncio.TimeoutError:
                    return bool(self.jobs)
            return True
        finally:
            self.idle -= 1

    async def _connect(self, plan: HopPlan) -> ClientConnection | None:
        """The first target that takes a session; None (every waiting job failed) if none does."""
        connector: SendConnector = self.route.connector
        try:
            credentials = self.manager.credentials(connector)
        except PostroomError as exc:
            self._fail_waiting(local_reply(451, "4.7.0", f"smart-host password: {exc.message}"), False)
            return None
        timeout = min(self.manager.connect_timeout, float(connector.connection_inactivity_timeout))

        async def open_with(target: Target, policy: TlsPolicy) -> ClientConnection:
            return await ClientConnection.open(target, connector.fqdn or self.manager.fqdn, policy, timeout=timeout,
                                               source_ip=connector.source_ip, own_names=(self.manager.fqdn,),
                                               credentials=credentials)

        last: HostFailure | None = None
        for target, policy in plan.targets:
            try:
                return await open_with(target, policy)
            except HostFailure as failure:
                last = failure
            if last.tls and not policy.mandatory:  # opportunistic TLS failed: once more in clear (as Postfix)
                try:
                    return await open_with(target, TlsPolicy(offer=False))
                except HostFailure as failure:
                    last = failure
            log.info("outbound: %s [%s]:%d: %s", target.host, target.address, target.port, last.reply.text)
            if last.permanent and last.reply.enhanced == "5.4.6":
                break  # a loop: no other host will change that
        reply = last.reply if last is not None else local_reply(451, "4.4.1", "no address to connect to")
        self._fail_waiting(reply, permanent=bool(last and last.permanent))
        return None

    async def _send(self, conn: ClientConnection, job: Job) -> None:
        message = job.attempt.message
        connector: SendConnector = self.route.connector
        if connector.max_message_size and message.size > connector.max_message_size:
            reply = local_reply(552, "5.3.4", f"message size {message.size} exceeds the send connector's limit "
                                              f"{connector.max_message_size}")
            job.done(job.attempt, [outcome_of(r, reply) for r in job.recipients])
            return
        if job.attempt.body is None:
            try:
                job.attempt.body = await self.manager.store.read_queued_body(message.id)
            except PostroomError as exc:
                reply = local_reply(451, "4.3.0", f"queued message unreadable: {exc.message}")
                job.done(job.attempt, [outcome_of(r, reply) for r in job.recipients])
                return
        body = without_return_path(job.attempt.body)
        envelope = Envelope(message.sender, [RecipientSpec(r.address, r.notify, r.orcpt) for r in job.recipients],
                            len(body), body_8bit=message.body_8bit, smtputf8=message.smtputf8, ret=message.ret,
                            envid=message.envid)
        try:
            replies = await conn.send(envelope, body)
        except (OSError, ConnectionError) as exc:
            reply = local_reply(451, "4.4.2", f"connection to {conn.target.host} lost: {exc}")
            replies = [reply] * len(job.recipients)
        remote = f"{conn.target.host} [{conn.target.address}]"
        job.done(job.attempt, [outcome_of(r, reply, remote) for r, reply in zip(job.recipients, replies)])

    def _fail_waiting(self, reply: Reply, permanent: bool) -> None:
        """The hop cannot be reached: every waiting job gets the reply now."""
        while self.jobs:
            job = self.jobs.popleft()
            outcomes = [outcome_of(r, reply, failure=CONNECTION) for r in job.recipients]
            if not permanent:
                for o in outcomes:
                    o.permanent = False
            job.done(job.attempt, outcomes)


def _host_port(entry: str, default_port: int) -> tuple[str, int]:
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else default_port
    if entry.count(":") == 1:
        host, _, port = entry.partition(":")
        return host, int(port)
    return entry, default_port


def _is_local_address(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return ip.is_loopback or ip.is_unspecified
