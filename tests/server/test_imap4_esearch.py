"""ESEARCH (RFC 4731), SEARCHRES (RFC 5182), LIST-EXTENDED (RFC 5258), LIST-STATUS (RFC 5819) and
STATUS SIZE/DELETED (RFC 8438, 9051) in the IMAP4 engine, on a real store (SQLite and PostgreSQL).
Commands are written as a client sends them and parsed by the core, so each test reads as a session."""
from __future__ import annotations

from .test_imap4_engine import (  # noqa: F401 (fixtures)
    Client, backend, env, message, node_notifier, run,
)

from .test_imap4_session import logged_in

from postroom.protocol.imap4.core import ImapConfig, ImapServer, Request
from postroom.protocol.imap4.types import Command


def parse(line: str) -> Command:
    """The command a logged-in client's line is, as the core hands it to the engine."""
    conn = ImapServer(ImapConfig(login_type="plain-text-login"))
    conn.receive_data(b"a LOGIN u p\r\n")
    conn.next_event()
    conn.auth_succeeded()
    conn.selected(True)
    conn.receive_data(line.encode() + b"\r\n")
    event = conn.next_event()
    assert isinstance(event, Request), b"".join(conn.data_to_send())
    return event.command


async def say(client: Client, line: str) -> tuple[bytes, str]:
    """The untagged replies and the tagged status (with its code) of one command."""
    data, outcome = await client.run(parse(line))
    return data, outcome.status + (f" [{outcome.code}]" if outcome.code else "")


async def session(env, count: int):
    store, mailbox = await env()
    for n in range(count):
        await store.deliver(mailbox.id, message(f"m{n + 1}"))
    notifier = await node_notifier(store)
    return store, mailbox, Client(store, mailbox.id, notifier), Client(store, mailbox.id, notifier)


def test_esearch_answers_what_the_return_options_ask(env):
    async def main():
        store, mailbox, a, _ = await session(env, 9)
        await say(a, "s SELECT INBOX")
        await say(a, "s STORE 3:5,9 +FLAGS.SILENT (\\Flagged)")
        assert await say(a, "a1 UID SEARCH RETURN (MIN MAX COUNT ALL) FLAGGED") \
            == (b'* ESEARCH (TAG "a1") UID MIN 3 MAX 9 COUNT 4 ALL 3:5,9\r\n', "OK")
        assert (await say(a, "x SEARCH RETURN () FLAGGED"))[0] == b'* ESEARCH (TAG "x") ALL 3:5,9\r\n'
        assert (await say(a, "x SEARCH RETURN (COUNT) NOT FLAGGED"))[0] == b'* ESEARCH (TAG "x") COUNT 5\r\n'
        assert (await say(a, "x SEARCH RETURN (MAX) 1:4 FLAGGED"))[0] == b'* ESEARCH (TAG "x") MAX 4\r\n'
        # nothing found: no MIN, MAX or ALL; COUNT 0 when asked
        assert (await say(a, "x SEARCH RETURN (MIN MAX ALL) DRAFT"))[0] == b'* ESEARCH (TAG "x")\r\n'
        assert (await say(a, "x UID SEARCH RETURN (MIN COUNT) DRAFT"))[0] == b'* ESEARCH (TAG "x") UID COUNT 0\r\n'
        assert (await say(a, "x SEARCH FLAGGED"))[0] == b"* SEARCH 3 4 5 9\r\n"  # no RETURN: as before
        # text keys too (the content is read)
        assert (await say(a, "x SEARCH RETURN (ALL) SUBJECT m2"))[0] == b'* ESEARCH (TAG "x") ALL 2\r\n'
        await store.close()
    run(main)


