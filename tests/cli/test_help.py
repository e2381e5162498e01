"""`--help` of every command as an administrator reads it at 80 columns or piped into less: plain
text, every option name whole, each value named by what it is (DURATION, enabled|disabled,
SIZE, ADDRESS), never `<str>` or `<bool>`, and the Exchange cmdlet each command mirrors."""
from __future__ import annotations

import re
from typing import Any, Iterator

import pytest
import typer.main
from typer.testing import CliRunner

from postroom.cli import app
from postroom.model import (
    LoginPolicy, MailboxFeatures, PopSettings, ReceiveConnector, SendConnector, TransportSettings, WebSettings,
)

from .conftest import flat, invoke


def every_command(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from every_command(sub, (*path, name))


COMMANDS = list(every_command(typer.main.get_command(app)))


def help_of(*path: str, columns: int = 80) -> str:
    result = invoke(CliRunner(), [*path, "--help"], env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    return result.stdout


def test_every_command_has_readable_help_at_80_columns() -> None:
    assert len(COMMANDS) > 80  # the walk reached every group and command
    for path, command in COMMANDS:
        text = help_of(*path)
        where = f"postroom {' '.join(path)} --help"
        assert not re.search(r"<(?:bool|str|int|float)>", text), f"{where}:\n{text}"
        assert "…" not in text and not re.search(r"[╭│╰]", text), f"{where}:\n{text}"  # nothing cut, no boxes
        assert max(len(line) for line in text.splitlines()) <= 80, f"{where}:\n{text}"
        for param in command.params:  # every option name appears whole, hyphens and all
            for name in (*param.opts, *param.secondary_opts):
                if name.startswith("--"):
                    assert re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text), f"{where}: {name}\n{text}"


def test_connector_set_names_both_max_inbound_options_whole() -> None:
    text = help_of("connector", "set")
    assert "--max-inbound-connections N" in text and "--max-inbound-connections-per-source N" in text
    assert "--remote-ip-ranges RANGE,..." in text
    # an option named inside a help text is never broken at a hyphen either
    assert "--remote-ip-ranges) ('' for none)" in flat(text)


@pytest.mark.parametrize("command, cls", [
    (["pop", "set"], PopSettings), (["connector", "set", ], ReceiveConnector),
    (["send-connector", "set"], SendConnector), (["transport", "set"], TransportSettings),
    (["web", "set"], WebSettings), (["security", "policy", "set"], LoginPolicy), (["mailbox", "set"], MailboxFeatures),
])
def test_setting_options_say_what_their_value_is_from_the_settings_table(command: list[str], cls: Any) -> None:
    text = flat(help_of(*command))
    for entry in cls.table():
        if entry.cli_flag:
            assert entry.cli_flag.replace("/", " / ") in text
        elif entry.name != "auth_password":  # read with --auth-password-stdin, never an option value
            alias = f", --{entry.cli_alias}" if entry.cli_alias else ""
            assert f"--{entry.name.replace('_', '-')}{alias} {entry.value_name} " in text, entry.name


def test_value_names_of_the_pop_settings() -> None:
    text = flat(help_of("pop", "set"))
    for shown in ("--authenticated-timeout DURATION", "--protocol-log enabled|disabled",
                  "--log-max-directory-size SIZE", "--bindings IP:PORT,...", "--max-command-size N",
                  "--login-type plain-text-login|plain-text-authentication|secure-login", "--data DIR",
                  "--server NAME", "--certificate FILE"):
        assert shown in text, shown


CMDLETS = {
    ("mailbox",): ["Set-CASMailbox"], ("mailbox", "set"): ["Set-CASMailbox -PopEnabled"],
    ("mailbox", "new"): ["New-Mailbox"], ("mailbox", "list"): ["Get-Mailbox"],
    ("service",): ["Start-Service", "Set-Service"], ("service", "start"): ["Start-Service"],
    ("service", "stop"): ["Stop-Service"], ("service", "set"): ["Set-Service -StartupType"],
    ("service", "list"): ["Get-Service"],
    ("log", "tracking"): ["Get-MessageTrackingLog"], ("log", "audit"): ["Search-AdminAuditLog"],
    ("send-connector",): ["New-/Set-SendConnector"], ("send-connector", "new"): ["New-SendConnector"],
    ("send-connector", "set"): ["Set-SendConnector"], ("transport", "set"): ["Set-TransportService"],
    ("queue",): ["Get-Queue"], ("queue", "list"): ["Get-Queue"], ("queue", "messages"): ["Get-Message"],
    ("pop", "show"): ["Get-PopSettings"], ("pop", "set"): ["Set-PopSettings"],
    ("connector", "set"): ["Set-ReceiveConnector"], ("connector", "new"): ["New-ReceiveConnector"],
    ("domain", "add"): ["New-AcceptedDomain"],
}


@pytest.mark.parametrize("path", list(CMDLETS))
def test_commands_that_mirror_a_cmdlet_name_it(path: tuple[str, ...]) -> None:
    text = flat(help_of(*path))
    for cmdlet in CMDLETS[path]:
        assert cmdlet in text, f"postroom {' '.join(path)} --help:\n{text}"


def test_a_group_lists_its_commands_whole_and_a_usage_error_is_plain_text() -> None:
    listing = flat(help_of("queue"))
    assert "list Every queue (one per next hop) with mail waiting, suspended queues, and `poison` (Exchange: " \
           "Get-Queue; Postfix: postqueue -p)." in listing
    refused = invoke(CliRunner(), ["connector", "set", "Client EX01", "--max-inbound"], env={"COLUMNS": "80"})
    assert refused.exit_code == 2 and "No such option: --max-inbound" in refused.output
    assert "Usage: " in refused.output and " connector set [OPTIONS] NAME" in refused.output
    assert "╭" not in refused.output


def test_every_command_but_serve_takes_json_as_the_readme_says() -> None:
    leaves = [path for path, command in COMMANDS if not getattr(command, "commands", None)]
    without = [path for path in leaves if "--json" not in {o for p in dict(COMMANDS)[path].params for o in p.opts}]
    assert without == [("serve",)]
