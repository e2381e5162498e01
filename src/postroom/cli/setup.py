"""`postroom init` (create the data directory, the store and this server) and `postroom serve`
(run this server's node). Top-level commands: cli/__init__.py registers them on the app."""
from __future__ import annotations

import asyncio
import logging
import os
import shlex
import sys
from typing import Annotated, Optional

import typer

from ..errors import PostroomError, ValidationError
from ..service.setup import InitResult, initialise, upgrade
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
            "admin_name": result.admin_name, "admin_password": result.admin_password,
            "console_url": result.console_url, "admin_names": result.admin_names}
    if json_out:
        emit(view)
        return
    if not result.created:
        console.print(f"{data} is already initialised for server {result.server}"
                      + (f"; applied migrations {result.migrations}" if result.migrations else "; schema up to date"))
    else:
        console.print(f"Initialised server [bold]{result.server}[/bold] in {os.path.abspath(data)}")
        if result.store != "embedded":
            console.print(f"Store: {result.store}"
                          + (" (shared: added to the servers already there)" if result.joined else ""))
        console.print(f"Self-signed certificate: {result.certificate}")
        if result.demo_password:
            console.print(f"Demo mailbox {result.demo_address}, password (shown once): "
                          f"[bold]{result.demo_password}[/bold]")
        if result.admin_password:
            console.print(f"Admin [bold]{result.admin_name}[/bold] (organization-management), password (shown once): "
                          f"[bold]{result.admin_password}[/bold]")
    _how_to_get_in(result, data)


def _how_to_get_in(result: InitResult, data: str) -> None:
    """Where the console is, whom to sign in as, and how to set a new password: printed by
    every `init` (make run runs it each time), since the passwords are shown only once and
    may have gone into a log."""
    if result.console_url:
        api = result.console_url.removesuffix("/console/") + "/api/v1"
        who = f"sign in as {', '.join(result.admin_names[:3])}" if result.admin_names else "no admin principal yet"
        _say(f"Console: {result.console_url} ({who}); REST API: {api}")
    program, data_option = _command(data)
    if not result.admin_names:
        _say(f"Create an admin to sign in as: {program} admin new NAME --roles organization-management{data_option}")
        return
    shown = "are shown only once, when they are made," if result.created else "were shown once, at the first run,"
    _say(f"Passwords {shown} and are stored only as hashes; to set a new one (it prompts):")
    _say(f"  {program} admin password {result.admin_names[0]}{data_option}")
    _say(f"  {program} mailbox password {result.demo_address or 'ADDRESS'}{data_option}")


def _say(line: str) -> None:
    """One line as it is: commands and addresses are copied from here, so never folded."""
    console.print(line, markup=False, highlight=False, soft_wrap=True)


def _command(data: str) -> tuple[str, str]:
    """`postroom` as this one was typed (`.venv/bin/postroom` under make run), and ` --data DIR`
    unless later commands find the same data directory without it."""
    program = sys.argv[0] if os.path.basename(sys.argv[0]) == "postroom" else "postroom"
    implied = os.path.abspath(os.environ.get("POSTROOM_DATA") or DEFAULT_DATA)  # what --data defaults to
    return program, "" if os.path.abspath(data) == implied else f" --data {shlex.quote(data)}"


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
