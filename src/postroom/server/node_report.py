"""What a node reports with each heartbeat: per service its state, listeners, errors and live
sessions, per receive connector its state (server/node.py writes it; `service list`, `connector
list`, `session list` and the doctor read it)."""
from __future__ import annotations

import os
import time
from typing import Any

from ..model import NodeReport
from .evidence import pop3_usage
from .live_sessions import listed


def connector_reports(node: Any) -> dict[str, dict[str, Any]]:
    """Each receive connector's state, listeners and errors, as `connector list` shows them."""
    reports = {}
    for connector in node.connectors:
        keys = [("smtp", b, False) for b in connector.bindings]
        if not connector.enabled:
            state = "disabled"
        elif node.states["smtp"] == "stopped":
            state = "stopped (the smtp service is stopped)"
        else:
            state = "running" if any(k in node.listeners for k in keys) else "failed"
        errors = [node.bind_errors[k] for k in keys if k in node.bind_errors]
        if connector.name in node.connector_errors:
            errors.append(node.connector_errors[connector.name])
        reports[connector.name] = {
            "state": state,
            "listening": [k[1] for k in keys if k in node.listeners] if connector.enabled else [],
            "errors": errors if connector.enabled else [],
        }
    return reports


async def put_report(node: Any, alive: bool = True) -> None:
    """The node's heartbeat: what each service does (`service list`, the doctor, `session list`)."""
    services: dict[str, dict[str, Any]] = {}
    for name in node.states:
        keys = sorted(k for k in node.listeners if k[0] == name)
        errors = [node.bind_errors[k] for k in sorted(node.bind_errors) if k[0] == name]
        tls_error = node.tls_error if name == "pop3" else node.imap_tls_error if name == "imap4" else None
        if tls_error:
            errors.append(f"certificate: {tls_error}")
        sessions = node._session_counts()[name]
        services[name] = {
            "state": node.states[name] if alive else "stopped",
            "listening": [f"{b} ({listener_kind(name, ssl_)})" for _, b, ssl_ in keys] if alive else [],
            "errors": errors,
            "sessions": sessions,
            "applied_version": node.applied_version,
        }
    if alive:
        services["pop3"].update(pop3_usage(node.pop3))
        services["pop3"].update(listed(node.pop3.sessions))  # `postroom session list`
        services["imap4"].update(pop3_usage(node.imap4))  # the doctor's connection-limits, as POP3's
        services["imap4"].update(listed(node.imap4.sessions))
        services["smtp"].update(listed(node.smtp.sessions))
    services["smtp"]["connectors"] = node.connector_reports if alive else {}
    heartbeat = time.time() if alive else 0.0
    await node.store.put_node_report(NodeReport(node.server, heartbeat, os.getpid(), services))


def listener_kind(service: str, implicit: bool) -> str:
    if service == "admin":
        return "HTTPS" if implicit else "HTTP"
    return "SSL" if implicit else "plain/STLS" if service == "pop3" else "plain/STARTTLS"

