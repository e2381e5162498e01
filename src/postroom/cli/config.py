"""`postroom config show [--changed]`: the whole configuration as one document, or only what
differs from the defaults (Postfix: postconf, postconf -n). cli/__init__.py adds config_app."""
from __future__ import annotations

import sys
from typing import Annotated

import typer

from ..service import configuration
from .common import DEFAULT_DATA, Data, Json, ServerOpt, run
from .output import emit

config_app = typer.Typer(help="The whole configuration as one document, for review or diff (Postfix: postconf).",
                         no_args_is_help=True)
Changed = Annotated[bool, typer.Option(
    "--changed", "-n", help="Only the settings that differ from their defaults, each with its default as a comment "
                            "(Postfix: postconf -n).")]


@config_app.command("show")
def config_show(data: Data = DEFAULT_DATA, server: ServerOpt = None, changed: Changed = False,
                json_out: Json = False) -> None:
    """The organization's settings and this server's (--server NAME, or all), in a stable order
    to review or diff: YAML (sizes and durations as `set` takes them), or --json (raw values).
    Secrets are never shown: a smart-host password is ******** when set."""
    document = run(data, lambda ctx: configuration.show_configuration(ctx, server, changed=changed))
    if json_out:
        emit(document)
        return
    sys.stdout.write(configuration.configuration_text(document, changed=changed))  # as is: never wrapped
