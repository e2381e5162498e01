"""Start-up writes that wait for space: a node starts on a full disk all the same.

`postroom serve` writes a few things as it starts (the services' start-up states, the node
report, an upgrade's additions). On a full disk each raises StorageFull; rather than exit (and
have systemd restart it in a loop with POP3 down), the node serves what is stored, logs once
that it serves read-only, and retries those writes with its heartbeat until space returns.
"""
from __future__ import annotations

import logging
from typing import Awaitable, Callable

from ..errors import PostroomError, StorageFull

log = logging.getLogger("postroom.node")
Write = Callable[[], Awaitable[None]]


class DeferredWrites:
    def __init__(self, server: str) -> None:
        self.server = server
        self.pending: dict[str, Write] = {}  # name -> write, in the order they were refused

    def __bool__(self) -> bool:
        return bool(self.pending)

    async def run(self, name: str, write: Write) -> None:
        """Do `write` now, or keep it for later if the disk is full."""
        try:
            await write()
        except StorageFull as exc:
            if not self.pending:
                log.warning("node %s cannot write to the store at start-up (%s); serving read-only until space "
                            "returns: POP3 logins and retrieval work, SMTP answers 452 4.3.1",
                            self.server, exc.message)
            self.pending[name] = write

    async def retry(self) -> None:
        """Try the waiting writes in order; stop at the first that still fails (next heartbeat)."""
        for name, write in list(self.pending.items()):
            try:
                await write()
            except PostroomError:
                return
            del self.pending[name]
            if not self.pending:
                log.warning("node %s: space returned on the store's disk, the deferred start-up writes are done",
                            self.server)
