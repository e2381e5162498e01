"""`postroom migrate --from DATA_DIR --to postgresql://...`: move an embedded install to a
PostgreSQL store with a progress bar, verify it, and point the data directory at it.

A top-level command: cli/__init__.py registers it on the `postroom` app.
"""
from __future__ import annotations

import asyncio
import dataclasses
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ..errors import PostroomError
from .common import Json, fail
from .output import console, emit, err_console


def migrate(from_dir: Annotated[str, typer.Option("--from", help="Data directory of the embedded install to move.")],
            to: Annotated[str, typer.Option("--to", help="The PostgreSQL store: postgresql://USER[:PASSWORD]@HOST[:PORT]/DB"
                                                         " (a new, empty database).")],
            json_out: Json = False) -> None:
    """Move an embedded install (mailboxes, messages with their UIDLs, servers, settings, admins) to
    PostgreSQL, verify every message, then make the data directory use PostgreSQL. Stop `serve` first."""
    from ..service.migration import migrate_store

    columns = (TextColumn("copying messages"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err_console, disable=json_out, transient=True) as bar:
        task = bar.add_task("messages", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        try:
            report = asyncio.run(migrate_store(from_dir, to, progress))
        except PostroomError as error:
            raise fail(error) from None
    view = dataclasses.asdict(report)
    if json_out:
        emit(view)
        return
    console.print(f"Moved server {report.server} to {report.target} in {report.seconds} s:"
                  f" {report.mailboxes} mailboxes,"
                  f" {report.messages} messages ({report.octets} octets), {report.domains} domains"
                  f" ({report.dkim_keys} DKIM keys),"
                  f" {report.admins} admins, {report.servers} servers.")
    console.print(f"Verified: every mailbox's message count and SHA-256 match (overall {report.checksum}).")
    console.print(f"Left in the embedded store: {', '.join(report.left_behind)}.")
    console.print(f"{from_dir} now uses the PostgreSQL store; start it with: postroom serve --data {from_dir}")
