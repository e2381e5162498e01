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
message). The targets and their TLS policy come from nexthop/plan.py (shared with `postroom doctor
send`). DANE (RFC 7672): when the MX host's TLSA records are DNSSEC-authenticated, TLS is
mandatory and the certificate must match them, or the message waits (4.7.5), never sent in clear.
"""
from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from ...dkim import DkimError, Signer
from ...dsn import report_queue
from ...errors import PostroomError
from ...model import DkimKey, QueuedRecipient, SendConnector, TransportSettings
from ...nexthop.connection import ClientConnection, HostFailure, Target, TlsPolicy
from ...nexthop.plan import HopPlan, credentials, plan_route
from ...protocol.smtp_client import Envelope, RecipientSpec, Reply, local_reply
from ...resolver import Resolver
from .message import without_return_path
from .schedule import CONNECTION
from .worker import MessageAttempt, Outcome, outcome_of

log = logging.getLogger("postroom.outbound")
TARGETS_TTL = 30.0  # a hop's resolved targets are reused this long (the resolver caches by TTL too)
IDLE_SECONDS = 2.0  # an open connection with nothing to send waits this long for the next message

HopDone = Callable[[MessageAttempt, list[Outcome]], None]


@dataclass
class Job:
    attempt: MessageAttempt
    recipients: list[QueuedRecipient]
    done: HopDone


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
        self.protocol_logs: dict[str, Any] = {}  # send connector name -> its ProtocolLog (when enabled)
        self.signer = Signer()  # keeps the loaded private keys
        self.dkim_keys: Sequence[DkimKey] = ()  # every domain's, from the store (the node sets them)

    def outgoing(self, stored: bytes) -> bytes:
        """The message as it leaves: the Return-Path of the stored copy goes (RFC 5321 4.4), and a
        domain with DKIM keys signs it (one signature per key of its From domain)."""
        body = without_return_path(stored)
        if self.dkim_keys:
            try:
                body = self.signer.sign_message(body, self.dkim_keys) + body
            except (ValueError, DkimError) as exc:  # a broken key must not stop the mail: sent unsigned
                log.warning("outbound: DKIM signing failed, sent unsigned: %s", exc)
        return body

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
        return report_queue(found)

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
        """The route's targets now (nexthop/plan.py; the doctor makes the same plan)."""
        return await plan_route(self.resolver, found.connector, found.next_hop_domain,
                                dane_trusted=bool(self._dns_servers), own_endpoints=self.own_endpoints())

    def credentials(self, connector: SendConnector) -> tuple[str, str] | None:
        return credentials(self.data_dir, connector)


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
                                               credentials=credentials,
                                               protocol_log=self.manager.protocol_logs.get(connector.name))

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
        if job.attempt.outgoing is None:
            job.attempt.outgoing = self.manager.outgoing(job.attempt.body)
        body = job.attempt.outgoing
        envelope = Envelope(message.sender, [RecipientSpec(r.address, r.notify, r.orcpt) for r in job.recipients],
                            len(body), body_8bit=message.body_8bit, smtputf8=message.smtputf8, ret=message.ret,
                            envid=message.envid)
        try:
            replies = await conn.send(envelope, body)
        except (OSError, ConnectionError) as exc:
            reply = local_reply(451, "4.4.2", f"connection to {conn.target.host} lost: {exc}")
            replies = [reply] * len(job.recipients)
        remote = f"{conn.target.host} [{conn.target.address}]"
        dsn, content = conn.capabilities.dsn, conn.content_reply  # NOTIFY went on; the verdict on the data
        job.done(job.attempt, [outcome_of(r, reply, remote, dsn_passed=dsn,
                                          content_refused=content is not None and reply is content)
                               for r, reply in zip(job.recipients, replies)])

    def _fail_waiting(self, reply: Reply, permanent: bool) -> None:
        """The hop cannot be reached: every waiting job gets the reply now."""
        while self.jobs:
            job = self.jobs.popleft()
            outcomes = [outcome_of(r, reply, failure=CONNECTION) for r in job.recipients]
            if not permanent:
                for o in outcomes:
                    o.permanent = False
            job.done(job.attempt, outcomes)