def test_esearch_with_a_modseq_key_reports_the_modseq_of_what_it_reports(env):
    async def main():
        store, mailbox, a, _ = await session(env, 4)
        await say(a, "s SELECT INBOX")
        await say(a, "s STORE 2 +FLAGS.SILENT (\\Flagged)")
        await say(a, "s STORE 4 +FLAGS.SILENT (\\Flagged)")
        await say(a, "s STORE 2 +FLAGS.SILENT (\\Seen)")  # 2 is the latest change now
        modseqs = {m.uid: m.modseq for m in await store.folder_messages(a.engine.selected.folder.id)}
        assert modseqs[2] > modseqs[4] > modseqs[3]
        data, _ = await say(a, "x SEARCH RETURN (MAX) MODSEQ 1 FLAGGED")
        assert data.endswith(b'* ESEARCH (TAG "x") MAX 4 MODSEQ %d\r\n' % modseqs[4])  # only MAX's
        data, _ = await say(a, "x SEARCH RETURN (MAX COUNT) MODSEQ 1 FLAGGED")
        assert data.endswith(b'* ESEARCH (TAG "x") MAX 4 COUNT 2 MODSEQ %d\r\n' % modseqs[2])  # all found
        data, _ = await say(a, "x SEARCH RETURN (COUNT) MODSEQ %d" % (modseqs[2] + 1))
        assert data.endswith(b'* ESEARCH (TAG "x") COUNT 0\r\n')  # none: no MODSEQ
        await store.close()
    run(main)


def test_saved_result_serves_later_commands(env):
    async def main():
        store, mailbox, a, b = await session(env, 6)
        await say(a, "s SELECT INBOX")
        assert await say(a, "f FETCH $ (FLAGS)") == (b"", "OK")  # nothing saved yet: no message
        await say(a, "s STORE 2,3,5 +FLAGS.SILENT (\\Flagged)")
        assert await say(a, "s SEARCH RETURN (SAVE) FLAGGED") == (b"", "OK")  # SAVE alone: no ESEARCH
        assert (await say(a, "f FETCH $ (UID)"))[0] \
            == b"* 2 FETCH (UID 2)\r\n* 3 FETCH (UID 3)\r\n* 5 FETCH (UID 5)\r\n"
        # another session expunges message 3: "$" no longer names it, and numbers move
        await say(b, "s SELECT INBOX")
        await say(b, "s STORE 3 +FLAGS.SILENT (\\Deleted)")
        await say(b, "s EXPUNGE")
        assert (await say(a, "n NOOP"))[0] == b"* 3 EXPUNGE\r\n"
        assert (await say(a, "f FETCH $ (UID)"))[0] == b"* 2 FETCH (UID 2)\r\n* 4 FETCH (UID 5)\r\n"
        assert (await say(a, "f UID FETCH $ (FLAGS)"))[0] \
            == b"* 2 FETCH (UID 2 FLAGS (\\Flagged \\Recent))\r\n* 4 FETCH (UID 5 FLAGS (\\Flagged \\Recent))\r\n"
        # in a SEARCH, as a sequence set and as UID $, and with other keys
        assert (await say(a, "x SEARCH $"))[0] == b"* SEARCH 2 4\r\n"
        assert (await say(a, "x UID SEARCH NOT UID $"))[0] == b"* SEARCH 1 4 6\r\n"
        assert (await say(a, "x SEARCH RETURN (COUNT) OR $ 1"))[0] == b'* ESEARCH (TAG "x") COUNT 3\r\n'
        # STORE, COPY and UID MOVE
        assert await say(a, "s STORE $ +FLAGS.SILENT (\\Seen)") == (b"", "OK")
        assert (await say(a, "x SEARCH SEEN"))[0] == b"* SEARCH 2 4\r\n"
        data, status = await say(a, "c COPY $ Trash")
        assert status.startswith("OK [COPYUID ") and status.endswith(" 2,5 1:2]")
        # SAVE with MIN alone keeps only the lowest (RFC 5182 2.4)
        await say(a, "s SEARCH RETURN (SAVE MIN) FLAGGED")
        assert (await say(a, "f FETCH $ (UID)"))[0] == b"* 2 FETCH (UID 2)\r\n"
        data, status = await say(a, "m UID MOVE $ Junk")
        assert b"* 2 EXPUNGE\r\n" in data and status.startswith("OK")
        assert await say(a, "f FETCH $ (UID)") == (b"", "OK")  # moved away: names nothing now
        # UID EXPUNGE $
        await say(a, "s SEARCH RETURN (SAVE) UID 6")
        await say(a, "s STORE 1:* +FLAGS.SILENT (\\Deleted)")
        data, _ = await say(a, "e UID EXPUNGE $")
        assert data == b"* 4 EXPUNGE\r\n"  # UID 6 only (UIDs 1 4 5 6 are left), though all are \Deleted
        # a new SELECT starts with nothing saved
        await say(a, "s SEARCH RETURN (SAVE) ALL")
        await say(a, "s EXAMINE INBOX")
        assert await say(a, "f FETCH $ (UID)") == (b"", "OK")
        await store.close()
    run(main)


