"""What the two Client Access protocols' settings (POP3's and IMAP4's, Exchange's Set-PopSettings
and Set-ImapSettings) must agree on, checked by `set_pop` and `set_imap` alike: listeners that
can work, and no IP:port another service of the server already uses."""
from __future__ import annotations

from typing import Any, Protocol

from ..errors import ValidationError
from .bindings import bindings_overlap, check_admin_service_clash
from .context import Context


class ClientAccessSettings(Protocol):
    """What PopSettings and ImapSettings have in common here."""

    @property
    def bindings(self) -> tuple[str, ...]: ...
    @property
    def ssl_bindings(self) -> tuple[str, ...]: ...
    @property
    def certificate(self) -> str | None: ...
    def to_dict(self) -> dict[str, Any]: ...


# protocol -> (its name as admins read it, with its article; the command that moves its bindings)
PROTOCOLS = {"pop3": ("a POP3", "postroom pop set"), "imap4": ("an IMAP4", "postroom imap set")}


def check_consistent(settings: ClientAccessSettings, protocol: str) -> None:
    both = set(settings.bindings) & set(settings.ssl_bindings)
    if both:
        plain = "plain/STLS" if protocol == "pop3" else "plain/STARTTLS"  # POP3's verb is STLS
        raise ValidationError("ssl_bindings", f"{', '.join(sorted(both))} is also a {plain} binding")
    if settings.ssl_bindings and not settings.certificate:
        raise ValidationError("certificate", "SSL bindings need a certificate (set --certificate)")


async def check_new_bindings(ctx: Context, server: str, protocol: str, before: ClientAccessSettings,
                             after: ClientAccessSettings) -> None:
    """A binding added to `protocol` (pop3, imap4) may not take an IP:port that the admin service,
    a receive connector or the other Client Access protocol of the same server uses."""
    for field, old, new in (("bindings", before.bindings, after.bindings),
                            ("ssl_bindings", before.ssl_bindings, after.ssl_bindings)):
        added = [b for b in new if b not in old]
        if not added:
            continue
        await check_admin_service_clash(ctx, server, field, added)
        for connector in await ctx.store.list_connectors(server):
            for binding in added:
                used = next((c for c in connector.bindings if bindings_overlap(binding, c)), None)
                if used is not None:
                    raise ValidationError(field, f"{binding} clashes with {used}, a binding of receive connector "
                                          f"{connector.name!r} (move one: `postroom connector set`)")
        for other in PROTOCOLS:
            if other != protocol:
                await check_client_access_clash(ctx, server, other, field, added)


async def check_client_access_clash(ctx: Context, server: str, protocol: str, field: str, added: list[str]) -> None:
    """None of `added` may take an IP:port of `protocol`'s (pop3, imap4) bindings on `server`."""
    name, command = PROTOCOLS[protocol]
    settings: ClientAccessSettings = await (ctx.store.get_pop_settings(server) if protocol == "pop3"
                                            else ctx.store.get_imap_settings(server))
    for option, kind, used_list in (("bindings", "binding", settings.bindings),
                                    ("ssl-bindings", "SSL binding", settings.ssl_bindings)):
        for binding in added:
            used = next((b for b in used_list if bindings_overlap(binding, b)), None)
            if used is not None:
                raise ValidationError(field, f"{binding} clashes with {used}, {name} {kind} of server {server} "
                                      f"(move one: `{command} --{option}`)")


def diff(before: ClientAccessSettings, after: ClientAccessSettings,
         which: ClientAccessSettings) -> dict[str, Any]:
    """`which`'s values of the settings that differ between `before` and `after` (the audit's)."""
    old, new, pick = before.to_dict(), after.to_dict(), which.to_dict()
    return {key: pick[key] for key in pick if old[key] != new[key]}
