"""`postroom pop show|set`: the POP3 settings of a server (Exchange: Get-/Set-PopSettings),
one option per setting of the table (model PopSettings)."""
from __future__ import annotations

import typer

from ..model import PopSettings
from ..service import pop as pop_ops
from .common import DEFAULT_DATA, Data, Json, ServerOpt, run
from .output import emit, show_settings
from .setting_options import Changes, setting_options

pop_app = typer.Typer(help="POP3 settings of a server (Exchange: Get-/Set-PopSettings).", no_args_is_help=True)


@pop_app.command("show")
def pop_show(data: Data = DEFAULT_DATA, server: ServerOpt = None, json_out: Json = False) -> None:
    """Show the POP3 settings of a server, as `pop set` takes them (Exchange: Get-PopSettings)."""
    view = run(data, lambda ctx: pop_ops.show_pop(ctx, server))
    emit(view) if json_out else show_settings(view, PopSettings.table())


@pop_app.command("set")
@setting_options(PopSettings.table())
def pop_set(data: Data = DEFAULT_DATA, server: ServerOpt = None, json_out: Json = False,
            changes: Changes = PopSettings.changes()) -> None:
    """Change POP3 settings; every change applies live, without a restart (Exchange: Set-PopSettings)."""
    view = run(data, lambda ctx: pop_ops.set_pop(ctx, server, changes))
    emit(view) if json_out else show_settings(view, PopSettings.table())