def test_an_empty_saved_result_names_no_message_in_any_command(env):
    async def main():
        store, mailbox, a, _ = await session(env, 2)
        await say(a, "s SELECT INBOX")
        await say(a, "s SEARCH RETURN (SAVE) DRAFT")  # nothing found: "$" is empty
        for line in ("f FETCH $ (FLAGS)", "f UID FETCH $ (FLAGS)", "s STORE $ +FLAGS (\\Deleted)",
                     "s UID STORE $ +FLAGS (\\Deleted)", "c COPY $ Trash", "m MOVE $ Trash", "m UID MOVE $ Trash",
                     "e UID EXPUNGE $"):
            data, status = await say(a, line)
            assert data == b"" and status.startswith("OK"), (line, data, status)
        assert (await say(a, "x SEARCH $"))[0] == b"* SEARCH\r\n"
        assert (await say(a, "x SEARCH RETURN (COUNT) NOT $"))[0] == b'* ESEARCH (TAG "x") COUNT 2\r\n'
        assert [m.flags for m in await store.folder_messages(a.engine.selected.folder.id)] == [(), ()]
        await store.close()
    run(main)


def test_a_refused_save_empties_the_saved_result_over_the_wire(tmp_path):
    # RFC 5182 2.1: NO to a SEARCH RETURN (SAVE) (here the core's own BADCHARSET) leaves "$" empty;
    # BAD leaves it as it was.
    async def main():
        store, server, conn = await logged_in(tmp_path, 3)
        await conn.command(b"x SELECT INBOX")
        await conn.command(b"f STORE 2 +FLAGS.SILENT (\\Flagged)")
        flagged = [b"* 2 FETCH (FLAGS (\\Flagged \\Recent))\r\n", b"t OK FETCH completed.\r\n"]
        assert await conn.command(b"s SEARCH RETURN (SAVE) FLAGGED") == [b"s OK SEARCH completed.\r\n"]
        assert await conn.command(b"t FETCH $ (FLAGS)") == flagged
        assert await conn.command(b"b SEARCH RETURN (SAVE) NOSUCHKEY") == [b"b BAD Unknown search key NOSUCHKEY.\r\n"]
        assert await conn.command(b"t FETCH $ (FLAGS)") == flagged
        assert await conn.command(b"n SEARCH RETURN (SAVE) CHARSET KOI8-R ALL") == [
            b"n NO [BADCHARSET (US-ASCII UTF-8)] Unsupported charset KOI8-R.\r\n"]
        assert await conn.command(b"t FETCH $ (FLAGS)") == [b"t OK FETCH completed.\r\n"]
        await conn.command(b"q LOGOUT")
        server.close()
        await store.close()
    run(main)


def test_status_size_and_deleted(env):
    async def main():
        store, mailbox, a, _ = await session(env, 3)
        total = sum(len(message(f"m{n}")) for n in (1, 2, 3))
        assert await say(a, "s STATUS INBOX (SIZE DELETED MESSAGES)") \
            == (b"* STATUS INBOX (SIZE %d DELETED 0 MESSAGES 3)\r\n" % total, "OK")
        await say(a, "s SELECT INBOX")
        await say(a, "s STORE 1:2 +FLAGS.SILENT (\\Deleted)")
        assert (await say(a, "s STATUS INBOX (DELETED SIZE)"))[0] == b"* STATUS INBOX (DELETED 2 SIZE %d)\r\n" % total
        await say(a, "s EXPUNGE")
        assert (await say(a, "s STATUS INBOX (DELETED SIZE)"))[0] \
            == b"* STATUS INBOX (DELETED 0 SIZE %d)\r\n" % len(message("m3"))
        assert (await say(a, "s STATUS Trash (SIZE)"))[0] == b"* STATUS Trash (SIZE 0)\r\n"
        await store.close()
    run(main)


