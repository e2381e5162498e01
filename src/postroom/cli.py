"""The `postroom` command line: a thin translation onto the service layer.

Every command takes --data (default ./var or POSTROOM_DATA); read commands take --json.
Errors name the field and the allowed values, and exit non-zero (see EXIT_CODES).
"""
from __future__ import annotations

import asyncio
import logging
import os
import sys
import traceback
import uuid
from typing import Annotated, Any, Awaitable, Callable, Optional

import typer

from . import __version__
from .cli_settings import Changes, setting_options
from .cli_output import console, emit, err_console, show_record, show_table
from .datadir import read_local_server
from .model import PopSettings
from .errors import (
    Conflict, Forbidden, NotFound, PostroomError, StoreCorrupted, Unauthenticated, Unavailable, ValidationError,
)
from .service import LOCAL_OPERATOR, Context
from .service import domains as domain_ops
from .service import mailboxes as mailbox_ops
from .service import pop as pop_ops
from .service import services as service_ops
from .service.setup import initialise, upgrade
from .storage import open_store, set_store_override

EXIT_CODES = {ValidationError: 2, NotFound: 3, Conflict: 4, Forbidden: 5, Unavailable: 6, Unauthenticated: 7,
              StoreCorrupted: 8}


def exit_code(error: PostroomError) -> int:
    """The code of the error's class or its nearest parent (StorageFull is an Unavailable: 6)."""
    return next((EXIT_CODES[cls] for cls in type(error).__mro__ if cls in EXIT_CODES), 1)

app = typer.Typer(help="postroom: a mail server for applications that read a mailbox over POP3.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
service_app = typer.Typer(help="Services on a server: status, start/stop, startup type.", no_args_is_help=True)
pop_app = typer.Typer(help="POP3 settings of a server (Exchange: Set-PopSettings).", no_args_is_help=True)
mailbox_app = typer.Typer(help="Mailboxes and their POP3 feature.", no_args_is_help=True)
domain_app = typer.Typer(help="Accepted domains.", no_args_is_help=True)
connector_app = typer.Typer(help="SMTP receive connectors of a server (Exchange: Set-ReceiveConnector).",
                            no_args_is_help=True)  # commands: cli_connectors.py
log_app = typer.Typer(help="Logs: the audit log of admin changes and message tracking.", no_args_is_help=True)
admin_app = typer.Typer(help="Admin principals, their role groups and API tokens.",
                        no_args_is_help=True)  # commands: cli_admins.py
web_app = typer.Typer(help="The admin service (REST API and console): bindings and sessions.",
                      no_args_is_help=True)  # commands: cli_admins.py
app.add_typer(service_app, name="service")
app.add_typer(pop_app, name="pop")
app.add_typer(mailbox_app, name="mailbox")
app.add_typer(domain_app, name="domain")
app.add_typer(connector_app, name="connector")
app.add_typer(log_app, name="log")
app.add_typer(admin_app, name="admin")
app.add_typer(web_app, name="web")
doctor_app = typer.Typer(help="The doctor: check everything a POP3 application needs, and name each fix.",
                         no_args_is_help=True)  # commands: cli_doctor.py
test_app = typer.Typer(help="Connectivity tests (Exchange: Test-PopConnectivity).",
                       no_args_is_help=True)  # commands: cli_doctor.py
app.add_typer(doctor_app, name="doctor")
app.add_typer(test_app, name="test")

Data = Annotated[str, typer.Option("--data", envvar="POSTROOM_DATA", help="Data directory.")]
Json = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]
ServerOpt = Annotated[Optional[str], typer.Option("--server", help="Server name (default: this server; 'all' for every server).")]
PasswordStdin = Annotated[bool, typer.Option("--password-stdin", help="Read the password from the first line of standard input.")]
DEFAULT_DATA = "./var"


def fail(error: PostroomError) -> typer.Exit:
    message = error.message
    if isinstance(error, ValidationError):
        message = message.replace(f"{error.field}:", f"{error.field.replace('_', '-')}:", 1)
    err_console.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(exit_code(error))


