"""CONDSTORE and QRESYNC (RFC 7162) in the IMAP4 engine, on a real store (SQLite and PostgreSQL), with
two sessions: ENABLE, HIGHESTMODSEQ, MODSEQ in FETCH replies once CONDSTORE is on, CHANGEDSINCE,
STORE UNCHANGEDSINCE and [MODIFIED], SEARCH MODSEQ, STATUS HIGHESTMODSEQ, VANISHED instead of EXPUNGE
once QRESYNC is on, and the resync script: a session that comes back with SELECT (QRESYNC ...) gets
exactly what changed while it was away."""
from __future__ import annotations

import re

from .test_imap4_engine import (  # noqa: F401 (fixtures)
    Client, backend, env, fetch, message, node_notifier, run, seq,
)

from postroom.protocol.imap4 import types as t
from postroom.storage.sql import folders as folders_sql

A = t.FetchAttribute


def highest(data: bytes) -> int:
    found = re.findall(rb"\* OK \[HIGHESTMODSEQ (\d+)\]", data)
    assert len(found) == 1, data
    return int(found[0])


async def modseqs(store, folder_id) -> dict[int, int]:
    return {m.uid: m.modseq for m in await store.folder_messages(folder_id)}


async def sessions(env, count: int = 4):
    store, mailbox = await env()
    for n in range(count):
        await store.deliver(mailbox.id, message(f"m{n + 1}"))
    notifier = await node_notifier(store)  # the store tells it of every change, as a node wires it
    return store, mailbox, notifier, Client(store, mailbox.id, notifier), Client(store, mailbox.id, notifier)


def test_enable_answers_what_it_turned_on(env):
    async def main():
        store, mailbox, notifier, a, b = await sessions(env, 0)
        assert await a.run(t.Enable("e", ("CONDSTORE", "X-UNKNOWN"))) == (b"* ENABLED CONDSTORE\r\n", ok("ENABLE"))
        assert (await a.run(t.Enable("e", ("CONDSTORE",))))[0] == b"* ENABLED\r\n"  # on already
        assert (await a.run(t.Enable("e", ("QRESYNC",))))[0] == b"* ENABLED QRESYNC\r\n"
        assert (await b.run(t.Enable("e", ("QRESYNC", "CONDSTORE"))))[0] == b"* ENABLED QRESYNC CONDSTORE\r\n"
        assert (await b.run(t.Enable("e", ("CONDSTORE",))))[0] == b"* ENABLED\r\n"  # QRESYNC turned it on
        await store.close()
    run(main)


def ok(verb: str):
    from postroom.server.imap4_folder import Outcome
    return Outcome("OK", f"{verb} completed.")


def test_select_reports_highestmodseq_once_condstore_is_on(env):
    async def main():
        store, mailbox, notifier, a, b = await sessions(env, 2)
        folder = await store.get_folder(mailbox.id, "INBOX")
        data, _ = await a.run(t.Select("s", "INBOX"))
        assert b"HIGHESTMODSEQ" not in data  # a client that never asked
        data, outcome = await a.run(t.Select("s", "INBOX", condstore=True))
        assert highest(data) == folder.highest_modseq and outcome.status == "OK"
        assert data.startswith(b"* OK [CLOSED] ")  # the folder selected before was closed (3.2.11)
        data, _ = await a.run(t.Select("s", "Sent", readonly=True))  # stays on for the session
        assert highest(data) == 0
        data, _ = await b.run(t.Status("s", "INBOX", ("MESSAGES", "HIGHESTMODSEQ")))
        assert data == b"* STATUS INBOX (MESSAGES 2 HIGHESTMODSEQ %d)\r\n" % folder.highest_modseq
        await store.close()
    run(main)


