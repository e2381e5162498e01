"""The two types a session is built on: where a connection is in its life (`Life`), and what
a session needs of its sans-IO core (`ServerCore`; SMTP, POP3 and IMAP4 cores have it)."""
from __future__ import annotations

from enum import Enum
from typing import Any, Callable, Protocol, TypeVar


class Life(Enum):
    """Where a connection is in its life. It only moves forward, except that a TLS upgrade
    returns to OPEN once the core knows TLS is up."""

    OPEN = "open"  # received bytes go to the core
    # STARTTLS/STLS answered, the upgrade under way: what the client sends over the new layer
    # waits in `tls_early` until the answering task has told the core that TLS is up.
    TLS_HANDSHAKE = "tls-handshake"
    CLOSING = "closing"  # we closed or aborted it: nothing more is read, answered or logged
    CLOSED = "closed"  # connection_lost ran: the transport is gone


OPEN, TLS_HANDSHAKE, CLOSING, CLOSED = Life.OPEN, Life.TLS_HANDSHAKE, Life.CLOSING, Life.CLOSED
LIVE = (OPEN, TLS_HANDSHAKE)



class ServerCore(Protocol):
    """What a session needs of its sans-IO core (`SmtpServer`, `Pop3Server`): bytes in, events
    out, replies out; room for message content; the temporary refusal of a blocked login; and the
    observer it tells each command line it reads (the protocol log)."""

    observer: Callable[[Any, bool], None] | None

    @property
    def bytes_buffered(self) -> int: ...
    def receive_data(self, data: bytes) -> None: ...
    def next_event(self) -> Any: ...  # an event of the core, or its NEED_DATA / PAUSED
    def data_to_send(self) -> list[bytes]: ...
    def shutdown(self, ended_by_admin: bool = False) -> bool: ...
    def content_buffer(self, sizehint: int) -> memoryview | None: ...
    def content_received(self, nbytes: int) -> None: ...
    def auth_failed(self, failure: Any) -> None: ...  # the core's own AuthFailure


Core = TypeVar("Core", bound=ServerCore)
