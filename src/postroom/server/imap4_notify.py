"""Waking idling IMAP4 sessions when their mailbox changes (RFC 2177 IDLE).

One `MailboxNotifier` per node, fed by the store (storage/changes.py: the node gives `changed`
to `watch_mailboxes`). Every committed change of a mailbox's folders or messages reaches it,
whoever made it: an SMTP delivery, a POP3 or admin deletion, an IMAP session's STORE, EXPUNGE,
COPY or APPEND on this node (as the write returns); the same on another node (PostgreSQL's
LISTEN/NOTIFY) or in another process (the CLI, on the embedded store) a moment later. Every
session idling on that mailbox is woken and looks at its folder's highest_modseq; none looks on
a timer, so a node with ten thousand idling sessions and no mail makes no store query for them.
`None` from the store (its feed was lost and is back) wakes every session and moves every mark.

A session that is not idling follows its mailbox with a `Mark`, whose count every report bumps:
after a command it looks at the store only when the count moved since its last look, or when
the client asks (NOOP, CHECK, IDLE). So a session's FETCH, STORE and SEARCH cost no look when
nothing changed; its own writes move the count by one, as they return (imap4_folder.py).
"""
from __future__ import annotations

from typing import Callable, Collection, Iterable

Wake = Callable[[], None]


class Mark:
    """How many times a mailbox was touched since this mark followed it."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0


class MailboxNotifier:
    def __init__(self) -> None:
        self._waiting: dict[int, set[Wake]] = {}
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

    def watch(self, mailbox_id: int, wake: Wake) -> None:
        """Call `wake` at every change of the mailbox until `unwatch`: a plain callback, so an
        idling session holds no task and no event while nothing happens."""
        self._waiting.setdefault(mailbox_id, set()).add(wake)

    def unwatch(self, mailbox_id: int, wake: Wake) -> None:
        waiting = self._waiting.get(mailbox_id)
        if waiting is not None:
            waiting.discard(wake)
            if not waiting:
                del self._waiting[mailbox_id]

    def touch(self, mailbox_id: int) -> None:
        for mark in self._marks.get(mailbox_id, ()):
            mark.count += 1
        for wake in list(self._waiting.get(mailbox_id, ())):  # a wake may unwatch
            wake()

    def touch_all(self, mailbox_ids: Iterable[int]) -> None:
        for mailbox_id in mailbox_ids:
            self.touch(mailbox_id)

    def touch_every(self) -> None:
        """Every watched or followed mailbox (a change may have gone unreported)."""
        self.touch_all(self._waiting.keys() | self._marks.keys())

    def changed(self, mailbox_ids: Collection[int] | None) -> None:
        """The store's report (storage/changes.py ChangeCallback): these mailboxes changed, or
        (None) any may have."""
        if mailbox_ids is None:
            self.touch_every()
        else:
            self.touch_all(mailbox_ids)

    @property
    def watching(self) -> int:
        return sum(len(wakes) for wakes in self._waiting.values())