def test_fetch_modseq_and_changedsince(env):
    async def main():
        store, mailbox, notifier, a, b = await sessions(env, 3)
        await a.run(t.Select("s", "INBOX"))
        folder = a.engine.selected.folder
        known = folder.highest_modseq
        data, _ = await a.run(fetch("FLAGS"))
        assert b"MODSEQ" not in data
        # the first CONDSTORE enabling command with a folder selected tells HIGHESTMODSEQ (3.1)
        data, _ = await a.run(fetch("MODSEQ", sequence=seq(1)))
        stored = await modseqs(store, folder.id)
        assert data == b"* OK [HIGHESTMODSEQ %d] Highest modseq.\r\n* 1 FETCH (MODSEQ (%d))\r\n" % (known, stored[1])
        await b.run(t.Select("s", "INBOX"))
        await b.run(t.Store("b", seq(2), "add", ("\\Answered",), silent=True))
        after = (await store.get_folder(mailbox.id, "INBOX")).highest_modseq
        # a's view learns of it after the FETCH: an unsolicited FETCH carries UID and MODSEQ now (3.2.4)
        data, _ = await a.run(t.Noop("n"))
        assert data == b"* 2 FETCH (UID 2 FLAGS (\\Answered \\Recent) MODSEQ (%d))\r\n" % after
        data, outcome = await a.run(t.Fetch("f", seq((1, None)), (A("UID"), A("FLAGS"), A("MODSEQ")), uid=True,
                                            changed_since=known))
        assert data == b"* 2 FETCH (UID 2 FLAGS (\\Answered \\Recent) MODSEQ (%d))\r\n" % after
        data, _ = await a.run(t.Fetch("f", seq((1, None)), (A("FLAGS"), A("MODSEQ")), changed_since=after))
        assert data == b"" and outcome.status == "OK"
        # a FETCH that sets \Seen answers UID and MODSEQ too
        data, _ = await a.run(t.Fetch("f", seq(3), (A("BODY[]", t.Section(text="TEXT")),)))
        seen = (await store.get_folder(mailbox.id, "INBOX")).highest_modseq
        assert data == b"* 3 FETCH (UID 3 FLAGS (\\Seen \\Recent) BODY[TEXT] {8}\r\nHello.\r\n MODSEQ (%d))\r\n" % seen
        await store.close()
    run(main)


def test_store_unchangedsince_refuses_what_changed_and_says_modified(env):
    async def main():
        store, mailbox, notifier, a, b = await sessions(env, 4)
        data, _ = await a.run(t.Select("s", "INBOX", condstore=True))
        known = highest(data)
        await b.run(t.Select("s", "INBOX"))
        await b.run(t.Store("b", seq(2), "add", ("$Work",), silent=True))
        # 1 and 3 pass the test and are stored, 2 changed since and is refused (RFC 7162 example 6)
        data, outcome = await a.run(t.Store("c", seq(1, 2, 3), "add", ("\\Deleted",), silent=True,
                                            unchanged_since=known))
        folder = a.engine.selected.folder
        stored = await modseqs(store, folder.id)
        assert (outcome.status, outcome.code) == ("OK", "MODIFIED 2")
        lines = data.split(b"\r\n")
        assert b"* 1 FETCH (UID 1 MODSEQ (%d))" % stored[1] in lines
        assert b"* 3 FETCH (UID 3 MODSEQ (%d))" % stored[3] in lines
        # the refused one's state, so the client need not ask (example 10)
        assert b"* 2 FETCH (UID 2 FLAGS ($Work \\Recent) MODSEQ (%d))" % stored[2] in lines
        flags = {m.uid: m.flags for m in await store.folder_messages(folder.id)}
        assert flags == {1: ("\\Deleted",), 2: ("$Work",), 3: ("\\Deleted",), 4: ()}
        # UID STORE names UIDs; UNCHANGEDSINCE 0 fails for every message (example 8)
        data, outcome = await a.run(t.Store("c", seq(4), "add", ("$MDNSent",), silent=True, uid=True,
                                            unchanged_since=0))
        assert (outcome.status, outcome.code, data) == ("OK", "MODIFIED 4", b"")
        # not silent: FLAGS and MODSEQ
        data, outcome = await a.run(t.Store("c", seq(4), "add", ("\\Seen",), uid=True, unchanged_since=stored[4]))
        now = (await modseqs(store, folder.id))[4]
        assert data == b"* 4 FETCH (UID 4 FLAGS (\\Seen \\Recent) MODSEQ (%d))\r\n" % now and outcome.code is None
        await store.close()
    run(main)


