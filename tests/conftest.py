"""Every test process, including pytest-xdist's workers (which set COLUMNS=80 and LINES=24):
the CLI's Rich console must size itself from the terminal each test gives it (CliRunner's
COLUMNS), not from a width fixed when postroom.cli.output is first imported.

CliRunner turns the Typer app into its Click command on every invoke; for postroom's ninety
commands that is about 30 ms of signature inspection, most of a typical command's time in
the CLI tests. A `postroom` process builds it once, so the tests build it once per app too."""
from __future__ import annotations

import os

import typer.testing

for _name in ("COLUMNS", "LINES"):
    os.environ.pop(_name, None)

_commands: dict[int, object] = {}
_build_command = typer.testing._get_command


def _built_once(app):
    key = id(app)
    if key not in _commands:
        _commands[key] = (app, _build_command(app))  # keeps app alive so its id stays its own
    return _commands[key][1]


typer.testing._get_command = _built_once
