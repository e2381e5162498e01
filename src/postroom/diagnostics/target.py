"""How the application connects: host, port and client mode (plain, stls, ssl), and the POP3
binding that serves it, if any.

Without --client-mode the way the application connects is not known, so every binding that
serves --host/--port (all of them, without those) is a `Way` the probe tries: plain and STLS
on a plain binding, SSL on an SSL binding; the target is then the first SSL binding (or, in
plain/stls mode, the first plain binding), which the certificate checks use. Without --host
the application connects to that binding's address, or to this machine when the binding is a
wildcard; certificate names are then checked against the server's FQDN, the name clients are
normally given.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from ..errors import ValidationError
from ..model import ImapSettings, PopSettings, format_binding, parse_binding
from . import netinfo

MODES = ("plain", "stls", "ssl")


@dataclass(frozen=True)
class Way:
    """A binding to probe, where: an SSL binding (TLS from the first byte), or a plain one
    (plain, then STLS, in one session)."""

    binding: str
    ssl: bool
    host: str  # where the probe connects
    port: int

    @property
    def where(self) -> str:
        return format_binding(self.host, self.port)

    def label(self, mode: str, starttls: str = "STLS") -> str:
        """`starttls`: the protocol's name for the stls mode (IMAP4: STARTTLS)."""
        word = "plain" if mode == "plain" else starttls if mode == "stls" else mode.upper()
        return f"{word} on {self.where}"


@dataclass(frozen=True)
class Target:
    mode: str
    host: str  # the name the application uses (certificate names are checked against it)
    connect_host: str  # where the probe connects
    port: int | None  # None: no binding of the kind the mode needs
    binding: str | None  # the binding that serves (connect_host, port), None if none does
    ssl_binding: bool  # `binding` is an SSL (implicit TLS) binding
    given: bool  # the admin named the port (or host): a missing binding is a finding
    mode_given: bool = True  # the admin named the client mode; else every way in `ways` is probed
    ways: tuple[Way, ...] = ()  # without a client mode: the bindings that serve host and port, SSL first


def check_mode(mode: str | None) -> str | None:
    if mode == "starttls":  # IMAP4's word for POP3's STLS: the same mode
        return "stls"
    if mode is not None and mode not in MODES:
        raise ValidationError("client_mode", f"{mode!r} is not a client mode", list(MODES))
    return mode


def _serves(binding: str, addresses: list[str], port: int | None) -> bool:
    """Whether a binding accepts connections to one of `addresses` (any, if none are known)
    on `port` (any, if None)."""
    host, bound_port = parse_binding("bindings", binding)
    if port is not None and bound_port != port:
        return False
    if not addresses:
        return True
    if host in ("0.0.0.0", "::"):
        version = 4 if host == "0.0.0.0" else 6
        return any(ipaddress.ip_address(a).version == version for a in addresses)
    return host in addresses


def choose(pop: PopSettings | ImapSettings, mode: str | None, host: str | None, port: int | None,
           fqdn: str, local: bool, standard: dict[bool, tuple[int, int]] | None = None) -> Target:
    """Blocking (a host name is resolved): call in a thread. `standard`: the protocol's
    standard ports by binding kind (ssl?), POP3's by default."""
    ssl_port = (standard or {True: (995, 0)})[True][0]
    mode = check_mode(mode)
    if port is not None and not 1 <= port <= 65535:
        raise ValidationError("port", f"{port} is out of range (allowed: 1..65535)")
    addresses = netinfo.resolve(host) if host else []
    mode_given = mode is not None
    every = [(b, True) for b in pop.ssl_bindings] + [(b, False) for b in pop.bindings]
    ways = () if mode_given else tuple(
        Way(b, is_ssl, host or netinfo.reach_host(parse_binding("bindings", b)[0], local, fqdn),
            parse_binding("bindings", b)[1])
        for b, is_ssl in every if _serves(b, addresses, port))
    if mode is None and port is None:
        mode = "ssl" if pop.ssl_bindings or not pop.bindings else "stls"
    # With a port, whichever kind of binding serves it; without, the mode's first binding.
    pools = every
    if port is None:
        pools = [(b, is_ssl) for b, is_ssl in pools if is_ssl == (mode == "ssl")]
    found = [(b, is_ssl) for b, is_ssl in pools if _serves(b, addresses, port)]
    # No binding serves a given port: only the application's settings could say its mode;
    # guess from the well-known ports.
    binding, is_ssl = found[0] if found else (None, mode == "ssl" or (mode is None and port == ssl_port))
    mode = mode or ("ssl" if is_ssl else "stls")
    bound_port = parse_binding("bindings", binding)[1] if binding else None
    if host:
        connect = host
    elif binding:
        connect = netinfo.reach_host(parse_binding("bindings", binding)[0], local, fqdn)
    else:
        connect = "127.0.0.1" if local else fqdn
    return Target(mode, host or fqdn, connect, port or bound_port, binding, is_ssl,
                  port is not None or host is not None, mode_given, ways)
