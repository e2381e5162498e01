"""The IMAP4 mailbox engine on a real store (SQLite and PostgreSQL): each command's untagged replies and tagged
outcome, what it leaves in the store, and what a second session on the same folder is told."""
from __future__ import annotations

import asyncio
import datetime
import re

import pytest
from pg_support import fresh_store_url

from postroom.protocol.imap4 import types as t
from postroom.server.imap4_mailbox import MailboxEngine
from postroom.server.imap4_notify import MailboxNotifier
from postroom.storage.postgres import PostgresStore
from postroom.storage.sqlite import SqliteStore


def message(subject: str, body: str = "Hello.\r\n") -> bytes:
    return (f"From: Bob <bob@example.net>\r\nTo: alice@example.com\r\nSubject: {subject}\r\n"
            f"Date: Mon, 7 Dec 2026 10:00:00 +0000\r\nMessage-ID: <{subject}@example.net>\r\n\r\n{body}").encode()


async def node_notifier(store) -> MailboxNotifier:
    """A node's notifier, told of every change of a mailbox by the node's store (as node.py wires it)."""
    notifier = MailboxNotifier()
    await store.watch_mailboxes(notifier.changed)
    return notifier


class Client:
    """One session's engine and what it was sent."""

    def __init__(self, store, mailbox_id: int, notifier: MailboxNotifier) -> None:
        self.out: list[bytes] = []
        self.engine = MailboxEngine(store, mailbox_id, self.out.append, notifier)

    async def run(self, command):
        self.out.clear()
        outcome = await self.engine.run(command)
        return b"".join(self.out), outcome


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request, tmp_path):
    """The store each test runs on: embedded, and PostgreSQL (a fresh schema)."""
    if request.param == "sqlite":
        yield lambda: SqliteStore(str(tmp_path / "postroom.db"))
        return
    for url in fresh_store_url():
        yield lambda: PostgresStore(url)


@pytest.fixture
def env(backend):
    async def make():
        store = backend()
        await store.open()
        await store.migrate()
        await store.add_domain("example.com")
        mailbox = await store.create_mailbox("alice@example.com", "Alice", None)
        return store, mailbox
    return make


def run(coroutine_function):
    return asyncio.run(coroutine_function())


SEQ_ALL = t.SequenceSet(((1, None),))


def seq(*ranges) -> t.SequenceSet:
    return t.SequenceSet(tuple((r, r) if isinstance(r, int) else r for r in ranges))


def fetch(*names: str, sequence=SEQ_ALL, uid=False, **kw) -> t.Fetch:
    return t.Fetch("a", sequence, tuple(t.FetchAttribute(n, **kw) for n in names), uid=uid)


def test_select_reports_the_folder_and_recent_goes_to_one_session(env):
    async def main():
        store, mailbox = await env()
        for n in range(3):
            await store.deliver(mailbox.id, message(f"m{n}"))
        notifier = await node_notifier(store)
        first, second = Client(store, mailbox.id, notifier), Client(store, mailbox.id, notifier)
        data, outcome = await first.run(t.Select("a", "inbox"))
        assert (outcome.status, outcome.code) == ("OK", "READ-WRITE")
        assert b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n" in data
        assert b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)]" in data
        assert b"* 3 EXISTS\r\n* 3 RECENT\r\n" in data
        assert b"* OK [UNSEEN 1]" in data and b"* OK [UIDNEXT 4]" in data
        assert re.search(rb"\* OK \[UIDVALIDITY \d+\]", data)
        data, outcome = await second.run(t.Select("b", "INBOX", readonly=True))
        assert outcome.code == "READ-ONLY" and b"* 3 EXISTS\r\n* 0 RECENT\r\n" in data
        data, outcome = await second.run(t.Select("c", "Nowhere"))
        assert (outcome.status, outcome.code) == ("NO", "NONEXISTENT") and second.engine.selected is None
        await store.close()
    run(main)


