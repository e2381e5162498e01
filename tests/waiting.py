"""Waiting on a condition instead of sleeping a fixed time: a test goes on as soon as what it
waits for has happened, and fails with what it was waiting for when that never comes.

`until` for coroutines (the condition may be a plain callable or return an awaitable),
`wait_until` for threads and subprocess tests. Sleep a fixed time only when the time itself is
the behaviour under test (a timeout that must elapse, a client that must be slow), and say so.
"""
from __future__ import annotations

import asyncio
import inspect
import time
from typing import Any, Callable


async def until(condition: Callable[[], Any], timeout: float = 5.0, what: str = "condition",
                interval: float = 0.005) -> None:
    """Poll `condition()` (awaited when it returns an awaitable) until it is true."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)


def wait_until(predicate: Callable[[], Any], timeout: float = 5.0, what: str = "condition",
               interval: float = 0.02) -> Any:
    """Poll `predicate()` from a thread until it is true; return that true value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
