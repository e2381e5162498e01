"""Where a next hop's mail goes: the targets (host, address, port) in the order they are tried,
each with its TLS policy, or the reply every waiting recipient gets when there is none.

Shared by the delivery worker (server/outbound/hops.py, which reuses a plan for a while) and by
`postroom doctor send` (diagnostics/checks_send.py, which shows what the plan was made from:
the MX answer, the TLSA answers, the hosts left out and why). Planning only asks DNS; it opens
no connection.

- Smart-host connectors: each smart host's addresses, in the order configured.
- DNS routing: the MX hosts in delivery order (the resolver's; equal preferences shuffled), at
  most `MAX_ADDRESSES` addresses per attempt, as Postfix's smtp_mx_address_limit. DANE (RFC
  7672): when the resolver is the administrator's (`dane_trusted`: the transport settings name
  DNS servers) and a host's address records are DNSSEC-authenticated, its TLSA records are
  looked up; authenticated records make TLS mandatory and the certificate must match them; a
  secure host whose TLSA lookup fails temporarily is not used (RFC 7672 2.2).
- Loops (RFC 5321 5.1): a target that is this server (`own_endpoints`: its SMTP listeners) is
  left out; when every target is, the mail bounces 5.4.6.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, Sequence

from .. import sealing
from ..model import SendConnector
from ..protocol.smtp_client import Reply, local_reply
from ..resolver import DnsError, DnsFailure, NextHopAnswer, Resolver, TlsaAnswer
from .connection import Target, TlsPolicy

MAX_ADDRESSES = 5  # addresses tried per attempt (Postfix's smtp_mx_address_limit)


@dataclass(frozen=True)
class HopPlan:
    """Where a hop's mail goes now: targets with their TLS policy, or why nowhere."""

    targets: tuple[tuple[Target, TlsPolicy], ...] = ()
    failure: Reply | None = None  # no target: the reply every waiting recipient gets
    permanent: bool = False
    # What the plan was made from, for the doctor:
    answer: NextHopAnswer | None = None  # the MX answer (DNS routing)
    tlsa: tuple[tuple[str, TlsaAnswer], ...] = ()  # (host, answer) for each TLSA lookup made
    skipped: tuple[str, ...] = ()  # hosts left out, each with the reason
    looped: tuple[Target, ...] = ()  # targets left out because they are this server


async def plan_route(resolver: Resolver, connector: SendConnector, next_hop_domain: str, *,
                     dane_trusted: bool, own_endpoints: set[tuple[str, int]]) -> HopPlan:
    """The plan for a route (`model.route`'s connector and next-hop domain)."""
    if connector.dns_routing:
        return await plan_mx(resolver, connector, next_hop_domain, dane_trusted=dane_trusted,
                             own_endpoints=own_endpoints)
    return await plan_smart_hosts(resolver, connector, own_endpoints=own_endpoints)


async def plan_smart_hosts(resolver: Resolver, connector: SendConnector, *,
                           own_endpoints: set[tuple[str, int]]) -> HopPlan:
    targets: list[tuple[Target, TlsPolicy]] = []
    skipped: list[str] = []
    last_error: DnsError | None = None
    for entry in connector.smart_hosts:
        host, port = host_port(entry, connector.port)
        try:
            addresses = await resolver.addresses(host)
        except DnsFailure as exc:
            last_error = exc.error
            skipped.append(f"{host}: {exc.error.text}")
            continue
        for address in addresses:
            targets.append((Target(host, address, port), tls_policy(connector, ())))
    if not targets:
        text = last_error.text if last_error else "no smart host configured"
        return HopPlan(failure=local_reply(451, "4.4.3", f"smart hosts of {connector.name}: {text}"),
                       skipped=tuple(skipped))
    return without_loops(targets[:MAX_ADDRESSES], own_endpoints, skipped=tuple(skipped))