def test_fetch_flags_sizes_and_bodies_set_seen_unless_peek(env):
    async def main():
        store, mailbox = await env()
        sent = [message("one"), message("two")]
        for data in sent:
            await store.deliver(mailbox.id, data)
        client = Client(store, mailbox.id, await node_notifier(store))
        await client.run(t.Select("a", "INBOX"))
        data, outcome = await client.run(fetch("FLAGS", "RFC822.SIZE"))
        assert outcome.status == "OK"
        assert data == (b"* 1 FETCH (FLAGS (\\Recent) RFC822.SIZE %d)\r\n"
                        b"* 2 FETCH (FLAGS (\\Recent) RFC822.SIZE %d)\r\n" % (len(sent[0]), len(sent[1])))
        data, _ = await client.run(t.Fetch("a", seq(1), (t.FetchAttribute("BODY[]", t.Section(), peek=True),)))
        assert data == b"* 1 FETCH (BODY[] {%d}\r\n%s)\r\n" % (len(sent[0]), sent[0])
        assert all("\\Seen" not in m.flags for m in await store.folder_messages(client.engine.selected.folder.id))
        data, _ = await client.run(t.Fetch("a", seq(2), (t.FetchAttribute("BODY[]", t.Section()),), uid=True))
        assert data == b"* 2 FETCH (UID 2 FLAGS (\\Seen \\Recent) BODY[] {%d}\r\n%s)\r\n" % (len(sent[1]), sent[1])
        stored = await store.folder_messages(client.engine.selected.folder.id)
        assert [m.flags for m in stored] == [(), ("\\Seen",)]
        data, _ = await client.run(t.Fetch("a", seq(1), (t.FetchAttribute("BODY[]", t.Section(), partial=(0, 4)),)))
        assert data.endswith(b"BODY[]<0> {4}\r\nFrom)\r\n")
        data, outcome = await client.run(fetch("FLAGS", sequence=seq(3)))
        assert outcome.status == "BAD" and data == b""
        await store.close()
    run(main)


def test_fetch_envelope_and_header_fields_come_from_the_stored_structure(env):
    async def main():
        store, mailbox = await env()
        await store.deliver(mailbox.id, message("hello"))
        client = Client(store, mailbox.id, await node_notifier(store))
        await client.run(t.Select("a", "INBOX"))
        data, outcome = await client.run(t.Fetch("a", seq(1), (
            t.FetchAttribute("ENVELOPE"), t.FetchAttribute("BODY[]", t.Section(text="HEADER.FIELDS",
                                                                             fields=("SUBJECT",)), peek=True))))
        assert outcome.status == "OK"
        assert b'"hello"' in data and b"<hello@example.net>" in data
        assert b"BODY[HEADER.FIELDS (SUBJECT)] {18}\r\nSubject: hello\r\n\r\n)" in data
        await store.close()
    run(main)


