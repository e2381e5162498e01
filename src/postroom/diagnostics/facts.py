"""Everything the checks look at, read once from the store: the desired configuration and what
the node serving the server reports it really does."""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from ..model import LoginFailure, Mailbox, NodeReport, PopSettings, ReceiveConnector, Server, Service
from ..storage import ConfigReader, StoreReader

NODE_STALE_AFTER = 5.0  # as `service list`: no heartbeat for this long means no node serves the server
CATCH_UP_TIMEOUT = 3.0  # a change made just before the doctor runs is given this long to apply
EVIDENCE_WINDOW = timedelta(hours=1)


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
    failures: list[LoginFailure]  # refused logins for the mailbox in the last hour

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


async def gather(store: StoreReader, server: str, address: str, data_dir: str, local: bool) -> Facts:
    server_row = await store.get_server(server)  # NotFound names the server
    services = {s.name: s for s in await store.list_services(server)}
    report, age = await node_report(store, server)
    since = (datetime.now(timezone.utc) - EVIDENCE_WINDOW).isoformat()
    return Facts(
        address=address, server=server_row, local=local, data_dir=data_dir, services=services,
        node=report.services if report else None, heartbeat_age=age, node_pid=report.pid if report else None,
        pop=await store.get_pop_settings(server),
        mailbox=await store.find_mailbox(address), domains=await store.list_domains(),
        connectors=await store.list_connectors(server),
        failures=await store.list_login_failures(address, since=since, limit=1000),
    )
