"""When a selected session looks at the store for others' changes (server/imap4_folder.py, sync):
after a command when the node's notifier was told the mailbox changed (the store reports every
change: this node's as it is made, another node's through its feed), always on NOOP; never
when nothing was reported; its own writes need no look."""
from __future__ import annotations

from .test_imap4_engine import Client, backend, env, message, node_notifier, run, seq  # noqa: F401 (fixtures)

from postroom.protocol.imap4 import types as t
from waiting import until

UNSEEN = t.SearchKey("AND", (t.SearchKey("UNSEEN"),))


class Counting:
    """A store that counts the reads a session makes to learn of changes."""

    def __init__(self, store) -> None:
        self._store, self.looks = store, 0

    def __getattr__(self, name):
        return getattr(self._store, name)

    async def get_folder(self, mailbox_id, name):
        self.looks += 1
        return await self._store.get_folder(mailbox_id, name)


async def sessions(env, other_node=None):
    """Sessions a and b of one mailbox, on one node, or (`other_node`: the store of another node,
    on the same database) b on that other node; b's store counts b's looks."""
    store, mailbox = await env()
    for n in range(3):
        await store.deliver(mailbox.id, message(f"m{n}"))
    notifier = await node_notifier(store)
    counting = Counting(store if other_node is None else other_node)
    a = Client(counting if other_node is None else store, mailbox.id, notifier)
    b = Client(counting, mailbox.id, notifier if other_node is None else await node_notifier(other_node))
    await a.run(t.Select("s", "INBOX"))
    await b.run(t.Select("s", "INBOX"))
    return store, counting, a, b


def test_a_change_on_this_node_reaches_the_next_command_of_another_session(env):
    async def main():
        store, counting, a, b = await sessions(env)
        looks = counting.looks
        data, _ = await b.run(t.Search("q", UNSEEN))
        assert data == b"* SEARCH 1 2 3\r\n" and counting.looks == looks  # nothing changed: no look
        await a.run(t.Store("w", seq(2), "add", ("\\Seen",), silent=True))
        data, _ = await b.run(t.Search("q", UNSEEN, uid=True))
        assert data == b"* SEARCH 1 2 3\r\n* 2 FETCH (FLAGS (\\Seen))\r\n"  # the search ran on b's view, then b looked
        data, _ = await b.run(t.Search("q", UNSEEN))
        assert data == b"* SEARCH 1 3\r\n"
        await store.close()
    run(main)


def test_a_change_on_another_node_is_seen_once_its_feed_told_the_node_or_on_noop(env, backend):
    async def main():
        other = backend()  # another node (PostgreSQL), another process (the embedded store)
        await other.open()
        store, counting, a, b = await sessions(env, other)
        looks = counting.looks
        data, _ = await b.run(t.Search("q", UNSEEN))
        assert data == b"* SEARCH 1 2 3\r\n" and counting.looks == looks  # nothing reported: no look
        told = b.engine.mark.count
        await a.run(t.Store("w", seq(2), "add", ("\\Seen",), silent=True))
        await until(lambda: b.engine.mark.count > told, 5, "b's node to hear of a's change")
        data, _ = await b.run(t.Search("q", UNSEEN))
        assert data == b"* SEARCH 1 2 3\r\n* 2 FETCH (FLAGS (\\Seen))\r\n"
        await a.run(t.Store("w", seq(3), "add", ("\\Flagged",), silent=True))
        data, _ = await b.run(t.Noop("n"))
        assert data == b"* 3 FETCH (FLAGS (\\Flagged))\r\n"  # NOOP always looks
        await store.delete_messages(a.engine.mailbox_id, [a.engine.selected.messages[1].id])  # POP3 elsewhere
        data, _ = await b.run(t.Check("c"))
        assert data == b"* 1 EXPUNGE\r\n"
        await other.close()
        await store.close()
    run(main)


def test_a_sessions_own_writes_need_no_look_unless_another_came_between(env):
    async def main():
        store, counting, a, b = await sessions(env)
        looks = counting.looks
        for n in (1, 2, 3):
            data, _ = await a.run(t.Store("w", seq(n), "add", ("\\Flagged",), silent=False))
            assert data == b"* %d FETCH (FLAGS (\\Flagged \\Recent))\r\n" % n
        data, _ = await a.run(t.Fetch("f", seq(1), (t.FetchAttribute("BODY[]", t.Section()),)))
        assert data.startswith(b"* 1 FETCH (FLAGS (\\Flagged \\Seen \\Recent) BODY[] {")
        assert counting.looks == looks  # four writes of its own, not one look
        await b.run(t.Store("w", seq(1), "remove", ("\\Flagged",), silent=True))  # b looks: a changed the folder
        assert counting.looks == looks + 1
        data, _ = await a.run(t.Store("w", seq(2), "remove", ("\\Flagged",), silent=True))
        assert data == b"* 1 FETCH (FLAGS (\\Seen \\Recent))\r\n" and counting.looks == looks + 2  # a looks: b did
        await store.close()
    run(main)


def test_a_look_reads_what_changed_and_lists_the_folder_only_after_an_expunge(env):
    async def main():
        store, counting, a, b = await sessions(env)
        calls = Recorder(counting, ("folder_messages", "folder_changes"))
        await a.run(t.Store("w", seq(2), "add", ("$Work",), silent=True))
        await store.deliver(a.engine.mailbox_id, message("m3"))
        calls.made.clear()
        data, _ = await b.run(t.Noop("n"))
        permanent = b"\\Answered \\Flagged \\Deleted \\Seen \\Draft $Work \\*"
        assert data == (b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Work)\r\n"
                        b"* OK [PERMANENTFLAGS (%s)] Flags permitted.\r\n" % permanent
                        + b"* 2 FETCH (FLAGS ($Work))\r\n* 4 EXISTS\r\n* 1 RECENT\r\n")
        assert calls.made == ["folder_changes"]  # no listing of the folder
        await a.run(t.Store("w", seq(1), "add", ("\\Deleted",), silent=True))
        await a.run(t.Expunge("e"))
        calls.made.clear()
        data, _ = await b.run(t.Noop("n"))
        assert data == b"* 1 EXPUNGE\r\n"
        assert calls.made == ["folder_changes", "folder_messages"]  # the count told: listed again
        data, _ = await b.run(t.Fetch("f", seq((1, 3)), (t.FetchAttribute("UID"), t.FetchAttribute("FLAGS"))))
        assert data == (b"* 1 FETCH (UID 2 FLAGS ($Work))\r\n* 2 FETCH (UID 3 FLAGS ())\r\n"
                        b"* 3 FETCH (UID 4 FLAGS (\\Recent))\r\n")
        await store.close()
    run(main)


class Recorder:
    """Records the calls of the named store methods, in order."""

    def __init__(self, counting, names) -> None:
        self.made = []
        for name in names:
            method = getattr(counting._store, name)
            setattr(counting, name, self._recorded(name, method))

    def _recorded(self, name, method):
        async def recorded(*args):
            self.made.append(name)
            return await method(*args)
        return recorded