def test_list_extended_and_list_status(env):
    async def main():
        store, mailbox, a, _ = await session(env, 2)
        for name in ("Work/Reports", "Work/Old", "Play"):
            await say(a, f"c CREATE {name}")
        await say(a, "s SUBSCRIBE Work/Reports")
        await say(a, "s UNSUBSCRIBE Junk")
        await store.set_subscription(mailbox.id, "Gone/Away", True)  # a subscription without a folder
        # several patterns; RETURN (SUBSCRIBED) marks the subscribed
        assert (await say(a, 'l LIST "" ("INBOX" "Work/*") RETURN (SUBSCRIBED)'))[0] == (
            b'* LIST (\\Subscribed \\HasNoChildren) "/" INBOX\r\n'
            b'* LIST (\\HasNoChildren) "/" Work/Old\r\n'
            b'* LIST (\\Subscribed \\HasNoChildren) "/" Work/Reports\r\n')
        # SUBSCRIBED selects the subscriptions, folder or not
        assert (await say(a, 'l LIST (SUBSCRIBED) "" "*"'))[0] == (
            b'* LIST (\\Subscribed \\HasNoChildren) "/" INBOX\r\n'
            b'* LIST (\\Subscribed \\HasNoChildren \\Drafts) "/" Drafts\r\n'
            b'* LIST (\\NonExistent \\Subscribed \\HasNoChildren) "/" Gone/Away\r\n'
            b'* LIST (\\Subscribed \\HasNoChildren \\Sent) "/" Sent\r\n'
            b'* LIST (\\Subscribed \\HasNoChildren \\Trash) "/" Trash\r\n'
            b'* LIST (\\Subscribed \\HasNoChildren) "/" Work/Reports\r\n')
        # RECURSIVEMATCH: the levels above a subscription, with CHILDINFO
        data, _ = await say(a, 'l LIST (SUBSCRIBED RECURSIVEMATCH) "" "%" RETURN (CHILDREN)')
        assert b'* LIST (\\HasChildren) "/" Work ("CHILDINFO" ("SUBSCRIBED"))\r\n' in data
        assert b'* LIST (\\NonExistent \\HasNoChildren) "/" Gone ("CHILDINFO" ("SUBSCRIBED"))\r\n' in data
        assert b"Play" not in data and b"Junk" not in data and b"Reports" not in data
        # SPECIAL-USE selects the special-use folders
        assert (await say(a, 'l LIST (SPECIAL-USE) "" "*" RETURN (SPECIAL-USE)'))[0] == (
            b'* LIST (\\HasNoChildren \\Drafts) "/" Drafts\r\n* LIST (\\HasNoChildren \\Junk) "/" Junk\r\n'
            b'* LIST (\\HasNoChildren \\Sent) "/" Sent\r\n* LIST (\\HasNoChildren \\Trash) "/" Trash\r\n')
        # LIST-STATUS: each folder's STATUS after its LIST line
        total = sum(len(message(f"m{n}")) for n in (1, 2))
        data, _ = await say(a, 'l LIST "" ("INBOX" "Play" "Gone/*") RETURN (STATUS (MESSAGES UNSEEN SIZE))')
        assert data == (b'* LIST (\\HasNoChildren) "/" INBOX\r\n'
                        b"* STATUS INBOX (MESSAGES 2 UNSEEN 2 SIZE %d)\r\n"
                        b'* LIST (\\HasNoChildren) "/" Play\r\n'
                        b"* STATUS Play (MESSAGES 0 UNSEEN 0 SIZE 0)\r\n" % total)
        data, _ = await say(a, 'l LIST (SUBSCRIBED) "" "Gone/*" RETURN (STATUS (MESSAGES))')
        assert data == b'* LIST (\\NonExistent \\Subscribed \\HasNoChildren) "/" Gone/Away\r\n'  # no STATUS
        # the plain forms are as they were
        assert (await say(a, 'l LIST "" "Wo%"'))[0] == b'* LIST (\\HasChildren) "/" Work\r\n'
        assert (await say(a, 'l LIST "" ""'))[0] == b'* LIST (\\Noselect) "/" ""\r\n'
        assert (await say(a, 'l LSUB "" "Gone/*"'))[0] == b'* LSUB (\\Noselect \\HasNoChildren) "/" Gone/Away\r\n'
        await store.close()
    run(main)
