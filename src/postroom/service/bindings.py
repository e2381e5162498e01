"""Which IP:port each service of a server uses, so no two services ask for one socket."""
from __future__ import annotations

import ipaddress
from typing import Iterable

from ..errors import ValidationError
from ..model import parse_binding
from .context import Context


def bindings_overlap(a: str, b: str) -> bool:
    """Whether two IP:port bindings need the same socket: same port and address family, and the
    same address or a wildcard (0.0.0.0, ::) on either side, which the OS refuses to bind twice."""
    host_a, port_a = parse_binding("bindings", a)
    host_b, port_b = parse_binding("bindings", b)
    ip_a, ip_b = ipaddress.ip_address(host_a), ipaddress.ip_address(host_b)
    if port_a != port_b or ip_a.version != ip_b.version:
        return False
    return ip_a == ip_b or ip_a.is_unspecified or ip_b.is_unspecified


async def check_admin_service_clash(ctx: Context, server: str, field: str, added: Iterable[str]) -> None:
    """A POP3 or SMTP binding may not take an IP:port of the admin service (REST API, console)."""
    web = await ctx.store.get_web_settings(server)
    for binding in added:
        for option, kind, used_list in (("bindings", "HTTPS binding", web.bindings),
                                        ("http-bindings", "HTTP binding", web.http_bindings)):
            used = next((b for b in used_list if bindings_overlap(binding, b)), None)
            if used is not None:
                raise ValidationError(field, f"{binding} clashes with {used}, an admin service {kind} of server "
                                      f"{server} (move one: `postroom web set --{option}`)")