def test_search_modseq_answers_the_highest_modseq_found(env):
    async def main():
        store, mailbox, notifier, a, b = await sessions(env, 3)
        data, _ = await a.run(t.Select("s", "INBOX", condstore=True))
        known = highest(data)
        data, _ = await a.run(t.Store("c", seq(2), "add", ("\\Flagged",), silent=True))
        changed = (await modseqs(store, a.engine.selected.folder.id))[2]
        assert data == b"* 2 FETCH (UID 2 MODSEQ (%d))\r\n" % changed  # silent, but the new modseq (3.1.3)
        data, _ = await a.run(t.Store("c", seq(2), "add", ("\\Flagged",), silent=True))
        assert data == b""  # nothing changed: nothing to tell
        data, _ = await a.run(t.Search("q", t.SearchKey("AND", (t.SearchKey("MODSEQ", (known + 1,)),))))
        assert data == b"* SEARCH 2 (MODSEQ %d)\r\n" % changed
        data, _ = await a.run(t.Search("q", t.SearchKey("AND", (t.SearchKey("MODSEQ", (changed + 1,)),)), uid=True))
        assert data == b"* SEARCH\r\n"
        data, _ = await a.run(t.Search("q", t.SearchKey("AND", (t.SearchKey("ALL"),))))
        assert data == b"* SEARCH 1 2 3\r\n"  # no MODSEQ criterion: no mod-sequence
        await store.close()
    run(main)


def test_vanished_replaces_expunge_once_qresync_is_on(env):
    async def main():
        store, mailbox, notifier, a, b = await sessions(env, 6)
        await a.run(t.Enable("e", ("QRESYNC",)))
        await a.run(t.Select("s", "INBOX"))
        await b.run(t.Select("s", "INBOX"))
        await a.run(t.Store("d", seq(2, 3, 5), "add", ("\\Deleted",), silent=True))
        data, outcome = await a.run(t.Expunge("x"))
        folder = await store.get_folder(mailbox.id, "INBOX")
        assert data == b"* VANISHED 2:3,5\r\n"
        assert (outcome.status, outcome.code) == ("OK", f"HIGHESTMODSEQ {folder.highest_modseq}")
        data, _ = await b.run(t.Noop("n"))  # b has not enabled QRESYNC: EXPUNGE, as ever
        assert data == b"* 5 EXPUNGE\r\n* 3 EXPUNGE\r\n* 2 EXPUNGE\r\n"
        # another session's expunge, a MOVE and CLOSE
        await b.run(t.Store("d", seq(1), "add", ("\\Deleted",), silent=True))
        await b.run(t.Expunge("x"))
        data, _ = await a.run(t.Noop("n"))
        assert data.endswith(b"* VANISHED 1\r\n")
        # not while a UID SEARCH names message numbers (3.2.10), nor a SEARCH; a UID SEARCH of UIDs may
        await b.run(t.Store("d", seq(1), "add", ("\\Deleted",), silent=True))
        await b.run(t.Expunge("x"))  # UID 4
        by_number = t.Search("q", t.SearchKey("AND", (t.SearchKey("SEQ", (seq((1, None)),)),)), uid=True)
        data, _ = await a.run(by_number)
        assert data.startswith(b"* SEARCH 4 6\r\n") and b"VANISHED" not in data
        data, _ = await a.run(t.Search("q", t.SearchKey("AND", (t.SearchKey("UID", (seq((1, None)),)),)), uid=True))
        assert data == b"* SEARCH 4 6\r\n* VANISHED 4\r\n"
        # while idling, too
        await b.run(t.Store("d", seq(1), "add", ("\\Deleted",), silent=True))
        await b.run(t.Expunge("x"))  # UID 6
        a.out.clear()
        await a.engine.poll()
        assert b"".join(a.out) == b"* VANISHED 6\r\n"
        await a.run(t.Append("p", "INBOX", (), None, message("more")))
        data, outcome = await a.run(t.Copy("m", seq(7), "Trash", uid=True, move=True))
        assert data.endswith(b"* VANISHED 7\r\n") and outcome.status == "OK"
        data, outcome = await a.run(t.Store("d", seq(1), "add", ("\\Deleted",), silent=True))
        data, outcome = await a.run(t.Close("c"))
        assert data == b"" and outcome.code is None  # CLOSE: no VANISHED, no HIGHESTMODSEQ (3.2.8)
        await store.close()
    run(main)


