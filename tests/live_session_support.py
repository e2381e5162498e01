"""A stand-in node for the live-session tests of the service layer, the CLI and the API: it
publishes sessions in its report and answers end requests with the node's own code
(server/live_sessions.py: `listed`, `SessionEnds`), on a thread of its own with a store of its
own, as a `postroom serve` process would. Its sessions are stand-ins (no socket): ending one
marks it ended, and it leaves the list as a real one does when it closes."""
from __future__ import annotations

import asyncio
import math
import threading
import time
from types import SimpleNamespace
from typing import Any, Callable

from postroom.model import NodeReport
from postroom.protocol.pop3 import State as Pop3State
from postroom.protocol.smtp import State as SmtpState
from postroom.server.live_sessions import SessionEnds, listed
from postroom.storage import Store

from waiting import wait_until


class StandInSession:
    """What `describe` and `SessionEnds` read of a session, and its `end_by_admin`."""

    def __init__(self, session_id: str, service: str, user: str | None, source: str, state: Any,
                 connector: str | None = None, age: float = 60.0) -> None:
        self.id, self.service_name, self.user, self.remote_ip = session_id, service, user, source
        self.conn = SimpleNamespace(state=state, tls_active=True)
        self.connected_at = time.time() - age
        self.last_activity = math.inf  # idle 0 s, whatever the loop's clock
        self.local = "127.0.0.1:1110" if service == "pop3" else "127.0.0.1:2587"
        self.runtime = SimpleNamespace(name=connector) if connector else None
        self.ended = False
        self.grace: float | None = None

    def end_by_admin(self, grace: float) -> None:
        self.ended, self.grace = True, grace


def alice_pop3(server: str = "EX01", number: int = 7) -> StandInSession:
    return StandInSession(f"{server}-{number}", "pop3", "alice@example.com", "192.0.2.10", Pop3State.TRANSACTION,
                          age=120)


def anonymous_smtp(server: str = "EX01", number: int = 8) -> StandInSession:
    return StandInSession(f"{server}-{number}", "smtp", None, "198.51.100.4", SmtpState.READY, f"Default {server}",
                          age=30)


def report(server: str, sessions: list[StandInSession], heartbeat: float | None = None) -> NodeReport:
    """The report a node holding `sessions` writes (its `listed` part is the node's own code;
    call it on a running loop)."""
    services = {}
    for service in ("pop3", "smtp"):
        mine = [s for s in sessions if s.service_name == service]
        services[service] = {"state": "running", "sessions": len(mine), "applied_version": 0, **listed(mine)}
    return NodeReport(server, time.time() if heartbeat is None else heartbeat, 4242, services)


class StandInNode:
    """`with StandInNode(open_store, "EX01", sessions) as node:` a node of server EX01 holding
    `sessions`, publishing them every 0.1 s and answering end requests; `answering=False`: it
    publishes but never answers (a node that has not looked at the store yet)."""

    def __init__(self, open_store: Callable[[], Store], server: str, sessions: list[StandInSession],
                 answering: bool = True) -> None:
        self.open_store, self.server, self.sessions, self.answering = open_store, server, sessions, answering
        self.stop = threading.Event()
        self.published = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self.error: BaseException | None = None

    def __enter__(self) -> "StandInNode":
        self.thread.start()
        wait_until(lambda: self.published.is_set() or self.error, 5, "the stand-in node's first report")
        if self.error:
            raise self.error
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        self.thread.join(5)

    async def _main(self) -> None:
        store = self.open_store()
        await store.open()
        try:
            services = {name: SimpleNamespace(sessions=set()) for name in ("pop3", "smtp")}
            ends = SessionEnds(store, self.server, services)
            while not self.stop.is_set():
                for name, service in services.items():  # an ended session leaves, as a closed one does
                    service.sessions = {s for s in self.sessions if s.service_name == name and not s.ended}
                await store.put_node_report(report(self.server, [s for s in self.sessions if not s.ended]))
                self.published.set()
                if self.answering:
                    await ends.poll()
                await asyncio.sleep(0.05)
        except BaseException as exc:  # shown by __enter__ or the test's own waiting
            self.error = exc
        finally:
            await store.close()
