"""`postroom serve`: run this data directory's node until SIGTERM or SIGINT."""
from __future__ import annotations

import asyncio
import functools
import logging
import os
import resource
import signal
import time
from typing import Awaitable, Callable

from ..auth import Authenticator
from ..datadir import claim_data_dir, read_local_server
from ..errors import StorageFull, ValidationError
from ..storage import Store, open_store
from .admin import AdminAppFactory
from .node import Node

log = logging.getLogger("postroom")


def install_event_loop() -> None:
    """uvloop: about half the CPU per connection of the stock loop on line protocols."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency; stay usable without it
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def raise_file_limit() -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE to the hard limit (as systemd and nginx's
    worker_rlimit_nofile do): every connection is a descriptor, and the default soft 1,024
    would cap the node far below what it can serve. Returns the (soft, hard) limits now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError) as exc:  # e.g. a hard limit above the kernel's nr_open
            log.warning("cannot raise the open-file limit from %d to %d: %s", soft, hard, exc)
    return resource.getrlimit(resource.RLIMIT_NOFILE)


Upgrade = Callable[[Store, str, list[int]], Awaitable[None]]


DEFAULT_GRACE = 10.0  # seconds sessions get to finish after SIGTERM


def shutdown_grace(value: float | None = None) -> float:
    """`serve --grace`, else POSTROOM_SHUTDOWN_GRACE, else 10 seconds."""
    if value is None:
        text = os.environ.get("POSTROOM_SHUTDOWN_GRACE", "").strip()
        try:
            value = float(text) if text else DEFAULT_GRACE
        except ValueError:
            raise ValidationError("grace", f"POSTROOM_SHUTDOWN_GRACE={text!r} is not a number of seconds") from None
    if not 0 <= value <= 3600:
        raise ValidationError("grace", f"{value:g} is out of range (0 to 3600 seconds)")
    return value


async def serve(data_dir: str, admin_app: AdminAppFactory, upgrade: Upgrade | None = None,
                grace: float | None = None) -> None:
    """`admin_app` builds the admin service's application (the CLI passes the web app's).
    `upgrade(store, server, applied)` runs after migrations (the CLI passes init's).
    SIGTERM/SIGINT: stop accepting, give sessions `grace` seconds to finish (a second signal
    ends the grace period), close the store, return."""
    grace = shutdown_grace(grace)
    files, _ = raise_file_limit()
    server = read_local_server(data_dir)
    claim_data_dir(data_dir)
    store = open_store(data_dir)
    await store.open()
    try:
        try:
            applied = await store.migrate()
        except StorageFull as exc:  # an unmigrated store cannot be served: say so and exit
            raise StorageFull(f"cannot apply the store's pending migrations: {exc.message}; the node cannot "
                              "serve an unmigrated store, free some space and start it again") from None
        await store.claim_server(server)  # a shared store: one node per server name
        delay = float(os.environ.get("POSTROOM_AUTH_FAILURE_DELAY", "2.0"))
        node = Node(store, data_dir, server, admin_app=admin_app, authenticator=Authenticator(failure_delay=delay))
        if upgrade is not None:
            run_upgrade = functools.partial(upgrade, store, server, applied)
            await node.deferred.run("upgrade", run_upgrade)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def on_signal() -> None:
            if stop.is_set():
                node.hurry()
            stop.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal)
        await node.start()
        log.info("postroom node %s serving from %s (pid %d, open-file limit %d)", server, os.path.abspath(data_dir),
                 os.getpid(), files)
        await stop.wait()
        log.info("postroom node %s stopping: no new connections, sessions get %g s to finish", server, grace)
        started = time.monotonic()
        await node.stop(grace)
        log.info("postroom node %s stopped after %.2f s", server, time.monotonic() - started)
    finally:
        await store.close()
