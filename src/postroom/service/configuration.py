"""The whole configuration as one document (`postroom config show`, GET /api/v1/config), and
the settings that differ from their defaults (`--changed`, as Postfix's `postconf -n`).

The document has two parts. `organization`: the accepted domains, DKIM keys, the login
policy, send connectors, admin principals with their role groups, and a summary of the
mailboxes. `servers`: for each server shown (this one, one named, or all), its FQDN, services,
POP3 and IMAP4 settings, receive connectors, transport settings and admin service. Its order is stable
(settings in declaration order, objects by name) and it holds no time, so two servers' or two
days' documents diff line by line.

A default is what the setting's class declares (settings_table.py). For receive connectors
that is New-ReceiveConnector's Custom usage, so the two connectors `init` makes show what makes
them Default and Client; services compare with a new install's (service/setup.py). Objects
that exist only once made (domains, DKIM keys, send connectors, receive connectors, admins)
are always listed, with only their non-default properties under --changed.

Mailboxes are recipients, not configuration, and there may be thousands: the document counts
them and, per feature, how many differ from the feature's default (`postroom mailbox list`
names them). Secrets are never in it: a smart-host password shows as ******** when set (as
every view shows it), DKIM keys by selector and algorithm only, admins without their password
hashes, API tokens not at all. Reading it therefore needs only the read right and is not
audited, like every other read of the configuration.
"""
from __future__ import annotations

import json
import re
from typing import Any, Callable, Mapping

from ..model import (
    ImapSettings, LoginPolicy, MailboxFeatures, PopSettings, ReceiveConnector, SendConnector, TransportSettings,
    WebSettings,
)
from ..settings_table import SettingsTable
from .context import READ, Context
from .setup import SERVICE_DEFAULTS

ALL_SERVERS = "all"
MAILBOX_PAGE = 1000
# Mailbox features summarised by count (the display name is a name, not a feature)
SUMMARISED_FEATURES = tuple(name for name in MailboxFeatures.table().names if name != "display_name")


# what a mapping of the document holds ----------------------------------------------------------
def _table_at(path: tuple[str, ...]) -> SettingsTable | None:
    """The settings table whose settings the mapping at `path` holds, if any."""
    match path:
        case ("organization", "login_policy"):
            return LoginPolicy.table()
        case ("organization", "send_connectors", _):
            return SendConnector.table()
        case ("servers", _, "pop"):
            return PopSettings.table()
        case ("servers", _, "imap"):
            return ImapSettings.table()
        case ("servers", _, "receive_connectors", _):
            return ReceiveConnector.table()
        case ("servers", _, "transport"):
            return TransportSettings.table()
        case ("servers", _, "web"):
            return WebSettings.table()
    return None


def defaults_at(path: tuple[str, ...]) -> dict[str, Any] | None:
    """The defaults (JSON values) of the settings the mapping at `path` holds; None: not settings."""
    table = _table_at(path)
    if table is not None:
        return {s.name: s.render(s.default) for s in table}
    if len(path) == 4 and path[0] == "servers" and path[2] == "services" and path[3] in SERVICE_DEFAULTS:
        startup, status = SERVICE_DEFAULTS[path[3]]
        return {"startup": startup.value, "status": status.value}
    return None


def _displays_at(path: tuple[str, ...]) -> dict[str, Callable[[Any], str]]:
    table = _table_at(path)
    return {s.name: s.display for s in table if s.display} if table is not None else {}


def _settings(path: tuple[str, ...], values: Mapping[str, Any], changed: bool) -> dict[str, Any]:
    defaults = defaults_at(path) or {}
    return {k: v for k, v in values.items() if not changed or k not in defaults or v != defaults[k]}


# the document ----------------------------------------------------------------------------------
async def show_configuration(ctx: Context, server: str | None = None, *, changed: bool = False) -> dict[str, Any]:
    """The configuration of the organization and of this server (`server`: another, or "all");
    with `changed`, only what differs from its default."""
    await ctx.require(READ)
    if server == ALL_SERVERS:
        names = [s.name for s in await ctx.store.list_servers()]
    else:
        names = [(await ctx.store.get_server(ctx.server_name(server))).name]  # NotFound names it
    return {"organization": await _organization(ctx, changed),
            "servers": {name: await _server(ctx, name, changed) for name in names}}


async def _organization(ctx: Context, changed: bool) -> dict[str, Any]:
    store = ctx.store
    keys: dict[str, dict[str, str]] = {}
    for key in await store.list_dkim_keys():
        keys.setdefault(key.domain, {})[key.selector] = key.algorithm.value
    policy = _settings(("organization", "login_policy"), (await store.get_login_policy()).to_dict(), changed)
    sections: dict[str, Any] = {
        "accepted_domains": await store.list_domains(),
        "dkim_keys": keys,
        "login_policy": policy,
        "send_connectors": {c.name: _settings(("organization", "send_connectors", c.name),
                                              _without(c.view(), "name"), changed)
                            for c in await store.list_send_connectors()},
        "admins": {a.name: list(a.roles) for a in await store.list_admins()},
        "mailboxes": await _mailboxes(ctx, changed),
    }
    return {k: v for k, v in sections.items() if not changed or v}


