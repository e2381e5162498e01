"""Everything the checks look at, read once from the store: the desired configuration and what
the node serving the server reports it really does."""
from __future__ import annotations

import asyncio
import difflib
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from ..model import (
    EndedSessions, ImapSettings, LoginFailure, Mailbox, NodeReport, PopSettings, ReceiveConnector, Server, Service,
)
from ..storage import ConfigReader, StoreReader
from .access import POP3, Access

NODE_STALE_AFTER = 5.0  # as `service list`: no heartbeat for this long means no node serves the server
CATCH_UP_TIMEOUT = 3.0  # a change made just before the doctor runs is given this long to apply
EVIDENCE_WINDOW = timedelta(hours=1)
MAX_SIMILAR = 3  # "did you mean": at most this many existing addresses
MAX_TYPOS = 2  # ... each at most this many typos away (a letter wrong, missing, extra, or two swapped)
MAX_CANDIDATES = 20000  # addresses compared; past that, those of the same domain only


@dataclass
class Facts:
    address: str
    server: Server
    local: bool  # the data directory's own server: its bindings can be reached on loopback
    data_dir: str
    services: dict[str, Service]
    node: dict[str, Any] | None  # the node report's services, None when no node serves the server
    heartbeat_age: float | None
    node_pid: int | None
    pop: PopSettings
    mailbox: Mailbox | None
    domains: list[str]
    connectors: list[ReceiveConnector]
    failures: list[LoginFailure]  # refused logins for the mailbox in the last hour (IMAP4: its own only)
    sessions: list[EndedSessions]  # the server's sessions of the protocol that ended without a login, last hour
    similar: list[str]  # no such mailbox: the closest existing addresses, closest first
    imap: ImapSettings | None = None
    access: Access = POP3  # the protocol checked: POP3 or IMAP4

    @property
    def cas(self) -> PopSettings | ImapSettings:
        """The Client Access settings of the protocol checked."""
        return self.imap if self.access.service == "imap4" and self.imap is not None else self.pop

    @property
    def certificate(self) -> str | None:
        """The certificate the protocol's TLS uses: IMAP4 uses POP3's when it names none."""
        return self.cas.certificate or (self.pop.certificate if self.cas is not self.pop else None)

    @property
    def certificate_key(self) -> str | None:
        if self.cas.certificate:
            return self.cas.certificate_key
        return self.pop.certificate_key if self.certificate else None

    def live(self, service: str) -> dict[str, Any]:
        return (self.node or {}).get(service, {})

    @property
    def domain(self) -> str:
        return self.address.rsplit("@", 1)[1]

    def on_server(self, *words: str) -> tuple[str, ...]:
        """A per-server command's words, naming the server when it is not the local one."""
        return words if self.local else (*words, "--server", self.server.name)


async def node_report(store: ConfigReader, server: str) -> tuple[NodeReport | None, float | None]:
    """The node's report once it has applied the current configuration (or the wait is over),
    so that a change made just before is what gets checked; (None, age) when no node serves."""
    deadline = time.monotonic() + CATCH_UP_TIMEOUT
    while True:
        report = await store.get_node_report(server)
        age = None if report is None else time.time() - report.heartbeat_at
        if report is None or age is None or age > NODE_STALE_AFTER:
            return None, age
        version = await store.config_version()
        applied = min((s.get("applied_version", 0) for s in report.services.values()), default=0)
        if applied >= version or time.monotonic() > deadline:
            return report, age
        await asyncio.sleep(0.1)


def typos(a: str, b: str) -> int:
    """How many typos make `a` of `b`: the optimal string alignment distance (one for each
    letter wrong, missing or extra, and for two neighbours swapped: alcie/alice is one)."""
    previous, current = list(range(len(b) + 1)), [0] * (len(b) + 1)
    before: list[int] = []
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], before[j - 2] + 1)
        before, previous = previous, current
    return previous[len(b)]


def closest(address: str, candidates: list[str]) -> list[str]:
    """The candidates at most MAX_TYPOS typos from `address`, closest first. difflib's quick
    ratios pick the few worth counting, so thousands of addresses cost little."""
    near = difflib.get_close_matches(address, candidates, n=10, cutoff=0.75)
    counted = sorted((typos(address, found), found) for found in near)
    return [found for count, found in counted if count <= MAX_TYPOS][:MAX_SIMILAR]


async def similar_addresses(store: ConfigReader, address: str) -> list[str]:
    """The existing mailboxes whose address is closest to `address` (a typo), closest first.
    The doctor is for admins, who may list mailboxes anyway: this tells no one anything new."""
    if await store.count_mailboxes() <= MAX_CANDIDATES:
        boxes = await store.list_mailboxes()
    else:  # a large organisation: the likely typo is in the local part
        boxes = await store.list_mailboxes("@" + address.rsplit("@", 1)[1], limit=MAX_CANDIDATES)
    return await asyncio.to_thread(closest, address, [box.address for box in boxes])


async def gather(store: StoreReader, server: str, address: str, data_dir: str, local: bool,
                 access: Access = POP3) -> Facts:
    server_row = await store.get_server(server)  # NotFound names the server
    services = {s.name: s for s in await store.list_services(server)}
    report, age = await node_report(store, server)
    since = (datetime.now(timezone.utc) - EVIDENCE_WINDOW).isoformat()
    mailbox = await store.find_mailbox(address)
    failures = await store.list_login_failures(address, since=since, limit=1000)
    if access is not POP3:
        failures = [row for row in failures if row.service == access.service]
    return Facts(
        address=address, server=server_row, local=local, data_dir=data_dir, services=services,
        node=report.services if report else None, heartbeat_age=age, node_pid=report.pid if report else None,
        pop=await store.get_pop_settings(server),
        mailbox=mailbox, domains=await store.list_domains(),
        connectors=await store.list_connectors(server),
        failures=failures,
        sessions=await store.list_ended_sessions(server, service=access.service, since=since, limit=1000),
        similar=[] if mailbox is not None else await similar_addresses(store, address),
        imap=await store.get_imap_settings(server) if access is not POP3 else None, access=access,
    )
