"""`postroom doctor send ADDRESS`: why did my mail to ADDRESS not arrive?

The checks, in the order mail travels: is the address remote (`recipient`), does a node deliver
(`delivery-service`), which send connector routes the domain and why none does
(`send-connector`), what DNS answers with the resolver the transport settings name (`dns`),
what DANE asks (`dane`), a live session with the next hop (`next-hop`: greeting, EHLO,
STARTTLS, the TLS result and how the certificate was checked; then QUIT: no mail is sent),
what the queue holds for the address (`queue`) and what message tracking last recorded
(`tracking`).

The plan and the connection are delivery's own (nexthop/plan.py, nexthop/connection.py): the
same targets in the same order, the same TLS policy and DANE rules, the same smart-host login.
Checks that depend on an earlier failure say "not checked" (a warning) instead of failing again
for the same cause. diagnostics/send.py gathers the facts and probes; checks_send.py judges.
"""
from __future__ import annotations

from typing import Any, Callable

from ..errors import PostroomError
from ..model import normalise_address
from ..nexthop.plan import plan_route
from ..resolver import Resolver
from ..storage import StoreReader
from . import checks_send
from .result import Check
from .send import PROBE_TIMEOUT, gather, own_endpoints, probe

CHECK_NAMES = ("recipient", "delivery-service", "send-connector", "dns", "dane", "next-hop", "queue", "tracking")


async def run_send_doctor(store: StoreReader, *, server: str, local: bool, data_dir: str, address: str,
                          connect: bool = True, timeout: float = PROBE_TIMEOUT,
                          resolver_factory: Callable[..., Resolver] = Resolver) -> list[Check]:
    address = normalise_address(address)
    f = await gather(store, server, address, data_dir, local)
    if f.route is not None and not f.is_local:
        resolver = resolver_factory(tuple(f.transport.dns_servers))
        try:
            f.plan = await plan_route(resolver, f.route.connector, f.route.next_hop_domain,
                                      dane_trusted=bool(f.transport.dns_servers),
                                      own_endpoints=own_endpoints(f.receive))
        except PostroomError as exc:
            f.plan_error = exc.message
        if f.plan is not None and f.plan.targets:
            if connect:
                await probe(f, timeout)
            else:
                f.probe_skipped = "not asked to connect (--no-connect)"
    return checks_send.run_checks(f)


def as_dicts(checks: list[Check]) -> list[dict[str, Any]]:
    return [check.to_dict() for check in checks]


__all__ = ["CHECK_NAMES", "as_dicts", "run_send_doctor"]
