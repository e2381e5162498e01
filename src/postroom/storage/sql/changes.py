"""Mailbox change reports (storage/changes.py): what both backends share.

`ChangeSignal` holds the callback a store reports to, and tells it of the store's own writes;
the backends add how others' writes reach it (PostgreSQL: notifications whose payload is made
and read here; the embedded store: per-mailbox marks of the folders table, compared here).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Collection, Coroutine, Iterable

from ..changes import ChangeCallback

log = logging.getLogger("postroom.store")
MAX_PAYLOAD = 7000  # octets of one notification (PostgreSQL takes fewer than 8000)

# The embedded store's mark of each mailbox: a folder made, deleted or changed moves it (every
# change of a folder's messages moves its highest_modseq; a new folder has a new id).
MAILBOX_MARKS = "SELECT mailbox_id, count(*), sum(highest_modseq), sum(id) FROM folders GROUP BY mailbox_id"
Marks = dict[int, tuple[int, ...]]


class ChangeSignal:
    """The callback a store reports mailbox changes to (none until a node watches), and the
    task that brings it others' changes (the backend's feed) while it watches."""

    def __init__(self) -> None:
        self.callback: ChangeCallback | None = None
        self.origin = uuid.uuid4().hex[:16]  # this store object's writes, in its notifications
        self.feed: asyncio.Task[None] | None = None

    @property
    def feeding(self) -> bool:
        return self.feed is not None and not self.feed.done()

    def start(self, feed: Coroutine[None, None, None]) -> None:
        self.feed = asyncio.get_running_loop().create_task(feed)

    async def stop(self) -> None:
        """No more reports; the feed's task ends."""
        self.callback = None
        task, self.feed = self.feed, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def __call__(self, mailbox_ids: Collection[int] | None) -> None:
        if self.callback is None or (mailbox_ids is not None and not mailbox_ids):
            return
        try:
            self.callback(mailbox_ids)
        except Exception:  # a watcher's bug never fails the write that was reported
            log.exception("reporting a mailbox change failed")


def payloads(origin: str, mailbox_ids: Iterable[int]) -> list[str]:
    """Notification payloads "ORIGIN ID,ID,...", each short enough for PostgreSQL."""
    out: list[str] = []
    part: list[str] = []
    size = len(origin) + 1
    for mailbox_id in sorted(set(mailbox_ids)):
        text = str(int(mailbox_id))
        if part and size + len(text) + 1 > MAX_PAYLOAD:
            out.append(f"{origin} {','.join(part)}")
            part, size = [], len(origin) + 1
        part.append(text)
        size += len(text) + 1
    if part:
        out.append(f"{origin} {','.join(part)}")
    return out


def read_payload(payload: str) -> tuple[str, list[int] | None]:
    """(origin, mailbox ids) of a payload; ids None when it cannot be read (look at everything)."""
    origin, _, ids = payload.partition(" ")
    try:
        return origin, [int(each) for each in ids.split(",")]
    except ValueError:
        return origin, None


def changed_marks(before: Marks, after: Marks) -> list[int]:
    """The mailboxes whose mark moved, appeared or went."""
    return sorted({m for m in before.keys() | after.keys() if before.get(m) != after.get(m)})
