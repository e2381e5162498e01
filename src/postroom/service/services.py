"""Services (Windows-style): desired status and startup type per server; the node does the work."""
from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

from ..errors import Conflict, ValidationError
from ..model import SERVICE_NAMES, Service, ServiceStatus, Startup, enum_value
from .context import READ, SERVER_CONFIG, Context

NODE_STALE_AFTER = 5.0  # seconds without a heartbeat: no node is serving that server
NODE_CONFIRM_TIMEOUT = 3.0


def service_name(name: str) -> str:
    """A service's name in any case, as Windows and Exchange take them (`POP3` is `pop3`)."""
    folded = _folded(name)
    if folded not in SERVICE_NAMES:
        raise ValidationError("service", f"{name!r} is not a service", list(SERVICE_NAMES))
    return folded


def _folded(name: str) -> str:
    return str(name).strip().lower()


async def _servers(ctx: Context, server: str | None) -> list[str]:
    if server == "all":
        return [s.name for s in await ctx.store.list_servers()]
    name = ctx.server_name(server)
    await ctx.store.get_server(name)  # NotFound names the server
    return [name]


async def node_view(ctx: Context, server: str, service: Service) -> dict[str, Any]:
    """Desired state joined with what the node that serves `server` reports right now."""
    report = await ctx.store.get_node_report(server)
    view: dict[str, Any] = {
        "server": server, "name": service.name, "startup": service.startup.value,
        "status": service.status.value, "state": "no node", "listening": [], "errors": [],
    }
    if report is None or time.time() - report.heartbeat_at > NODE_STALE_AFTER:
        view["state"] = "no node serving this server (run `postroom serve`)"
        return view
    actual = report.services.get(service.name, {})
    view["listening"] = actual.get("listening", [])
    view["errors"] = actual.get("errors", [])
    view["state"] = actual.get("state", "stopped")
    view["applied_version"] = actual.get("applied_version", 0)
    return view


async def list_services(ctx: Context, server: str | None = None) -> list[dict[str, Any]]:
    await ctx.require(READ)
    rows = []
    for name in await _servers(ctx, server):
        for service in await ctx.store.list_services(name):
            rows.append(await node_view(ctx, name, service))
    return rows


async def _change(ctx: Context, server: str | None, name: str, action: str, **changes: Any) -> dict[str, Any]:
    target = f"server/{server or ctx.local_server}/service/{_folded(name)}"
    await ctx.require(SERVER_CONFIG, f"service.{action}", target)
    name = service_name(name)
    results = []
    for server_name in await _servers(ctx, server):
        before = await ctx.store.get_service(server_name, name)
        if changes.get("status") == ServiceStatus.RUNNING and before.startup == Startup.DISABLED:
            raise Conflict(
                f"service {name} on {server_name} has startup type disabled and cannot be started; "
                f"first run: postroom service set {name} --startup manual (or automatic)"
            )
        after = replace(before, **changes)
        await ctx.store.update_service(after, audit=ctx.change(
            f"service.{action}", f"server/{server_name}/service/{name}", _service_dict(before), _service_dict(after)))
        results.append(await wait_for_node(ctx, server_name, after))
    return results[0] if len(results) == 1 else {"servers": results}


def _service_dict(service: Service) -> dict[str, str]:
    return {"startup": service.startup.value, "status": service.status.value}


async def wait_for_node(ctx: Context, server: str, service: Service) -> dict[str, Any]:
    """Give the node serving `server` a moment to apply the change, then report what it did."""
    version = await ctx.store.config_version()
    deadline = time.monotonic() + NODE_CONFIRM_TIMEOUT
    while True:
        view = await node_view(ctx, server, service)
        if view["state"].startswith("no node") or view.get("applied_version", 0) >= version:
            return view
        if time.monotonic() > deadline:
            view["state"] = "pending (the node has not applied the change yet)"
            return view
        await asyncio.sleep(0.1)


async def start_service(ctx: Context, name: str, server: str | None = None) -> dict[str, Any]:
    return await _change(ctx, server, name, "start", status=ServiceStatus.RUNNING)


async def stop_service(ctx: Context, name: str, server: str | None = None) -> dict[str, Any]:
    return await _change(ctx, server, name, "stop", status=ServiceStatus.STOPPED)


async def restart_service(ctx: Context, name: str, server: str | None = None) -> dict[str, Any]:
    """Stop, let the node close the listeners, start again (so sockets really are re-bound)."""
    await _change(ctx, server, name, "stop", status=ServiceStatus.STOPPED)
    return await _change(ctx, server, name, "start", status=ServiceStatus.RUNNING)


async def set_service(ctx: Context, name: str, *, startup: str, server: str | None = None) -> dict[str, Any]:
    await ctx.require(SERVER_CONFIG, "service.set", f"server/{server or ctx.local_server}/service/{_folded(name)}")
    value = enum_value(Startup, "startup", startup)
    return await _change(ctx, server, name, "set", startup=value)
