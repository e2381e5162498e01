"""What Dovecot's imaptest (stress and state-tracking mode) found, each as an engine test on a real
store: a keyword reaches a client in FETCH FLAGS only after an untagged FLAGS reply named it (RFC 3501
7.2.6), and a STORE that names a message another session expunged is not a failure (RFC 2180 4.2.1)."""
from __future__ import annotations

import re

from .test_imap4_engine import Client, backend, env, message, node_notifier, run, seq  # noqa: F401 (fixtures)

from postroom.protocol.imap4 import types as t


def keywords_told(data: bytes) -> list[set[str]]:
    """Each untagged FLAGS reply's keywords, in the order sent."""
    return [{f for f in m.group(1).decode().split() if not f.startswith("\\")}
            for m in re.finditer(rb"^\* FLAGS \(([^)]*)\)\r\n", data, re.M)]


async def two_sessions(env, count: int = 2):
    store, mailbox = await env()
    for n in range(count):
        await store.deliver(mailbox.id, message(f"m{n}"))
    notifier = await node_notifier(store)
    a, b = Client(store, mailbox.id, notifier), Client(store, mailbox.id, notifier)
    await a.run(t.Select("s", "INBOX"))
    await b.run(t.Select("s", "INBOX"))
    return store, a, b


def test_a_new_keyword_is_announced_in_flags_before_the_store_reply_that_uses_it(env):
    async def main():
        store, a, b = await two_sessions(env)
        data, outcome = await a.run(t.Store("a", seq(1), "add", ("$Label1",), silent=False))
        assert outcome.status == "OK"
        assert data.index(b"* FLAGS (") < data.index(b"* 1 FETCH (FLAGS ($Label1")
        assert keywords_told(data) == [{"$Label1"}]
        assert b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Label1 \\*)]" in data
        data, _ = await a.run(t.Store("a", seq(2), "add", ("$Label1",), silent=False))
        assert keywords_told(data) == []  # known already: said once
        # the other session hears of it before the FETCH that carries it
        data, _ = await b.run(t.Noop("n"))
        assert data.index(b"* FLAGS (") < data.index(b"FETCH (FLAGS ($Label1")
        assert keywords_told(data) == [{"$Label1"}]
        await store.close()
    run(main)


def test_a_keyword_on_new_mail_from_another_session_is_announced(env):
    async def main():
        store, a, b = await two_sessions(env)
        await a.run(t.Append("p", "INBOX", ("$Work", "\\Seen"), None, message("kw")))
        data, _ = await b.run(t.Noop("n"))
        assert keywords_told(data) == [{"$Work"}]
        data, _ = await b.run(t.Fetch("f", seq(3), (t.FetchAttribute("FLAGS"),)))
        assert data == b"* 3 FETCH (FLAGS ($Work \\Seen))\r\n"
        await store.close()
    run(main)


def test_store_naming_a_message_expunged_by_another_session_changes_the_rest_and_completes_ok(env):
    async def main():
        store, a, b = await two_sessions(env, 3)
        await a.run(t.Store("a", seq(2), "add", ("\\Deleted",), silent=True))
        await a.run(t.Expunge("e"))
        data, outcome = await b.run(t.Store("b", seq((1, 3)), "add", ("\\Flagged",), silent=False))
        assert outcome.status == "OK", outcome
        assert b"* 1 FETCH (FLAGS (\\Flagged" in data and b"* 3 FETCH (FLAGS (\\Flagged" in data
        assert b"EXPUNGE" not in data  # not during STORE (RFC 3501 7.4.1)
        flags = {m.uid: m.flags for m in await store.folder_messages(b.engine.selected.folder.id)}
        assert flags == {1: ("\\Flagged",), 3: ("\\Flagged",)}
        # again, now that b's view knows the message is gone
        data, outcome = await b.run(t.Store("b", seq(2), "add", ("\\Seen",), silent=True))
        assert outcome.status == "OK" and data == b""
        await store.close()
    run(main)


async def recent_in(client: Client, uid: int) -> bool:
    data, _ = await client.run(t.Fetch("f", seq(uid), (t.FetchAttribute("FLAGS"),), uid=True))
    assert b"FETCH" in data, data
    return b"\\Recent" in data