def test_store_expunge_and_what_another_session_sees(env):
    async def main():
        store, mailbox = await env()
        for n in range(3):
            await store.deliver(mailbox.id, message(f"m{n}"))
        notifier = await node_notifier(store)
        a, b = Client(store, mailbox.id, notifier), Client(store, mailbox.id, notifier)
        await a.run(t.Select("a", "INBOX"))
        await b.run(t.Select("a", "INBOX"))
        data, outcome = await a.run(t.Store("a", seq(2), "add", ("\\deleted", "\\Flagged"), silent=False))
        assert outcome.status == "OK"
        assert data == b"* 2 FETCH (FLAGS (\\Deleted \\Flagged \\Recent))\r\n"
        data, _ = await a.run(t.Store("a", seq(1), "add", ("$Label",), silent=True))
        assert data.startswith(b"* FLAGS (") and b"FETCH" not in data  # silent, but a new keyword is told of
        data, _ = await b.run(t.Noop("n"))
        assert b"* 1 FETCH (FLAGS ($Label))\r\n" in data and b"* 2 FETCH (FLAGS (\\Deleted \\Flagged))\r\n" in data
        data, outcome = await a.run(t.Expunge("e"))
        assert data == b"* 2 EXPUNGE\r\n" and outcome.status == "OK"
        assert [m.uid for m in await store.folder_messages(a.engine.selected.folder.id)] == [1, 3]
        # b fetches by sequence number: its view still has the message (no EXPUNGE may be sent
        # now); from then on it knows the message is gone and skips it (RFC 2180 4.1.2)
        data, outcome = await b.run(fetch("UID"))
        assert data == b"* 1 FETCH (UID 1)\r\n* 2 FETCH (UID 2)\r\n* 3 FETCH (UID 3)\r\n"
        data, outcome = await b.run(fetch("UID"))
        assert data == b"* 1 FETCH (UID 1)\r\n* 3 FETCH (UID 3)\r\n"
        assert outcome.status == "NO" and outcome.code == "EXPUNGEISSUED"
        data, _ = await b.run(t.Noop("n"))
        assert data == b"* 2 EXPUNGE\r\n"
        data, _ = await b.run(fetch("UID"))
        assert data == b"* 1 FETCH (UID 1)\r\n* 2 FETCH (UID 3)\r\n"
        await store.close()
    run(main)


def test_new_mail_and_pop3_deletions_reach_a_selected_session(env):
    async def main():
        store, mailbox = await env()
        first = await store.deliver(mailbox.id, message("old"))
        client = Client(store, mailbox.id, await node_notifier(store))
        await client.run(t.Select("a", "INBOX"))
        await store.deliver(mailbox.id, message("new"))
        data, _ = await client.run(t.Noop("n"))
        assert data == b"* 2 EXISTS\r\n* 2 RECENT\r\n"
        await store.delete_messages(mailbox.id, [first.id])  # POP3's DELE + QUIT
        data, _ = await client.run(t.Check("c"))
        assert data == b"* 1 EXPUNGE\r\n"
        data, _ = await client.run(fetch("UID"))
        assert data == b"* 1 FETCH (UID 2)\r\n"
        await store.close()
    run(main)


def test_copy_move_and_uidplus_codes(env):
    async def main():
        store, mailbox = await env()
        for n in range(3):
            await store.deliver(mailbox.id, message(f"m{n}"))
        client = Client(store, mailbox.id, await node_notifier(store))
        await client.run(t.Select("a", "INBOX"))
        await client.run(t.Store("a", seq(1), "add", ("\\Flagged",), silent=True))
        data, outcome = await client.run(t.Copy("a", seq((1, 2)), "Trash"))
        trash = await store.get_folder(mailbox.id, "Trash")
        assert outcome.status == "OK" and outcome.code == f"COPYUID {trash.uidvalidity} 1:2 1:2"
        data, outcome = await client.run(t.Copy("a", seq(3), "Archive"))
        assert (outcome.status, outcome.code) == ("NO", "TRYCREATE")
        data, outcome = await client.run(t.Copy("a", t.SequenceSet(((3, 3),)), "Trash", uid=True, move=True))
        assert data == b"* OK [COPYUID %d 3 3] Moved.\r\n* 3 EXPUNGE\r\n" % trash.uidvalidity
        assert outcome.status == "OK"
        moved = await store.folder_messages(trash.id)
        assert [(m.uid, m.flags) for m in moved] == [(1, ("\\Flagged",)), (2, ()), (3, ())]
        assert len(await store.folder_messages(client.engine.selected.folder.id)) == 2
        assert len(await store.list_messages(mailbox.id)) == 2  # POP3 sees INBOX only
        await store.close()
    run(main)


