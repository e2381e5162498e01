"""The doctor, the connectivity tests and the support bundle, for every front end.

Roles (the decision, and why):
- `doctor_pop` without a password and `support_bundle` need READ: they change nothing and
  check no secret, so view-only may diagnose. The bundle leaves out every secret, so READ is
  enough to write it too.
- Anything that checks a mailbox password (`doctor_pop` with one, the light and the full
  tests) needs RECIPIENTS (recipient-management, organization-management: the roles that may
  set that password anyway). Otherwise any reader, such as the view-only token of a metrics
  scraper, would have a password oracle. Each check is a login attempt
  (service/login_attempts.py): counted toward the blocks from the caller's address, delayed
  and logged like a refused POP3 login, refused before the check when blocked, and audited
  (`doctor.password-check`, `test.pop`, `test.smtp`, with the result pass, fail or blocked).
- The full `pop_connectivity`/`smtp_connectivity` (`postroom test pop|smtp`) deliver a
  message into the mailbox and delete it again: that changes a mailbox, so they need
  SERVER_CONFIG (server-management, organization-management) as well, as Exchange gives
  Test-PopConnectivity to Server Management and Organization Management.
- `doctor_send` needs READ, as `doctor_pop` without a password: it changes nothing and shows
  no secret. Its live probe connects only where delivery of the address would (the send
  connector's smart hosts or the MX hosts DNS names, at the connector's port), says EHLO and
  STARTTLS and QUITs before MAIL: no mail is sent. A smart host's login is tried with the
  connector's own credentials, as delivery would (the password never leaves the process).
  A view-only caller can thereby make the server open SMTP sessions to the MX hosts of a
  domain they name, which any sender to that domain could cause too; `connect=False`
  (`--no-connect`) leaves the probe out.
A refused one leaves a "refused" audit entry. Passwords come from the caller (the mailbox's
own, to log in with); none is ever stored, logged, audited or put into a bundle.

Where the probes connect (`host`), the decision, and why:
- Without `host` every probe goes where the configuration points: the server's bindings (on
  loopback when they are wildcards) or the server's FQDN, at the `port` given if any. No
  caller can aim it at another machine.
- Over the REST API and the console (any channel but "cli") `host` is accepted only when it
  is this machine: an IP address that is loopback or an address of one of its interfaces
  (`netinfo.local_addresses`), a name every address of which is such an address, or the
  diagnosed server's FQDN (set by `postroom init`, not by the caller). Anything else
  is a ValidationError on `host`: the doctor needs only READ (the tests: RECIPIENTS), and a
  view-only caller must not make the server open connections to arbitrary hosts and ports
  (SSRF, port scanning of the network). The resolution is checked here and repeated when the
  probe connects; a DNS zone answering differently within that moment (rebinding) is not
  guarded against, and would still need an admin account.
- The CLI ("cli" channel, the local operator) keeps `--host` unrestricted: whoever runs it
  can read the data directory, already controls the install and can open any connection from
  that shell; and the application may reach the server through a name or address that is not
  the server's own (a NAT or load balancer in front of it), which is exactly what the check
  should be able to probe.
"""
from __future__ import annotations

import asyncio
import ipaddress
import os
from dataclasses import asdict
from datetime import datetime, timezone
from typing import Any

from ..diagnostics import bundle, connectivity, netinfo
from ..diagnostics.access import ACCESS
from ..diagnostics.doctor import as_dicts, run_doctor
from ..diagnostics.doctor_send import run_send_doctor
from ..diagnostics.target import check_mode
from ..errors import NotFound, PostroomError, ValidationError
from ..model import normalise_address
from ..tls import certificate_info
from . import connectors as connector_ops
from . import logs as log_ops
from . import mailboxes as mailbox_ops
from . import send_connectors as send_ops
from . import services as service_ops
from . import transport as transport_ops
from .context import READ, RECIPIENTS, SERVER_CONFIG, Context
from .login_attempts import BAD_CREDENTIALS, BLOCKED, Verdict, mailbox_attempt

