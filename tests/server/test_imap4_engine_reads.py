"""What an IMAP4 session reads from the store, and what it answers from what it (or its node)
read before: SELECT of a folder the node listed reads only what changed (nothing when its
modseq is the same), takes the folder's row from the session's last read while nothing was
reported of the mailbox, and takes \\Recent only when there is some to take; header blocks come
from the node's HeaderCache, bounded in octets, and the items a FETCH renders the same for every
session from its RenderedCache; a SEARCH without text keys is answered from the folder listing."""
from __future__ import annotations

import datetime

from .test_imap4_engine import Client, backend, env, message, node_notifier, run, seq  # noqa: F401 (fixtures)

from postroom.protocol.imap4 import types as t
from postroom.server import imap4_mailbox
from postroom.server.imap4_cache import BodyCache, HeaderCache, ListingCache, RenderedCache
from postroom.server.imap4_mailbox import MailboxEngine

FIELDS = t.FetchAttribute("BODY[]", t.Section(text="HEADER.FIELDS", fields=("SUBJECT",)), peek=True)


class Recording:
    """A store that counts the calls made of it, by name."""

    def __init__(self, store) -> None:
        self._store, self.calls = store, {}

    def __getattr__(self, name):
        method = getattr(self._store, name)

        async def counted(*args, **kwargs):
            self.calls[name] = self.calls.get(name, 0) + 1
            return await method(*args, **kwargs)
        return counted


def test_selecting_a_folder_again_reads_only_what_changed_and_writes_nothing_without_recent(env):
    async def main():
        store, mailbox = await env()
        for n in range(2):
            await store.deliver(mailbox.id, message(f"m{n}"))
        recording, listings, notifier = Recording(store), ListingCache(), await node_notifier(store)
        client = Client(recording, mailbox.id, notifier)
        client.engine.listings = listings
        data, _ = await client.run(t.Select("s", "INBOX"))
        assert b"* 2 EXISTS\r\n* 2 RECENT\r\n" in data
        assert recording.calls == {"get_folder": 1, "take_recent": 1, "folder_messages": 1}
        data, _ = await client.run(t.Select("s", "INBOX"))
        assert b"* 2 EXISTS\r\n* 0 RECENT\r\n" in data  # this session took them before
        # nothing reported of the mailbox since: the row the last SELECT read (after its take)
        assert recording.calls == {"get_folder": 1, "take_recent": 1, "folder_messages": 1}
        await client.run(t.Store("w", seq(1), "add", ("\\Seen",), silent=True))
        await store.deliver(mailbox.id, message("m2"))
        data, _ = await client.run(t.Select("s", "INBOX"))
        assert b"* 3 EXISTS\r\n* 1 RECENT\r\n" in data and b"* OK [UNSEEN 2]" in data
        assert recording.calls["take_recent"] == 2 and recording.calls["folder_changes"] == 1
        other = Client(recording, mailbox.id, notifier)  # another session of the node
        other.engine.listings = listings
        data, _ = await other.run(t.Select("s", "INBOX", readonly=True))
        assert b"* 3 EXISTS\r\n* 0 RECENT\r\n" in data and recording.calls["folder_messages"] == 1
        data, _ = await other.run(t.Fetch("f", seq((1, 3)), (t.FetchAttribute("FLAGS"),)))
        assert data == b"* 1 FETCH (FLAGS (\\Seen))\r\n* 2 FETCH (FLAGS ())\r\n* 3 FETCH (FLAGS ())\r\n"
        await store.delete_messages(mailbox.id, [client.engine.selected.messages[2].id])
        data, _ = await client.run(t.Select("s", "INBOX"))
        assert b"* 2 EXISTS\r\n" in data and recording.calls["folder_messages"] == 2  # an expunge: listed
        await store.close()
    run(main)


def test_header_blocks_read_once_by_a_node_serve_its_other_sessions(env):
    async def main():
        store, mailbox = await env()
        for n in range(3):
            await store.deliver(mailbox.id, message(f"m{n}"))
        recording, cache, notifier = Recording(store), HeaderCache(), await node_notifier(store)
        first, second = (MailboxEngine(recording, mailbox.id, out.append, notifier, headers=cache)
                         for out in ([], []))
        answers = []
        for engine in (first, second, first):
            out: list[bytes] = []
            engine.emit = out.append
            await engine.run(t.Select("s", "INBOX"))
            out.clear()
            await engine.run(t.Fetch("f", seq((1, 3)), (FIELDS,)))
            answers.append(b"".join(out))
        expected = (b"* %d FETCH (BODY[HEADER.FIELDS (SUBJECT)] {15}\r\nSubject: m%d\r\n\r\n)\r\n" % (n + 1, n)
                    for n in range(3))
        assert answers[0] == answers[1] == answers[2] == b"".join(expected)
        assert recording.calls["read_headers"] == 1 and len(cache) == 3
        await store.close()
    run(main)


