"""What every `postroom` command shares: the common options (--data, --json, --server, ...),
running one service-layer action against the data directory's store, and turning a PostroomError
into a message naming the field and an exit code (see EXIT_CODES).

The command groups import this module; it imports none of them (cli/__init__.py assembles them).
"""
from __future__ import annotations

import asyncio
import os
import sys
import traceback
import uuid
from typing import Annotated, Any, Awaitable, Callable, Optional

import typer

from ..errors import (
    Conflict, Forbidden, NotFound, PostroomError, StoreCorrupted, Unauthenticated, Unavailable, ValidationError,
)
from ..service import Context
from ..service.local import choose_store, run_local
from .output import err_console

EXIT_CODES = {ValidationError: 2, NotFound: 3, Conflict: 4, Forbidden: 5, Unavailable: 6, Unauthenticated: 7,
              StoreCorrupted: 8}


def exit_code(error: PostroomError) -> int:
    """The code of the error's class or its nearest parent (StorageFull is an Unavailable: 6)."""
    return next((EXIT_CODES[cls] for cls in type(error).__mro__ if cls in EXIT_CODES), 1)


Data = Annotated[str, typer.Option("--data", envvar="POSTROOM_DATA", metavar="DIR", help="Data directory.")]
Json = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]
ServerOpt = Annotated[Optional[str], typer.Option(
    "--server", metavar="NAME", help="Server name (default: this server; 'all' for every server).")]
PasswordStdin = Annotated[bool, typer.Option(
    "--password-stdin", help="Read the password from the first line of standard input.")]
DEFAULT_DATA = "./var"


def opt(help_text: str, metavar: str | None = None) -> Any:
    """An option whose flag Typer derives from the parameter name; `metavar` says what its value
    is (N, TIME, cli|api|console), else the help shows the option's name in capitals."""
    return typer.Option(help=help_text, metavar=metavar)


def fail(error: PostroomError) -> typer.Exit:
    message = error.message
    if isinstance(error, ValidationError):
        message = message.replace(f"{error.field}:", f"{error.field.replace('_', '-')}:", 1)
    err_console.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(exit_code(error))


def run(data: str, action: Callable[[Context], Awaitable[Any]]) -> Any:
    """Open the store of DATA, run one service-layer action as the local operator, close."""
    try:
        return asyncio.run(run_local(data, action))
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


StoreOpt = Annotated[Optional[str], typer.Option(
    "--store", metavar="URL",
    help="The store: postgresql://USER[:PASSWORD]@HOST[:PORT]/DB, or 'embedded' (default: the one"
         " `init` recorded in the data directory, or POSTROOM_STORE).")]


def use_store(store: str | None) -> None:
    """`--store` applies to everything this invocation opens (before POSTROOM_STORE)."""
    try:
        choose_store(store)
    except PostroomError as error:
        raise fail(error) from None
