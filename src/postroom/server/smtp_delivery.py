"""Storing what an SMTP session received (the end of DATA or the last BDAT), half of SmtpSession.

`SmtpDelivery` is the base SmtpSession (server/smtp.py) builds on: once the core hands over the
message it writes the trace headers, stores it for the local mailboxes and queues it for the
remote recipients in one store call (server/delivery.py), answers 250 only after that, and
writes the tracking rows, the rate-limit ticket's commit or release, the success DSN and the
metrics. The session's other half (admitting, AUTH, MAIL/RCPT checks, STARTTLS) stays there.
"""
from __future__ import annotations

import logging
from typing import Any

from ..activity import SMTP_DELIVERED
from ..errors import PostroomError, StorageFull
from ..model import Mailbox, OutboundSubmission, TrackingEvent, TrackingEventId
from ..protocol.smtp import STORAGE_FULL, TEMPORARY_FAILURE, UNKNOWN_MAILBOX, Deliver, Reply, SmtpServer
from ..storage import SpooledBody
from . import delivery
from .outbound.schedule import to_iso
from .outbound.success import report_delivered
from .session import Session
from .smtp_connectors import ConnectorRuntime
from .spool import Spool
from .submission import Ticket

log = logging.getLogger("postroom.smtp")


class SmtpDelivery(Session[SmtpServer]):
    """The storing half of an SMTP session; SmtpSession sets these in its __init__."""

    service: Any  # the node's SmtpService
    runtime: ConnectorRuntime | None
    user: str | None
    resolved: dict[str, Mailbox]
    relayed: dict[str, tuple[str, str]]
    ticket: Ticket | None

    def _release_ticket(self) -> None:
        if self.ticket is not None:
            self.service.quota.release(self.ticket)
            self.ticket = None

    def _track_failure(self, sender: str, recipient: str, reply: Reply) -> None:
        assert self.runtime is not None
        row = TrackingEvent(TrackingEventId.FAIL, self.service.node_name, "SMTP", "", "", sender[:254],
                            recipient[:254], reply.to_bytes().decode().strip(), 0, self.remote_ip,
                            self.runtime.name)
        self.loop.create_task(delivery.track(self.service.store, [row]))

    async def _deliver(self, event: Deliver, started: float, spool: Spool | None) -> None:
        try:
            if spool is not None:
                await spool.written()
                if spool.error is not None:
                    assert self.conn is not None
                    log.warning("smtp session %s cannot spool the message: %s", self.id,
                                spool.error.strerror or spool.error)
                    reply = STORAGE_FULL if spool.full_disk else TEMPORARY_FAILURE
                    self.note(f"not delivered {reply.to_bytes().decode().strip()[:100]}")
                    self._release_ticket()
                    self.conn.delivery_failed(reply)
                    return
            await self._deliver_message(event, started, spool)
        finally:
            if spool is not None:
                spool.remove()  # whatever the outcome

    async def _deliver_message(self, event: Deliver, started: float, spool: Spool | None) -> None:
        assert self.conn is not None and self.runtime is not None
        envelope, config = event.envelope, self.conn.config
        mailboxes, succeed, remote = delivery.split_recipients(envelope, self.resolved, self.relayed)
        self.resolved, self.relayed = {}, {}
        queue_id = delivery.new_queue_id()
        ssl_object = self.transport.get_extra_info("ssl_object") if self.transport is not None else None
        tls_version = ssl_object.version() if ssl_object is not None else None
        trace = delivery.Trace(envelope.helo, self.remote_ip, config.fqdn, envelope.protocol, queue_id,
                               envelope.sender, envelope.recipients, tls_version)
        head, content = delivery.trace_headers(trace), event.content  # stored one after the other: no copy
        message_id = delivery.message_id_of(spool.head if spool is not None else content)
        size = event.spooled + len(content)
        received = [TrackingEvent(TrackingEventId.RECEIVE, self.service.node_name, "SMTP", queue_id, message_id,
                                  envelope.sender, address, "250 2.6.0", len(head) + size, self.remote_ip,
                                  self.runtime.name)
                    for address in [m.address for m in mailboxes.values()] + list(remote)]
        outbound = None
        worker = self.service.outbound
        if remote:
            # This node's delivery worker takes the message as it is queued (no claim of its own).
            lease = worker.submission_lease() if worker is not None else None
            outbound = OutboundSubmission(
                envelope.sender, list(remote.values()), envid=envelope.envid, ret=envelope.ret,
                smtputf8=envelope.smtputf8, body_8bit=envelope.body == "8BITMIME", submitter=self.user,
                client_ip=self.remote_ip, origin_server=self.service.node_name, message_id_header=message_id,
                queue_id=queue_id, at=to_iso(worker.clock()) if lease and worker is not None else "",
                lease_holder=lease[0] if lease else None, lease_seconds=lease[1] if lease else 0)
        spooled = SpooledBody(spool.path, spool.size) if spool is not None else None
        try:
            delivered = await delivery.deliver(self.service.store, list(mailboxes.values()), content, received,
                                               head=head, spooled=spooled, outbound=outbound)
        except PostroomError as exc:
            log.warning("smtp session %s delivery failed for now: %s", self.id, exc.message)
            reply = STORAGE_FULL if isinstance(exc, StorageFull) else TEMPORARY_FAILURE
            self.note(f"not delivered {reply.to_bytes().decode().strip()[:100]}")
            self._release_ticket()
            self.conn.delivery_failed(reply)
            if isinstance(exc, StorageFull):  # best effort: the same full disk may refuse it too
                for mailbox in mailboxes.values():
                    self._track_failure(envelope.sender, mailbox.address, reply)
            return
        if delivered is not None:  # the store told the node's IMAP4 sessions (storage/changes.py)
            if outbound is not None and worker is not None:
                if outbound.lease_holder:  # the body, when in memory, as stored: no read back
                    worker.take(outbound.claimed(len(head) + size), None if spool is not None else head + content)
                else:
                    worker.notify()
            if self.ticket is not None:
                self.service.quota.commit(self.ticket)
                self.ticket = None
            self.note(f"delivered 250 2.6.0 queued as {queue_id} to {len(delivered)} mailbox(es)"
                      + (f" and {len(remote)} remote recipient(s)" if remote else ""))
            self.conn.delivered(queue_id)
            if succeed and envelope.sender and self.service.reports is not None:
                original = head + (spool.head if spool is not None else bytes(content))  # HDRS if spooled
                self.loop.create_task(report_delivered(
                    self.service.reports, self.service.store, self.service.node_name, config.fqdn, queue_id,
                    message_id, envelope, succeed, original, full=spool is None))
            self.service.metrics.received(size, self.loop.time() - started)
            if self.service.activity is not None:
                self.service.activity.record(SMTP_DELIVERED)
        else:
            self._release_ticket()
            self.conn.delivery_failed(UNKNOWN_MAILBOX)
