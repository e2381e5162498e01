"""The delivery worker: takes due messages from the shared queue and delivers them.

One worker per node, while the node's SMTP (transport) service runs. It claims due messages
with a lease (on PostgreSQL several nodes claim from one queue and never the same message; a
node that dies leaves leases that expire, and another node delivers), groups their recipients
by next hop, and gives each group to that next hop's `HopDelivery` (hops.py): up to the
per-destination connection limit, each connection carrying message after message. When every
next hop of a message is done, its recipients are updated in one write (`finish_attempt`),
and a non-delivery report or a delay notice goes to the sender if one is due (reports.py).

DSN (RFC 3461): a recipient with NOTIFY=SUCCESS whose next hop took the message gets a
"relayed" report from here when that hop does not offer DSN; when it does, NOTIFY went on with
the message and the report is the next hop's to send. No backscatter: a message whose submitter
did not log in (anonymous relay, `submitter` None) that the next hop refuses for its content
(a 5xx after the end of the data) fails without a non-delivery report: its sender may well be
forged, and the report would go to an innocent third party. The failure is tracked (FAIL).
"""
from __future__ import annotations

import asyncio
import logging
import os
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from ...activity import OUTBOUND_FAILED, OUTBOUND_SENT, QUEUE_LENGTH_SAMPLES, QUEUE_LENGTH_SUM, Activity
from ...errors import Conflict, NotFound, PostroomError, ValidationError
from ...model import (
    Claim, QueuedMessage, QueuedRecipient, RecipientResult, RecipientStatus, SendConnector, TrackingEvent,
    TrackingEventId, TransportSettings, route,
)
from ...model.queue import QueueKey
from ...protocol.smtp_client import Reply
from .message import without_return_path
from .reports import (
    DELAYED, FAILED, RELAYED, RecipientOutcome, ReportInput, build_report, report_due, subject_of,
)
from .schedule import CONNECTION, RECIPIENT, RetryPolicy, to_epoch, to_iso

log = logging.getLogger("postroom.outbound")
POLL_INTERVAL = 1.0  # due retries are looked for this often; new mail wakes the worker at once
LEASE_SECONDS = 60  # renewed while a message is in flight; a dead node's claims expire after this
LEASE_ENV = "POSTROOM_OUTBOUND_LEASE"  # whole seconds: a test/ops override of LEASE_SECONDS
LEASE_RANGE = (3, 3600)
MAX_IN_FLIGHT = 2000  # messages claimed and not yet finished, on this node


def lease_seconds(environ: Any = None) -> int:
    """LEASE_SECONDS, or POSTROOM_OUTBOUND_LEASE (3 to 3600 whole seconds): how long the
    messages a node claimed stay its own without a renewal, i.e. how long the other nodes wait
    before they deliver what a node that died had claimed. Renewed every third of it while in
    flight, so a shorter lease costs store writes; meant for tests and for an operator who wants
    a dead node's mail moving sooner, not as a setting to tune."""
    text = (os.environ if environ is None else environ).get(LEASE_ENV, "").strip()
    if not text:
        return LEASE_SECONDS
    low, high = LEASE_RANGE
    try:
        value = int(text)
    except ValueError:
        raise ValidationError(LEASE_ENV, f"{text!r} is not a whole number of seconds ({low} to {high})") from None
    if not low <= value <= high:
        raise ValidationError(LEASE_ENV, f"{value} is out of range ({low} to {high} seconds)")
    return value


@dataclass
class Outcome:
    """What one attempt did for one recipient."""

    recipient: QueuedRecipient
    reply: str
    status: str = ""  # RFC 3463 code
    sent: bool = False
    permanent: bool = False
    failure: str = RECIPIENT  # CONNECTION: the next hop could not be reached
    remote_mta: str = ""
    dsn_passed: bool = False  # the next hop offered DSN: NOTIFY went on with the message
    content_refused: bool = False  # the reply came after the end of the data (the content's verdict)


@dataclass
class MessageAttempt:
    """One claimed message while its next hops deliver it: how many are still at it, and what
    each recipient got."""

    claim: Claim
    body: bytes | None = None  # as queued
    outgoing: bytes | None = None  # as sent: without Return-Path, DKIM-signed (once per attempt)
    pending_hops: int = 0
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def message(self) -> QueuedMessage:
        return self.claim.message


def outcome_of(recipient: QueuedRecipient, reply: Reply, remote_mta: str = "", failure: str = RECIPIENT, *,
               dsn_passed: bool = False, content_refused: bool = False) -> Outcome:
    status = reply.enhanced or f"{str(reply.code)[0]}.0.0"
    return Outcome(recipient, reply.text, status, sent=reply.positive, permanent=reply.permanent,
                   failure=failure, remote_mta=remote_mta, dsn_passed=dsn_passed,
                   content_refused=content_refused and not reply.positive)