async def away(env):
    """Session 1 knows the folder and goes; session 2 changes flags, expunges and appends."""
    store, mailbox, notifier, a, b = await sessions(env, 6)
    data, _ = await a.run(t.Select("s", "INBOX", condstore=True))
    known, validity = highest(data), a.engine.selected.folder.uidvalidity
    a.engine.close()
    await b.run(t.Select("s", "INBOX"))
    await b.run(t.Store("f", seq(3), "add", ("\\Flagged",), silent=True))
    await b.run(t.Store("d", seq(2, 5), "add", ("\\Deleted",), silent=True))
    await b.run(t.Expunge("x"))
    await b.run(t.Append("p", "INBOX", ("\\Seen",), None, message("new")))
    return store, mailbox, notifier, known, validity


def test_resync_after_a_disconnect_gets_exactly_what_changed(env):
    async def main():
        store, mailbox, notifier, known, validity = await away(env)
        folder = await store.get_folder(mailbox.id, "INBOX")
        stored = await modseqs(store, folder.id)
        again = Client(store, mailbox.id, notifier)
        data, outcome = await again.run(t.Select("s", "INBOX", qresync=t.QResync(validity, known)))
        assert outcome.status == "BAD" and again.engine.selected is None  # QRESYNC not enabled (3.2.5)
        await again.run(t.Enable("e", ("QRESYNC",)))
        data, outcome = await again.run(t.Select("s", "INBOX", qresync=t.QResync(validity, known)))
        assert (outcome.status, outcome.code) == ("OK", "READ-WRITE")
        assert highest(data) == folder.highest_modseq and b"* 5 EXISTS\r\n" in data
        resync = data[data.index(b"* VANISHED"):]
        assert resync == (b"* VANISHED (EARLIER) 2,5\r\n"
                          b"* 2 FETCH (UID 3 FLAGS (\\Flagged) MODSEQ (%d))\r\n"
                          b"* 5 FETCH (UID 7 FLAGS (\\Seen) MODSEQ (%d))\r\n" % (stored[3], stored[7]))
        # (UID 7 is not \Recent here: the session that appended it saw it first)
        # only what the client asks about: its known UIDs
        data, _ = await again.run(t.Select("s", "INBOX", qresync=t.QResync(validity, known, seq((1, 3)))))
        assert data[data.index(b"* VANISHED"):] == (b"* VANISHED (EARLIER) 2\r\n"
                                                    b"* 2 FETCH (UID 3 FLAGS (\\Flagged) MODSEQ (%d))\r\n" % stored[3])
        # up to date: nothing to tell
        data, _ = await again.run(t.Select("s", "INBOX", qresync=t.QResync(validity, folder.highest_modseq)))
        assert b"VANISHED" not in data and b"FETCH" not in data
        # another UIDVALIDITY: the rest is ignored (3.2.5)
        data, outcome = await again.run(t.Select("s", "INBOX", qresync=t.QResync(validity + 1, known)))
        assert b"VANISHED" not in data and b"FETCH" not in data and outcome.status == "OK"
        await store.close()
    run(main)


