"""Where a delivery report goes: into the sender's mailbox when the sender is one of ours, else
into the queue, from the null sender `<>` (so a report about a report is never made)."""
from __future__ import annotations

import logging
from typing import Any, Callable, Sequence

from ...errors import NotFound
from ...model import OutboundRecipient, OutboundSubmission, SendConnector, route
from ..delivery import message_id_of
from .hops import HopDeliveries

log = logging.getLogger("postroom.outbound")


class ReportSender:
    def __init__(self, store: Any, server: str) -> None:
        self.store = store
        self.server = server
        self.connectors: Sequence[SendConnector] = ()
        self.domains: frozenset[str] = frozenset()
        self.wake: Callable[[], None] = lambda: None

    def configure(self, connectors: Sequence[SendConnector], domains: Sequence[str]) -> None:
        self.connectors, self.domains = connectors, frozenset(domains)

    async def submit(self, sender: str, data: bytes, message: Any) -> None:
        """Deliver or queue the report `data` for `sender` (never called for the null sender)."""
        domain = sender.rpartition("@")[2].lower()
        if domain in self.domains:
            mailbox = await self.store.find_mailbox(sender.lower())
            if mailbox is None:
                log.info("outbound: report on %s not delivered: no mailbox %s", message.id, sender)
                return
            try:
                await self.store.deliver_message([mailbox.id], data)
            except NotFound:
                log.info("outbound: report on %s not delivered: mailbox %s removed", message.id, sender)
            return
        found = route(self.connectors, domain, self.server)
        if found is None:
            log.info("outbound: report on %s to %s dropped: no send connector routes %s", message.id, sender, domain)
            return
        queue = HopDeliveries.key(found)
        submission = OutboundSubmission("", [OutboundRecipient(sender, None, "NEVER", queue)],
                                        origin_server=self.server, message_id_header=message_id_of(data))
        await self.store.deliver_message([], data, outbound=submission)
        self.wake()
