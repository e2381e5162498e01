"""One declaration per setting (settings_table.py): a setting declared once reaches the CLI's
options, the REST request and response models, the console's form handling and the model's
validation; nothing else (no stray local variable, no unknown name) reaches the service."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest
import typer
from pydantic import ValidationError as BodyError
from typer.testing import CliRunner

from postroom.cli import app
from postroom.cli.setting_options import setting_options
from postroom.errors import ValidationError
from postroom.model import LoginPolicy, MailboxFeatures, PopSettings, ReceiveConnector, WebSettings
from postroom.settings_table import Changes, setting, size_text
from postroom.validation import ValidatedSettings, _bool, int_in_range, parse_quota
from postroom.web.bodies import Body
from postroom.web.console.settings_form import display_values, form_changes
from postroom.web.settings_models import changes_model, view_model


@dataclass(frozen=True)
class Toy(ValidatedSettings):
    """A settings class a new feature would add: each field is its one declaration."""

    _kind: ClassVar[str] = "a toy setting"

    max_widgets: int = setting(8, lambda n, v: int_in_range(n, v, 1, 64), "Widgets at once (1..64).",
                               exchange="MaxWidgets", tab="general", label="maximum widgets", widget="number")
    spool_size: int = setting(1024 ** 2, lambda n, v: parse_quota(n, v, 1024, 1024 ** 3), "Largest spool, e.g. 1MB.",
                              tab="general", display=size_text)
    verbose: bool = setting(False, _bool, "enabled or disabled.", tab="general", widget="checkbox")


def test_one_entry_gives_cli_options_that_reach_the_service_as_typed_changes() -> None:
    received: list[Changes] = []
    toy_app = typer.Typer()

    @toy_app.command()
    @setting_options(Toy.table())
    def toy_set(json_out: bool = False, changes: Changes = Toy.changes()) -> None:
        received.append(changes)

    runner = CliRunner()
    help_text = runner.invoke(toy_app, ["--help"], env={"COLUMNS": "200"}).output
    assert "--max-widgets" in help_text and "Widgets at once (1..64)." in help_text and "--spool-size" in help_text
    result = runner.invoke(toy_app, ["--max-widgets", "12", "--verbose", "enabled"])
    assert result.exit_code == 0, result.output
    assert dict(received[0].values) == {"max_widgets": "12", "verbose": "enabled"}  # not json_out, not None
    assert Toy().apply(received[0]) == Toy(max_widgets=12, verbose=True)


def test_one_entry_gives_the_rest_models_and_the_console_form() -> None:
    body = changes_model("ToyChanges", Toy.table(), Body)
    assert body.model_validate({"spool_size": "2MB"}).given() == {"spool_size": "2MB"}
    with pytest.raises(BodyError):
        body.model_validate({"max_gadgets": 1})  # not declared: refused
    view = view_model("ToyView", Toy.table(), before={"server": str})
    assert list(view.model_json_schema()["properties"]) == ["server", "max_widgets", "spool_size", "verbose"]
    assert view.model_json_schema()["properties"]["verbose"]["type"] == "boolean"
    # an unchecked box is sent as off; the size is shown as the admin would type it
    assert form_changes(Toy.table(), Toy.table().tab_fields()["general"], {"max_widgets": " 9 "}) == \
        {"max_widgets": "9", "verbose": False}
    assert display_values(Toy.table(), Toy().to_dict(), None) == {"spool_size": "1MB"}


def test_a_change_object_holds_declared_settings_only() -> None:
    with pytest.raises(ValidationError) as refused:
        PopSettings.changes(max_command_size=100, maximum_command_size=100)
    assert refused.value.field == "maximum_command_size" and "max_command_size" in refused.value.message
    with pytest.raises(TypeError):  # another table's changes never reach a POP3 set operation
        PopSettings().apply(WebSettings.changes(session_timeout="1h"))


@pytest.mark.parametrize("cls", [PopSettings, WebSettings, LoginPolicy, ReceiveConnector])
def test_every_setting_is_declared_with_help_and_its_validator(cls: Any) -> None:
    for entry in cls.table():
        assert entry.help, entry.name
        default = cls("Relay", "EX01") if cls is ReceiveConnector else cls()
        assert entry.parse(entry.name, default.to_dict()[entry.name]) == getattr(default, entry.name)


@pytest.mark.parametrize("command, cls", [(["pop", "set"], PopSettings), (["web", "set"], WebSettings),
                                          (["security", "policy", "set"], LoginPolicy),
                                          (["connector", "set"], ReceiveConnector),
                                          (["mailbox", "set"], MailboxFeatures)])
def test_the_set_commands_offer_exactly_the_declared_settings(command: list[str], cls: Any) -> None:
    help_text = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "250"}).output
    offered = {name.replace("-", "_") for name in re.findall(r"(?<![\w-])--([a-z][a-z-]*)", help_text)}
    offered -= {"data", "server", "json", "help", "disabled", "no_require_tls"}  # the off side of on/off flags
    aliases = {entry.cli_alias for entry in cls.table() if entry.cli_alias}  # --pop beside --pop-enabled
    assert offered - aliases == set(cls.table().names)


def test_mailbox_features_are_declared_once_for_cli_api_and_console() -> None:
    table = MailboxFeatures.table()
    assert table.names == ("pop_enabled", "imap_enabled", "enabled", "display_name", "send_as")  # CLI's, API's order
    assert table.tab_fields() == {"general": ("display_name", "enabled"), "features": ("pop_enabled", "imap_enabled"),
                                  "delegation": ("send_as",)}
    assert table.parse("send_as", "B@Example.com, *@Apps.Example b@example.com") == ("b@example.com", "*@apps.example")
    assert table.parse("send_as", "") == () and table.parse("send_as", ["a@example.com"]) == ("a@example.com",)
    with pytest.raises(ValidationError) as refused:
        table.parse("send_as", ["a@example.com"] * 1 + [f"u{i}@example.com" for i in range(100)])
    assert refused.value.field == "send_as" and "at most 100" in refused.value.reason
    assert table.parse("pop_enabled", "Disabled") is False and table.parse("enabled", True) is True
    with pytest.raises(ValidationError) as refused:  # one name: the field's, --pop-enabled on the command line
        table.parse("pop_enabled", "on")
    assert (refused.value.field, refused.value.allowed) == ("pop_enabled", ["enabled", "disabled"])
    assert table.parse("display_name", "  Alice ") == "Alice"