async def _mailboxes(ctx: Context, changed: bool) -> dict[str, Any]:
    """How many mailboxes there are and, per feature, how many differ from its default."""
    table = MailboxFeatures.table()
    differ = dict.fromkeys(SUMMARISED_FEATURES, 0)
    total, offset = 0, 0
    while True:  # a page at a time: an organization may hold many mailboxes
        page = await ctx.store.list_mailboxes(None, offset, MAILBOX_PAGE)
        for mailbox in page:
            for name in SUMMARISED_FEATURES:
                differ[name] += table[name].render(getattr(mailbox, name)) != table[name].render(table[name].default)
        total += len(page)
        offset += MAILBOX_PAGE
        if len(page) < MAILBOX_PAGE:
            break
    if changed:
        differ = {name: count for name, count in differ.items() if count}
        return {"count": total, "not_default": differ} if differ else {}
    return {"count": total, "not_default": differ}


async def _server(ctx: Context, name: str, changed: bool) -> dict[str, Any]:
    store = ctx.store
    at = ("servers", name)
    services = {s.name: _settings((*at, "services", s.name), {"startup": s.startup.value, "status": s.status.value},
                                  changed)
                for s in await store.list_services(name)}
    sections: dict[str, Any] = {
        "fqdn": (await store.get_server(name)).fqdn,
        "services": {service: values for service, values in services.items() if values or not changed},
        "pop": _settings((*at, "pop"), (await store.get_pop_settings(name)).to_dict(), changed),
        "imap": _settings((*at, "imap"), (await store.get_imap_settings(name)).to_dict(), changed),
        "receive_connectors": {c.name: _settings((*at, "receive_connectors", c.name),
                                                 _without(c.to_dict(), "name", "server"), changed)
                               for c in await store.list_connectors(name)},
        "transport": _settings((*at, "transport"), (await store.get_transport_settings(name)).to_dict(), changed),
        "web": _settings((*at, "web"), (await store.get_web_settings(name)).to_dict(), changed),
    }
    if changed:  # the FQDN is the server's identity, not a setting
        return {k: v for k, v in sections.items() if k != "fqdn" and v}
    return sections


def _without(view: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in view.items() if k not in names}


# as text ---------------------------------------------------------------------------------------
def configuration_text(document: Mapping[str, Any], *, changed: bool = False) -> str:
    """The document as YAML (a subset: mappings, lists of scalars, JSON-quoted strings where
    plain ones would be misread), sizes and durations in the form `set` accepts (250MB, 30d).
    With `changed`, each setting carries its default as a comment."""
    lines = ["# postroom config show" + (" --changed: what differs from its default" if changed else
                                         ": the whole configuration")]
    _mapping(document, (), lines, changed)
    return "\n".join(lines) + "\n"


def _mapping(mapping: Mapping[str, Any], path: tuple[str, ...], lines: list[str], changed: bool) -> None:
    indent = "  " * len(path)
    defaults = defaults_at(path) if changed else None
    displays = _displays_at(path)
    for key, value in mapping.items():
        note = f"  # default: {_plain_text(defaults[key], displays.get(key))}" if defaults and key in defaults else ""
        if isinstance(value, Mapping) and value:
            lines.append(f"{indent}{_scalar(key)}:{note}")
            _mapping(value, (*path, key), lines, changed)
        elif isinstance(value, (list, tuple)) and value:
            lines.append(f"{indent}{_scalar(key)}:{note}")
            lines.extend(f"{indent}  - {_scalar(item)}" for item in value)
        else:
            text = "{}" if isinstance(value, Mapping) else "[]" if isinstance(value, (list, tuple)) else \
                _scalar(_displayed(value, displays.get(key)))
            lines.append(f"{indent}{_scalar(key)}: {text}{note}")


def _displayed(value: Any, display: Callable[[Any], str] | None) -> Any:
    """A size or a duration as `set` takes it (250MB, 30d); anything else as it is."""
    return display(value) if display and isinstance(value, int) and not isinstance(value, bool) else value


def _plain_text(value: Any, display: Callable[[Any], str] | None) -> str:
    """A default as its comment shows it."""
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value) or "none"
    return "none" if value is None else _scalar(_displayed(value, display))


# Plain (unquoted) only where YAML reads the text back as that same string: no indicator first
# (@ * & ! | > [ { ' " % ` - ?), no ": " or " #", nothing YAML 1.1 takes for a boolean, null,
# number (sexagesimal 1:20 included) or date.
_PLAIN = re.compile(r"[A-Za-z0-9_./+(][A-Za-z0-9_./@+()=:, -]*")
_NOT_PLAIN = re.compile(r"(?i)y|n|yes|no|on|off|true|false|null|~|[-+]?\.?[0-9][0-9_:.]*(e[-+]?[0-9]+)?"
                        r"|0x[0-9a-f_]+|0b[01_]+|0o[0-7_]+|[-+]?\.(inf|nan)|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([t ].*)?")


def _scalar(value: Any) -> str:
    """A YAML scalar: a string plain where YAML reads it back as that string, else JSON-quoted."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    text = str(value)
    plain = (_PLAIN.fullmatch(text) and not _NOT_PLAIN.fullmatch(text) and ": " not in text
             and not text.endswith((":", " ")))
    return text if plain else json.dumps(text, ensure_ascii=False)
