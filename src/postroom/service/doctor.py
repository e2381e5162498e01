"""The doctor, the connectivity tests and the support bundle, for every front end.

Roles (the decision, and why):
- `doctor_pop`, `support_bundle` and the light tests need READ: they change nothing (the
  probe logs in and QUITs without deleting), so view-only may diagnose. The bundle leaves
  out every secret, so READ is enough to write it too.
- The full `pop_connectivity`/`smtp_connectivity` (`postroom test pop|smtp`) deliver a
  message into the mailbox and delete it again: that changes a mailbox, so they need
  SERVER_CONFIG (server-management, organization-management), as Exchange gives
  Test-PopConnectivity to Server Management and Organization Management. They are audited
  (test.pop, test.smtp); a refused one leaves a "refused" audit entry.
Passwords come from the caller (the mailbox's own, to log in with); none is ever stored,
logged, audited or put into a bundle.
"""
from __future__ import annotations

import asyncio
import os
from typing import Any

from dataclasses import asdict
from datetime import datetime, timezone

from ..diagnostics import bundle, connectivity
from ..diagnostics.doctor import as_dicts, run_doctor
from ..diagnostics.target import check_mode
from ..errors import NotFound, PostroomError
from ..model import normalise_address
from ..tls import certificate_info
from . import connectors as connector_ops
from . import logs as log_ops
from . import mailboxes as mailbox_ops
from . import services as service_ops
from .context import READ, SERVER_CONFIG, Context


def failure_delay() -> float:
    """A wrong password waits as long as a refused POP3 login (POSTROOM_AUTH_FAILURE_DELAY)."""
    try:
        return max(0.0, float(os.environ.get("POSTROOM_AUTH_FAILURE_DELAY", "2.0")))
    except ValueError:
        return 2.0


async def doctor_pop(ctx: Context, address: str, *, server: str | None = None, client_mode: str | None = None,
                     host: str | None = None, port: int | None = None,
                     password: str | None = None) -> list[dict[str, Any]]:
    """Every check, in order: [{"name", "status": pass|warn|fail, "detail", "fix", "page"}]."""
    await ctx.require(READ)
    name = ctx.server_name(server)
    checks = await run_doctor(ctx.store, server=name, local=name == ctx.local_server, data_dir=ctx.data_dir,
                              address=address, client_mode=client_mode, host=host, port=port, password=password,
                              failure_delay=failure_delay())
    return as_dicts(checks)


async def support_bundle(ctx: Context, address: str, checks: list[dict[str, Any]], *,
                         server: str | None = None, extra_secrets: tuple[str, ...] = ()) -> bytes:
    """The support bundle (tar.gz) for one mailbox, with `checks` from doctor_pop. Built from
    the same administrator views the CLI shows (none holds a secret); any of `extra_secrets`
    (e.g. the password the doctor was given) is scrubbed wherever it appears."""
    await ctx.require(READ)
    address = normalise_address(address)
    name = ctx.server_name(server)
    since = (datetime.now(timezone.utc) - bundle.WINDOW).isoformat()
    try:
        mailbox: dict[str, Any] = await mailbox_ops.show_mailbox(ctx, address)
    except NotFound:
        mailbox = {"address": address, "exists": False}
    pop = await ctx.store.get_pop_settings(name)
    certificate: dict[str, Any] = {"path": pop.certificate}
    if pop.certificate:
        try:
            certificate.update(await asyncio.to_thread(certificate_info, pop.certificate))
        except PostroomError as exc:
            certificate["error"] = exc.message
    report = await ctx.store.get_node_report(name)
    views = {
        "doctor": checks,
        "server": {**asdict(await ctx.store.get_server(name)), "pop_settings": pop.to_dict(),
                   "web_settings": (await ctx.store.get_web_settings(name)).to_dict()},
        "services": {"services": await service_ops.list_services(ctx, name),
                     "node_report": asdict(report) if report else None},
        "connectors": await connector_ops.list_connectors(ctx, name),
        "mailbox": mailbox,
        "certificate": certificate,
        "login-failures": [asdict(row) for row in await ctx.store.list_login_failures(address, since=since)],
        "audit": await log_ops.list_audit(ctx, 200, since="1d"),
        "versions": bundle.versions(await ctx.store.schema_version()),
    }
    return await bundle.build(views, data_dir=ctx.data_dir, address=address, server=name, secrets=extra_secrets)


async def write_support_bundle(ctx: Context, address: str, checks: list[dict[str, Any]], path: str, *,
                               server: str | None = None, extra_secrets: tuple[str, ...] = ()) -> dict[str, Any]:
    data = await support_bundle(ctx, address, checks, server=server, extra_secrets=extra_secrets)
    await asyncio.to_thread(bundle.write_private, path, data)
    return {"path": os.path.abspath(path), "bytes": len(data)}


async def _test(ctx: Context, kind: str, address: str, password: str, light: bool,
                **options: Any) -> list[dict[str, Any]]:
    target = f"mailbox/{address}"
    if light:
        await ctx.require(READ)
    else:
        await ctx.require(SERVER_CONFIG, f"test.{kind}", target)
    address = normalise_address(address)
    check_mode(options.get("client_mode"))
    name = ctx.server_name(options.pop("server", None))
    rows = await connectivity.run_test(ctx.store, kind, server=name, local=name == ctx.local_server,
                                       address=address, password=password, light=light, **options)
    if not light:
        outcome = "Failure" if any(r["result"] == "Failure" for r in rows) else "Success"
        await ctx.audit(f"test.{kind}", f"mailbox/{address}", None, {"light": False, "result": outcome})
    return rows


async def pop_connectivity(ctx: Context, address: str, password: str, *, light: bool = False,
                           server: str | None = None, client_mode: str | None = None, host: str | None = None,
                           port: int | None = None, trust_any_certificate: bool = False) -> list[dict[str, Any]]:
    """Test-PopConnectivity: [{"scenario", "result": Success|Failure|Skipped, "latency_ms", "error"}]."""
    return await _test(ctx, "pop", address, password, light, server=server, client_mode=client_mode, host=host,
                       port=port, trust_any_certificate=trust_any_certificate)


async def smtp_connectivity(ctx: Context, address: str, password: str, *, light: bool = False,
                            server: str | None = None, host: str | None = None, port: int | None = None,
                            trust_any_certificate: bool = False) -> list[dict[str, Any]]:
    """Submission through the Client connector (STARTTLS, AUTH), and in full mode the round trip."""
    return await _test(ctx, "smtp", address, password, light, server=server, host=host, port=port,
                       trust_any_certificate=trust_any_certificate)
