"""What mail clients should be told: Exchange's Internal/ExternalConnectionSettings, computed.

Exchange makes the admin type `Host:Port:SSL|TLS` lists that must be kept in step with the
bindings by hand; postroom derives them from the live POP3 and IMAP4 bindings and the submission
connector, so the console, Thunderbird autoconfig and Outlook autodiscover can never disagree
with what the server really listens on.

Host rule (kept simple on purpose): a wildcard binding (0.0.0.0, ::) and a loopback binding
are published as the server's FQDN; any other specific address is published as that IP, since
a client can only reach such a listener on exactly that address. Loopback uses the FQDN because
the dev profile binds 127.0.0.1 with FQDN `localhost`, and an FQDN is what a certificate names.
"""
from __future__ import annotations

import ipaddress
from typing import Any

from ..model import LoginType, ReceiveConnector, parse_binding
from .context import READ, Context

STARTTLS = "STARTTLS"  # plain port, the client upgrades (POP3 STLS / IMAP4, SMTP STARTTLS); Exchange: TLS
SSL = "SSL"  # implicit TLS from the first byte
NONE = "none"  # no encryption offered at all (a connector without tls)


def endpoint_host(binding: str, fqdn: str) -> str:
    """The host name or IP a client should connect to for `binding` (see the module docstring)."""
    host, _ = parse_binding("bindings", binding)
    address = ipaddress.ip_address(host)
    if address.is_unspecified or address.is_loopback:
        return fqdn
    return address.compressed


def _endpoints(bindings: tuple[str, ...], fqdn: str, mode: str) -> list[dict[str, Any]]:
    """One entry per distinct host:port: 0.0.0.0:110 and [::]:110 are one endpoint for a client."""
    seen: dict[tuple[str, int], dict[str, Any]] = {}
    for binding in bindings:
        host, port = endpoint_host(binding, fqdn), parse_binding("bindings", binding)[1]
        entry = seen.setdefault((host, port), {"host": host, "port": port, "mode": mode, "bindings": []})
        entry["bindings"].append(binding)
    return list(seen.values())


def submission_connector(server: str, connectors: list[ReceiveConnector]) -> ReceiveConnector | None:
    """The connector clients submit through: `Client <SERVER>` when enabled (Exchange's client
    connector), else the first enabled connector that grants `users` and has bindings."""
    usable = [c for c in connectors if c.enabled and c.bindings and "users" in c.permission_groups]
    preferred = f"client {server}".casefold()
    return next((c for c in usable if c.name.casefold() == preferred), usable[0] if usable else None)


async def client_settings(ctx: Context, server: str | None = None) -> dict[str, Any]:
    """POP3 and IMAP4 endpoints (SSL ones first, as Exchange's default `FQDN:995:SSL,FQDN:110:TLS`)
    and the SMTP submission endpoints of `server` (default: this server)."""
    await ctx.require(READ)
    name = ctx.server_name(server)
    fqdn = (await ctx.store.get_server(name)).fqdn
    pop = await ctx.store.get_pop_settings(name)
    imap = await ctx.store.get_imap_settings(name)
    connector = submission_connector(name, await ctx.store.list_connectors(name))
    smtp: list[dict[str, Any]] = []
    if connector is not None:
        mode = STARTTLS if connector.offers_tls() else NONE
        smtp = _endpoints(connector.bindings, connector.fqdn or fqdn, mode)
        for entry in smtp:
            entry["auth"] = connector.offers_basic()  # AUTH PLAIN/LOGIN offered at all
            entry["auth_requires_tls"] = connector.basic_requires_tls()
    return {
        "server": name,
        "fqdn": fqdn,
        "login_type": pop.login_type.value,
        # Only plain-text-login accepts a password before TLS; the others need STLS or SSL first.
        "plain_login_allowed": pop.login_type is LoginType.PLAIN_TEXT_LOGIN,
        "pop3": _endpoints(pop.ssl_bindings, fqdn, SSL) + _endpoints(pop.bindings, fqdn, STARTTLS),
        "imap_login_type": imap.login_type.value,
        "imap_plain_login_allowed": imap.login_type is LoginType.PLAIN_TEXT_LOGIN,
        "imap4": _endpoints(imap.ssl_bindings, fqdn, SSL) + _endpoints(imap.bindings, fqdn, STARTTLS),
        "smtp_connector": connector.name if connector else None,
        "smtp": smtp,
    }


def settings_text(settings: dict[str, Any]) -> str:
    """The settings as lines an admin pastes into an application's configuration or a ticket."""
    lines = [f"POP3 {e['host']} port {e['port']} {e['mode']}" for e in settings["pop3"]]
    if not settings["plain_login_allowed"] and settings["pop3"]:
        lines.append("POP3 logon: only after STLS or on the SSL port (login type "
                     f"{settings['login_type']})")
    lines += [f"IMAP4 {e['host']} port {e['port']} {e['mode']}" for e in settings["imap4"]]
    if not settings["imap_plain_login_allowed"] and settings["imap4"]:
        lines.append("IMAP4 logon: only after STARTTLS or on the SSL port (login type "
                     f"{settings['imap_login_type']})")
    for e in settings["smtp"]:
        auth = "password (AUTH) after STARTTLS" if e["auth_requires_tls"] else \
            "password (AUTH)" if e["auth"] else "no AUTH"
        lines.append(f"SMTP {e['host']} port {e['port']} {e['mode']}, {auth}")
    if not settings["smtp"]:
        lines.append("SMTP submission: no enabled connector grants authenticated users")
    return "\n".join(lines)