def test_append_gives_appenduid_and_keeps_flags_and_date(env):
    async def main():
        store, mailbox = await env()
        client = Client(store, mailbox.id, await node_notifier(store))
        when = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone(datetime.timedelta(hours=1)))
        data, outcome = await client.run(t.Append("a", "Drafts", ("\\Draft", "\\Seen"), when, message("draft")))
        drafts = await store.get_folder(mailbox.id, "Drafts")
        assert outcome.status == "OK" and outcome.code == f"APPENDUID {drafts.uidvalidity} 1"
        await client.run(t.Select("s", "Drafts"))
        data, _ = await client.run(fetch("FLAGS", "INTERNALDATE"))
        assert data == b'* 1 FETCH (FLAGS (\\Draft \\Seen \\Recent) INTERNALDATE "02-Jan-2026 02:04:05 +0000")\r\n'
        _, outcome = await client.run(t.Append("a", "Drafts", (), None, b"Subject: bare\n\nno final line end"))
        assert outcome.code == f"APPENDUID {drafts.uidvalidity} 2"
        data, _ = await client.run(t.Fetch("f", seq(2), (t.FetchAttribute("BODY[]", t.Section(), peek=True),)))
        assert data.endswith(b"{36}\r\nSubject: bare\r\n\r\nno final line end\r\n)\r\n")
        data, outcome = await client.run(t.Append("a", "Nowhere", (), None, message("x")))
        assert (outcome.status, outcome.code) == ("NO", "TRYCREATE")
        data, outcome = await client.run(t.Append("a", "Drafts", ("\\Bogus",), None, message("x")))
        assert outcome.status == "BAD"
        await store.close()
    run(main)


def test_list_lsub_create_rename_delete(env):
    async def main():
        store, mailbox = await env()
        client = Client(store, mailbox.id, await node_notifier(store))
        data, _ = await client.run(t.List("l", "", ""))
        assert data == b'* LIST (\\Noselect) "/" ""\r\n'
        data, _ = await client.run(t.List("l", "", "*"))
        assert data == (b'* LIST (\\HasNoChildren) "/" INBOX\r\n* LIST (\\HasNoChildren \\Drafts) "/" Drafts\r\n'
                        b'* LIST (\\HasNoChildren \\Junk) "/" Junk\r\n* LIST (\\HasNoChildren \\Sent) "/" Sent\r\n'
                        b'* LIST (\\HasNoChildren \\Trash) "/" Trash\r\n')
        _, outcome = await client.run(t.Create("c", "Projects/2026/"))
        assert outcome.status == "OK"
        _, outcome = await client.run(t.Create("c", "Projects"))
        assert (outcome.status, outcome.code) == ("NO", "ALREADYEXISTS")
        data, _ = await client.run(t.List("l", "", "Pro%"))
        assert data == b'* LIST (\\HasChildren) "/" Projects\r\n'
        data, _ = await client.run(t.List("l", "Projects/", "%"))
        assert data == b'* LIST (\\HasNoChildren) "/" Projects/2026\r\n'
        data, _ = await client.run(t.List("l", "", "inbox"))
        assert data == b'* LIST (\\HasNoChildren) "/" INBOX\r\n'
        _, outcome = await client.run(t.Rename("r", "Projects", "Archive"))
        assert outcome.status == "OK"
        data, _ = await client.run(t.List("l", "", "Archive*"))
        assert data == b'* LIST (\\HasChildren) "/" Archive\r\n* LIST (\\HasNoChildren) "/" Archive/2026\r\n'
        _, outcome = await client.run(t.Rename("r", "Nope", "Other"))
        assert (outcome.status, outcome.code) == ("NO", "NONEXISTENT")
        _, outcome = await client.run(t.Delete("d", "INBOX"))
        assert outcome.status == "NO"
        _, outcome = await client.run(t.Delete("d", "Archive"))
        assert (outcome.status, outcome.code) == ("NO", "HASCHILDREN")
        _, outcome = await client.run(t.Delete("d", "Archive/2026"))
        assert outcome.status == "OK"
        data, _ = await client.run(t.List("l", "", "Archive*"))
        assert data == b'* LIST (\\HasNoChildren) "/" Archive\r\n'
        data, _ = await client.run(t.List("l", "", "*", lsub=True))
        assert b'* LSUB (\\HasNoChildren \\Sent) "/" Sent\r\n' in data
        _, outcome = await client.run(t.Subscribe("s", "Archive/x"))
        assert (outcome.status, outcome.code) == ("NO", "NONEXISTENT")
        await store.set_subscription(mailbox.id, "Archive/x", True)  # a name may stay subscribed after a DELETE
        data, _ = await client.run(t.List("l", "Archive", "*", lsub=True))
        assert data == b'* LSUB (\\Noselect \\HasNoChildren) "/" Archive/x\r\n'  # not Archive: "*" (6.3.9)
        data, _ = await client.run(t.List("l", "", "%", lsub=True))
        assert b'* LSUB (\\Noselect \\HasNoChildren) "/" Archive\r\n' in data  # "%" stops at it
        _, outcome = await client.run(t.Subscribe("s", "Archive"))
        data, _ = await client.run(t.List("l", "", "A%", lsub=True))
        assert data == b'* LSUB (\\HasNoChildren) "/" Archive\r\n'
        data, _ = await client.run(t.Create("c", "Caf\u00e9"))
        data, _ = await client.run(t.List("l", "", "Caf*"))
        assert data == b'* LIST (\\HasNoChildren) "/" Caf&AOk-\r\n'
        await store.close()
    run(main)