PASSWORD_CHECK = "doctor.password-check"  # the audit action of the doctor given a password


def failure_delay() -> float:
    """A wrong password waits as long as a refused POP3 login (POSTROOM_AUTH_FAILURE_DELAY)."""
    try:
        return max(0.0, float(os.environ.get("POSTROOM_AUTH_FAILURE_DELAY", "2.0")))
    except ValueError:
        return 2.0


def _own_address(address: str, local: set[str]) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return not ip.is_unspecified and (ip.is_loopback or str(ip) in local)


def is_this_machine(host: str) -> bool:
    """Whether every address `host` resolves to is this machine's own. Blocking: in a thread."""
    if len(host) > 253 or any(c.isspace() or c == "\0" for c in host):
        return False
    addresses = netinfo.resolve(host)
    if not addresses:
        return False
    local = netinfo.local_addresses()
    return all(_own_address(address, local) for address in addresses)


async def check_host(ctx: Context, host: str | None, server: str) -> None:
    """Refuse a `host` that is not this machine, except from the CLI (see the module's docstring)."""
    if not host or ctx.caller.channel == "cli":
        return
    fqdn = (await ctx.store.get_server(server)).fqdn
    own_name = fqdn.rstrip(".").lower()
    if (own_name and host.rstrip(".").lower() == own_name) or await asyncio.to_thread(is_this_machine, host):
        return
    raise ValidationError("host", f"{host!r} is not this machine: here the probe connects only to loopback, "
                          "an address of this server or a name that resolves only to those, or the server's FQDN "
                          f"({fqdn}); the CLI on the server accepts any --host")


async def doctor_pop(ctx: Context, address: str, *, server: str | None = None, client_mode: str | None = None,
                     host: str | None = None, port: int | None = None, password: str | None = None,
                     protocol: str = "pop") -> list[dict[str, Any]]:
    """Every check, in order: [{"name", "status": pass|warn|fail, "detail", "fix", "page"}].
    With `password`, a login attempt on the mailbox (see the module's docstring).
    `protocol`: pop, or imap (`doctor_imap`)."""
    access = ACCESS[protocol]
    if password is None:
        await ctx.require(READ)
    else:
        await ctx.require(RECIPIENTS, PASSWORD_CHECK, f"mailbox/{address}")
    name = ctx.server_name(server)
    await check_host(ctx, host, name)
    verdicts: list[Verdict] = []

    async def check_password(password_hash: str, given: str) -> tuple[str, int]:
        verdicts.append(await mailbox_attempt(ctx, normalise_address(address), given, password_hash, failure_delay()))
        return verdicts[-1].outcome, verdicts[-1].retry_after

    checks = await run_doctor(ctx.store, server=name, local=name == ctx.local_server, data_dir=ctx.data_dir,
                              address=address, client_mode=client_mode, host=host, port=port, password=password,
                              check_password=check_password if password is not None else None, access=access)
    for verdict in verdicts:
        await ctx.audit(PASSWORD_CHECK, f"mailbox/{normalise_address(address)}", None, {"result": verdict.result})
    return as_dicts(checks)


async def doctor_imap(ctx: Context, address: str, **options: Any) -> list[dict[str, Any]]:
    """`postroom doctor imap`: doctor_pop's checks, roles and password rules, for IMAP4."""
    return await doctor_pop(ctx, address, protocol="imap", **options)