def test_the_listing_cache_keeps_the_most_recently_used_listings_within_its_bound():
    cache = ListingCache(limit=10)
    listings = {n: [object()] * 4 for n in (1, 2, 3)}
    for folder_id, messages in listings.items():
        cache.put(folder_id, 7, messages)
    assert cache.get(1) is None and cache.get(2) == (7, listings[2])  # the oldest went first
    cache.put(4, 8, [object()] * 4)
    assert cache.get(3) is None and cache.get(2) is not None  # 2 was used: kept
    cache.put(5, 9, [object()] * 11)
    assert cache.get(5) is None and cache.get(4) is not None  # bigger than the bound: not kept


def test_the_header_cache_keeps_the_most_recently_used_blocks_within_its_bound():
    cache = HeaderCache(limit=64 * 1000)
    blocks = {n: b"x" * 400 for n in range(200)}
    cache.put_many(blocks)
    assert cache.octets <= 64 * 1000 and len(cache) == 128  # 500 octets an entry counted
    assert cache.get_many([0, 71, 72, 199]) == {72: blocks[72], 199: blocks[199]}  # the oldest went first
    cache.put_many({500: b"y" * 400})
    assert 73 not in cache.get_many([73]) and cache.get_many([72]) == {72: blocks[72]}  # 72 was used: kept
    cache.put_many({600: b"z" * 2000})  # more than 1/64 of the bound: not kept
    assert cache.get_many([600]) == {} and cache.octets <= 64 * 1000


def test_a_search_without_text_keys_reads_nothing_from_the_store(env):
    async def main():
        store, mailbox = await env()
        for n in range(4):
            await store.deliver(mailbox.id, message(f"m{n}", body="x" * (100 * n) + "\r\n"))
        recording = Recording(store)
        client = Client(recording, mailbox.id, await node_notifier(store))
        await client.run(t.Select("s", "INBOX"))
        await client.run(t.Store("w", seq(1, 3), "add", ("\\Seen", "$Work"), silent=True))
        calls = dict(recording.calls)
        today = datetime.date.today()
        programs = {
            t.SearchKey("UNSEEN"): b"2 4", t.SearchKey("KEYWORD", ("$work",)): b"1 3",
            t.SearchKey("OR", (t.SearchKey("LARGER", (250,)), t.SearchKey("UID", (seq(1),)))): b"1 3 4",
            t.SearchKey("NOT", (t.SearchKey("SEQ", (seq((2, None)),)),)): b"1",
            t.SearchKey("SINCE", (today - datetime.timedelta(days=1),)): b"1 2 3 4",
            t.SearchKey("BEFORE", (today - datetime.timedelta(days=1),)): b"", t.SearchKey("RECENT"): b"1 2 3 4",
        }
        for key, expected in programs.items():
            data, _ = await client.run(t.Search("q", t.SearchKey("AND", (key, t.SearchKey("UNDELETED")))))
            assert data == b"* SEARCH" + (b" " + expected if expected else b"") + b"\r\n", key
        assert recording.calls == calls  # the listing answered every one
        data, _ = await client.run(t.Search("q", t.SearchKey("AND", (t.SearchKey("BODY", ("xxx",)),)), uid=True))
        assert data == b"* SEARCH 2 3 4\r\n" and recording.calls["read_messages"] == 1  # one read for all
        await store.close()
    run(main)


def test_a_select_reads_the_folder_again_once_its_last_read_is_too_old(env, monkeypatch):
    async def main():
        store, mailbox = await env()
        await store.deliver(mailbox.id, message("m0"))
        recording = Recording(store)
        client = Client(recording, mailbox.id, await node_notifier(store))
        for _ in range(2):
            await client.run(t.Select("s", "INBOX"))
        assert recording.calls["get_folder"] == 1
        monkeypatch.setattr(imap4_mailbox, "FOLDER_ROW_SECONDS", 0.0)
        data, _ = await client.run(t.Select("s", "INBOX"))
        assert recording.calls["get_folder"] == 2 and b"* 1 EXISTS\r\n" in data
        await store.close()
    run(main)


