"""`postroom send-connector new|set|list|show|remove` (Exchange's New-/Set-/Get-/Remove-SendConnector)
and `postroom transport show|set` (Get-/Set-TransportService): one option per property, declared in
model/outbound.py. The smart-host password is never an option value (it would sit in the shell's
history and the process list): `--auth-password-stdin` reads it from the first line of stdin.

cli/__init__.py adds send_connector_app and transport_app to the `postroom` app.
"""
from __future__ import annotations

import sys
from typing import Annotated

import typer

from ..model import SendConnector, TransportSettings
from ..service import send_connectors as send_ops
from ..service import transport as transport_ops
from .common import DEFAULT_DATA, Data, Json, ServerOpt, run
from .output import console, emit, show_settings, show_table
from .setting_options import Changes, setting_options

send_connector_app = typer.Typer(help="Send connectors: how mail leaves for other domains (Exchange: "
                                      "New-/Set-SendConnector).", no_args_is_help=True)
transport_app = typer.Typer(help="Transport settings of a server: retries, expiry, outbound limits "
                                 "(Exchange: Get-/Set-TransportService).", no_args_is_help=True)

COLUMNS = ["name", "enabled", "address_spaces", "dns_routing", "smart_hosts", "require_tls", "source_servers"]
Name = Annotated[str, typer.Argument(help="Send connector name, e.g. Internet.")]
PasswordStdin = Annotated[bool, typer.Option(
    "--auth-password-stdin", help="Read the smart-host password from the first line of standard input "
                                  "(an empty line removes it). Stored encrypted; never shown.")]
SEND = SendConnector.table()
PASSWORD = ("auth_password",)


def _with_password(changes: Changes, from_stdin: bool) -> Changes:
    if not from_stdin:
        return changes
    return SendConnector.changes({**changes.values, "auth_password": sys.stdin.readline().rstrip("\r\n")})


@send_connector_app.command("list")
def send_connector_list(data: Data = DEFAULT_DATA, json_out: Json = False) -> None:
    """Every send connector: the domains it routes and how, organisation-wide (Exchange: Get-SendConnector)."""
    rows = run(data, lambda ctx: send_ops.list_send_connectors(ctx))
    emit(rows) if json_out else show_table(rows, COLUMNS)


@send_connector_app.command("show")
def send_connector_show(name: Name, data: Data = DEFAULT_DATA, json_out: Json = False) -> None:
    """Every property of one send connector, as `send-connector set` takes it (a password shows as
    ********) (Exchange: Get-SendConnector)."""
    view = run(data, lambda ctx: send_ops.show_send_connector(ctx, name))
    emit(view) if json_out else show_settings(view, SEND)


@send_connector_app.command("new")
@setting_options(SEND, skip=PASSWORD)
def send_connector_new(name: Name, data: Data = DEFAULT_DATA, server: ServerOpt = None, json_out: Json = False,
                       auth_password_stdin: PasswordStdin = False,
                       changes: Changes = SendConnector.changes()) -> None:
    """Create a send connector (--address-spaces is required; --source-servers defaults to --server)
    (Exchange: New-SendConnector)."""
    given = _with_password(changes, auth_password_stdin)
    view = run(data, lambda ctx: send_ops.new_send_connector(ctx, name, given, server))
    emit(view) if json_out else show_settings(view, SEND)


@send_connector_app.command("set")
@setting_options(SEND, skip=PASSWORD)
def send_connector_set(name: Name, data: Data = DEFAULT_DATA, json_out: Json = False,
                       auth_password_stdin: PasswordStdin = False,
                       changes: Changes = SendConnector.changes()) -> None:
    """Change a send connector's properties; every server applies it to the next delivery (Exchange:
    Set-SendConnector)."""
    given = _with_password(changes, auth_password_stdin)
    view = run(data, lambda ctx: send_ops.set_send_connector(ctx, name, given))
    emit(view) if json_out else show_settings(view, SEND)


@send_connector_app.command("remove")
def send_connector_remove(name: Name, data: Data = DEFAULT_DATA, json_out: Json = False) -> None:
    """Remove a send connector: mail for its domains is no longer routed through it (Exchange:
    Remove-SendConnector)."""
    view = run(data, lambda ctx: send_ops.remove_send_connector(ctx, name))
    emit(view) if json_out else console.print(f"Removed send connector {view['name']}")


@transport_app.command("show")
def transport_show(data: Data = DEFAULT_DATA, server: ServerOpt = None, json_out: Json = False) -> None:
    """Show the transport settings of a server, as `transport set` takes them (Exchange:
    Get-TransportService)."""
    view = run(data, lambda ctx: transport_ops.show_transport(ctx, server))
    emit(view) if json_out else show_settings(view, TransportSettings.table())


@transport_app.command("set")
@setting_options(TransportSettings.table())
def transport_set(data: Data = DEFAULT_DATA, server: ServerOpt = None, json_out: Json = False,
                  changes: Changes = TransportSettings.changes()) -> None:
    """Change transport settings (durations take 30s, 5m, 4h, 2d); applies live (Exchange:
    Set-TransportService)."""
    view = run(data, lambda ctx: transport_ops.set_transport(ctx, server, changes))
    emit(view) if json_out else show_settings(view, TransportSettings.table())
