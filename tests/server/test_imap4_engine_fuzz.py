"""Random command sequences of two sessions on one mailbox (a real SQLite store): the engine
never raises, every outcome is OK/NO/BAD, and each session's view stays the folder's truth
once it may hear of expunges (message numbers ascend with UIDs, EXISTS matches the store, and
so do the flags it holds)."""
from __future__ import annotations

import asyncio
import datetime
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from postroom.protocol.imap4 import types as t
from postroom.server.imap4_mailbox import MailboxEngine
from postroom.server.imap4_notify import MailboxNotifier
from postroom.storage.sqlite import SqliteStore

FOLDERS = ["INBOX", "Trash", "Work", "Work/Old", "Nowhere"]
FLAGS = ["\\Seen", "\\Deleted", "\\Flagged", "\\Answered", "\\Draft", "$Label", "\\Recent"]
numbers = st.one_of(st.integers(1, 8), st.none())
sequences = st.lists(st.tuples(numbers, numbers), min_size=1, max_size=3).map(lambda r: t.SequenceSet(tuple(r)))
attributes = st.lists(st.sampled_from([
    t.FetchAttribute("UID"), t.FetchAttribute("FLAGS"), t.FetchAttribute("RFC822.SIZE"),
    t.FetchAttribute("INTERNALDATE"), t.FetchAttribute("ENVELOPE"), t.FetchAttribute("BODYSTRUCTURE"),
    t.FetchAttribute("BODY"), t.FetchAttribute("RFC822"), t.FetchAttribute("RFC822.HEADER"),
    t.FetchAttribute("BODY[]", t.Section(), peek=True), t.FetchAttribute("BODY[]", t.Section((1,), "MIME")),
    t.FetchAttribute("BODY[]", t.Section(text="HEADER.FIELDS", fields=("SUBJECT",)), partial=(2, 5)),
    t.FetchAttribute("BODY[]", t.Section((2, 1))),
]), min_size=1, max_size=4).map(tuple)
keys = st.sampled_from([t.SearchKey("ALL"), t.SearchKey("UNSEEN"), t.SearchKey("DELETED"),
                        t.SearchKey("TEXT", ("hello",)), t.SearchKey("NOT", (t.SearchKey("SEEN"),)),
                        t.SearchKey("SINCE", (datetime.date(2020, 1, 1),))])
commands = st.one_of(
    st.builds(t.Select, st.just("s"), st.sampled_from(FOLDERS), st.booleans()),
    st.builds(t.Fetch, st.just("f"), sequences, attributes, st.booleans()),
    st.builds(t.Store, st.just("w"), sequences, st.sampled_from(["add", "remove", "replace"]),
              st.lists(st.sampled_from(FLAGS), max_size=3).map(tuple), st.booleans(), st.booleans()),
    st.builds(t.Copy, st.just("c"), sequences, st.sampled_from(FOLDERS), st.booleans(), st.booleans()),
    st.builds(t.Expunge, st.just("e"), st.one_of(st.none(), sequences)),
    st.builds(t.Search, st.just("q"), keys.map(lambda k: t.SearchKey("AND", (k,))), st.none(), st.booleans()),
    st.builds(t.Append, st.just("a"), st.sampled_from(FOLDERS), st.just(()), st.none(),
              st.sampled_from([b"Subject: hello\r\n\r\nhello\r\n", b"no header at all", b"\n\n"])),
    st.sampled_from([t.Noop("n"), t.Check("k"), t.Close("x"), t.Unselect("u")]),
    st.builds(t.Create, st.just("m"), st.sampled_from(FOLDERS)),
    st.builds(t.Delete, st.just("d"), st.sampled_from(FOLDERS[1:])),
    st.builds(t.Rename, st.just("r"), st.sampled_from(FOLDERS), st.sampled_from(FOLDERS)),
)
MULTIPART = (b"Subject: mixed\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n"
             b"\r\nhello\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\nbody\r\n--b--\r\n")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(script=st.lists(st.tuples(st.integers(0, 1), commands), min_size=1, max_size=20))
def test_two_sessions_never_crash_and_their_views_stay_true(tmp_path_factory, script):
    path = tmp_path_factory.mktemp("fuzz") / "postroom.db"

    async def main():
        store = SqliteStore(str(path))
        await store.open()
        await store.migrate()
        await store.add_domain("example.com")
        mailbox = await store.create_mailbox("alice@example.com", "Alice", None)
        for data in (b"Subject: hello\r\n\r\nhello there\r\n", MULTIPART, b"Subject: x\r\n\r\nx\r\n"):
            await store.deliver(mailbox.id, data)
        await store.create_folder(mailbox.id, "Work")
        notifier = MailboxNotifier()
        await store.watch_mailboxes(notifier.changed)  # as the node wires it
        outs: list[list[bytes]] = [[], []]
        engines = [MailboxEngine(store, mailbox.id, outs[i].append, notifier) for i in (0, 1)]
        for who, command in script:
            outcome = await engines[who].run(command)
            assert outcome.status in ("OK", "NO", "BAD"), outcome
            assert "\r" not in outcome.text and "\n" not in outcome.text
        for engine, out in zip(engines, outs):
            await engine.run(t.Noop("n"))  # may hear of everything now
            selected = engine.selected
            if selected is None or selected.modseq == -1:
                continue
            listing = await store.folder_messages(selected.folder.id)
            stored = [m.uid for m in listing]
            assert selected.uids == stored
            assert {m.uid: m.flags for m in listing} == {uid: selected.messages[uid].flags for uid in selected.uids}
            assert re.search(rb"\* \d+ EXISTS", b"".join(out)) or not stored  # told how many there are
        await store.close()

    asyncio.run(main())
