"""One vocabulary: every setting has one name in the CLI and in the REST API.

For each settings table (POP3, IMAP4, the admin service, the login block policy, receive and send
connectors, transport, mailbox features), every setting must be a CLI option `--NAME` (dashes
for underscores) of each command that changes it, a field NAME of each request body that changes
it, and a key NAME of the answer that shows it. A CLI name that differs (an alias such as
`--pop`, or a password read from stdin) must be a row of the "CLI | API" table of
docs/operations.md, mapping it to that very field. Options or fields that belong to no setting
fail too, unless they are the object's identity (its name) or common to every command.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from typer.main import get_command

from postroom.cli import app as cli_app
from postroom.model import (
    ImapSettings, LoginPolicy, MailboxFeatures, PopSettings, ReceiveConnector, SendConnector, TransportSettings,
    WebSettings,
)
from postroom.web import create_app

from .conftest import SERVER

DOCS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
COMMON = {"--data", "--json", "--server", "--help"}  # every command's; --server is the API's path
S = "/api/v1/servers/{server}"


@dataclass(frozen=True)
class Surface:
    settings: Any  # the settings class whose table declares them
    commands: tuple[tuple[str, ...], ...]  # the CLI commands that change them
    bodies: tuple[tuple[str, str], ...]  # (method, path): the API operations that change them
    answer: tuple[str, str]  # (method, path): the API operation that shows them
    identity: frozenset[str] = field(default_factory=frozenset)  # fields that name the object, not a setting


SURFACES = {
    "POP3 settings": Surface(PopSettings, (("pop", "set"),), (("patch", f"{S}/pop-settings"),),
                             ("get", f"{S}/pop-settings")),
    "IMAP4 settings": Surface(ImapSettings, (("imap", "set"),), (("patch", f"{S}/imap-settings"),),
                              ("get", f"{S}/imap-settings")),
    "admin service (web) settings": Surface(WebSettings, (("web", "set"),), (("patch", f"{S}/web-settings"),),
                                            ("get", f"{S}/web-settings")),
    "login block policy": Surface(LoginPolicy, (("security", "policy", "set"),),
                                  (("patch", "/api/v1/security/policy"),), ("get", "/api/v1/security/policy")),
    "receive connectors": Surface(ReceiveConnector, (("connector", "new"), ("connector", "set")),
                                  (("post", f"{S}/receive-connectors"), ("patch", f"{S}/receive-connectors/{{name}}")),
                                  ("get", f"{S}/receive-connectors/{{name}}"), frozenset({"name", "usage"})),
    "send connectors": Surface(SendConnector, (("send-connector", "new"), ("send-connector", "set")),
                               (("post", "/api/v1/send-connectors"), ("patch", "/api/v1/send-connectors/{name}")),
                               ("get", "/api/v1/send-connectors/{name}"), frozenset({"name"})),
    "transport settings": Surface(TransportSettings, (("transport", "set"),), (("patch", f"{S}/transport"),),
                                  ("get", f"{S}/transport")),
    "mailbox features": Surface(MailboxFeatures, (("mailbox", "set"),), (("patch", "/api/v1/mailboxes/{address}"),),
                                ("get", "/api/v1/mailboxes/{address}")),
}
DOCUMENT = create_app(None, SERVER, "", None).openapi()  # type: ignore[arg-type]  # an app only for its document
CLI = get_command(cli_app)


def documented() -> dict[str, str]:
    """CLI option -> API field, from the "| CLI | API | why |" table of docs/operations.md."""
    table = DOCS.read_text().split("| CLI | API | why |", 1)[1].split("\n\n", 1)[0]
    return dict(re.findall(r"^\| `(--[a-z-]+)` \| `([a-z_]+)` \|", table, re.M))


def option(name: str) -> str:
    return "--" + name.replace("_", "-")


def cli_options(path: tuple[str, ...]) -> dict[str, Any]:
    """Each option string of a CLI command (--pop and --pop-enabled alike) -> its option; the off
    side of an on/off flag (--disabled, --no-require-tls) is the same option, not another name."""
    command: Any = CLI
    for part in path:
        command = command.commands[part]
    return {name: param for param in command.params if param.param_type_name == "option" for name in param.opts}


def schema_fields(schema: dict[str, Any]) -> set[str]:
    """The property names of a schema, through $ref, allOf and anyOf."""
    if "$ref" in schema:
        return schema_fields(DOCUMENT["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]])
    names = set(schema.get("properties", {}))
    for part in [*schema.get("allOf", []), *schema.get("anyOf", [])]:
        names |= schema_fields(part)
    return names


def body_fields(method: str, path: str) -> set[str]:
    return schema_fields(DOCUMENT["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"])


def answer_fields(method: str, path: str) -> set[str]:
    return schema_fields(DOCUMENT["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"])


@pytest.mark.parametrize("surface", SURFACES.values(), ids=SURFACES.keys())
def test_every_setting_has_one_name_in_the_cli_and_the_api(surface: Surface) -> None:
    table, mapping = surface.settings.table(), documented()
    assert table.names, "an empty table: nothing would be compared"
    for path in surface.commands:
        options, command = cli_options(path), " ".join(path)
        for setting in table:
            own = options.get(option(setting.name))
            if own is None:  # only where the docs map another option of this command to the field
                other = [o for o, f in mapping.items() if f == setting.name and o in options]
                assert other, f"`{command}` has no {option(setting.name)} and docs/operations.md maps none to it"
                continue
            for name in own.opts:
                assert name == option(setting.name) or mapping.get(name) == setting.name, (
                    f"`{command}` {name} sets {setting.name}: not in the CLI | API table of docs/operations.md")
        strays = {o for o in options if o not in COMMON and o.lstrip("-").replace("-", "_") not in table.names
                  and mapping.get(o) not in table.names and o.lstrip("-") not in surface.identity}
        assert not strays, f"`{command}` has options that are no setting: {sorted(strays)}"
    for method, path in surface.bodies:
        fields = body_fields(method, path)
        assert set(table.names) <= fields, f"{method.upper()} {path} lacks {sorted(set(table.names) - fields)}"
        assert fields - set(table.names) <= surface.identity, f"{method.upper()} {path}: {sorted(fields)}"
    shown = answer_fields(*surface.answer)
    assert set(table.names) <= shown, f"{surface.answer} does not show {sorted(set(table.names) - shown)}"


def test_a_new_mailbox_takes_its_features_by_the_same_names() -> None:
    """`mailbox new` and POST /mailboxes take three of the features (display name, POP3, IMAP4)."""
    options, fields, mapping = cli_options(("mailbox", "new")), body_fields("post", "/api/v1/mailboxes"), documented()
    features = set(MailboxFeatures.table().names)
    assert fields & features == {"display_name", "pop_enabled", "imap_enabled"}
    for name in fields & features:
        assert options[option(name)].opts == [option(name), *(o for o, f in mapping.items() if f == name)]


def test_the_only_aliases_are_the_documented_ones() -> None:
    """The table of docs/operations.md lists --pop for --pop-enabled (--imap for --imap-enabled), nothing
    undeclared; and every
    alias a settings table declares is in it."""
    mapping = documented()
    assert mapping["--pop"] == "pop_enabled" and mapping["--password-stdin"] == "password"
    declared = {f"--{s.cli_alias}": s.name for surface in SURFACES.values() for s in surface.settings.table()
                if s.cli_alias}
    assert declared == {"--pop": "pop_enabled", "--imap": "imap_enabled"}
    assert declared.items() <= mapping.items()
