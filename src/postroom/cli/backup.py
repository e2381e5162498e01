"""`postroom backup DEST` (a consistent copy of the install while it serves) and
`postroom restore SRC --data DIR`.

Top-level commands: cli/__init__.py registers them on the `postroom` app.
"""
from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from ..errors import PostroomError
from .common import DEFAULT_DATA, Data, Json, fail, run
from .output import console, emit


def backup(dest: Annotated[str, typer.Argument(help="New file to write, e.g. /backups/postroom-2026-11-27.tar.gz.")],
           data: Data = DEFAULT_DATA, json_out: Json = False) -> None:
    """Write a consistent backup of this install (store, node.json, TLS files) while it serves."""
    from ..service import backup as backup_ops

    view = run(data, lambda ctx: backup_ops.backup(ctx, dest))
    emit(view) if json_out else console.print(f"Backup of server {view['server']} written to {view['backup']} "
                                              f"({view['size']} bytes)")


def restore(src: Annotated[str, typer.Argument(help="A file written by `postroom backup`.")],
            data: Data = DEFAULT_DATA, json_out: Json = False) -> None:
    """Rebuild an install from a backup into --data, which must be new or empty."""
    from ..service import backup as backup_ops

    try:
        view = asyncio.run(backup_ops.restore(src, data))
    except PostroomError as error:
        raise fail(error) from None
    emit(view) if json_out else console.print(f"Restored server {view['server']} into {view['data']}; "
                                              f"start it with: postroom serve --data {data}")
