"""The Store contract, IMAP4 folders for CONDSTORE and QRESYNC (RFC 7162; FolderStore,
storage/folders.py): every removal from a folder records the UIDs it removed with the modseq it
took, in its own transaction; the record is bounded and says when it no longer reaches back to
a modseq; a folder's record goes with it; STORE (UNCHANGEDSINCE) tests and writes in one
transaction. Every backend must pass it, through the Store protocol only."""
from __future__ import annotations

import pytest

from postroom.errors import NotFound, ValidationError
from postroom.model.imap import INBOX
from postroom.storage.sql import folders as folders_sql

from .test_folders_contract import _older_store, inbox, known_structures, numbered, scalar, uids  # noqa: F401
from .test_store_contract import mailbox

pytestmark = [pytest.mark.store_folders]


async def modseq(store, box, name=INBOX) -> int:
    return (await store.get_folder(box, name)).highest_modseq


async def deleted(store, folder_id, *uids) -> None:
    await store.store_flags(folder_id, list(uids), ["\\Deleted"], "add")


def test_every_removal_records_its_uids_with_the_modseq_it_took(store, run):
    async def body():
        box = await mailbox(store)
        infos = await store.deliver_many(box, [numbered(n) for n in range(1, 9)])
        folder, sent = await inbox(store, box), await store.get_folder(box, "Sent")
        start = await modseq(store, box)
        assert await store.expunged_since(folder.id, 0) == ([], True)  # a new folder: nothing removed yet
        # EXPUNGE
        await deleted(store, folder.id, 2, 3)
        before = await modseq(store, box)
        assert await store.expunge(folder.id) == [2, 3]
        first = await modseq(store, box)
        assert first == before + 1  # one modseq for the whole removal
        assert await store.expunged_since(folder.id, start) == ([2, 3], True)
        assert await store.expunged_since(folder.id, first) == ([], True)
        # UID EXPUNGE: only the UIDs named
        await deleted(store, folder.id, 5, 6)
        assert await store.expunge(folder.id, [5, 99]) == [5]
        second = await modseq(store, box)
        assert await store.expunged_since(folder.id, first) == ([5], True)
        assert await store.expunged_since(folder.id, first - 1) == ([2, 3, 5], True)
        # MOVE: gone from the source, recorded there only; COPY and STORE remove nothing
        await store.copy_messages(folder.id, [1], sent.id)
        await store.store_flags(folder.id, [4], ["\\Seen"], "add")
        assert await store.expunged_since(folder.id, second) == ([], True)
        await store.copy_messages(folder.id, [4, 6], sent.id, move=True)
        third = await modseq(store, box)
        assert await store.expunged_since(folder.id, second) == ([4, 6], True)
        assert await store.expunged_since(sent.id, 0) == ([], True)
        # a POP3 deletion is an expunge of INBOX
        assert await store.delete_messages(box, [infos[7].id, infos[6].id]) == 2
        fourth = await modseq(store, box)
        assert fourth > third and await store.expunged_since(folder.id, third) == ([7, 8], True)
        assert await store.delete_messages(box, [infos[7].id]) == 0  # nothing removed, nothing recorded
        assert await modseq(store, box) == fourth
        assert await uids(store, folder.id) == [1]
        assert await store.expunged_since(folder.id, start) == ([2, 3, 4, 5, 6, 7, 8], True)
        # renaming INBOX takes its messages out of it
        await store.rename_folder(box, INBOX, "Old")
        assert await store.expunged_since(folder.id, fourth) == ([1], True)
        old = await store.get_folder(box, "Old")
        assert await store.expunged_since(old.id, 0) == ([], True)
        # a rename of another folder keeps its record
        await deleted(store, sent.id, 1)
        assert await store.expunge(sent.id) == [1, 3]  # 3: moved with its \Deleted flag (UID 6 in INBOX)
        await store.rename_folder(box, "Sent", "Sent Items")
        assert await store.expunged_since(sent.id, 0) == ([1, 3], True)
    run(body())


def test_the_record_keeps_its_newest_entries_and_says_when_it_no_longer_reaches_back(store, run, monkeypatch):
    monkeypatch.setattr(folders_sql, "EXPUNGE_RECORD", 3)

    async def body():
        box = await mailbox(store)
        await store.deliver_many(box, [numbered(n) for n in range(1, 8)])
        folder, drafts = await inbox(store, box), await store.get_folder(box, "Drafts")
        await store.append_message(drafts.id, numbered(9))
        await deleted(store, drafts.id, 1)
        await store.expunge(drafts.id)
        start = await modseq(store, box)
        await deleted(store, folder.id, 1, 2)
        await store.expunge(folder.id)
        one = await modseq(store, box)
        assert await store.expunged_since(folder.id, 0) == ([1, 2], True)
        await deleted(store, folder.id, 3, 4)
        await store.expunge(folder.id)  # four entries: the oldest removal goes whole
        two = await modseq(store, box)
        assert await store.expunged_since(folder.id, start) == ([3, 4], False)
        assert await store.expunged_since(folder.id, one - 1) == ([3, 4], False)
        assert await store.expunged_since(folder.id, one) == ([3, 4], True)  # complete from there on
        await deleted(store, folder.id, 5, 6, 7)
        await store.expunge(folder.id)  # five entries: 3 and 4 go too
        assert await store.expunged_since(folder.id, 0) == ([5, 6, 7], False)
        assert await store.expunged_since(folder.id, one) == ([5, 6, 7], False)
        assert await store.expunged_since(folder.id, two) == ([5, 6, 7], True)
        assert await store.expunged_since(drafts.id, 0) == ([1], True)  # per folder
    run(body())


