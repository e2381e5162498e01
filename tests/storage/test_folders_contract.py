"""The Store contract, IMAP4 folders (FolderStore, storage/folders.py): every mailbox's folders,
UIDs that only ascend, flags, expunge, copy and move, renaming (INBOX too), uidvalidity, and
how POP3 and deliveries meet IMAP4 (deliveries go to INBOX, POP3 sees INBOX, a POP3 deletion
is an expunge). Every backend must pass it, through the Store protocol only."""
from __future__ import annotations

import asyncio
import hashlib
import json
import os

import pytest

from postroom.errors import Conflict, NotFound, ValidationError
from postroom.model import MessageInfo
from postroom.model.imap import INBOX, SPECIAL_FOLDERS, Folder, FolderMessage, FolderStatus
from postroom.protocol.imap4.structure import describe as real_describe
from postroom.storage import SpooledBody
from postroom.storage.sql import folders as folders_sql

from .test_store_contract import EIGHT_BIT, MESSAGE, is_utc_iso, mailbox, wire

pytestmark = [pytest.mark.store_folders]


def describe(data) -> str:
    """Stands in for protocol.imap4.structure.describe (tested with part C's content): a
    structure that tells exactly which octets were described."""
    data = bytes(data)
    return json.dumps({"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)})


@pytest.fixture(autouse=True)
def known_structures(monkeypatch):
    monkeypatch.setattr(folders_sql, "describe", describe)
NAMES = [INBOX] + sorted(name for name, _ in SPECIAL_FOLDERS)


def numbered(n: int) -> bytes:
    return wire(f"Subject: message {n}".encode(), b"", b"body %d" % n)


async def inbox(store, box):
    return await store.get_folder(box, INBOX)


async def uids(store, folder_id):
    return [m.uid for m in await store.folder_messages(folder_id)]


# a new mailbox ------------------------------------------------------------------------------

def test_a_new_mailbox_has_inbox_and_the_special_use_folders_subscribed(store, run):
    async def body():
        box = await mailbox(store)
        folders = await store.list_folders(box)
        assert [f.name for f in folders] == NAMES  # INBOX first, then by name
        uses = {f.name: f.special_use for f in folders}
        assert uses == {INBOX: "", **dict(SPECIAL_FOLDERS)}
        assert all(f.mailbox_id == box and f.uidnext == 1 and f.first_recent_uid == 1 for f in folders)
        assert len({f.uidvalidity for f in folders}) == 5 and all(0 < f.uidvalidity < 2**32 for f in folders)
        assert sorted(await store.list_subscriptions(box)) == sorted(NAMES)
        assert await store.get_folder(box, "inbox") == await store.get_folder(box, INBOX)
        with pytest.raises(NotFound):
            await store.list_folders(box + 1000)
        with pytest.raises(NotFound):
            await store.get_folder(box, "Nope")
    run(body())


def test_a_mailbox_made_again_gets_new_uidvalidities(store, run):
    async def body():
        box = await mailbox(store)
        before = {f.uidvalidity for f in await store.list_folders(box)}
        await store.remove_mailbox("alice@example.com")
        box = await mailbox(store)
        after = {f.uidvalidity for f in await store.list_folders(box)}
        assert not before & after
    run(body())


# deliveries and POP3 ------------------------------------------------------------------------

def test_deliveries_go_to_inbox_with_ascending_uids(store, run):
    async def body():
        box = await mailbox(store)
        other = await mailbox(store, "bob@example.com", "Bob")
        first = await store.deliver(box, numbered(1))
        many = await store.deliver_many(box, [numbered(2), numbered(3)])
        shared = await store.deliver_message([other, box], numbered(4))
        folder = await inbox(store, box)
        messages = await store.folder_messages(folder.id)
        assert [m.uid for m in messages] == [1, 2, 3, 4]
        assert [m.id for m in messages] == [first.id, *(i.id for i in many), shared[1].id]
        assert all(m.flags == () and is_utc_iso(m.internal_date) for m in messages)
        assert [m.size for m in messages] == [len(numbered(n)) for n in (1, 2, 3, 4)]
        assert folder.uidnext == 5 and folder.highest_modseq >= 3
        assert [m.modseq for m in messages] == sorted(m.modseq for m in messages)
        assert all(m.modseq <= folder.highest_modseq for m in messages)
        assert await uids(store, (await inbox(store, other)).id) == [1]
        status = await store.folder_status(folder.id)
        assert status == FolderStatus(4, 4, 4, 5, folder.uidvalidity, sum(m.size for m in messages),
                                      folder.highest_modseq)
        for message, n in zip(messages, (1, 2, 3, 4)):
            assert await store.read_message(box, message.id) == numbered(n)
    run(body())


def test_a_delivery_stores_the_structure_once(store, run):
    async def body():
        box = await mailbox(store)
        infos = [await store.deliver(box, MESSAGE), *(await store.deliver_message([box], EIGHT_BIT, head=b"X: 1\r\n"))]
        structures = await store.read_structures([i.id for i in infos] + [999_999])
        assert structures == {infos[0].id: describe(MESSAGE), infos[1].id: describe(b"X: 1\r\n" + EIGHT_BIT)}
    run(body())


def test_a_spooled_delivery_is_described_whole(store, run, tmp_path):
    spool = tmp_path / "spool"
    spool.mkdir()
    start = wire(b"Subject: big", b"Content-Type: text/plain", b"", *([b"x" * 998] * 300))
    (spool / "1.msg").write_bytes(start + b"left over, not part of the message")

    async def body():
        box = await mailbox(store)
        head, rest = b"Received: by us\r\n", wire(b"the end")
        [info] = await store.deliver_message([box], rest, head=head, spooled=SpooledBody(str(spool / "1.msg"),
                                                                                       len(start)))
        assert await store.read_structures([info.id]) == {info.id: describe(head + start + rest)}
        assert sorted(p.name for p in spool.iterdir()) == ["1.msg"]  # nothing left behind
    run(body())


def test_folder_changes_since_a_modseq(store, run):
    async def body():
        box = await mailbox(store)
        for n in (1, 2, 3):
            await store.deliver(box, numbered(n))
        folder = await inbox(store, box)
        listed = await store.folder_messages(folder.id)
        assert await store.folder_changes(folder.id, 0) == (listed, 3)
        assert await store.folder_changes(folder.id, folder.highest_modseq) == ([], 3)
        await store.store_flags(folder.id, [2], ["\\Seen"], "add")
        await store.deliver(box, numbered(4))
        await store.store_flags(folder.id, [3], ["\\Seen"], "add")
        await store.store_flags(folder.id, [3], ["\\Seen"], "remove")  # changed back: still a change
        changed, count = await store.folder_changes(folder.id, folder.highest_modseq)
        now = await store.folder_messages(folder.id)
        assert count == 4 and changed == [now[1], now[2], now[3]] and now[1].flags == ("\\Seen",)
        after = await inbox(store, box)
        await store.store_flags(folder.id, [1], ["\\Deleted"], "add")
        await store.expunge(folder.id)
        assert await store.folder_changes(folder.id, after.highest_modseq) == ([], 3)  # the count tells
        trash = await store.get_folder(box, "Trash")
        await store.delete_folder(box, "Trash")
        with pytest.raises(NotFound):
            await store.folder_changes(trash.id, 0)
    run(body())


def test_messages_are_read_together(store, run):
    async def body():
        box, other = await mailbox(store), await mailbox(store, "bob@example.com", "Bob")
        infos = [await store.deliver(box, numbered(n)) for n in (1, 2, 3)]
        elsewhere = await store.deliver(other, numbered(4))
        folder, trash = await inbox(store, box), await store.get_folder(box, "Trash")
        await store.copy_messages(folder.id, [2], trash.id)
        [copy] = await store.folder_messages(trash.id)
        wanted = [i.id for i in infos] + [copy.id, elsewhere.id, 999_999]
        assert await store.read_messages(box, wanted) == {
            infos[0].id: numbered(1), infos[1].id: numbered(2), infos[2].id: numbered(3), copy.id: numbered(2)}
        await store.delete_messages(box, [infos[1].id])
        assert await store.read_messages(box, [infos[1].id, copy.id]) == {copy.id: numbered(2)}
        assert await store.read_messages(other, [elsewhere.id]) == {elsewhere.id: numbered(4)}
        assert await store.read_messages(box, []) == {}
    run(body())


@pytest.mark.parametrize("described", ["by the structure", "from the octets"])
def test_header_blocks_are_read_in_one_call(store, run, monkeypatch, described):
    """read_headers: each message's octets up to its body (BODY[HEADER]), whether the stored
    structure says where that is (the real describe) or not (a body stored without one)."""
    if described == "by the structure":
        monkeypatch.setattr(folders_sql, "describe", real_describe)
    big = wire(b"Subject: big", b"X-Long: " + b"y" * 3000, b"", *([b"z" * 998] * 200))
    bare = b"Subject: no body, no empty line\r\nX: 1\r\n"
    empty_header = wire(b"", b"just a body")

    async def body():
        box, other = await mailbox(store), await mailbox(store, "bob@example.com", "Bob")
        infos = [await store.deliver(box, data) for data in (MESSAGE, big, bare, empty_header)]
        elsewhere = await store.deliver(other, MESSAGE)
        folder, trash = await inbox(store, box), await store.get_folder(box, "Trash")
        await store.copy_messages(folder.id, [1], trash.id)
        [copy] = await store.folder_messages(trash.id)
        wanted = [i.id for i in infos] + [copy.id, elsewhere.id, 999_999]
        head = MESSAGE[:MESSAGE.index(b"\r\n\r\n") + 4]
        assert await store.read_headers(box, wanted) == {
            infos[0].id: head, infos[1].id: big[:big.index(b"\r\n\r\n") + 4], infos[2].id: bare,
            infos[3].id: b"\r\n", copy.id: head}
        assert await store.read_headers(other, [elsewhere.id]) == {elsewhere.id: head}
        assert await store.read_headers(box, []) == {}
        await store.delete_messages(box, [infos[0].id])
        assert await store.read_headers(box, [infos[0].id, copy.id]) == {copy.id: head}
    run(body())


def test_pop3_sees_the_inbox_only(store, run):
    async def body():
        box = await mailbox(store)
        infos = await store.deliver_many(box, [numbered(n) for n in range(1, 5)])
        folder, sent = await inbox(store, box), await store.get_folder(box, "Sent")
        await store.append_message(sent.id, numbered(9))
        await store.copy_messages(folder.id, [1], sent.id)
        await store.copy_messages(folder.id, [2], sent.id, move=True)
        listed = await store.list_messages(box)
        assert [i.id for i in listed] == [infos[0].id, infos[2].id, infos[3].id]
        assert await store.mailbox_usage(box) == (3, sum(len(numbered(n)) for n in (1, 3, 4)))
        # a message copied into INBOX is POP3's too
        await store.copy_messages(sent.id, [1], folder.id)
        assert len(await store.list_messages(box)) == 4
    run(body())


def test_a_pop3_deletion_is_an_expunge(store, run):
    async def body():
        box = await mailbox(store)
        infos = await store.deliver_many(box, [numbered(n) for n in range(1, 4)])
        folder = await inbox(store, box)
        assert await store.delete_messages(box, [infos[1].id]) == 1
        after = await inbox(store, box)
        assert after.highest_modseq > folder.highest_modseq
        assert await uids(store, folder.id) == [1, 3]
        with pytest.raises(NotFound):
            await store.read_message(box, infos[1].id)
        # nothing removed: nothing changed
        assert await store.delete_messages(box, [infos[1].id]) == 0
        assert (await inbox(store, box)).highest_modseq == after.highest_modseq
        # POP3 cannot delete what it does not see
        sent = await store.get_folder(box, "Sent")
        pairs = await store.copy_messages(folder.id, [1], sent.id)
        copied = (await store.folder_messages(sent.id))[0]
        assert pairs == [(1, copied.uid)]
        assert await store.delete_messages(box, [copied.id]) == 0
        assert await uids(store, sent.id) == [1]
    run(body())


def test_concurrent_deliveries_commit_in_uid_order(make_store, run):
    """A reader never sees UID n+1 before UID n: what it lists is always 1..k."""
    async def body():
        writer, reader = make_store(), make_store()
        for each in (writer, reader):
            await each.open()
        await writer.migrate()
        try:
            box = await mailbox(writer)
            folder = await inbox(reader, box)
            seen: list[list[int]] = []
            done = asyncio.Event()

            async def watch():
                while not done.is_set():
                    seen.append(await uids(reader, folder.id))
                    await asyncio.sleep(0)

            watcher = asyncio.create_task(watch())
            infos = await asyncio.gather(*[writer.deliver(box, numbered(n)) for n in range(60)])
            done.set()
            await watcher
            for listed in seen + [await uids(reader, folder.id)]:
                assert listed == list(range(1, len(listed) + 1))
            messages = await reader.folder_messages(folder.id)
            assert len(messages) == 60 and sorted(m.id for m in messages) == [m.id for m in messages]
            assert {m.id for m in messages} == {i.id for i in infos}
        finally:
            await reader.close()
            await writer.close()
    run(body())


def test_deliveries_to_the_same_mailboxes_in_any_order_never_deadlock(store, run):
    async def body():
        a, b = await mailbox(store), await mailbox(store, "bob@example.com", "Bob")
        infos = await asyncio.gather(*[store.deliver_message([a, b] if n % 2 else [b, a], numbered(n))
                                       for n in range(40)])
        assert len(infos) == 40
        for box in (a, b):
            assert await uids(store, (await inbox(store, box)).id) == list(range(1, 41))
    run(body())


# folders ------------------------------------------------------------------------------------

def test_create_makes_missing_superiors_and_refuses_taken_names(store, run):
    async def body():
        box = await mailbox(store)
        made = await store.create_folder(box, "Projects/2024/Q1", "\\Archive")
        assert made.name == "Projects/2024/Q1" and made.special_use == "\\Archive" and made.uidnext == 1
        names = [f.name for f in await store.list_folders(box)]
        assert names == [INBOX, "Drafts", "Junk", "Projects", "Projects/2024", "Projects/2024/Q1", "Sent", "Trash"]
        for taken in ("Projects", "inbox", "INBOX", "Sent"):
            with pytest.raises(Conflict):
                await store.create_folder(box, taken)
        assert (await store.create_folder(box, "sent")).name == "sent"  # only INBOX ignores case
        assert (await store.create_folder(box, "inbox/child")).name == "INBOX/child"
        for bad in ("", "/a", "a/", "a//b", "a\r\nb", "a*", "50%", "x" * 1001):
            with pytest.raises(ValidationError):
                await store.create_folder(box, bad)
        with pytest.raises(ValidationError):
            await store.create_folder(box, "Other", "\\Bogus")
        with pytest.raises(NotFound):
            await store.create_folder(box + 1000, "Other")
    run(body())


def test_delete_then_create_changes_uidvalidity(store, run):
    async def body():
        box = await mailbox(store)
        work = await store.create_folder(box, "Work")
        appended = await store.append_message(work.id, MESSAGE)
        await store.delete_folder(box, "Work")
        with pytest.raises(NotFound):
            await store.get_folder(box, "Work")
        with pytest.raises(NotFound):
            await store.read_message(box, appended.id)
        with pytest.raises(NotFound):
            await store.folder_messages(work.id)
        again = await store.create_folder(box, "Work")
        assert again.uidvalidity != work.uidvalidity and again.id != work.id and again.uidnext == 1
        with pytest.raises(ValidationError):
            await store.delete_folder(box, "inbox")
        with pytest.raises(NotFound):
            await store.delete_folder(box, "Nope")
        await store.create_folder(box, "Work/Sub")
        with pytest.raises(Conflict):
            await store.delete_folder(box, "Work")
        await store.delete_folder(box, "Work/Sub")
        await store.delete_folder(box, "Work")
    run(body())


def test_rename_moves_children_and_subscriptions(store, run):
    async def body():
        box = await mailbox(store)
        a = await store.create_folder(box, "a/x")
        parent = await store.get_folder(box, "a")
        await store.append_message(a.id, MESSAGE, ["\\Seen"])
        await store.set_subscription(box, "a/x", True)
        await store.rename_folder(box, "a", "b/c")
        names = [f.name for f in await store.list_folders(box)]
        assert "a" not in names and "a/x" not in names and {"b", "b/c", "b/c/x"} <= set(names)
        moved = await store.get_folder(box, "b/c/x")
        assert (moved.id, moved.uidvalidity, moved.uidnext) == (a.id, a.uidvalidity, 2)
        assert (await store.get_folder(box, "b/c")).uidvalidity == parent.uidvalidity
        assert [m.flags for m in await store.folder_messages(moved.id)] == [("\\Seen",)]
        subscribed = await store.list_subscriptions(box)
        assert "b/c/x" in subscribed and "a/x" not in subscribed
        with pytest.raises(Conflict):
            await store.rename_folder(box, "b/c", "Sent")
        with pytest.raises(ValidationError):
            await store.rename_folder(box, "b", "b/c/d")
        with pytest.raises(NotFound):
            await store.rename_folder(box, "Nope", "Other")
        assert (await store.create_folder(box, "a")).uidvalidity not in (a.uidvalidity, parent.uidvalidity)
    run(body())


def test_rename_inbox_moves_its_messages_and_leaves_it_empty(store, run):
    async def body():
        box = await mailbox(store)
        infos = await store.deliver_many(box, [numbered(n) for n in range(1, 4)])
        before = await inbox(store, box)
        await store.store_flags(before.id, [2], ["\\Flagged"], "add")
        await store.rename_folder(box, "inbox", "Old Mail")
        old = await store.get_folder(box, "Old Mail")
        moved = await store.folder_messages(old.id)
        assert [m.uid for m in moved] == [1, 2, 3] and old.uidnext == 4
        assert [m.id for m in moved] == [i.id for i in infos]
        assert [m.flags for m in moved] == [(), ("\\Flagged",), ()]
        assert old.uidvalidity != before.uidvalidity
        after = await inbox(store, box)
        assert (after.id, after.uidvalidity, after.uidnext) == (before.id, before.uidvalidity, before.uidnext)
        assert after.highest_modseq > before.highest_modseq
        assert await store.folder_messages(after.id) == [] and await store.list_messages(box) == []
        new = await store.deliver(box, numbered(4))
        assert await uids(store, after.id) == [4]
        assert [i.id for i in await store.list_messages(box)] == [new.id]
        assert await store.read_message(box, moved[0].id) == numbered(1)
        with pytest.raises(Conflict):
            await store.rename_folder(box, INBOX, "Old Mail")
    run(body())


def test_subscriptions(store, run):
    async def body():
        box = await mailbox(store)
        await store.set_subscription(box, "Not/There", True)
        await store.set_subscription(box, "Not/There", True)
        await store.set_subscription(box, "Junk", False)
        await store.set_subscription(box, "Junk", False)
        assert await store.list_subscriptions(box) == sorted(["Drafts", INBOX, "Not/There", "Sent", "Trash"])
        await store.create_folder(box, "Gone")
        await store.set_subscription(box, "Gone", True)
        await store.delete_folder(box, "Gone")
        assert "Gone" in await store.list_subscriptions(box)  # RFC 3501 6.3.4: deleting never unsubscribes
        with pytest.raises(NotFound):
            await store.set_subscription(box + 1000, "x", True)
        with pytest.raises(ValidationError):
            await store.set_subscription(box, "a//b", True)
    run(body())


# messages in folders ------------------------------------------------------------------------

def test_uids_ascend_across_delivery_append_copy_and_move(store, run):
    async def body():
        box = await mailbox(store)
        folder, trash = await inbox(store, box), await store.get_folder(box, "Trash")
        await store.deliver(box, numbered(1))
        appended = await store.append_message(folder.id, numbered(2), ["\\Seen", "$Label1"],
                                              "2020-02-03T04:05:06+01:00")
        assert appended.uid == 2 and appended.flags == ("$Label1", "\\Seen") and appended.size == len(numbered(2))
        assert appended.internal_date == "2020-02-03T03:05:06.000000+00:00"
        await store.deliver(box, numbered(3))
        await store.append_message(trash.id, numbered(4))
        assert await store.copy_messages(folder.id, [3, 1, 2, 99], trash.id) == [(1, 2), (2, 3), (3, 4)]
        assert await store.copy_messages(folder.id, [2], trash.id, move=True) == [(2, 5)]
        assert await uids(store, folder.id) == [1, 3]
        copied = await store.folder_messages(trash.id)
        assert [m.uid for m in copied] == [1, 2, 3, 4, 5]
        assert copied[2].flags == copied[4].flags == ("$Label1", "\\Seen")
        assert copied[2].internal_date == copied[4].internal_date == appended.internal_date
        assert [await store.read_message(box, m.id) for m in copied] == [numbered(n) for n in (4, 1, 2, 3, 2)]
        await store.deliver(box, numbered(5))
        assert await uids(store, folder.id) == [1, 3, 4]  # 2 was used, never again
        await store.copy_messages(trash.id, [1], folder.id)
        assert await uids(store, folder.id) == [1, 3, 4, 5]
        assert await store.copy_messages(folder.id, [77], trash.id) == []
        structures = await store.read_structures([m.id for m in copied])
        assert structures[copied[0].id] == describe(numbered(4))
    run(body())


def test_copy_within_the_same_folder_and_missing_folders(store, run):
    async def body():
        box = await mailbox(store)
        folder = await inbox(store, box)
        await store.deliver(box, MESSAGE)
        assert await store.copy_messages(folder.id, [1], folder.id) == [(1, 2)]
        assert await store.copy_messages(folder.id, [1], folder.id, move=True) == [(1, 3)]
        assert await uids(store, folder.id) == [2, 3]
        for call in (store.folder_messages(folder.id + 1000), store.folder_status(folder.id + 1000),
                     store.take_recent(folder.id + 1000), store.store_flags(folder.id + 1000, [1], [], "add"),
                     store.expunge(folder.id + 1000), store.copy_messages(folder.id, [2], folder.id + 1000),
                     store.copy_messages(folder.id + 1000, [2], folder.id),
                     store.append_message(folder.id + 1000, MESSAGE)):
            with pytest.raises(NotFound):
                await call
    run(body())


def test_store_flags(store, run):
    async def body():
        box = await mailbox(store)
        await store.deliver_many(box, [numbered(n) for n in range(1, 4)])
        folder = await inbox(store, box)
        added = await store.store_flags(folder.id, [1, 2, 50], ["\\seen", "Work", "\\Recent"], "add")
        assert [(m.uid, m.flags) for m in added] == [(1, ("Work", "\\Seen")), (2, ("Work", "\\Seen"))]
        changed = await inbox(store, box)
        assert changed.highest_modseq == folder.highest_modseq + 1
        assert all(m.modseq == changed.highest_modseq for m in added)
        again = await store.store_flags(folder.id, [1, 3], ["\\Seen"], "add")
        assert [(m.uid, m.flags) for m in again] == [(1, ("Work", "\\Seen")), (3, ("\\Seen",))]
        assert again[0].modseq == changed.highest_modseq  # unchanged: its modseq stays
        assert again[1].modseq == (await inbox(store, box)).highest_modseq == changed.highest_modseq + 1
        removed = await store.store_flags(folder.id, [1], ["\\SEEN"], "remove")
        assert removed[0].flags == ("Work",)
        replaced = await store.store_flags(folder.id, [1, 2], ["\\Flagged", "\\Answered"], "replace")
        assert [m.flags for m in replaced] == [("\\Answered", "\\Flagged")] * 2
        assert [m.flags for m in await store.folder_messages(folder.id)] == [
            ("\\Answered", "\\Flagged"), ("\\Answered", "\\Flagged"), ("\\Seen",)]
        before = await inbox(store, box)
        assert len(await store.store_flags(folder.id, [1, 2], ["\\Flagged"], "add")) == 2
        assert (await inbox(store, box)).highest_modseq == before.highest_modseq  # nothing changed
        assert (await store.folder_status(folder.id)).unseen == 2
        for bad in (["\\Bogus"], ["two words"], ["a(b"], [""], "\\Seen"):
            with pytest.raises(ValidationError):
                await store.store_flags(folder.id, [1], bad, "add")
        with pytest.raises(ValidationError):
            await store.store_flags(folder.id, [1], ["\\Seen"], "toggle")
        with pytest.raises(ValidationError):
            await store.store_flags(folder.id, [0], ["\\Seen"], "add")
    run(body())


def test_expunge_removes_deleted_messages_only(store, run):
    async def body():
        box = await mailbox(store)
        infos = await store.deliver_many(box, [numbered(n) for n in range(1, 6)])
        folder = await inbox(store, box)
        assert await store.expunge(folder.id) == []
        assert (await inbox(store, box)).highest_modseq == folder.highest_modseq
        await store.store_flags(folder.id, [1, 2, 4], ["\\Deleted"], "add")
        await store.store_flags(folder.id, [5], ["Deleted"], "add")  # a keyword, not the flag
        assert await store.expunge(folder.id, [4, 5, 9]) == [4]  # UID EXPUNGE
        assert await store.expunge(folder.id) == [1, 2]
        assert await uids(store, folder.id) == [3, 5]
        assert [i.id for i in await store.list_messages(box)] == [infos[2].id, infos[4].id]
        with pytest.raises(NotFound):
            await store.read_message(box, infos[0].id)
    run(body())


def test_recent_goes_to_one_session(store, run):
    async def body():
        box = await mailbox(store)
        await store.deliver_many(box, [numbered(1), numbered(2)])
        folder = await inbox(store, box)
        assert (await store.folder_status(folder.id)).recent == 2
        taken, first_recent = await store.take_recent(folder.id)
        assert first_recent == 1 and taken.first_recent_uid == 3 == taken.uidnext
        assert (await store.folder_status(folder.id)).recent == 0
        assert (await store.take_recent(folder.id))[1] == 3
        await store.deliver(box, numbered(3))
        status = await store.folder_status(folder.id)
        assert (status.messages, status.recent, status.uidnext) == (3, 1, 4)
        assert (await store.take_recent(folder.id))[1] == 3
    run(body())


def test_status_counts_octets_and_deleted_messages(store, run):
    """STATUS SIZE (RFC 8438) and DELETED (RFC 9051) from one read: the folder's octets and its
    \\Deleted messages, as they change with STORE, EXPUNGE and MOVE."""
    async def body():
        box = await mailbox(store)
        await store.deliver_many(box, [numbered(1), numbered(2), numbered(3)])
        folder = await inbox(store, box)
        sizes = [len(numbered(n)) for n in (1, 2, 3)]
        status = await store.folder_status(folder.id)
        assert (status.size, status.deleted) == (sum(sizes), 0)
        await store.store_flags(folder.id, [1, 3], ("\\Deleted", "\\Seen"), "add")
        await store.store_flags(folder.id, [2], ("$Deleted", "\\Flagged"), "add")  # not \\Deleted
        status = await store.folder_status(folder.id)
        assert (status.size, status.deleted, status.unseen) == (sum(sizes), 2, 1)
        await store.expunge(folder.id, [3])
        status = await store.folder_status(folder.id)
        assert (status.messages, status.size, status.deleted) == (2, sizes[0] + sizes[1], 1)
        trash = await store.get_folder(box, "Trash")
        empty = await store.folder_status(trash.id)
        assert (empty.messages, empty.size, empty.deleted) == (0, 0, 0)
    run(body())


def test_append_checks_its_values(store, run):
    async def body():
        box = await mailbox(store)
        folder = await inbox(store, box)
        for bad in (b"", b"no line end", b"bare LF\n"):
            with pytest.raises(ValidationError):
                await store.append_message(folder.id, bad)
        with pytest.raises(ValidationError):
            await store.append_message(folder.id, MESSAGE, internal_date="yesterday")
        with pytest.raises(ValidationError):
            await store.append_message(folder.id, MESSAGE, ["\\Bogus"])
        appended = await store.append_message(folder.id, EIGHT_BIT)
        assert is_utc_iso(appended.internal_date) and appended.uid == 1
        assert await store.read_structures([appended.id]) == {appended.id: describe(EIGHT_BIT)}
        assert [i.id for i in await store.list_messages(box)] == [appended.id]  # APPEND to INBOX: POP3 sees it
    run(body())


# moving a store -----------------------------------------------------------------------------

def test_restored_folders_keep_uids_flags_and_uidvalidity(store, run):
    async def body():
        source = await mailbox(store)
        await store.deliver_many(source, [numbered(n) for n in range(1, 4)])
        folder = await inbox(store, source)
        await store.store_flags(folder.id, [2], ["\\Seen"], "add")
        await store.expunge(folder.id)  # nothing deleted
        work = await store.create_folder(source, "Work")
        await store.append_message(work.id, numbered(7), ["$Done"])
        await store.append_message(work.id, numbered(8))
        await store.expunge(work.id)
        await store.set_subscription(source, "Work", True)
        folders = await store.list_folders(source)
        inbox_messages = await store.folder_messages(folder.id)
        uidls = {i.id: i.uidl for i in await store.list_messages(source)}

        target = await mailbox(store, "copy@example.com", "Copy")
        await store.deliver(target, MESSAGE)  # already in the target's INBOX: UID 1, kept
        with pytest.raises(Conflict):  # uidnext 1: not above the UID 1 the target's INBOX holds
            await store.restore_folders(target, [f if f.name != INBOX else Folder(0, 0, INBOX, f.uidvalidity, 1)
                                                 for f in folders], [])
        restored = await store.restore_folders(target, folders, await store.list_subscriptions(source))
        assert [(f.name, f.uidvalidity, f.uidnext, f.special_use, f.highest_modseq) for f in restored] == [
            (f.name, f.uidvalidity, f.uidnext, f.special_use, f.highest_modseq) for f in folders]
        assert await store.list_subscriptions(target) == await store.list_subscriptions(source)
        new_inbox = await inbox(store, target)
        with pytest.raises(Conflict):  # UID 1 is taken in the target's INBOX
            await store.restore_folder_messages(new_inbox.id, [(inbox_messages[0], "", numbered(1))])
        copied = await store.restore_folder_messages(
            new_inbox.id, [(m, "", numbered(m.uid)) for m in inbox_messages[1:]])
        assert [(m.uid, m.flags, m.internal_date, m.modseq) for m in copied] == [
            (m.uid, m.flags, m.internal_date, m.modseq) for m in inbox_messages[1:]]
        assert (await store.folder_messages(new_inbox.id))[1:] == copied
        with pytest.raises(Conflict):  # a UIDL is stored once
            await store.restore_folder_messages((await store.get_folder(target, "Work")).id, [
                (FolderMessage(0, 1, 0, "2024-01-01T00:00:00Z"), uidls[inbox_messages[0].id], numbered(1))])
        with pytest.raises(Conflict):  # at or above uidnext
            await store.restore_folder_messages((await store.get_folder(target, "Work")).id, [
                (FolderMessage(0, 3, 0, "2024-01-01T00:00:00Z"), "", numbered(1))])
        with pytest.raises(ValidationError):
            await store.restore_folders(target, [f for f in folders if f.name != INBOX], [])
        later = await store.create_folder(target, "Later")
        assert later.uidvalidity > max(f.uidvalidity for f in folders)
        # a folder that holds messages is not dropped
        await store.append_message(later.id, MESSAGE)
        with pytest.raises(Conflict):
            await store.restore_folders(target, folders, [])
        assert {f.name for f in await store.list_folders(target)} == {f.name for f in folders} | {"Later"}
        assert isinstance((await store.list_messages(target))[0], MessageInfo)
    run(body())


# an existing store gains folders --------------------------------------------------------------

OLD_ROWS = [("alice", b"one"), ("bob", b"two"), ("alice", b"three"), ("alice", b"gone"), ("bob", b"four"),
            ("alice", b"five")]


async def _older_store(store) -> str:
    """A store at the schema before IMAP4 folders, with two mailboxes and their messages (one
    deleted); the SQL dialect's name."""
    if hasattr(store, "url"):  # PostgreSQL: its migrations up to 8, on a connection of our own
        import asyncpg

        from postroom.storage.sql import schema

        conn = await asyncpg.connect(store.url)
        try:
            await conn.execute("CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,"
                               " applied_at text NOT NULL)")
            for version, name, script in schema.migrations("postgresql"):
                if version < 9:
                    await conn.execute(script)
                    await conn.execute("INSERT INTO schema_migrations VALUES ($1, $2, 'x')", version, name)
            await _fill(lambda sql, *args: conn.fetchval(_dollar(sql), *args))
        finally:
            await conn.close()
        return "postgresql"
    import sqlite3

    from postroom.storage.sql import schema
    from postroom.storage.sqlite.schema import statements

    os.makedirs(os.path.dirname(store.path), exist_ok=True)
    conn = sqlite3.connect(store.path, isolation_level=None)
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                     " applied_at TEXT NOT NULL)")
        for version, name, script in schema.migrations("sqlite"):
            if version < 14:
                for statement in statements(script):
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_migrations VALUES (?, ?, 'x')", (version, name))

        async def execute(sql, *args):
            cursor = conn.execute(sql.replace(" RETURNING id", ""), args)
            return cursor.lastrowid
        await _fill(execute)
    finally:
        conn.close()
    return "sqlite"


async def _null_structures(store) -> int:
    """Bodies without their structure."""
    return await scalar(store, "SELECT count(*) FROM message_bodies WHERE structure IS NULL",
                        "SELECT count(*) FROM message_bodies WHERE id NOT IN (SELECT body_id FROM message_structures)")


async def scalar(store, sql: str, sqlite_sql: str | None = None):
    """One value read beside the store, on a connection of our own (`sqlite_sql`: the embedded
    store's form, when it differs)."""
    if hasattr(store, "url"):
        import asyncpg

        conn = await asyncpg.connect(store.url)
        try:
            return await conn.fetchval(sql)
        finally:
            await conn.close()
    import sqlite3

    conn = sqlite3.connect(store.path)
    try:
        return conn.execute(sqlite_sql or sql).fetchone()[0]
    finally:
        conn.close()


def _dollar(sql: str) -> str:
    count = iter(range(1, 100))
    return "".join(f"${next(count)}" if c == "?" else c for c in sql)


async def _fill(execute) -> None:
    boxes = {}
    for name in ("alice", "bob"):
        boxes[name] = await execute(
            "INSERT INTO mailboxes (address, domain, display_name, password_hash, enabled, pop_enabled, imap_enabled,"
            " created_at) VALUES (?, 'example.com', ?, NULL, true, true, true, '2024-01-01T00:00:00+00:00')"
            " RETURNING id", f"{name}@example.com", name)
    for n, (owner, text) in enumerate(OLD_ROWS):
        data = wire(b"Subject: " + text, b"", text)
        body = await execute("INSERT INTO message_bodies (size, data) VALUES (?, ?) RETURNING id", len(data), data)
        await execute("INSERT INTO messages (mailbox_id, body_id, uidl, size, received_at) VALUES (?, ?, ?, ?, ?)"
                      " RETURNING id", boxes[owner], body, f"uidl-{n}", len(data), f"2024-01-0{n + 1}T00:00:00+00:00")
    await execute("DELETE FROM messages WHERE uidl = 'uidl-3'")


def test_migration_puts_existing_messages_in_inbox_with_uids_in_order(make_store, run):
    async def body():
        store = make_store()
        await _older_store(store)
        await store.open()
        try:
            assert await store.migrate()
            expected = {"alice@example.com": [b"one", b"three", b"five"], "bob@example.com": [b"two", b"four"]}
            validities = set()
            for address, texts in expected.items():
                box = (await store.get_mailbox(address)).id
                folders = await store.list_folders(box)
                assert [f.name for f in folders] == NAMES
                validities |= {f.uidvalidity for f in folders}
                assert sorted(await store.list_subscriptions(box)) == sorted(NAMES)
                folder = folders[0]
                assert folder.uidnext == len(texts) + 1 and folder.highest_modseq == 1
                messages = await store.folder_messages(folder.id)
                assert [m.uid for m in messages] == list(range(1, len(texts) + 1))
                assert [await store.read_message(box, m.id) for m in messages] == [
                    wire(b"Subject: " + t, b"", t) for t in texts]
                assert [i.id for i in await store.list_messages(box)] == [m.id for m in messages]
                assert all(m.flags == () and m.modseq == 1 for m in messages)
                assert await uids(store, (await store.get_folder(box, "Sent")).id) == []
                # bodies stored before structures were: described when first read
                assert await store.read_structures([m.id for m in messages]) == {
                    m.id: describe(wire(b"Subject: " + t, b"", t)) for m, t in zip(messages, texts)}
                new = await store.deliver(box, MESSAGE)
                assert (await store.folder_messages(folder.id))[-1] == FolderMessage(
                    new.id, len(texts) + 1, len(MESSAGE), new.received_at, (), 2)
            assert await _null_structures(store) == 0  # ... and saved
            assert len(validities) == 10
            assert (await store.create_folder(box, "New")).uidvalidity > max(validities)
        finally:
            await store.close()
    run(body())
