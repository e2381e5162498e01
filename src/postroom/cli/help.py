"""How `postroom ... --help` reads: plain text, as git's or postconf's (no boxes, so it greps and
pipes), wrapped to the terminal (at most 80 columns, Click's default), with every option name
whole. Typer's Rich panels cut long names to `--max-inbound-connect…` at 80 columns; and a value
is named by what it is (`--authenticated-timeout DURATION`, `ADDRESS`), never `<str>` or `<bool>`.

The root command group (`HelpGroup`, given to the app in cli/__init__.py) adopts every command
under it when the app is built, so a command added anywhere gets the same help without
declaring anything.
"""
from __future__ import annotations

import inspect
import re
from typing import Any

import typer
from typer.core import TyperArgument, TyperGroup, TyperOption

# The line wrapper breaks after a hyphen, which cuts `--remote-ip-ranges` or `plain-text-login`
# in two inside a help text. A non-breaking hyphen is one character wide too and is never broken
# after: help text is wrapped with it and written back with plain hyphens. Only in words short
# enough for a line of the help column (a longer one, a queue name say, must break somewhere).
_NO_BREAK = "\u2011"
_WHOLE_WORD = re.compile(r"(?<!\S)\S{1,40}(?!\S)")


def _unbreakable(text: str) -> str:
    return _WHOLE_WORD.sub(lambda word: word.group().replace("-", _NO_BREAK), text)


_ClickFormatter: Any = typer.Context.formatter_class  # Click's, as the installed Typer ships it


class HelpFormatter(_ClickFormatter):
    """Click's help formatter, except that it never breaks a line inside a hyphenated word."""

    def write_text(self, text: str) -> None:
        start = len(self.buffer)
        super().write_text(_unbreakable(text))
        self._hyphens_back(start)

    def write_dl(self, rows: Any, col_max: int = 30, col_spacing: int = 2) -> None:
        start = len(self.buffer)
        super().write_dl([(term, _unbreakable(text)) for term, text in rows], col_max, col_spacing)
        self._hyphens_back(start)

    def _hyphens_back(self, start: int) -> None:
        self.buffer[start:] = [part.replace(_NO_BREAK, "-") for part in self.buffer[start:]]


class HelpContext(typer.Context):
    formatter_class = HelpFormatter


class NamedArgument(TyperArgument):
    """An argument shown by its name (ADDRESS, NAME), as in a man page, without a type after it."""

    def _shown_name(self) -> str:
        return (self.metavar or (self.name or "").upper()) + ("..." if self.nargs != 1 else "")

    def get_usage_pieces(self, ctx: Any) -> list[str]:
        return [self._shown_name() if self.required else f"[{self._shown_name()}]"]

    def get_help_record(self, ctx: Any) -> tuple[str, str] | None:
        record = super().get_help_record(ctx)
        return None if record is None else (self._shown_name(), record[1])


class HelpGroup(TyperGroup):
    """The app's root group: on construction it adopts every command below it (`adopt`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        adopt(self)


def adopt(command: Any) -> None:
    """Give `command` and every command under it postroom's help: the formatter above; the
    first paragraph of its help, whole, in its group's list of commands (Click would cut it to
    one line with "..."); arguments by name; an option's value named after the option
    (`--target TARGET`) when it does not say what it is (`--data DIR`, `--since TIME`)."""
    command.context_class = HelpContext
    if command.help and not command.short_help:
        command.short_help = " ".join(inspect.cleandoc(command.help).split("\n\n")[0].split())
    for param in command.params:
        if isinstance(param, TyperArgument):
            param.__class__ = NamedArgument  # only help and usage differ; parsing is Typer's own
        elif isinstance(param, TyperOption) and param.metavar is None and not (param.is_flag or param.count):
            param.metavar = (param.name or "value").upper()
    for sub in getattr(command, "commands", {}).values():
        adopt(sub)
