"""`postroom connector list|show|new|set|remove`: SMTP receive connectors (Exchange's
Get-/New-/Set-/Remove-ReceiveConnector), one option per property (declared in model/transport.py).

cli/__init__.py adds connector_app to the `postroom` app.
"""
from __future__ import annotations

from typing import Annotated

import typer

from ..model import ReceiveConnector
from ..service import connectors as connector_ops
from .common import DEFAULT_DATA, Data, Json, ServerOpt, run
from .output import console, emit, show_settings, show_table
from .setting_options import Changes, setting_options

connector_app = typer.Typer(help="SMTP receive connectors of a server (Exchange: Get-/New-/Set-ReceiveConnector).",
                            no_args_is_help=True)

CONNECTOR_COLUMNS = ["server", "name", "enabled", "bindings", "auth", "permission_groups", "state", "listening",
                     "errors"]
Name = Annotated[str, typer.Argument(help="Connector name, e.g. \"Client EX01\".")]
CONNECTOR = ReceiveConnector.table()  # one option per property, with its help, declared there


@connector_app.command("list")
def connector_list(data: Data = DEFAULT_DATA, server: ServerOpt = None, json_out: Json = False) -> None:
    """Each receive connector: its bindings, who may use it, and what the node really does
    (Exchange: Get-ReceiveConnector)."""
    rows = run(data, lambda ctx: connector_ops.list_connectors(ctx, server))
    emit(rows) if json_out else show_table(rows, CONNECTOR_COLUMNS)


@connector_app.command("show")
def connector_show(name: Name, data: Data = DEFAULT_DATA, server: ServerOpt = None, json_out: Json = False) -> None:
    """Every property of one connector, as `connector set` takes it, and its state on the node
    (Exchange: Get-ReceiveConnector)."""
    view = run(data, lambda ctx: connector_ops.show_connector(ctx, name, server))
    emit(view) if json_out else show_settings(view, CONNECTOR)


@connector_app.command("new")
@setting_options(CONNECTOR)
def connector_new(
    name: Name, data: Data = DEFAULT_DATA, server: ServerOpt = None, json_out: Json = False,
    usage: Annotated[str, typer.Option(metavar="custom|internet|client", help=(
        "custom (needs --bindings), internet (anonymous, 25) or client (users, 587)."))] = "custom",
    changes: Changes = ReceiveConnector.changes(),
) -> None:
    """Create a receive connector; the node starts listening within a second (Exchange:
    New-ReceiveConnector)."""
    view = run(data, lambda ctx: connector_ops.new_connector(ctx, name, server, usage, changes))
    emit(view) if json_out else show_settings(view, CONNECTOR)


@connector_app.command("set")
@setting_options(CONNECTOR)
def connector_set(name: Name, data: Data = DEFAULT_DATA, server: ServerOpt = None, json_out: Json = False,
                  changes: Changes = ReceiveConnector.changes()) -> None:
    """Change a connector's properties; every change applies live, without a restart (Exchange:
    Set-ReceiveConnector)."""
    view = run(data, lambda ctx: connector_ops.set_connector(ctx, name, server, changes))
    emit(view) if json_out else show_settings(view, CONNECTOR)


@connector_app.command("remove")
def connector_remove(name: Name, data: Data = DEFAULT_DATA, server: ServerOpt = None, json_out: Json = False) -> None:
    """Remove a connector: its listeners close and its connections are dropped (Exchange:
    Remove-ReceiveConnector)."""
    view = run(data, lambda ctx: connector_ops.remove_connector(ctx, name, server))
    emit(view) if json_out else console.print(f"Removed receive connector {view['name']} from server {view['server']} "
                                              f"({view['state']})")
