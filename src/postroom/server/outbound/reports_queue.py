"""Where a delivery report goes: into the sender's mailbox when the sender is one of ours, else
into the queue, from the null sender `<>` (so a report about a report is never made). The
decision is postroom/dsn.py's `deliver_report`, shared with the queue viewer's NDRs."""
from __future__ import annotations

import logging
from typing import Any, Callable, Sequence

from ...dsn import MAILBOX, QUEUED, deliver_report
from ...model import SendConnector

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
        where = await deliver_report(self.store, self.server, sender, data, connectors=self.connectors,
                                     domains=self.domains)
        if where == QUEUED:
            self.wake()
        elif where != MAILBOX:
            log.info("outbound: report on %s to %s dropped: %s", message.id, sender, where)