def test_fetch_items_rendered_once_by_a_node_answer_its_sessions_with_their_own_flags(env):
    async def main():
        store, mailbox = await env()
        for n in range(3):
            await store.deliver(mailbox.id, message(f"m{n}"))
        recording, notifier = Recording(store), await node_notifier(store)
        headers, rendered = HeaderCache(), RenderedCache(limit=1 << 20)
        outs: dict[str, list[bytes]] = {"first": [], "second": []}
        first, second = (MailboxEngine(recording, mailbox.id, outs[name].append, notifier, headers=headers,
                                       rendered=rendered) for name in ("first", "second"))

        async def run_in(name, engine, command) -> bytes:
            outs[name].clear()
            await engine.run(command)
            return b"".join(outs[name])

        items = (t.FetchAttribute("UID"), t.FetchAttribute("FLAGS"), t.FetchAttribute("RFC822.SIZE"), FIELDS)
        await run_in("first", first, t.Select("s", "INBOX"))
        await run_in("second", second, t.Select("s", "INBOX"))
        await run_in("first", first, t.Fetch("f", seq((1, 3)), items))
        assert len(rendered) == 3 and recording.calls["read_headers"] == 1
        await run_in("first", first, t.Store("w", seq(2), "add", ("\\Flagged",), silent=True))
        headers._blocks.clear()  # not needed again: the rendered items are kept
        assert await run_in("second", second, t.Noop("n")) == b"* 2 FETCH (FLAGS (\\Flagged))\r\n"
        again = await run_in("second", second, t.Fetch("f", seq((1, 3)), items))
        assert recording.calls["read_headers"] == 1  # nothing read for the second session
        line = (b"* %d FETCH (UID %d FLAGS (%s) RFC822.SIZE %d BODY[HEADER.FIELDS (SUBJECT)] {15}\r\n"
                b"Subject: m%d\r\n\r\n)\r\n")
        assert again == b"".join(line % (n, n, b"\\Flagged" if n == 2 else b"", len(message(f"m{n - 1}")), n - 1)
                                 for n in (1, 2, 3))
        # an item asked before FLAGS: rendered each time, in the order asked, and not kept
        reordered = await run_in("second", second, t.Fetch("f", seq(2), (t.FetchAttribute("RFC822.SIZE"),
                                                                          t.FetchAttribute("FLAGS"))))
        assert reordered == b"* 2 FETCH (RFC822.SIZE %d FLAGS (\\Flagged))\r\n" % len(message("m1"))
        assert len(rendered) == 3
        await store.close()
    run(main)


def test_uid_search_of_flags_alone_answers_uids(env):
    async def main():
        store, mailbox = await env()
        for n in range(5):
            await store.deliver(mailbox.id, message(f"m{n}"))
        client = Client(store, mailbox.id, await node_notifier(store))
        await client.run(t.Select("s", "INBOX"))
        await client.run(t.Store("w", seq((1, 2)), "add", ("\\Seen",), silent=True))
        await store.delete_messages(mailbox.id, [client.engine.selected.messages[1].id])
        await client.run(t.Noop("n"))  # the expunge is told: UIDs 2..5 remain, 2 seen
        data, _ = await client.run(t.Search("q", t.SearchKey("AND", (t.SearchKey("UNSEEN"),)), uid=True))
        assert data == b"* SEARCH 3 4 5\r\n"
        data, _ = await client.run(t.Search("q", t.SearchKey("AND", (t.SearchKey("UNSEEN"),))))
        assert data == b"* SEARCH 2 3 4\r\n"
        data, _ = await client.run(t.Search("q", t.SearchKey("AND", (t.SearchKey("DRAFT"),))))
        assert data == b"* SEARCH\r\n"
        await store.close()
    run(main)


def test_messages_read_whole_once_by_a_node_serve_its_other_sessions(env):
    async def main():
        store, mailbox = await env()
        for n in range(3):
            await store.deliver(mailbox.id, message(f"m{n}"))
        recording, notifier, bodies = Recording(store), await node_notifier(store), BodyCache(limit=1 << 20)
        outs: dict[str, list[bytes]] = {"first": [], "second": []}
        engines = {name: MailboxEngine(recording, mailbox.id, outs[name].append, notifier, bodies=bodies)
                   for name in outs}
        body = t.FetchAttribute("BODY[]", t.Section(), peek=True)
        answers = []
        for name, engine in engines.items():
            await engine.run(t.Select("s", "INBOX"))
            outs[name].clear()
            await engine.run(t.Fetch("f", seq((1, 3)), (body,)))
            answers.append(b"".join(outs[name]))
        assert answers[0] == answers[1] == b"".join(
            b"* %d FETCH (BODY[] {%d}\r\n%s)\r\n" % (n + 1, len(message(f"m{n}")), message(f"m{n}")) for n in range(3))
        assert recording.calls["read_messages"] == 1 and len(bodies) == 3
        outs["second"].clear()
        await engines["second"].run(t.Search("q", t.SearchKey("AND", (t.SearchKey("TEXT", ("m1",)),))))
        assert outs["second"] == [b"* SEARCH 2\r\n"] and recording.calls["read_messages"] == 2  # SEARCH reads
        await store.close()
    run(main)