def test_mail_delivered_while_a_select_takes_recent_is_recent_in_one_session_only(env):
    """imaptest: "Message UID=366 has \\Recent flag in multiple sessions". A message delivered
    between SELECT's take of \\Recent and its listing of the folder was in both sessions' share."""
    async def main():
        store, mailbox = await env()
        await store.deliver(mailbox.id, message("m0"))
        take_recent, late = store.take_recent, []

        async def take_then_deliver(folder_id):
            taken = await take_recent(folder_id)
            if not late:  # another session's delivery lands right after the first take
                late.append(await store.deliver(mailbox.id, message("late")))
            return taken
        store.take_recent = take_then_deliver
        notifier = await node_notifier(store)
        a, b = Client(store, mailbox.id, notifier), Client(store, mailbox.id, notifier)
        await a.run(t.Select("s", "INBOX"))
        await b.run(t.Select("s", "INBOX"))
        await a.run(t.Noop("n"))
        assert [await recent_in(a, 2), await recent_in(b, 2)].count(True) == 1
        assert [await recent_in(a, 1), await recent_in(b, 1)] == [True, False]
        await store.close()
    run(main)


def test_mail_delivered_while_a_session_looks_for_new_mail_is_recent_in_one_session(env):
    """The same race in a selected session's look for new mail: listed, then \\Recent taken, with a
    delivery in between; that message must stay \\Recent for someone (here: the session itself)."""
    async def main():
        store, a, b = await two_sessions(env, 1)
        mailbox_id = a.engine.mailbox_id
        folder_messages, folder_changes, late = store.folder_messages, store.folder_changes, []

        async def list_then_deliver(folder_id):
            listed = await folder_messages(folder_id)
            if len(listed) == 2 and not late:
                late.append(await store.deliver(mailbox_id, message("late")))
            return listed

        async def look_then_deliver(folder_id, modseq):  # the look of a session that knows the folder
            changed, count = await folder_changes(folder_id, modseq)
            if count == 2 and not late:
                late.append(await store.deliver(mailbox_id, message("late")))
            return changed, count
        store.folder_messages, store.folder_changes = list_then_deliver, look_then_deliver
        await store.deliver(mailbox_id, message("new"))
        await a.run(t.Noop("n"))
        await a.run(t.Noop("n"))
        await b.run(t.Noop("n"))
        assert late and await recent_in(a, 2) and not await recent_in(b, 2)
        assert [await recent_in(a, 3), await recent_in(b, 3)].count(True) == 1
        await store.close()
    run(main)


def test_search_that_cannot_read_a_message_expunged_by_another_session_says_expungeissued(env):
    """imaptest: "SEARCH result missing seq 20" for SEARCH SUBJECT "" — the message was expunged by
    another session; a client can only tell a miss from a gone message by OK [EXPUNGEISSUED]."""
    async def main():
        store, a, b = await two_sessions(env, 3)
        data, outcome = await b.run(t.Search("s", t.SearchKey("SUBJECT", ("",))))
        assert data == b"* SEARCH 1 2 3\r\n" and (outcome.status, outcome.code) == ("OK", None)
        await a.run(t.Store("a", seq(2), "add", ("\\Deleted",), silent=True))
        await a.run(t.Expunge("e"))
        for _ in range(2):  # not yet heard of, then known as gone (no EXPUNGE during SEARCH)
            data, outcome = await b.run(t.Search("s", t.SearchKey("SUBJECT", ("",))))
            assert data == b"* SEARCH 1 3\r\n" and (outcome.status, outcome.code) == ("OK", "EXPUNGEISSUED")
        data, outcome = await b.run(t.Search("s", t.SearchKey("ALL")))  # flags and numbers only: known
        assert outcome.code is None
        await b.run(t.Noop("n"))
        data, outcome = await b.run(t.Search("s", t.SearchKey("SUBJECT", ("",))))
        assert data == b"* SEARCH 1 2\r\n" and (outcome.status, outcome.code) == ("OK", None)
        await store.close()
    run(main)