def run(data: str, action: Callable[[Context], Awaitable[Any]]) -> Any:
    """Open the store of DATA, run one service-layer action as the local operator, close."""
    async def main() -> Any:
        server = read_local_server(data)
        store = open_store(data)
        await store.open()
        try:
            return await action(Context(store, LOCAL_OPERATOR, server, data))
        finally:
            await store.close()

    try:
        return asyncio.run(main())
    except PostroomError as error:
        raise fail(error) from None
    except (KeyboardInterrupt, typer.Exit):
        raise
    except Exception:
        ref = uuid.uuid4().hex[:12]
        _log_internal_error(data, ref)
        err_console.print(f"[red]error:[/red] internal error, ref {ref} (details in {data}/logs/cli-errors.log)")
        raise typer.Exit(1) from None


def _log_internal_error(data: str, ref: str) -> None:
    try:
        os.makedirs(os.path.join(data, "logs"), exist_ok=True)
        with open(os.path.join(data, "logs", "cli-errors.log"), "a", encoding="utf-8") as handle:
            handle.write(f"ref {ref}\n{traceback.format_exc()}\n")
    except OSError:
        pass


def read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise fail(ValidationError("password", "no terminal to prompt on; pass --password-stdin and pipe it in"))
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


def version_callback(value: bool) -> None:
    if value:
        console.print(f"postroom {__version__}")
        raise typer.Exit()


StoreOpt = Annotated[Optional[str], typer.Option(
    "--store", help="The store: postgresql://USER[:PASSWORD]@HOST[:PORT]/DB, or 'embedded' (default: the one"
                    " `init` recorded in the data directory, or POSTROOM_STORE).")]


def use_store(store: str | None) -> None:
    """`--store` applies to everything this invocation opens (before POSTROOM_STORE)."""
    try:
        set_store_override(store)
    except PostroomError as error:
        raise fail(error) from None


@app.callback()
def root(version: Annotated[bool, typer.Option("--version", callback=version_callback, is_eager=True,
                                               help="Show the version and exit.")] = False,
         store: StoreOpt = None) -> None:
    """postroom administration."""
    use_store(store)  # None clears what an earlier invocation in this process set