def test_resync_when_the_record_no_longer_reaches_back(env, monkeypatch):
    """The record was pruned past the client's modseq: every known UID that is gone is VANISHED
    (3.2.6's note), narrowed by the message sequence match data (3.2.5.2)."""
    monkeypatch.setattr(folders_sql, "EXPUNGE_RECORD", 1)

    async def main():
        store, mailbox, notifier, known, validity = await away(env)
        folder = await store.get_folder(mailbox.id, "INBOX")
        work = Client(store, mailbox.id, notifier)
        await work.run(t.Select("s", "INBOX"))
        await work.run(t.Store("d", seq(1), "add", ("\\Deleted",), silent=True))
        await work.run(t.Expunge("x"))  # UID 1: the record keeps that one expunge only
        assert await store.expunged_since(folder.id, known) == ([1], False)
        again = Client(store, mailbox.id, notifier)
        await again.run(t.Enable("e", ("QRESYNC",)))
        data, _ = await again.run(t.Select("s", "INBOX", qresync=t.QResync(validity, known, seq((1, 6)))))
        assert b"* VANISHED (EARLIER) 1:2,5\r\n" in data
        # the client still knows message 1 is UID 3: nothing at or below 3 is news to it
        data, _ = await again.run(t.Select("s", "INBOX", qresync=t.QResync(
            validity, known, seq((1, 6)), (seq(1), seq(3)))))
        assert b"* VANISHED (EARLIER) 5\r\n" in data
        # the same with UID FETCH (CHANGEDSINCE VANISHED)
        data, outcome = await again.run(t.Fetch("f", seq((1, None)), (A("UID"), A("FLAGS"), A("MODSEQ")), uid=True,
                                                changed_since=known, vanished=True))
        assert data.startswith(b"* VANISHED (EARLIER) 1:2,5\r\n") and outcome.status == "OK"
        await store.close()
    run(main)


def test_uid_fetch_vanished_tells_expunges_before_the_changes(env):
    async def main():
        store, mailbox, notifier, known, validity = await away(env)
        again = Client(store, mailbox.id, notifier)
        await again.run(t.Select("s", "INBOX"))
        changed = t.Fetch("f", seq((1, 4)), (A("UID"), A("FLAGS"), A("MODSEQ")), uid=True, changed_since=known,
                          vanished=True)
        data, outcome = await again.run(changed)
        assert outcome.status == "BAD" and data == b""  # QRESYNC not enabled (3.2.6)
        again.engine.close()
        again = Client(store, mailbox.id, notifier)
        await again.run(t.Enable("e", ("QRESYNC",)))
        await again.run(t.Select("s", "INBOX"))
        data, outcome = await again.run(changed)
        stored = await modseqs(store, again.engine.selected.folder.id)
        assert data == (b"* VANISHED (EARLIER) 2\r\n"
                        b"* 2 FETCH (UID 3 FLAGS (\\Flagged) MODSEQ (%d))\r\n" % stored[3])
        await store.close()
    run(main)


def test_a_delayed_expunge_holds_back_highestmodseq(env):
    """RFC 7162 3.2: MODSEQ data sent while an expunge waits (no EXPUNGE during FETCH) comes with a
    HIGHESTMODSEQ below that expunge's, so a client that drops now resyncs from before it."""
    async def main():
        store, mailbox, notifier, a, b = await sessions(env, 3)
        data, _ = await a.run(t.Select("s", "INBOX", condstore=True))
        known = highest(data)
        await b.run(t.Select("s", "INBOX"))
        await b.run(t.Store("d", seq(1), "add", ("\\Deleted",), silent=True))
        await b.run(t.Expunge("x"))
        await b.run(t.Store("f", seq(1), "add", ("\\Flagged",), silent=True))  # was UID 2: a later modseq
        data, outcome = await a.run(fetch("MODSEQ"))
        assert b"EXPUNGE" not in data
        told = [int(n) for n in re.findall(rb"MODSEQ \((\d+)\)", data)]
        assert highest(data) == known and max(told) > known  # and it is the last word before the tag
        assert data.rindex(b"HIGHESTMODSEQ") > data.rindex(b"FETCH")
        data, _ = await a.run(t.Noop("n"))
        assert b"* 1 EXPUNGE\r\n" in data and b"HIGHESTMODSEQ" not in data
        await store.close()
    run(main)
