"""Values shared by every protocol core: the `next_event()` sentinels and the adapter-bug error.

One object per sentinel for all cores, so an adapter can compare `event is NEED_DATA` whichever
core it drives.
"""
from __future__ import annotations

__all__ = ["NEED_DATA", "PAUSED", "LocalProtocolError"]


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
