"""Waking idling IMAP4 sessions when their mailbox changes (RFC 2177 IDLE).

One `MailboxNotifier` per node. Whatever changes a mailbox on this node (an SMTP delivery, a
POP3 deletion, another IMAP session's STORE, EXPUNGE, COPY or APPEND) calls `touch(mailbox_id)`;
every session idling on that mailbox is woken and looks at its folder's highest_modseq. Changes
made on other nodes are not seen here: an idling session also looks once every POLL_INTERVAL.

A session that is not idling follows its mailbox with a `Mark`, whose count every touch bumps:
after a command it looks at the store only when the count moved since its last look (a change
on this node), or when POLL_INTERVAL has passed (one on another node), or when the client asks
(NOOP, CHECK, IDLE). So a session's FETCH, STORE and SEARCH cost no look when nothing changed.
"""
from __future__ import annotations

import asyncio
from typing import Iterable

POLL_INTERVAL = 1.0  # seconds between looks of an idling session without a wake-up (other nodes)


class Mark:
    """How many times a mailbox was touched since this mark followed it."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0


class MailboxNotifier:
    def __init__(self) -> None:
        self._waiting: dict[int, set[asyncio.Event]] = {}
        self._marks: dict[int, set[Mark]] = {}

    def follow(self, mailbox_id: int) -> Mark:
        """A mark of the mailbox's changes; give it back with `unfollow`."""
        mark = Mark()
        self._marks.setdefault(mailbox_id, set()).add(mark)
        return mark

    def unfollow(self, mailbox_id: int, mark: Mark) -> None:
        marks = self._marks.get(mailbox_id)
        if marks is not None:
            marks.discard(mark)
            if not marks:
                del self._marks[mailbox_id]

    def watch(self, mailbox_id: int) -> asyncio.Event:
        """An event set by the next change of the mailbox; give it back with `unwatch`."""
        event = asyncio.Event()
        self._waiting.setdefault(mailbox_id, set()).add(event)
        return event

    def unwatch(self, mailbox_id: int, event: asyncio.Event) -> None:
        waiting = self._waiting.get(mailbox_id)
        if waiting is not None:
            waiting.discard(event)
            if not waiting:
                del self._waiting[mailbox_id]

    def touch(self, mailbox_id: int) -> None:
        for mark in self._marks.get(mailbox_id, ()):
            mark.count += 1
        for event in self._waiting.get(mailbox_id, ()):
            event.set()

    def touch_all(self, mailbox_ids: Iterable[int]) -> None:
        for mailbox_id in mailbox_ids:
            self.touch(mailbox_id)

    @property
    def watching(self) -> int:
        return sum(len(events) for events in self._waiting.values())
