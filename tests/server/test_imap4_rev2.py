"""BINARY, UTF8=ACCEPT and IMAP4rev2 on a real store (SQLite and PostgreSQL) through the engine,
and over the wire through a session: decoded parts, literal8 APPEND, UTF-8 mailbox names once
enabled, and an IMAP4rev2 session that is told of no \\Recent."""
from __future__ import annotations

import asyncio
import base64
import imaplib
import re

from .test_imap4_engine import Client, backend, env, message, node_notifier, run, seq  # noqa: F401 (fixtures)
from .test_imap4_session import PLAIN, Conn, logged_in, start

from postroom.model import ImapSettings
from postroom.protocol.imap4 import types as t

PAYLOAD = b"\x00\x01\x02binary\xff\r\n"
MULTIPART = (
    b"From: Bob <bob@example.net>\r\nTo: alice@example.com\r\nSubject: parts\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n"
    b"--x\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
    b"caf=C3=A9 =3D soft=\r\n break\r\n"
    b"--x\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    + base64.encodebytes(PAYLOAD).replace(b"\n", b"\r\n") +
    b"--x\r\nContent-Type: application/zip\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\n"
    b"begin 644 a\r\n`\r\nend\r\n"
    b"--x--\r\n"
)


def binary(*specs: tuple[str, tuple[int, ...]], **kw) -> t.Fetch:
    return t.Fetch("f", seq(1), tuple(t.FetchAttribute(name, t.Section(part), **kw) for name, part in specs))


def test_binary_fetch_decodes_parts_and_sets_seen_unless_peek(env):
    async def main():
        store, mailbox = await env()
        await store.deliver(mailbox.id, MULTIPART)
        client = Client(store, mailbox.id, await node_notifier(store))
        await client.run(t.Select("s", "INBOX"))
        data, outcome = await client.run(binary(("BINARY[]", (2,)), ("BINARY.SIZE", (1,)), peek=False))
        assert outcome.status == "OK"
        assert data == b"* 1 FETCH (FLAGS (\\Seen \\Recent) BINARY[2] ~{%d}\r\n%s BINARY.SIZE[1] %d)\r\n" % (
            len(PAYLOAD), PAYLOAD, len("café = soft break".encode()))
        data, _ = await client.run(t.Fetch("f", seq(1), (t.FetchAttribute("BINARY[]", t.Section((1,)), peek=True,
                                                                          partial=(2, 4)),)))
        assert data == "* 1 FETCH (BINARY[1]<2> {4}\r\n".encode() + "fé ".encode()[:4] + b")\r\n"
        data, outcome = await client.run(binary(("BINARY[]", (3,)), peek=True))
        assert (outcome.status, outcome.code) == ("NO", "UNKNOWN-CTE") and b"x-uuencode" in outcome.text.encode()
        data, _ = await client.run(binary(("BINARY[]", ()), peek=True))
        assert data == b"* 1 FETCH (BINARY[] {%d}\r\n%s)\r\n" % (len(MULTIPART), MULTIPART)
        await store.close()
    run(main)


def test_binary_peek_leaves_seen_alone(env):
    async def main():
        store, mailbox = await env()
        await store.deliver(mailbox.id, MULTIPART)
        client = Client(store, mailbox.id, await node_notifier(store))
        await client.run(t.Select("s", "INBOX"))
        await client.run(binary(("BINARY[]", (1,)), ("BINARY.SIZE", (2,)), peek=True))
        assert [m.flags for m in await store.folder_messages(client.engine.selected.folder.id)] == [()]
        await store.close()
    run(main)


def test_binary_append_is_kept_base64_and_fetched_back_as_it_was(env):
    async def main():
        store, mailbox = await env()
        client = Client(store, mailbox.id, await node_notifier(store))
        appended = (b"Subject: bin\r\nContent-Type: multipart/mixed; boundary=z\r\n\r\n"
                    b"--z\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
                    b"--z\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n"
                    + PAYLOAD + b"\n\x00\r\n--z--\r\n")
        _, outcome = await client.run(t.Append("a", "INBOX", (), None, appended))
        assert outcome.status == "OK"
        await client.run(t.Select("s", "INBOX"))
        data, _ = await client.run(binary(("BINARY[]", (2,)), ("BINARY.SIZE", (2,)), peek=True))
        original = PAYLOAD + b"\n\x00"
        assert data == b"* 1 FETCH (BINARY[2] ~{%d}\r\n%s BINARY.SIZE[2] %d)\r\n" % (
            len(original), original, len(original))
        stored = (t.FetchAttribute("BODY[]", t.Section((2,)), peek=True),
                  t.FetchAttribute("BODY[]", t.Section((2,), "MIME"), peek=True))
        data, _ = await client.run(t.Fetch("f", seq(1), stored))
        assert base64.b64encode(original) in data and b"\x00" not in data  # kept as text
        assert b"Content-Transfer-Encoding: base64\r\n\r\n" in data
        _, outcome = await client.run(t.Append("a", "INBOX", (), None, b"Subject: nul \x00\r\n\r\nbody\r\n"))
        assert (outcome.status, outcome.code) == ("NO", "UNKNOWN-CTE")  # a NUL in a header: nothing to encode
        await store.close()
    run(main)