# init and serve ---------------------------------------------------------------------------
@app.command()
def init(data: Data = DEFAULT_DATA,
         dev: Annotated[bool, typer.Option("--dev", help="Developer profile: 127.0.0.1, high ports, POP3 automatic, a demo mailbox.")] = False,
         server_name: Annotated[Optional[str], typer.Option("--server-name", help="This server's name (default: the host name).")] = None,
         fqdn: Annotated[Optional[str], typer.Option("--fqdn", help="Name clients use to reach this server (certificate, banners).")] = None,
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
        console.print(f"Store: {result.store}" + (" (shared: added to the servers already there)" if result.joined else ""))
    console.print(f"Self-signed certificate: {result.certificate}")
    if result.demo_password:
        console.print(f"Demo mailbox {result.demo_address}, password (shown once): [bold]{result.demo_password}[/bold]")
    if result.admin_password:
        console.print(f"Admin [bold]{result.admin_name}[/bold] (organization-management), password (shown once): "
                      f"[bold]{result.admin_password}[/bold]; REST API and console on http://127.0.0.1:8080")


@app.command()
def serve(data: Data = DEFAULT_DATA,
          log_level: Annotated[str, typer.Option("--log-level", help="debug, info, warning or error.")] = "info",
          grace: Annotated[Optional[float], typer.Option("--grace", help="Seconds sessions get to finish after SIGTERM (default 10, or POSTROOM_SHUTDOWN_GRACE).")] = None,
          store: StoreOpt = None,
          log_format: Annotated[str, typer.Option("--log-format", envvar="POSTROOM_LOG_FORMAT",
                                                  help="text (default) or json: one JSON object per line, with session and request ids.")] = "text") -> None:
    """Run this server's node: listeners follow the settings in the store, live."""
    if store is not None:
        use_store(store)
    from .logs import FORMATS, configure as configure_logging
    from .server.main import install_event_loop, serve as serve_node
    from .web.app import node_admin_app

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


# services ---------------------------------------------------------------------------------
SERVICE_COLUMNS = ["server", "name", "status", "startup", "state", "listening", "errors"]


def _service_result(view: dict[str, Any], json_out: bool) -> None:
    if json_out:
        emit(view)
    else:
        show_table(view.get("servers", [view]), SERVICE_COLUMNS)


@service_app.command("list")
def service_list(data: Data = DEFAULT_DATA, server: ServerOpt = None, json_out: Json = False) -> None:
    """Each service: desired status, startup type, and what the node really does."""
    rows = run(data, lambda ctx: service_ops.list_services(ctx, server))
    emit(rows) if json_out else show_table(rows, SERVICE_COLUMNS)


@service_app.command("start")
def service_start(name: str, data: Data = DEFAULT_DATA, server: ServerOpt = None, json_out: Json = False) -> None:
    """Start a service (refused while its startup type is disabled)."""
    _service_result(run(data, lambda ctx: service_ops.start_service(ctx, name, server)), json_out)


@service_app.command("stop")
def service_stop(name: str, data: Data = DEFAULT_DATA, server: ServerOpt = None, json_out: Json = False) -> None:
    """Stop a service: its listeners close and its connections are dropped."""
    _service_result(run(data, lambda ctx: service_ops.stop_service(ctx, name, server)), json_out)


@service_app.command("restart")
def service_restart(name: str, data: Data = DEFAULT_DATA, server: ServerOpt = None, json_out: Json = False) -> None:
    """Stop then start a service (never needed for settings changes, which apply live)."""
    _service_result(run(data, lambda ctx: service_ops.restart_service(ctx, name, server)), json_out)


@service_app.command("set")
def service_set(name: str,
                startup: Annotated[str, typer.Option("--startup", help="automatic, manual or disabled.")],
                data: Data = DEFAULT_DATA, server: ServerOpt = None, json_out: Json = False) -> None:
    """Set the startup type (automatic services start whenever the node starts)."""
    _service_result(run(data, lambda ctx: service_ops.set_service(ctx, name, startup=startup, server=server)), json_out)


# POP3 settings ----------------------------------------------------------------------------
@pop_app.command("show")
def pop_show(data: Data = DEFAULT_DATA, server: ServerOpt = None, json_out: Json = False) -> None:
    """Show the POP3 settings of a server."""
    view = run(data, lambda ctx: pop_ops.show_pop(ctx, server))
    emit(view) if json_out else show_record(view)


def _opt(help_text: str) -> Any:
    return typer.Option(help=help_text)


@pop_app.command("set")
@setting_options(PopSettings.table())
def pop_set(data: Data = DEFAULT_DATA, server: ServerOpt = None, json_out: Json = False,
            changes: Changes = PopSettings.changes()) -> None:
    """Change POP3 settings; every change applies live, without a restart."""
    view = run(data, lambda ctx: pop_ops.set_pop(ctx, server, changes))
    emit(view) if json_out else show_record(view)


# mailboxes --------------------------------------------------------------------------------
MAILBOX_COLUMNS = ["address", "display_name", "enabled", "pop_enabled", "password_set"]


def _enabled_flag(field: str, value: Optional[str]) -> Optional[bool]:
    if value is None:
        return None
    if value.lower() not in ("enabled", "disabled"):
        raise fail(ValidationError(field, f"{value!r} is not allowed", ["enabled", "disabled"]))
    return value.lower() == "enabled"


@mailbox_app.command("new")
def mailbox_new(address: str, data: Data = DEFAULT_DATA, json_out: Json = False,
                display_name: Annotated[Optional[str], _opt("Display name (default: the local part).")] = None,
                pop: Annotated[Optional[str], typer.Option("--pop", help="enabled (default) or disabled.")] = None,
                password_stdin: PasswordStdin = False) -> None:
    """Create a mailbox in an accepted domain; the password comes from a prompt or stdin."""
    pop_enabled = _enabled_flag("pop", pop)
    password = read_password(password_stdin)
    view = run(data, lambda ctx: mailbox_ops.new_mailbox(
        ctx, address, password, display_name=display_name, pop_enabled=True if pop_enabled is None else pop_enabled))
    emit(view) if json_out else show_record(view)


@mailbox_app.command("list")
def mailbox_list(data: Data = DEFAULT_DATA, json_out: Json = False,
                 search: Annotated[Optional[str], _opt("Substring of address or display name.")] = None,
                 offset: Annotated[int, _opt("Skip this many.")] = 0,
                 limit: Annotated[Optional[int], _opt("Show at most this many.")] = None) -> None:
    """List mailboxes, ordered by address."""
    view = run(data, lambda ctx: mailbox_ops.list_mailboxes(ctx, search, offset, limit))
    if json_out:
        emit(view)
        return
    show_table(view["items"], MAILBOX_COLUMNS)
    console.print(f"{len(view['items'])} of {view['total']} mailboxes")


@mailbox_app.command("show")
def mailbox_show(address: str, data: Data = DEFAULT_DATA, json_out: Json = False) -> None:
    """Show one mailbox, its POP3 feature and its message count."""
    view = run(data, lambda ctx: mailbox_ops.show_mailbox(ctx, address))
    emit(view) if json_out else show_record(view)


@mailbox_app.command("set")
def mailbox_set(address: str, data: Data = DEFAULT_DATA, json_out: Json = False,
                pop: Annotated[Optional[str], typer.Option("--pop", help="enabled or disabled (Mailbox Features > POP3).")] = None,
                enabled: Annotated[Optional[bool], typer.Option("--enabled/--disabled", help="The whole mailbox.")] = None,
                display_name: Annotated[Optional[str], _opt("Display name.")] = None) -> None:
    """Change a mailbox: POP3 feature, enabled state, display name."""
    pop_enabled = _enabled_flag("pop", pop)
    view = run(data, lambda ctx: mailbox_ops.set_mailbox(
        ctx, address, pop_enabled=pop_enabled, enabled=enabled, display_name=display_name))
    emit(view) if json_out else show_record(view)


@mailbox_app.command("password")
def mailbox_password(address: str, data: Data = DEFAULT_DATA, json_out: Json = False,
                     password_stdin: PasswordStdin = False) -> None:
    """Set a mailbox's password (from a prompt or stdin, never from the command line)."""
    password = read_password(password_stdin)
    view = run(data, lambda ctx: mailbox_ops.set_password(ctx, address, password))
    emit(view) if json_out else console.print(f"Password changed for {view['address']}")


@mailbox_app.command("remove")
def mailbox_remove(address: str, data: Data = DEFAULT_DATA, json_out: Json = False,
                   yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False) -> None:
    """Remove a mailbox and all its messages."""
    if not yes and sys.stdin.isatty() and not typer.confirm(f"Remove {address} and all its messages?"):
        raise typer.Exit(1)
    view = run(data, lambda ctx: mailbox_ops.remove_mailbox(ctx, address))
    emit(view) if json_out else console.print(f"Removed {view['address']} ({view['messages_removed']} messages)")


@mailbox_app.command("import")
def mailbox_import(address: str, path: str, data: Data = DEFAULT_DATA, json_out: Json = False) -> None:
    """Load an mbox file, a Maildir or .eml files into a mailbox."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err_console, disable=json_out or not err_console.is_terminal) as bar:
        task = bar.add_task("import", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        view = run(data, lambda ctx: mailbox_ops.import_messages(ctx, address, path, progress))
    emit(view) if json_out else console.print(f"Imported {view['imported']} messages ({view['format']}) into {view['address']}")


# domains ----------------------------------------------------------------------------------
@domain_app.command("add")
def domain_add(name: str, data: Data = DEFAULT_DATA, json_out: Json = False) -> None:
    """Accept mail for a domain (mailboxes can then be created in it)."""
    domain = run(data, lambda ctx: domain_ops.add_domain(ctx, name))
    emit({"name": domain}) if json_out else console.print(f"Added accepted domain {domain}")


@domain_app.command("list")
def domain_list(data: Data = DEFAULT_DATA, json_out: Json = False) -> None:
    """List accepted domains."""
    names = run(data, domain_ops.list_domains)
    emit([{"name": n} for n in names]) if json_out else show_table([{"name": n} for n in names], ["name"])


@domain_app.command("remove")
def domain_remove(name: str, data: Data = DEFAULT_DATA, json_out: Json = False) -> None:
    """Stop accepting a domain (refused while it still has mailboxes)."""
    domain = run(data, lambda ctx: domain_ops.remove_domain(ctx, name))
    emit({"name": domain}) if json_out else console.print(f"Removed accepted domain {domain}")


def main() -> None:
    app()


from . import cli_admins, cli_backup, cli_connectors, cli_doctor, cli_logs, cli_migrate, cli_security  # noqa: E402,F401  (define their commands with the helpers above)
