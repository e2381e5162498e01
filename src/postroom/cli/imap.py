"""`postroom imap show|set`: the IMAP4 settings of a server (Exchange: Get-/Set-ImapSettings),
one option per setting of the table (model ImapSettings), as `pop show|set`."""
from __future__ import annotations

import typer

from ..model import ImapSettings
from ..service import imap as imap_ops
from .common import DEFAULT_DATA, Data, Json, ServerOpt, run
from .output import emit, show_settings
from .setting_options import Changes, setting_options

imap_app = typer.Typer(help="IMAP4 settings of a server (Exchange: Get-/Set-ImapSettings).", no_args_is_help=True)


@imap_app.command("show")
def imap_show(data: Data = DEFAULT_DATA, server: ServerOpt = None, json_out: Json = False) -> None:
    """Show the IMAP4 settings of a server, as `imap set` takes them (Exchange: Get-ImapSettings)."""
    view = run(data, lambda ctx: imap_ops.show_imap(ctx, server))
    emit(view) if json_out else show_settings(view, ImapSettings.table())


@imap_app.command("set")
@setting_options(ImapSettings.table())
def imap_set(data: Data = DEFAULT_DATA, server: ServerOpt = None, json_out: Json = False,
             changes: Changes = ImapSettings.changes()) -> None:
    """Change IMAP4 settings; every change applies live, without a restart (Exchange: Set-ImapSettings)."""
    view = run(data, lambda ctx: imap_ops.set_imap(ctx, server, changes))
    emit(view) if json_out else show_settings(view, ImapSettings.table())