def test_a_deleted_folder_takes_its_record_along(store, run):
    async def body():
        box = await mailbox(store)
        work = await store.create_folder(box, "Work")
        await store.append_message(work.id, numbered(1))
        await deleted(store, work.id, 1)
        await store.expunge(work.id)
        assert await store.expunged_since(work.id, 0) == ([1], True)
        assert await record_rows(store) == 1
        await store.delete_folder(box, "Work")
        assert await record_rows(store) == 0
        with pytest.raises(NotFound):
            await store.expunged_since(work.id, 0)
        again = await store.create_folder(box, "Work")
        assert again.uidvalidity != work.uidvalidity
        assert await store.expunged_since(again.id, 0) == ([], True)
        with pytest.raises(ValidationError):
            await store.expunged_since(again.id, -1)
        with pytest.raises(ValidationError):
            await store.expunged_since(again.id, 2**63)
        # and a removed mailbox takes all of its folders' records
        await store.append_message(again.id, numbered(2))
        await deleted(store, again.id, 1)
        await store.expunge(again.id)
        assert await record_rows(store) == 1
        await store.remove_mailbox("alice@example.com")
        assert await record_rows(store) == 0
    run(body())


async def record_rows(store) -> int:
    """Rows of the record of expunged UIDs, store-wide."""
    return await scalar(store, "SELECT count(*) FROM expunged_uids")


def test_a_restored_folder_has_no_record_before_its_modseq(store, run):
    async def body():
        source = await mailbox(store)
        await store.deliver_many(source, [numbered(n) for n in range(1, 4)])
        folder = await inbox(store, source)
        await deleted(store, folder.id, 2)
        await store.expunge(folder.id)
        folders = await store.list_folders(source)
        target = await mailbox(store, "copy@example.com", "Copy")
        [restored, *_] = await store.restore_folders(target, folders, [])
        assert restored.highest_modseq == folders[0].highest_modseq
        # its expunges stayed behind: asked for them, the store says it does not know
        assert await store.expunged_since(restored.id, 0) == ([], False)
        assert await store.expunged_since(restored.id, restored.highest_modseq) == ([], True)
    run(body())


def test_an_older_store_records_from_its_modseq_on(make_store, run):
    async def body():
        store = make_store()
        await _older_store(store)
        await store.open()
        try:
            assert await store.migrate()
            box = (await store.get_mailbox("alice@example.com")).id
            folder = await inbox(store, box)
            assert await store.expunged_since(folder.id, 0) == ([], False)  # before: not recorded
            assert await store.expunged_since(folder.id, folder.highest_modseq) == ([], True)
            await deleted(store, folder.id, 1)
            await store.expunge(folder.id)
            assert await store.expunged_since(folder.id, folder.highest_modseq) == ([1], True)
            assert await store.expunged_since((await store.get_folder(box, "Sent")).id, 0) == ([], True)
        finally:
            await store.close()
    run(body())


def test_store_unchanged_since_refuses_messages_changed_after_it(store, run):
    async def body():
        box = await mailbox(store)
        await store.deliver_many(box, [numbered(n) for n in range(1, 5)])
        folder = await inbox(store, box)
        known = await modseq(store, box)
        await store.store_flags(folder.id, [2], ["\\Answered"], "add")  # another client's change
        stored, refused = await store.store_flags_if_unchanged(folder.id, [1, 2, 3, 99], ["\\Seen"], "add", known)
        after = await modseq(store, box)
        assert after == known + 2
        assert [(m.uid, m.flags, m.modseq) for m in stored] == [(1, ("\\Seen",), after), (3, ("\\Seen",), after)]
        assert [(m.uid, m.flags, m.modseq) for m in refused] == [(2, ("\\Answered",), known + 1)]
        listed = {m.uid: m for m in await store.folder_messages(folder.id)}
        assert listed[2].flags == ("\\Answered",) and listed[4].flags == ()
        # nothing to change: passes, modseq stays
        stored, refused = await store.store_flags_if_unchanged(folder.id, [1], ["\\Seen"], "add", after)
        assert [(m.uid, m.modseq) for m in stored] == [(1, after)] and refused == []
        assert await modseq(store, box) == after
        # every message was changed after modseq 0 (RFC 7162 example 8)
        stored, refused = await store.store_flags_if_unchanged(folder.id, [3, 4], ["$MDNSent"], "add", 0)
        assert stored == [] and [m.uid for m in refused] == [3, 4]
        assert await modseq(store, box) == after
        stored, _ = await store.store_flags_if_unchanged(folder.id, [2, 4], ["\\Flagged"], "replace", after)
        assert [m.flags for m in stored] == [("\\Flagged",)] * 2
        for bad in (-1, 2**63, "5", True):
            with pytest.raises(ValidationError):
                await store.store_flags_if_unchanged(folder.id, [1], ["\\Seen"], "add", bad)
        with pytest.raises(ValidationError):
            await store.store_flags_if_unchanged(folder.id, [1], ["\\Bogus"], "add", after)
        await store.delete_folder(box, "Junk")
        with pytest.raises(NotFound):
            await store.store_flags_if_unchanged(-5, [1], ["\\Seen"], "add", after)
    run(body())
