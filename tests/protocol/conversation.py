"""One scripted client conversation with a sans-IO core, shared by the POP3 and SMTP tests.

The fake adapter answers each event through `answer(event)` (a callable that performs the
answer, or None for informational events), at once or, with `deferred`, only when the core
has gone PAUSED, so both orderings of "answer" versus "more input" are exercised.
"""
from __future__ import annotations

from typing import Any, Callable

from postroom.protocol._common import NEED_DATA, PAUSED


def converse(conn: Any, phases: list[bytes], chunk: int | None, deferred: bool, *,
             answer: Callable[[Any], Callable[[], None] | None], eof: bool,
             close_type: type, starttls_type: type, strict_pause: bool = False,
             on_close: Callable[[], None] | None = None) -> tuple[bytes, list[Any]]:
    """Feed `phases` (between them a pending TLS handshake completes; bytes inside a phase
    arrive before it does) `chunk` octets at a time; return (all output, all events)."""
    out = conn.data_to_send()
    events: list[Any] = []
    pending: list[Callable[[], None]] = []
    tls: list[Any] = []
    closed = False

    def pump() -> None:
        nonlocal closed
        while not closed:
            ev = conn.next_event()
            out.extend(conn.data_to_send())
            if ev is NEED_DATA:
                return
            if ev is PAUSED:
                if strict_pause:
                    assert (deferred and pending) or tls, "paused with nothing to answer"
                elif pending and not deferred:
                    raise AssertionError("paused with an answer available")
                return
            events.append(ev)
            if isinstance(ev, close_type):
                if on_close:
                    on_close()
                closed = True
                return
            if isinstance(ev, starttls_type):
                tls.append(ev)
                continue
            reply = answer(ev)
            if reply is not None:
                if deferred:
                    pending.append(reply)
                else:
                    reply()

    for phase in phases:
        size = len(phase) if chunk is None else chunk
        for start in range(0, len(phase), max(size, 1)):
            if closed:
                break
            conn.receive_data(phase[start:start + size])
            pump()
            while pending and not closed:
                pending.pop()()
                pump()
        if tls and not closed:
            tls.clear()
            conn.tls_started()
            pump()
    if eof and not closed:
        conn.receive_data(b"")
        pump()
    out.extend(conn.data_to_send())
    assert all(isinstance(part, bytes) for part in out)
    return b"".join(out), events
