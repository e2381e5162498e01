"""The admin service: the REST API (and the console) served on the node's own listeners.

The node opens and closes the sockets like any other service's, so bindings, start/stop and
the certificate behave the same; each accepted connection gets uvicorn's HTTP/1.1 protocol
(h11) driving the ASGI app, held to the caps and read timeouts of the web settings
(admin_limits.py). One ServerState tracks the open connections for stop and reports.

The application itself (web/app.py) is given by whoever assembles the node (`postroom
serve`, a test), as an `AdminAppFactory`: the server package never imports the web package
or the service layer above it.
"""
from __future__ import annotations

import asyncio
from email.utils import formatdate
from typing import Any, Callable, Protocol

import uvicorn
from uvicorn.server import ServerState

from ..lockout import AbuseGuard
from ..model import WebSettings
from ..storage import Store
from .admin_limits import AdminConnection, AdminLimits
from .metrics import Metrics


class AdminSignIns(Protocol):
    """What the node does with the admin application's sign-in checker."""

    async def purge_sessions(self) -> int: ...  # console sessions past their expiry (heartbeat)
    def close(self) -> None: ...


# (store, server, data directory, the node's metrics, the node's guard) -> (ASGI app, its sign-ins)
AdminAppFactory = Callable[[Store, str, str, Metrics | None, AbuseGuard | None], tuple[Any, AdminSignIns]]


class AdminService:
    def __init__(self, store: Store, server: str, data_dir: str, make_app: AdminAppFactory,
                 metrics: Metrics | None = None, guard: AbuseGuard | None = None) -> None:
        # Admin sign-ins and the doctor's password checks count in the node's guard, with POP3's and SMTP's.
        app, self.auth = make_app(store, server, data_dir, metrics, guard)
        self.app = app
        self.metrics = metrics
        # No lifespan (the node owns the store), no uvicorn logging set-up, no uvicorn access
        # log: ours is postroom.admin.access, with the request id (web/edge.py RequestContext);
        # admin changes are in the audit log, failed sign-ins in postroom.admin. Timeouts and
        # connection caps come from the web settings, per connection (admin_limits.py).
        self.config = uvicorn.Config(app, http="h11", lifespan="off", log_config=None, access_log=False,
                                     server_header=False, proxy_headers=False)
        self.config.load()
        self.state = ServerState()
        self.limits = AdminLimits()
        self.refresh_date()

    def configure(self, settings: WebSettings) -> None:
        """New caps and timeouts apply to new connections (open ones keep their timeouts)."""
        self.limits.configure(settings)

    def refresh_date(self) -> None:
        """uvicorn's Date header comes from ServerState; the node calls this on each tick."""
        self.state.default_headers = [(b"date", formatdate(usegmt=True).encode())] + self.config.encoded_headers

    def protocol_factory(self) -> Callable[[], asyncio.Protocol]:
        def make() -> asyncio.Protocol:
            if self.metrics is not None:
                self.metrics.connection("admin")
            return AdminConnection(self.limits, config=self.config, server_state=self.state, app_state={})
        return make

    @property
    def sessions(self) -> set[asyncio.Protocol]:
        return self.state.connections  # type: ignore[return-value]  # uvicorn's set of its h11 protocols

    def close_sessions(self) -> None:
        """Finish the response in flight, then close (uvicorn's graceful per-connection shutdown)."""
        for connection in list(self.state.connections):
            connection.shutdown()

    def close(self) -> None:
        self.close_sessions()
        self.auth.close()