def test_append_round_trip_of_8bit_and_nul_content(env):
    async def main():
        store, mailbox = await env()
        client = Client(store, mailbox.id, await node_notifier(store))
        eight_bit = message("8bit", "d\xe9j\xe0 vu\r\n").replace(b"\xc3\xa9", b"\xe9")  # latin-1 octets, no NUL
        _, outcome = await client.run(t.Append("a", "INBOX", (), None, eight_bit))
        assert outcome.status == "OK"
        _, outcome = await client.run(t.Append("a", "INBOX", (), None, b"Subject: x\r\n\r\nnul \x00 here\r\n"))
        assert outcome.status == "OK"  # its body is stored base64-encoded
        await client.run(t.Select("s", "INBOX"))
        data, _ = await client.run(binary(("BINARY[]", (1,)), peek=True))
        body = eight_bit.split(b"\r\n\r\n", 1)[1]
        assert data == b"* 1 FETCH (BINARY[1] {%d}\r\n%s)\r\n" % (len(body), body)
        data, _ = await client.run(t.Fetch("f", seq(2), (t.FetchAttribute("BINARY[]", t.Section((1,)), peek=True),)))
        assert data == b"* 2 FETCH (BINARY[1] ~{12}\r\nnul \x00 here\r\n)\r\n"
        await store.close()
    run(main)


def test_utf8_mailbox_names_once_enabled(env):
    async def main():
        store, mailbox = await env()
        client = Client(store, mailbox.id, await node_notifier(store))
        assert (await client.run(t.Create("c", "Café/日本")))[1].status == "OK"
        data, _ = await client.run(t.List("l", "", "Caf*"))
        assert data == b'* LIST (\\HasChildren) "/" Caf&AOk-\r\n* LIST (\\HasNoChildren) "/" Caf&AOk-/&ZeVnLA-\r\n'
        data, _ = await client.run(t.Enable("e", ("UTF8=ACCEPT",)))
        assert data == b"* ENABLED UTF8=ACCEPT\r\n"
        data, _ = await client.run(t.List("l", "", "Caf*"))
        assert data == '* LIST (\\HasChildren) "/" "Café"\r\n* LIST (\\HasNoChildren) "/" "Café/日本"\r\n'.encode()
        data, _ = await client.run(t.Status("s", "Café/日本", ("MESSAGES",)))
        assert data == '* STATUS "Café/日本" (MESSAGES 0)\r\n'.encode()
        data, _ = await client.run(t.Enable("e", ("UTF8=ACCEPT", "IMAP4REV2")))
        assert data == b"* ENABLED IMAP4rev2\r\n"  # UTF8=ACCEPT was on already
        _, outcome = await client.run(t.Create("c", "Cafe\u0301"))  # decomposed: not Net-Unicode (RFC 5198)
        assert (outcome.status, outcome.code) == ("NO", "CANNOT")
        await store.close()
    run(main)


def test_rev2_session_sees_no_recent_and_gets_uids_in_unsolicited_fetches(env):
    async def main():
        store, mailbox = await env()
        for n in range(2):
            await store.deliver(mailbox.id, message(f"m{n}"))
        notifier = await node_notifier(store)
        rev2, other = Client(store, mailbox.id, notifier), Client(store, mailbox.id, notifier)
        assert (await rev2.run(t.Enable("e", ("IMAP4REV2",))))[0] == b"* ENABLED IMAP4rev2\r\n"
        data, outcome = await rev2.run(t.Select("s", "INBOX"))
        assert outcome.code == "READ-WRITE" and b"* 2 EXISTS\r\n" in data
        assert b"RECENT" not in data and b"[UNSEEN" not in data
        assert data.endswith(b'* LIST (\\HasNoChildren) "/" INBOX\r\n')
        data, _ = await rev2.run(t.Fetch("f", seq(1), (t.FetchAttribute("FLAGS"),)))
        assert data == b"* 1 FETCH (FLAGS ())\r\n"
        await other.run(t.Select("s", "INBOX"))
        await other.run(t.Store("w", seq(2), "add", ("\\Deleted",)))
        await store.deliver(mailbox.id, message("m2"))
        data, _ = await rev2.run(t.Noop("n"))
        assert data == b"* 2 FETCH (UID 2 FLAGS (\\Deleted))\r\n* 3 EXISTS\r\n"
        data, _ = await rev2.run(t.Status("s", "INBOX", ("MESSAGES", "DELETED")))
        assert data == b"* STATUS INBOX (MESSAGES 3 DELETED 1)\r\n"
        await store.close()
    run(main)