def test_status_search_close_and_examine(env):
    async def main():
        store, mailbox = await env()
        for n in range(3):
            await store.deliver(mailbox.id, message(f"m{n}", body=f"needle {n}\r\n" if n == 1 else "hay\r\n"))
        client = Client(store, mailbox.id, await node_notifier(store))
        data, outcome = await client.run(t.Status("s", "INBOX", ("MESSAGES", "UNSEEN", "UIDNEXT")))
        assert data == b"* STATUS INBOX (MESSAGES 3 UNSEEN 3 UIDNEXT 4)\r\n"
        await client.run(t.Select("a", "INBOX"))
        await client.run(t.Store("a", seq(1), "add", ("\\Seen",), silent=True))
        data, _ = await client.run(t.Search("s", t.SearchKey("AND", (t.SearchKey("UNSEEN"),))))
        assert data == b"* SEARCH 2 3\r\n"
        data, _ = await client.run(t.Search("s", t.SearchKey("AND", (t.SearchKey("BODY", ("needle",)),)), uid=True))
        assert data == b"* SEARCH 2\r\n"
        await client.run(t.Store("a", seq(3), "add", ("\\Deleted",), silent=True))
        data, outcome = await client.run(t.Close("c"))
        assert data == b"" and outcome.status == "OK" and client.engine.selected is None
        assert [m.uid for m in await store.folder_messages((await store.get_folder(mailbox.id, "INBOX")).id)] == [1, 2]
        data, outcome = await client.run(t.Fetch("f", SEQ_ALL, (t.FetchAttribute("UID"),)))
        assert outcome.status == "BAD"
        await client.run(t.Select("a", "INBOX", readonly=True))
        _, outcome = await client.run(t.Store("a", seq(1), "add", ("\\Deleted",)))
        assert (outcome.status, outcome.code) == ("NO", "READ-ONLY")
        data, _ = await client.run(t.Fetch("f", seq(2), (t.FetchAttribute("BODY[]", t.Section()),)))
        assert b"\\Seen" not in data  # EXAMINE never sets \Seen
        await store.close()
    run(main)


def test_namespace_id_enable(env):
    async def main():
        store, mailbox = await env()
        client = Client(store, mailbox.id, await node_notifier(store))
        data, _ = await client.run(t.Namespace("n"))
        assert data == b'* NAMESPACE (("" "/")) NIL NIL\r\n'
        data, _ = await client.run(t.Id("i", (("name", "test"),)))
        assert data.startswith(b'* ID ("name" "postroom"')
        data, outcome = await client.run(t.Enable("e", ("X-UNKNOWN",)))  # CONDSTORE's: test_imap4_condstore.py
        assert data == b"* ENABLED\r\n" and outcome.status == "OK"
        await store.close()
    run(main)


