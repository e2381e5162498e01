"""`postroom service list|start|stop|restart|set`: the services of a server."""
from __future__ import annotations

from typing import Annotated, Any

import typer

from ..service import services as service_ops
from .common import DEFAULT_DATA, Data, Json, ServerOpt, run
from .output import emit, show_table

service_app = typer.Typer(help="Services on a server: status, start/stop, startup type (Exchange: Get-Service, "
                               "Start-Service, Set-Service).", no_args_is_help=True)
ServiceName = Annotated[str, typer.Argument(metavar="SERVICE", help="pop3, imap4, smtp or admin.")]
SERVICE_COLUMNS = ["server", "name", "status", "startup", "state", "listening", "errors"]


def _service_result(view: dict[str, Any], json_out: bool) -> None:
    if json_out:
        emit(view)
    else:
        show_table(view.get("servers", [view]), SERVICE_COLUMNS)


@service_app.command("list")
def service_list(data: Data = DEFAULT_DATA, server: ServerOpt = None, json_out: Json = False) -> None:
    """Each service: desired status, startup type, and what the node really does (Exchange: Get-Service)."""
    rows = run(data, lambda ctx: service_ops.list_services(ctx, server))
    emit(rows) if json_out else show_table(rows, SERVICE_COLUMNS)


@service_app.command("start")
def service_start(name: ServiceName, data: Data = DEFAULT_DATA, server: ServerOpt = None,
                  json_out: Json = False) -> None:
    """Start a service, refused while its startup type is disabled (Exchange: Start-Service)."""
    _service_result(run(data, lambda ctx: service_ops.start_service(ctx, name, server)), json_out)


@service_app.command("stop")
def service_stop(name: ServiceName, data: Data = DEFAULT_DATA, server: ServerOpt = None,
                 json_out: Json = False) -> None:
    """Stop a service: its listeners close and its connections are dropped (Exchange: Stop-Service)."""
    _service_result(run(data, lambda ctx: service_ops.stop_service(ctx, name, server)), json_out)


@service_app.command("restart")
def service_restart(name: ServiceName, data: Data = DEFAULT_DATA, server: ServerOpt = None,
                    json_out: Json = False) -> None:
    """Stop then start a service, never needed for settings changes, which apply live (Exchange:
    Restart-Service)."""
    _service_result(run(data, lambda ctx: service_ops.restart_service(ctx, name, server)), json_out)


@service_app.command("set")
def service_set(name: ServiceName,
                startup: Annotated[str, typer.Option("--startup", metavar="automatic|manual|disabled",
                                                     help="automatic (started with the node), manual, or "
                                                          "disabled (cannot be started).")],
                data: Data = DEFAULT_DATA, server: ServerOpt = None, json_out: Json = False) -> None:
    """Set the startup type: automatic services start whenever the node starts (Exchange: Set-Service
    -StartupType)."""
    _service_result(run(data, lambda ctx: service_ops.set_service(ctx, name, startup=startup, server=server)), json_out)
