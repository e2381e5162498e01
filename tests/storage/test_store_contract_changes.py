"""The Store contract, the feed of mailbox changes (MailboxChanges, storage/changes.py): every write
that changes a mailbox's folders or messages is reported to the store's watcher, its own writes
before they return, those made through another store object on the same database (another node,
the CLI) a moment later; writes that change nothing, and reads, are not; unwatching stops it.
Every backend must pass it, through the Store protocol only."""
from __future__ import annotations

import asyncio
import time

import pytest

from postroom.model.imap import INBOX

from .test_store_contract import MESSAGE, mailbox

pytestmark = [pytest.mark.store_changes]
DEADLINE = 5.0  # seconds for another store's write to be reported (the feed takes well under one)


class Heard:
    """What a watcher was told: sets of mailbox ids, or None (look at everything)."""

    def __init__(self) -> None:
        self.reports: list[frozenset[int] | None] = []

    def __call__(self, ids) -> None:
        self.reports.append(None if ids is None else frozenset(ids))

    def mailboxes(self) -> set[int]:
        return set().union(*(r for r in self.reports if r is not None))

    def take(self) -> set[int]:
        found = self.mailboxes()
        self.reports.clear()
        return found

    async def until(self, mailbox_id: int) -> float:
        """Seconds until `mailbox_id` (or None) was reported; fails after DEADLINE."""
        started = time.monotonic()
        while not any(r is None or mailbox_id in r for r in self.reports):
            assert time.monotonic() - started < DEADLINE, f"mailbox {mailbox_id} was never reported"
            await asyncio.sleep(0.01)
        return time.monotonic() - started


async def other_store(make_store):
    other = make_store()
    await other.open()
    return other


def test_the_stores_own_writes_are_reported_as_they_return(store, run):
    async def body():
        box, other = await mailbox(store), await mailbox(store, "bob@example.com", "Bob")
        heard = Heard()
        await store.watch_mailboxes(heard)
        inbox = await store.get_folder(box, INBOX)
        await store.deliver_message([box, other], MESSAGE)
        assert heard.take() == {box, other}  # before anything else ran: no wait
        await store.deliver(box, MESSAGE)
        assert heard.take() == {box}
        await store.deliver_many(other, [MESSAGE])
        assert heard.take() == {other}
        uids = [m.uid for m in await store.folder_messages(inbox.id)]
        await store.store_flags(inbox.id, uids[:1], ["\\Deleted"], "add")
        assert heard.take() == {box}
        await store.expunge(inbox.id)
        assert heard.take() == {box}
        created = await store.create_folder(box, "Projects/2026")
        assert heard.take() == {box}
        await store.copy_messages(inbox.id, uids[1:], created.id)
        assert heard.take() == {box}
        await store.copy_messages(created.id, [1], inbox.id, move=True)
        assert heard.take() == {box}
        await store.append_message(created.id, MESSAGE, ["\\Seen"])
        assert heard.take() == {box}
        await store.rename_folder(box, "Projects", "Archive")
        assert heard.take() == {box}
        await store.delete_folder(box, "Archive/2026")
        assert heard.take() == {box}
        listed = await store.list_messages(other)
        assert await store.delete_messages(other, [m.id for m in listed]) == 2
        assert heard.take() == {other}
        assert None not in heard.reports
    run(body())


def test_writes_that_change_nothing_and_reads_are_not_reported(store, run):
    async def body():
        box = await mailbox(store)
        await store.deliver(box, MESSAGE)
        inbox = await store.get_folder(box, INBOX)
        heard = Heard()
        await store.watch_mailboxes(heard)
        await store.store_flags(inbox.id, [1], ["\\Seen"], "add")
        heard.take()
        await store.store_flags(inbox.id, [1], ["\\Seen"], "add")  # already so
        assert await store.expunge(inbox.id) == []  # nothing \Deleted
        assert await store.copy_messages(inbox.id, [99], inbox.id) == []
        assert await store.delete_messages(box, [999999]) == 0
        await store.folder_messages(inbox.id)
        await store.take_recent(inbox.id)
        await store.list_messages(box)
        await store.set_subscription(box, "Elsewhere", True)
        assert heard.take() == set()
    run(body())


def test_another_stores_writes_are_reported_within_a_second(store, make_store, run):
    """Another node on PostgreSQL, another process (the CLI) on the embedded store."""
    async def body():
        box, quiet = await mailbox(store), await mailbox(store, "bob@example.com", "Bob")
        heard = Heard()
        await store.watch_mailboxes(heard)
        other = await other_store(make_store)
        try:
            await other.deliver(box, MESSAGE)
            assert await heard.until(box) < 1.0
            inbox = await store.get_folder(box, INBOX)
            heard.take()
            await other.store_flags(inbox.id, [1], ["\\Flagged"], "add")
            await heard.until(box)
            heard.take()
            await other.delete_messages(box, [m.id for m in await other.list_messages(box)])
            await heard.until(box)
            heard.take()
            await other.create_folder(box, "Later")
            await heard.until(box)
            assert quiet not in heard.mailboxes()  # only what changed
        finally:
            await other.close()
    run(body())


def test_unwatching_stops_the_reports(store, make_store, run):
    async def body():
        box, later = await mailbox(store), await mailbox(store, "bob@example.com", "Bob")
        heard = Heard()
        await store.watch_mailboxes(heard)
        await store.unwatch_mailboxes()
        other = await other_store(make_store)
        try:
            await store.deliver(box, MESSAGE)
            await other.deliver(box, MESSAGE)
            again = Heard()  # watching again works, from then on
            await store.watch_mailboxes(again)
            await other.deliver(later, MESSAGE)
            await again.until(later)  # reports come in order: the earlier writes' would be here by now
            assert heard.reports == [] and box not in again.mailboxes()
        finally:
            await other.close()
    run(body())


def test_a_watcher_that_fails_does_not_fail_the_write(store, run):
    async def body():
        box = await mailbox(store)

        def broken(ids) -> None:
            raise RuntimeError("a watcher's bug")
        await store.watch_mailboxes(broken)
        info = await store.deliver(box, MESSAGE)
        assert [m.id for m in await store.list_messages(box)] == [info.id]
    run(body())
