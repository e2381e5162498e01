"""The local operator's way in: one action of the service layer run against the store of a data
directory, as the CLI does for each command. The front end never opens a store itself (front
ends do not import storage): it names the data directory and, with `--store`, the store."""
from __future__ import annotations

from typing import Any, Awaitable, Callable

from ..datadir import read_local_server
from ..storage import open_store, set_store_override
from .context import LOCAL_OPERATOR, Context


def choose_store(url: str | None) -> None:
    """`--store URL` for everything this process opens (checked here), or None to fall back to
    POSTROOM_STORE and what `init` recorded in the data directory."""
    set_store_override(url)


async def run_local(data_dir: str, action: Callable[[Context], Awaitable[Any]]) -> Any:
    """Open the store of DATA_DIR, run one action as the local operator on this server, close."""
    server = read_local_server(data_dir)
    store = open_store(data_dir)
    await store.open()
    try:
        return await action(Context(store, LOCAL_OPERATOR, server, data_dir))
    finally:
        await store.close()
