"""`postroom init` (create the data directory, the store and this server) and `postroom serve`
(run this server's node). Top-level commands: cli/__init__.py registers them on the app."""
from __future__ import annotations

import asyncio
import logging
import os
from typing import Annotated, Optional

import typer

from ..errors import PostroomError, ValidationError
from ..service.setup import initialise, upgrade
from .common import DEFAULT_DATA, Data, Json, StoreOpt, exit_code, fail, use_store
from .output import console, emit


def init(data: Data = DEFAULT_DATA,
         dev: Annotated[bool, typer.Option(
             "--dev", help="Developer profile: 127.0.0.1, high ports, POP3 automatic, a demo mailbox.")] = False,
         server_name: Annotated[Optional[str], typer.Option(
             "--server-name", help="This server's name (default: the host name).")] = None,
         fqdn: Annotated[Optional[str], typer.Option(
             "--fqdn", help="Name clients use to reach this server (certificate, banners).")] = None,
         store: StoreOpt = None,
         json_out: Json = False) -> None:
    """Create the data directory, the store and this server (safe to re-run: it only upgrades).

    With --store on a PostgreSQL store that already holds servers, this adds one more server."""
    if store is not None:
        use_store(store)
    try:
        result = asyncio.run(initialise(data, dev=dev, server_name=server_name, fqdn=fqdn))
    except PostroomError as error:
        raise fail(error) from None
    view = {"created": result.created, "server": result.server, "data": os.path.abspath(data),
            "store": result.store, "joined": result.joined,
            "migrations_applied": result.migrations, "certificate": result.certificate,
            "demo_address": result.demo_address, "demo_password": result.demo_password,
            "admin_name": result.admin_name, "admin_password": result.admin_password}
    if json_out:
        emit(view)
        return
    if not result.created:
        console.print(f"{data} is already initialised for server {result.server}"
                      + (f"; applied migrations {result.migrations}" if result.migrations else "; schema up to date"))
        return
    console.print(f"Initialised server [bold]{result.server}[/bold] in {os.path.abspath(data)}")
    if result.store != "embedded":
        console.print(f"Store: {result.store}"
                      + (" (shared: added to the servers already there)" if result.joined else ""))
    console.print(f"Self-signed certificate: {result.certificate}")
    if result.demo_password:
        console.print(f"Demo mailbox {result.demo_address}, password (shown once): [bold]{result.demo_password}[/bold]")
    if result.admin_password:
        console.print(f"Admin [bold]{result.admin_name}[/bold] (organization-management), password (shown once): "
                      f"[bold]{result.admin_password}[/bold]; REST API and console on http://127.0.0.1:8080")


def serve(data: Data = DEFAULT_DATA,
          log_level: Annotated[str, typer.Option("--log-level", help="debug, info, warning or error.")] = "info",
          grace: Annotated[Optional[float], typer.Option(
              "--grace", help="Seconds sessions get to finish after SIGTERM (default 10, or POSTROOM_SHUTDOWN_GRACE)."
          )] = None,
          store: StoreOpt = None,
          log_format: Annotated[str, typer.Option("--log-format", envvar="POSTROOM_LOG_FORMAT",
                                                  help="text (default) or json: one JSON object per line, with "
                                                       "session and request ids.")] = "text") -> None:
    """Run this server's node: listeners follow the settings in the store, live."""
    if store is not None:
        use_store(store)
    from ..logs import FORMATS
    from ..logs import configure as configure_logging
    from ..server.main import install_event_loop
    from ..server.main import serve as serve_node
    from ..web.app import node_admin_app

    level = getattr(logging, log_level.upper(), None)
    if not isinstance(level, int):
        raise fail(ValidationError("log-level", f"{log_level!r} is not a level", ["debug", "info", "warning", "error"]))
    if log_format.strip().lower() not in FORMATS:
        raise fail(ValidationError("log-format", f"{log_format!r} is not allowed", FORMATS))
    log_format = log_format.strip().lower()
    configure_logging(level, log_format)
    install_event_loop()
    try:
        asyncio.run(serve_node(data, node_admin_app, upgrade, grace))
    except PostroomError as error:
        if log_format == "json":  # even why serve stops is one JSON line (same exit code)
            logging.getLogger("postroom").error("postroom serve failed: %s", error.message)
            raise typer.Exit(exit_code(error)) from None
        raise fail(error) from None
    except Exception:
        if log_format != "json":
            raise
        # JSON mode promises one object per line: a crash is logged as one, not a bare traceback.
        logging.getLogger("postroom").critical("postroom serve failed", exc_info=True)
        raise typer.Exit(1) from None