class OutboundWorker:
    """Claims, dispatches to next hops, finishes attempts and sends reports."""

    def __init__(self, store: Any, server: str, *, hops: Any, submit_report: Callable[..., Any],
                 clock: Callable[[], float] = time.time, lease_seconds: int = LEASE_SECONDS,
                 poll_interval: float = POLL_INTERVAL, metrics: Any = None,
                 activity: Activity | None = None) -> None:
        self.store = store
        self.server = server
        # Unique to this worker in this process: a claim of a lease that ran out in its own
        # hands is not counted as a crash (storage/sql/queue.py split_candidates), so a restarted
        # node must never hold the same name.
        self.holder = f"{server}/{secrets.token_hex(6)}"
        self.hops = hops  # hops.HopDeliveries: runs a group of recipients to one next hop
        self.submit_report = submit_report  # async (sender, data, queue_id) -> None
        self.clock = clock
        self.lease_seconds = lease_seconds
        self.poll_interval = poll_interval
        self.metrics = metrics
        self.activity = activity  # the node's counters: the queue viewer's chart (sent, failed, queue length)
        self.settings = TransportSettings()
        self.connectors: Sequence[SendConnector] = ()
        self.fqdn = server
        self.policy = RetryPolicy()
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._renewer: asyncio.Task[None] | None = None
        self._inflight: dict[str, MessageAttempt] = {}
        self._finishing: set[asyncio.Task[None]] = set()
        self._counted_at = 0.0
        self._held_back = False  # the last look for due mail found no room in flight

    # ------------------------------------------------------------------ configuration
    def configure(self, settings: TransportSettings, connectors: Sequence[SendConnector], fqdn: str) -> None:
        self.settings, self.connectors, self.fqdn = settings, list(connectors), fqdn
        self.policy = RetryPolicy(
            transient_attempts=settings.transient_failure_retry_attempts,
            transient_interval=settings.transient_failure_retry_interval,
            connection_failure_interval=settings.outbound_connection_failure_retry_interval,
            message_retry_interval=settings.message_retry_interval,
            delay_notification=settings.delay_notification_timeout,
            expiration=settings.message_expiration_timeout,
        )
        self.hops.configure(settings, self.connectors, fqdn)
        self._wake.set()

    def notify(self) -> None:
        """New mail was queued on this node: look at once."""
        self._wake.set()

    def submission_lease(self) -> tuple[str, int] | None:
        """(holder, lease seconds) for a submission to be queued already claimed by this worker
        (OutboundSubmission.lease_holder), or None when it could not take it now (not running,
        full): the message is then queued unclaimed and found by claim_due."""
        if not self.running or self._stopping.is_set() or len(self._inflight) >= MAX_IN_FLIGHT:
            return None
        return self.holder, self.lease_seconds

    def take(self, claim: Claim, body: bytes | None = None) -> None:
        """A message queued claimed by this worker (see submission_lease): deliver it now, as
        if claim_due had returned it; `body`, the stored body when the caller has it at hand
        (else it is read from the store). Stopped meanwhile: give the claim back."""
        if not self.running or self._stopping.is_set() or claim.message.id in self._inflight:
            task = asyncio.get_running_loop().create_task(self._give_back(claim.message.id))
            self._finishing.add(task)
            task.add_done_callback(self._finishing.discard)
            return
        self._dispatch(claim, body)

    async def _give_back(self, message_id: str) -> None:
        try:
            await self.store.release_claim(message_id, self.holder)
        except PostroomError as exc:
            log.warning("outbound: cannot give back message %s (delivered when its lease ends): %s", message_id,
                        exc.message)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self.running:
            return
        self._stopping.clear()
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(self._run())
        self._renewer = loop.create_task(self._renew_leases())

    async def stop(self) -> None:
        """Stop claiming; abandon what is in flight and give the claims back (not a crash)."""
        self._stopping.set()
        self._wake.set()
        for task in (self._task, self._renewer):
            if task is not None:
                task.cancel()
        await self.hops.stop()
        for task in list(self._finishing):
            try:
                await asyncio.wait_for(asyncio.shield(task), 5.0)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                pass
        for message_id in list(self._inflight):
            try:
                await self.store.release_claim(message_id, self.holder)
            except PostroomError as exc:
                log.warning("outbound: cannot give back message %s: %s", message_id, exc.message)
        self._inflight.clear()
        self._task = self._renewer = None

    # ------------------------------------------------------------------ the loop
    async def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            room = MAX_IN_FLIGHT - len(self._inflight)
            self._held_back = room <= 0
            claims: list[Claim] = []
            if room > 0:
                try:
                    claims = await self.store.claim_due(self.holder, to_iso(self.clock()), self.lease_seconds,
                                                        min(room, 500))
                except PostroomError as exc:
                    log.warning("outbound: cannot read the queue: %s", exc.message)
            for claim in claims:
                if claim.message.id in self._inflight:
                    continue  # ours, still in flight: its lease ran out before we renewed it (a stall)
                self._dispatch(claim)
            await self._count_queue()
            if claims and len(claims) >= min(room, 500):
                continue  # more may be due
            try:
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)
            except asyncio.TimeoutError:
                pass

    async def _count_queue(self) -> None:
        """The queue-length gauge and the chart's sample, read at most every few seconds."""
        now = self.clock()
        if (self.metrics is None and self.activity is None) or now < self._counted_at + 5.0:
            return
        self._counted_at = now
        try:
            counts = await self.store.queue_counts()
        except PostroomError:
            return
        if self.metrics is not None:
            self.metrics.queue_counts(counts)
        if self.activity is not None:
            self.activity.record(QUEUE_LENGTH_SUM, sum(counts.values()))
            self.activity.record(QUEUE_LENGTH_SAMPLES)

    async def _renew_leases(self) -> None:
        while not self._stopping.is_set():
            await asyncio.sleep(max(1.0, self.lease_seconds / 3))
            if not self._inflight:
                continue
            try:  # one statement for all in flight, however many
                await self.store.extend_leases(self.holder, to_iso(self.clock()), self.lease_seconds)
            except PostroomError as exc:
                log.warning("outbound: cannot extend the leases of %d messages: %s", len(self._inflight), exc.message)

    def _dispatch(self, claim: Claim, body: bytes | None = None) -> None:
        attempt = MessageAttempt(claim, body)
        self._inflight[claim.message.id] = attempt
        now = self.clock()
        groups: dict[str, tuple[Any, list[QueuedRecipient]]] = {}
        for recipient in claim.recipients:
            if self.policy.expired(to_epoch(claim.message.created_at), now):
                attempt.outcomes.append(Outcome(recipient, recipient.last_reply or "", "4.4.7"))
                continue  # _finish turns it into EXPIRED
            found = route(self.connectors, recipient.domain, self.server)
            if found is None:
                attempt.outcomes.append(Outcome(
                    recipient, f"451 4.4.0 no send connector routes {recipient.domain} from {self.server}", "4.4.0",
                    failure=CONNECTION))
                continue
            groups.setdefault(self.hops.key(found), (found, []))[1].append(recipient)
        attempt.pending_hops = len(groups)
        if not groups:
            self._schedule_finish(attempt)
            return
        for key, (found, recipients) in groups.items():
            self.hops.add(key, found, attempt, recipients, self._hop_done)

    def _hop_done(self, attempt: MessageAttempt, outcomes: list[Outcome]) -> None:
        attempt.outcomes.extend(outcomes)
        attempt.pending_hops -= 1
        if attempt.pending_hops <= 0:
            self._schedule_finish(attempt)

    def _schedule_finish(self, attempt: MessageAttempt) -> None:
        task = asyncio.get_running_loop().create_task(self._finish(attempt))
        self._finishing.add(task)
        task.add_done_callback(self._finishing.discard)

    # ------------------------------------------------------------------ the end of an attempt
    async def _finish(self, attempt: MessageAttempt) -> None:
        message = attempt.message
        now = self.clock()
        arrival = to_epoch(message.created_at)
        expired = self.policy.expired(arrival, now)
        results: list[RecipientResult] = []
        tracking: list[TrackingEvent] = []
        failed: list[RecipientOutcome] = []
        delayed: list[RecipientOutcome] = []
        relayed: list[RecipientOutcome] = []
        when = to_iso(now)
        for o in attempt.outcomes:
            r = o.recipient
            if o.sent:
                results.append(RecipientResult(r.address, RecipientStatus.SENT, o.reply, at=when))
                tracking.append(self._row(TrackingEventId.SEND, message, r.address, o.reply, o.remote_mta, r.queue))
                if not o.dsn_passed and report_due(message.sender, r.notify, RELAYED):
                    relayed.append(RecipientOutcome(r.address, RELAYED, o.status, o.reply, o.remote_mta, r.orcpt,
                                                    when))
                if self.metrics is not None:
                    self.metrics.outbound_result("sent", now - arrival)
                continue
            if o.permanent or expired:
                status = RecipientStatus.FAILED if o.permanent else RecipientStatus.EXPIRED
                reply = o.reply if o.permanent else _expired_reply(o.reply)
                results.append(RecipientResult(r.address, status, reply, at=when))
                tracking.append(self._row(TrackingEventId.FAIL, message, r.address, reply, o.remote_mta, r.queue))
                if o.permanent and o.content_refused and message.submitter is None:
                    log.info("outbound: %s refused %s for <%s> by content; no report to the unauthenticated "
                             "sender <%s> (backscatter)", o.remote_mta or "the next hop", message.id, r.address,
                             message.sender)
                elif report_due(message.sender, r.notify, FAILED):
                    failed.append(RecipientOutcome(r.address, FAILED, o.status if o.permanent else "4.4.7", reply,
                                                   o.remote_mta, r.orcpt, when))
                if self.metrics is not None:
                    self.metrics.outbound_result(status.value, now - arrival)
                continue
            attempts = r.attempts + 1
            next_at = to_iso(self.policy.next_attempt(o.failure, attempts, now))
            notify_delay = (self.policy.delay_notice_due(arrival, now, r.delay_notified)
                            and report_due(message.sender, r.notify, DELAYED))
            results.append(RecipientResult(r.address, RecipientStatus.RETRY, o.reply, next_attempt_at=next_at,
                                           delay_notified=r.delay_notified or notify_delay, at=when))
            tracking.append(self._row(TrackingEventId.DEFER, message, r.address, o.reply, o.remote_mta, r.queue))
            if notify_delay:
                delayed.append(RecipientOutcome(r.address, DELAYED, o.status, o.reply, o.remote_mta, r.orcpt, when,
                                                to_iso(self.policy.expires_at(arrival))))
            if self.metrics is not None:
                self.metrics.outbound_result("deferred", None)
        if (failed or delayed or relayed) and attempt.body is None:
            try:  # the report quotes the message, which finish_attempt may remove
                attempt.body = await self.store.read_queued_body(message.id)
            except PostroomError:
                attempt.body = b""
        try:
            await self.store.finish_attempt(message.id, self.holder, results, tracking)
        except (Conflict, NotFound) as exc:
            # The lease ran out and another worker has it, or an admin removed it: theirs now.
            log.warning("outbound: message %s changed hands during delivery: %s", message.id, exc.message)
            return
        except PostroomError as exc:
            log.warning("outbound: cannot record the attempt for %s (retried when its lease ends): %s",
                        message.id, exc.message)
            return
        finally:
            self._inflight.pop(message.id, None)
        self._count_outcomes(results)
        for report_for in (failed, delayed, relayed):
            if report_for:
                await self._report(attempt, report_for)
        if self._held_back:  # claims waited for room in flight: there is some now
            self._held_back = False
            self._wake.set()

    def _count_outcomes(self, results: Sequence[RecipientResult]) -> None:
        """Recipients sent and failed (or expired), for the queue viewer's chart."""
        if self.activity is None:
            return
        for result in results:
            if result.status == RecipientStatus.SENT:
                self.activity.record(OUTBOUND_SENT)
            elif result.status in (RecipientStatus.FAILED, RecipientStatus.EXPIRED):
                self.activity.record(OUTBOUND_FAILED)

    async def _report(self, attempt: MessageAttempt, outcomes: list[RecipientOutcome]) -> None:
        message = attempt.message
        original = without_return_path(attempt.body or b"")
        data = build_report(ReportInput(message.sender, self.fqdn, message.id, message.created_at, outcomes,
                                        original, message.ret, message.envid, subject_of(original)))
        try:
            await self.submit_report(message.sender, data, message)
        except PostroomError as exc:
            log.warning("outbound: the report on %s to %s could not be queued: %s", message.id, message.sender,
                        exc.message)
            return
        rows = [self._row(TrackingEventId.DSN, message, o.address, f"{o.action} {o.status}", "") for o in outcomes]
        try:
            await self.store.append_tracking(rows)
        except PostroomError:
            pass

    def _row(self, event: TrackingEventId, message: QueuedMessage, recipient: str, status: str,
             remote: str, queue: str = "") -> TrackingEvent:
        """A tracking row: the reply with the next hop that gave it (`reply [host [address]]`, the
        host also in `client_ip`), and the send connector of the recipient's queue."""
        text = f"{status} [{remote}]" if remote else status
        return TrackingEvent(event, self.server, "SMTP", message.id, message.message_id_header, message.sender,
                             recipient, text[:1000], message.size, remote, _connector_of(queue))


def _connector_of(queue: str) -> str:
    try:
        return QueueKey.parse(queue).connector if queue else ""
    except PostroomError:
        return ""


def _expired_reply(last: str) -> str:
    return f"550 4.4.7 Message expired; last error: {last}" if last else "550 4.4.7 Message expired"
