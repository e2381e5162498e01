"""A node's outbound side, as reconcile applies it (server/node.py): the transport settings and
send connectors give the SMTP sessions their submission limits, and the outbound worker its
routes, DKIM keys, protocol logs and timers; the worker runs while the SMTP service does."""
from __future__ import annotations

from typing import Any

from .submission import SubmissionLimits


async def configure_outbound(node: Any, running: bool, fqdn: str) -> None:
    transport = await node.store.get_transport_settings(node.server)
    send_connectors = await node.store.list_send_connectors()
    node.smtp.set_limits(SubmissionLimits(
        message_rate_per_minute=transport.message_rate_limit_per_minute,
        message_rate_per_day=transport.message_rate_limit_per_day,
        recipient_rate_per_minute=transport.recipient_rate_limit_per_minute,
        recipient_rate_per_day=transport.recipient_rate_limit_per_day,
        max_hop_count=transport.max_hop_count))
    node.smtp.send_connectors = send_connectors
    node.hops.dkim_keys = await node.store.list_dkim_keys()
    node.hops.protocol_logs = {}
    for connector in send_connectors:  # the same format and folder layout as receive connectors
        plog = node._protocol_log(f"send/{connector.name}", connector.protocol_log, "SEND",
                                  connector_id=connector.name)
        if plog is not None:
            node.hops.protocol_logs[connector.name] = plog
    for name in [n for n in node.protocol_logs if n.startswith("send/")]:
        if name[5:] not in node.hops.protocol_logs:
            node._protocol_log(name, False, "SEND")
    node.reports.configure(send_connectors, await node.store.list_domains())
    node.outbound.configure(transport, send_connectors, fqdn)
    if running:
        node.outbound.start()
    elif node.outbound.running:
        await node.outbound.stop()