class Spy:
    """A store that records the sizes read_message is asked for and the header blocks asked
    for, and can hand out the "{}" structure an older version stored."""

    def __init__(self, store, old_structures: bool = False) -> None:
        self._store, self.sizes, self.headers, self.old = store, [], [], old_structures

    def __getattr__(self, name):
        return getattr(self._store, name)

    async def read_message(self, mailbox_id, message_id, size=None):
        self.sizes.append(size)
        return await self._store.read_message(mailbox_id, message_id, size)

    async def read_headers(self, mailbox_id, ids):
        self.headers.append(list(ids))
        return await self._store.read_headers(mailbox_id, ids)

    async def read_structures(self, ids):
        found = await self._store.read_structures(ids)
        return {key: "{}" for key in found} if self.old else found


def test_header_fetches_read_only_the_header_and_old_structures_are_described_again(env):
    async def main():
        store, mailbox = await env()
        sent = message("big", body="x" * 5000 + "\r\n")
        await store.deliver(mailbox.id, sent)
        header = sent[:sent.index(b"\r\n\r\n") + 4]
        spy = Spy(store)
        client = Client(spy, mailbox.id, await node_notifier(store))
        await client.run(t.Select("a", "INBOX"))
        data, _ = await client.run(t.Fetch("a", seq(1), (t.FetchAttribute("BODY[]", t.Section(text="HEADER"),
                                                                          peek=True),)))
        assert data == b"* 1 FETCH (BODY[HEADER] {%d}\r\n%s)\r\n" % (len(header), header)
        assert spy.sizes == [] and spy.headers == [[client.engine.selected.messages[1].id]]  # no octets read
        old = Spy(store, old_structures=True)
        client = Client(old, mailbox.id, await node_notifier(store))
        await client.run(t.Select("a", "INBOX"))
        data, _ = await client.run(fetch("ENVELOPE"))
        assert b'"big"' in data and b"<big@example.net>" in data
        await store.close()
    run(main)


def test_a_selected_folder_renamed_or_deleted_by_another_session(env):
    async def main():
        store, mailbox = await env()
        notifier = await node_notifier(store)
        a, b = Client(store, mailbox.id, notifier), Client(store, mailbox.id, notifier)
        await a.run(t.Create("c", "Work"))
        await a.run(t.Append("p", "Work", (), None, message("one")))
        await a.run(t.Append("p", "Work", (), None, message("two")))
        await b.run(t.Select("s", "Work"))
        await a.run(t.Rename("r", "Work", "Job"))
        data, outcome = await b.run(t.Noop("n"))
        assert data == b"" and outcome.status == "OK"  # the same folder, renamed: nothing changed
        await a.run(t.Delete("d", "Job"))
        data, _ = await b.run(t.Noop("n"))
        assert data == b"* 2 EXPUNGE\r\n* 1 EXPUNGE\r\n"
        await store.close()
    run(main)


def test_fetch_of_a_message_expunged_by_another_session_is_skipped_not_a_crash(env):
    async def main():
        store, mailbox = await env()
        for n in range(2):
            await store.deliver(mailbox.id, message(f"m{n}"))
        notifier = await node_notifier(store)
        a, b = Client(store, mailbox.id, notifier), Client(store, mailbox.id, notifier)
        await a.run(t.Select("s", "INBOX"))
        await b.run(t.Select("s", "INBOX"))
        await a.run(t.Store("a", seq(1), "add", ("\\Deleted",), silent=True))
        await a.run(t.Expunge("e"))
        data, outcome = await b.run(fetch("ENVELOPE", "BODYSTRUCTURE"))  # b has not heard of it yet
        assert data.count(b"FETCH") == 1 and data.startswith(b"* 2 FETCH (ENVELOPE (")
        assert (outcome.status, outcome.code) == ("NO", "EXPUNGEISSUED")
        await store.close()
    run(main)
