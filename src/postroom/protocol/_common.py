"""What every protocol core shares: the `next_event()` sentinels, the adapter-bug error and
`CoreBase`, the adapter interface (receive_data / next_event / data_to_send).

One object per sentinel for all cores, so an adapter can compare `event is NEED_DATA` whichever
core it drives.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections import deque
from typing import Any, ClassVar, TypeVar

from .lines import LineBuffer

__all__ = ["NEED_DATA", "PAUSED", "CoreBase", "LocalProtocolError", "Phase"]


class _Sentinel:
    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


NEED_DATA = _Sentinel("NEED_DATA")  # feed more bytes before asking again
PAUSED = _Sentinel("PAUSED")  # waiting for the adapter's answer to the last event


class LocalProtocolError(RuntimeError):
    """The adapter called an answer method that does not fit the current state (a bug)."""


class Phase:
    """A core's state together with the data only that state has. `kind` names the state
    (a member of the core's State enum: the key of its TRANSITIONS table)."""

    __slots__ = ()
    kind: ClassVar[Any]

    def __repr__(self) -> str:
        return f"<{self.kind.name}>"


P = TypeVar("P", bound=Phase)


class CoreBase(ABC):
    """The adapter interface every core shares: bytes in, events out, replies out.

    A subclass sets the class attributes below, calls `_start()` from its constructor and
    implements `_step()`: process one unit of buffered input (a line, or raw octets in a
    content state), return False when more input is needed. The state is `self._phase` (a
    `Phase`: its `kind` is compared with the class attributes), events go to `self._events`,
    reply bytes to `self._out`.
    """

    CLOSED_STATE: Any  # no more input is read; next_event() answers NEED_DATA
    CLOSED_PHASE: Phase  # the closed state's (shared) object, of kind CLOSED_STATE
    CLOSE_EVENT: Any  # the core's CloseConnection event type
    TLS_STATE: Any  # STLS/STARTTLS answered: plaintext received now is discarded, never executed
    WAITING_STATES: frozenset[Any]  # an event awaits the adapter's answer
    SHUTDOWN_STATES: frozenset[Any]  # between commands: shutdown() closes at once
    SHUTDOWN_REPLY: Any  # what shutdown() sends before closing
    ENDED_REPLY: Any  # what shutdown(ended_by_admin=True) sends instead

    def _start(self, phase: Phase, max_line: int) -> None:
        self._phase = phase
        self._lines = LineBuffer(max_line)
        self._out: list[bytes] = []
        self._events: deque[Any] = deque()
        self._eof = False

    @property
    def bytes_buffered(self) -> int:
        """Received octets not yet processed (for back-pressure while PAUSED)."""
        return len(self._lines)

    def receive_data(self, data: bytes) -> None:
        kind = self._phase.kind
        if kind is self.CLOSED_STATE or self._eof:
            return
        if not data:
            self._eof = True
        elif kind is not self.TLS_STATE:
            self._lines.feed(data)

    def data_to_send(self) -> list[bytes]:
        out, self._out = self._out, []
        return out

    def next_event(self) -> Any:
        if self._events:
            return self._events.popleft()
        kind = self._phase.kind
        if kind in self.WAITING_STATES:
            return PAUSED
        if kind is self.CLOSED_STATE:
            return NEED_DATA
        if self._eof:
            self._close("eof")
        while not self._events:
            if not self._step():
                return NEED_DATA
        return self._events.popleft()

    def shutdown(self, ended_by_admin: bool = False) -> bool:
        """The server is stopping. Between commands (SHUTDOWN_STATES): queue SHUTDOWN_REPLY and
        CloseConnection("shutdown") and return True; buffered commands are dropped and nothing
        pending is applied. In the middle of something (content being received, an answer
        outstanding) return False: call again once that is done. True when already closed.
        `ended_by_admin`: the same for one session an administrator ended (`postroom session
        end`), with ENDED_REPLY and CloseConnection("ended by admin")."""
        kind = self._phase.kind
        if kind is self.CLOSED_STATE:
            return True
        if kind not in self.SHUTDOWN_STATES:
            return False
        self._send(self.ENDED_REPLY if ended_by_admin else self.SHUTDOWN_REPLY)
        self._close("ended by admin" if ended_by_admin else "shutdown")
        return True

    def content_buffer(self, sizehint: int) -> memoryview | None:
        """Room for a transport to receive message content straight into (then
        `content_received(n)`); None: pass what arrives to `receive_data`. Only a core that
        reads message content (SMTP's DATA) ever has room."""
        return None

    def content_received(self, nbytes: int) -> None:
        raise LocalProtocolError("no content buffer was handed out")

    @abstractmethod
    def _step(self) -> bool:
        """Process one unit of buffered input; False when more input is needed."""

    def _close(self, reason: str) -> None:
        """Stop reading input (buffered commands are dropped) and queue CloseConnection(reason)."""
        self._phase = self.CLOSED_PHASE
        self._lines.clear()
        self._events.append(self.CLOSE_EVENT(reason))

    def _answering(self, phase_type: type[P]) -> P:
        """The current state, which the adapter's answer says is a `phase_type` (else the
        adapter has a bug: LocalProtocolError)."""
        phase = self._phase
        if not isinstance(phase, phase_type):
            raise LocalProtocolError(f"not expected in state {phase.kind.name}")
        return phase

    def _send(self, reply: Any) -> None:
        self._out.append(reply.to_bytes())