async def doctor_send(ctx: Context, address: str, *, server: str | None = None,
                      connect: bool = True) -> list[dict[str, Any]]:
    """Why mail to a remote `address` does not arrive: every check in order
    ([{"name", "status", "detail", "fix", "page"}], as doctor_pop's); see the module's
    docstring for the roles and where the probe connects."""
    await ctx.require(READ)
    name = ctx.server_name(server)
    checks = await run_send_doctor(ctx.store, server=name, local=name == ctx.local_server, data_dir=ctx.data_dir,
                                   address=address, connect=connect)
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
                   "imap_settings": (await ctx.store.get_imap_settings(name)).to_dict(),
                   "web_settings": (await ctx.store.get_web_settings(name)).to_dict()},
        "services": {"services": await service_ops.list_services(ctx, name),
                     "node_report": asdict(report) if report else None},
        "connectors": await connector_ops.list_connectors(ctx, name),
        "send-connectors": await send_ops.list_send_connectors(ctx),  # a smart-host password masked
        "transport": await transport_ops.show_transport(ctx, name),
        "mailbox": mailbox,
        "certificate": certificate,
        "login-failures": [asdict(row) for row in await ctx.store.list_login_failures(address, since=since)],
        "ended-sessions": [asdict(row) for row in await ctx.store.list_ended_sessions(name, since=since)],
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
    await ctx.require(RECIPIENTS, f"test.{kind}", target)
    if not light:
        await ctx.require(SERVER_CONFIG, f"test.{kind}", target)
    address = normalise_address(address)
    check_mode(options.get("client_mode"))
    name = ctx.server_name(options.pop("server", None))
    await check_host(ctx, options.get("host"), name)
    # The password is checked here first, as a login attempt from the caller's address: the
    # probes log in over loopback, which the server may trust, and must not be a way around
    # the count. A password that is wrong, or not checked (blocked), is not sent at all.
    mailbox = await ctx.store.find_mailbox(address)
    verdict = await mailbox_attempt(ctx, address, password, mailbox.password_hash if mailbox else None,
                                    failure_delay())
    refused = None
    if verdict.outcome == BLOCKED:
        refused = (f"not tried: too many failed logins from your address or on {address}; "
                   f"try again in {verdict.retry_after} s (postroom security blocks)")
    elif verdict.outcome == BAD_CREDENTIALS:
        why = (f"there is no mailbox {address}" if mailbox is None else f"{address} has no password set"
               if mailbox.password_hash is None else f"the password given is not {address}'s")
        refused = f"{why}: every login with it is refused (not sent to the server)"
    rows = await connectivity.run_test(ctx.store, kind, server=name, local=name == ctx.local_server,
                                       address=address, password=password, light=light, refused=refused, **options)
    outcome = "Failure" if any(r["result"] == "Failure" for r in rows) else "Success"
    await ctx.audit(f"test.{kind}", f"mailbox/{address}", None,
                    {"light": light, "result": outcome, "password": verdict.result})
    return rows


async def pop_connectivity(ctx: Context, address: str, password: str, *, light: bool = False,
                           server: str | None = None, client_mode: str | None = None, host: str | None = None,
                           port: int | None = None, trust_any_certificate: bool = False) -> list[dict[str, Any]]:
    """Test-PopConnectivity: [{"scenario", "result": Success|Failure|Skipped, "latency_ms", "error"}]."""
    return await _test(ctx, "pop", address, password, light, server=server, client_mode=client_mode, host=host,
                       port=port, trust_any_certificate=trust_any_certificate)


async def imap_connectivity(ctx: Context, address: str, password: str, *, light: bool = False,
                            server: str | None = None, client_mode: str | None = None, host: str | None = None,
                            port: int | None = None, trust_any_certificate: bool = False) -> list[dict[str, Any]]:
    """Test-ImapConnectivity: log in and SELECT INBOX; without `light` also the round trip
    (submit, SEARCH and FETCH, delete). Roles and auditing as pop_connectivity's."""
    return await _test(ctx, "imap", address, password, light, server=server, client_mode=client_mode, host=host,
                       port=port, trust_any_certificate=trust_any_certificate)


async def smtp_connectivity(ctx: Context, address: str, password: str, *, light: bool = False,
                            server: str | None = None, host: str | None = None, port: int | None = None,
                            trust_any_certificate: bool = False) -> list[dict[str, Any]]:
    """Submission through the Client connector (STARTTLS, AUTH), and in full mode the round trip."""
    return await _test(ctx, "smtp", address, password, light, server=server, host=host, port=port,
                       trust_any_certificate=trust_any_certificate)