def test_rev2_search_answers_esearch_over_the_wire(tmp_path):
    async def main():
        store, server, conn = await logged_in(tmp_path, 3)
        assert await conn.command(b"s SEARCH ALL", tag=b"s") == [b"s BAD SEARCH needs a selected mailbox: SELECT "
                                                                  b"one first.\r\n"]
        await conn.command(b"e ENABLE IMAP4rev2")
        await conn.command(b"x SELECT INBOX")
        assert await conn.command(b"s SEARCH ALL") == [b'* ESEARCH (TAG "s") ALL 1:3\r\n',
                                                       b"s OK SEARCH completed.\r\n"]
        assert await conn.command(b"u UID SEARCH 2:*") == [b'* ESEARCH (TAG "u") UID ALL 2:3\r\n',
                                                           b"u OK SEARCH completed.\r\n"]
        assert await conn.command(b"n SEARCH SUBJECT nothing") == [b'* ESEARCH (TAG "n")\r\n',
                                                                   b"n OK SEARCH completed.\r\n"]
        await conn.command(b"q LOGOUT")
        server.close()
        await store.close()
    run(main)


def test_wire_enable_utf8_names_literal8_append_and_binary(tmp_path):
    async def main():
        store, mailbox, service, server, port = await start(tmp_path, ImapSettings(**PLAIN))
        conn = await Conn.open(port)
        assert b" IMAP4rev2 " in conn.greeting and b" BINARY " in conn.greeting and b"UTF8=ACCEPT" in conn.greeting
        await conn.login()
        assert await conn.command(b"e ENABLE UTF8=ACCEPT IMAP4rev2") == [
            b"* ENABLED UTF8=ACCEPT IMAP4rev2\r\n", b"e OK ENABLE completed.\r\n"]
        assert (await conn.command('c CREATE "Thé & co"'.encode()))[-1] == b"c OK CREATE completed.\r\n"
        assert await conn.command(b'l LIST "" "Th*"') == [
            '* LIST (\\HasNoChildren) "/" "Thé & co"\r\n'.encode(), b"l OK LIST completed.\r\n"]
        conn.writer.write(b'a APPEND "Th\xc3\xa9 & co" UTF8 (~{%d+}\r\n%s)\r\n' % (len(MULTIPART), MULTIPART))
        replies = await conn.command(b"", tag=b"a")
        assert re.fullmatch(rb"a OK \[APPENDUID \d+ 1\] APPEND completed.\r\n", replies[-1]), replies
        replies = await conn.command('s SELECT "Thé & co"'.encode())
        assert b"* 1 EXISTS\r\n" in replies and not any(b"RECENT" in line for line in replies)
        conn.writer.write(b"f FETCH 1 (BINARY.PEEK[2] BINARY.SIZE[2])\r\n")
        head = await asyncio.wait_for(conn.reader.readline(), 5)
        assert head == b"* 1 FETCH (BINARY[2] ~{%d}\r\n" % len(PAYLOAD)
        assert await conn.reader.readexactly(len(PAYLOAD)) == PAYLOAD
        assert await conn.command(b"", tag=b"f") == [b" BINARY.SIZE[2] %d)\r\n" % len(PAYLOAD),
                                                     b"f OK FETCH completed.\r\n"]
        await conn.command(b"q LOGOUT")
        server.close()
        await store.close()
    asyncio.run(main())


def test_imaplib_client_enables_and_fetches_binary(tmp_path):
    """Python's imaplib as the client: ENABLE, then FETCH BINARY.PEEK of a quoted-printable part."""
    async def main():
        store, mailbox, service, server, port = await start(tmp_path, ImapSettings(**PLAIN))
        await store.deliver(mailbox.id, MULTIPART)

        def client() -> tuple:
            with imaplib.IMAP4("127.0.0.1", port) as imap:
                imap.login("alice@example.com", "pw-1")
                enabled = imap.enable("UTF8=ACCEPT")
                imap.select("INBOX")
                fetched = imap.fetch("1", "(BINARY.PEEK[1] BINARY.SIZE[1])")
                return enabled, fetched
        enabled, (status, data) = await asyncio.to_thread(client)
        assert enabled[0] == "OK" and status == "OK"
        assert data[0][0] == b"1 (BINARY[1] {18}" and data[0][1] == "café = soft break".encode()
        server.close()
        await store.close()
    asyncio.run(main())