async def plan_mx(resolver: Resolver, connector: SendConnector, domain: str, *, dane_trusted: bool,
                  own_endpoints: set[tuple[str, int]]) -> HopPlan:
    answer = await resolver.mx_hosts(domain)
    if answer.error is not None:
        code = 451 if answer.error.temporary else 550
        return HopPlan(failure=local_reply(code, answer.error.status, f"{domain}: {answer.error.text}"),
                       permanent=answer.error.permanent, answer=answer)
    targets: list[tuple[Target, TlsPolicy]] = []
    lookups: list[tuple[str, TlsaAnswer]] = []
    skipped = [f"{host.name}: {host.error.text}" for host in answer.unusable if host.error is not None]
    for host in answer.hosts:
        tlsa: tuple[Any, ...] = ()
        secure = (answer.authenticated or answer.implicit) and host.authenticated
        if connector.dane and dane_trusted and secure:
            found = await resolver.tlsa(host.name, connector.port)
            lookups.append((host.name, found))
            if found.error is not None and found.authenticated is False and found.error.temporary:
                # RFC 7672 2.2: a secure host whose TLSA lookup fails is not used
                skipped.append(f"{host.name}: TLSA lookup failed ({found.error.text}); a DNSSEC-signed host "
                               "is not used without its TLSA answer (RFC 7672 2.2)")
                continue
            if found.authenticated and found.records:
                tlsa = tuple(found.records)
        policy = tls_policy(connector, tlsa, (host.name, domain))
        for address in host.addresses:
            targets.append((Target(host.name, address, connector.port), policy))
            if len(targets) >= MAX_ADDRESSES:
                break
        if len(targets) >= MAX_ADDRESSES:
            break
    if not targets:
        return HopPlan(failure=local_reply(451, "4.7.5", f"{domain}: no MX host usable with DANE "
                                                         "(TLSA lookup failed)"),
                       answer=answer, tlsa=tuple(lookups), skipped=tuple(skipped))
    return without_loops(targets, own_endpoints, answer=answer, tlsa=tuple(lookups), skipped=tuple(skipped))


def tls_policy(connector: SendConnector, tlsa: tuple[Any, ...], names: tuple[str, ...] = ()) -> TlsPolicy:
    if tlsa:  # DANE: the names matter only to DANE-TA records (RFC 7672 3.2.2)
        return TlsPolicy(offer=True, mandatory=True, tlsa=tlsa, names=names)
    level = connector.tls_auth_level
    mandatory = bool(connector.require_tls or level)
    verify = level in ("certificate-validation", "domain-validation")
    names = (connector.tls_domain,) if level == "domain-validation" and connector.tls_domain else ()
    return TlsPolicy(offer=True, mandatory=mandatory, verify=verify, names=names)


def without_loops(targets: Sequence[tuple[Target, TlsPolicy]], own_endpoints: set[tuple[str, int]],
                  **made_from: Any) -> HopPlan:
    """RFC 5321 5.1: an MX that is this server would deliver the mail to itself, forever."""
    wildcard_ports = {port for ip, port in own_endpoints if ip in ("0.0.0.0", "::")}
    kept, looped = [], []
    for target, policy in targets:
        mine = (target.address, target.port) in own_endpoints or (
            target.port in wildcard_ports and _is_local_address(target.address))
        if mine:
            looped.append(target)
        else:
            kept.append((target, policy))
    if targets and not kept:
        host = targets[0][0].host
        return HopPlan(failure=local_reply(554, "5.4.6", f"mail for {host} loops back to myself"), permanent=True,
                       looped=tuple(looped), **made_from)
    return HopPlan(tuple(kept), looped=tuple(looped), **made_from)


def credentials(data_dir: str, connector: SendConnector) -> tuple[str, str] | None:
    """The smart-host login (user, password), or None when the connector logs in with none.
    Unavailable (a PostroomError) when this node's secrets.key does not open the password."""
    if connector.smart_host_auth != "basic" or not connector.auth_username or not connector.auth_password:
        return None
    password = sealing.smart_host_password(data_dir, connector)
    return (connector.auth_username, password) if password is not None else None


def host_port(entry: str, default_port: int) -> tuple[str, int]:
    """A smart host `host`, `host:port`, `[ip]` or `[ipv6]:port` as (host, port)."""
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else default_port
    if entry.count(":") == 1:
        host, _, port = entry.partition(":")
        return host, int(port)
    return entry, default_port


def _is_local_address(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return ip.is_loopback or ip.is_unspecified
