"""IMAP4 core: every command form of types.py parsed from the wire (RFC 3501 examples and the
extensions' ones), and the readable BAD for malformed ones."""
from __future__ import annotations

import datetime

import pytest
from imap4_driver import PLAIN_LOGIN

from postroom.protocol.imap4 import types as T
from postroom.protocol.imap4.core import ImapServer, Request
from postroom.protocol.imap4.types import FetchAttribute as A
from postroom.protocol.imap4.types import SearchKey as K
from postroom.protocol.imap4.types import Section, SequenceSet


def command(data: bytes, selected: bool = True) -> T.Command | bytes:
    """The Request `data` (one command, CRLF added) gives in a logged-in session
    (SELECTED unless told), or the reply the core sent instead."""
    conn = ImapServer(PLAIN_LOGIN)
    conn.receive_data(b"a LOGIN u secret\r\n")
    conn.next_event()
    conn.auth_succeeded()
    conn.selected(selected)
    conn.data_to_send()
    conn.receive_data(data + b"\r\n")
    ev = conn.next_event()
    out = b"".join(conn.data_to_send())
    if isinstance(ev, Request):
        return ev.command
    return out.replace(b"+ Ready for literal data\r\n", b"")


def seq(*ranges: tuple[int | None, int | None]) -> SequenceSet:
    return SequenceSet(tuple(ranges))


# ---------------------------------------------------------------- RFC 3501 6.3 examples
@pytest.mark.parametrize("line, parsed", [
    (b"A142 SELECT INBOX", T.Select("A142", "INBOX")),
    (b"A142 SELECT inbox", T.Select("A142", "INBOX")),
    (b'A932 EXAMINE "blurdybloop"', T.Select("A932", "blurdybloop", readonly=True)),
    (b"A003 CREATE owatagusiam/", T.Create("A003", "owatagusiam/")),
    (b'A004 CREATE "~peter/mail/&U,BTFw-/&ZeVnLIqe-"', T.Create("A004", "~peter/mail/台北/日本語")),
    (b"A683 DELETE blurdybloop", T.Delete("A683", "blurdybloop")),
    (b"A683 RENAME blurdybloop sarasoop", T.Rename("A683", "blurdybloop", "sarasoop")),
    (b"Z432 RENAME INBOX old-mail", T.Rename("Z432", "INBOX", "old-mail")),
    (b"A002 SUBSCRIBE #news.comp.mail.mime", T.Subscribe("A002", "#news.comp.mail.mime")),
    (b"A002 UNSUBSCRIBE #news.comp.mail.mime", T.Subscribe("A002", "#news.comp.mail.mime", False)),
    (b'A101 LIST "" ""', T.List("A101", "", "")),
    (b'A102 LIST #news.comp.mail.misc ""', T.List("A102", "#news.comp.mail.misc", "")),
    (b"A202 LIST ~/Mail/ %", T.List("A202", "~/Mail/", "%")),
    (b'A203 LIST "" *', T.List("A203", "", "*")),
    (b'A204 LIST "" INBOX/%]x', T.List("A204", "", "INBOX/%]x")),
    (b"A002 LSUB #news. comp.mail.*", T.List("A002", "#news.", "comp.mail.*", lsub=True)),
    (b"A042 STATUS blurdybloop (UIDNEXT MESSAGES)", T.Status("A042", "blurdybloop", ("UIDNEXT", "MESSAGES"))),
    (b"A043 STATUS Sent (messages recent uidvalidity unseen)",
     T.Status("A043", "Sent", ("MESSAGES", "RECENT", "UIDVALIDITY", "UNSEEN"))),
    (b"A341 CLOSE", T.Close("A341")),
    (b"A202 EXPUNGE", T.Expunge("A202")),
    (b"FXXZ CHECK", T.Check("FXXZ")),
    (b"a1 NOOP", T.Noop("a1")),
    (b"a1 UNSELECT", T.Unselect("a1")),
    (b"a1 NAMESPACE", T.Namespace("a1")),
    (b"A003 COPY 2:4 MEETING", T.Copy("A003", seq((2, 4)), "MEETING")),
    (b"a UID MOVE 42:69 foo", T.Copy("a", seq((42, 69)), "foo", uid=True, move=True)),
    (b"a MOVE 1,3:* Trash", T.Copy("a", seq((1, 1), (3, None)), "Trash", move=True)),
    (b"A003 UID EXPUNGE 3000:3002", T.Expunge("A003", seq((3000, 3002)))),
    (b'a023 ID ("name" "sodr" "version" "19.34" "vendor" NIL)',
     T.Id("a023", (("name", "sodr"), ("version", "19.34"), ("vendor", None)))),
    (b"a023 ID NIL", T.Id("a023", None)),
    (b"a ID ()", T.Id("a", ())),
])
def test_mailbox_and_simple_commands(line, parsed):
    assert command(line) == parsed


def test_enable_only_unselected():
    assert command(b"t2 ENABLE CONDSTORE X-GOOD-IDEA", selected=False) == T.Enable("t2", ("CONDSTORE", "X-GOOD-IDEA"))
    assert command(b"t2 ENABLE", selected=False) == b"t2 BAD ENABLE needs at least one capability name.\r\n"


def test_append_forms():
    message = b"Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\nSubject: afternoon meeting\r\n\r\nHello Joe\r\n"
    literal = b"{%d}\r\n" % len(message) + message
    assert command(b"A003 APPEND saved-messages (\\Seen) " + literal) == T.Append(
        "A003", "saved-messages", ("\\Seen",), None, message)
    when = datetime.datetime(1996, 7, 17, 2, 44, 25, tzinfo=datetime.timezone(datetime.timedelta(hours=-7)))
    assert command(b'A1 APPEND Drafts () " 7-Jul-1996 02:44:25 -0700" ' + literal) == T.Append(
        "A1", "Drafts", (), when.replace(day=7), message)
    assert command(b'A1 APPEND INBOX "17-Jul-1996 02:44:25 -0700" ' + literal) == T.Append(
        "A1", "INBOX", (), when, message)
    assert command(b"A1 APPEND INBOX (\\Flagged $Label1 \\seen) " + literal).flags == ("\\Flagged", "$Label1", "\\Seen")


@pytest.mark.parametrize("line, error", [
    (b"A1 APPEND INBOX \"hello\"", b"Expected a date-time like \"17-Jul-1996 02:44:25 -0700\"."),
    (b"A1 APPEND INBOX (\\Recent) {1}\r\nx", b"\\Recent cannot be set by a client."),
    (b'A1 APPEND INBOX "31-Feb-2020 00:00:00 +0000" {1}\r\nx', b'Invalid date-time "31-Feb-2020 00:00:00 +0000".'),
    (b"A1 APPEND INBOX {1}\r\nx {1}\r\ny", b"Appending several messages (MULTIAPPEND) is not supported."),
    (b"A1 APPEND INBOX", b"Expected the message literal."),
])
def test_append_errors(line, error):
    assert command(line) == b"A1 BAD " + error + b"\r\n"


# ------------------------------------------------------------------------------ FETCH
ALL = (A("FLAGS"), A("INTERNALDATE"), A("RFC822.SIZE"), A("ENVELOPE"))


@pytest.mark.parametrize("line, parsed", [
    (b"A1 FETCH 1 ALL", T.Fetch("A1", seq((1, 1)), ALL)),
    (b"A1 FETCH 1 fast", T.Fetch("A1", seq((1, 1)), ALL[:3])),
    (b"A1 FETCH 1 FULL", T.Fetch("A1", seq((1, 1)), (*ALL, A("BODY")))),
    (b"A1 FETCH 2:4 (FLAGS BODY[HEADER.FIELDS (DATE FROM)])",
     T.Fetch("A1", seq((2, 4)), (A("FLAGS"), A("BODY[]", Section((), "HEADER.FIELDS", ("DATE", "FROM")))))),
    (b"A1 FETCH * (BODY.PEEK[1.2.HEADER.FIELDS.NOT (\"X-Spam\" received)]<10.20>)",
     T.Fetch("A1", seq((None, None)), (A("BODY[]", Section((1, 2), "HEADER.FIELDS.NOT", ("X-SPAM", "RECEIVED")),
                                         True, (10, 20)),))),
    (b"A1 FETCH 1 (BODY[] BODY[TEXT] BODY[1] BODY[3.MIME] body[4.1.text] BODYSTRUCTURE)",
     T.Fetch("A1", seq((1, 1)), (A("BODY[]", Section()), A("BODY[]", Section((), "TEXT")), A("BODY[]", Section((1,))),
                                 A("BODY[]", Section((3,), "MIME")), A("BODY[]", Section((4, 1), "TEXT")),
                                 A("BODYSTRUCTURE")))),
    (b"A1 FETCH 1:2,5 (UID RFC822 RFC822.HEADER RFC822.TEXT RFC822.SIZE ENVELOPE INTERNALDATE BODY)",
     T.Fetch("A1", seq((1, 2), (5, 5)), tuple(A(n) for n in (
         "UID", "RFC822", "RFC822.HEADER", "RFC822.TEXT", "RFC822.SIZE", "ENVELOPE", "INTERNALDATE", "BODY")))),
    (b"A999 UID FETCH 4827313:4828442 FLAGS", T.Fetch("A999", seq((4827313, 4828442)), (A("UID"), A("FLAGS")), True)),
    (b"A999 UID FETCH 1:* (FLAGS UID)", T.Fetch("A999", seq((1, None)), (A("FLAGS"), A("UID")), True)),
])
def test_fetch_forms(line, parsed):
    assert command(line) == parsed


@pytest.mark.parametrize("line, error", [
    (b"A1 FETCH 0 FLAGS", b"Invalid sequence set 0: numbers are 1 to 4294967295 or *."),
    (b"A1 FETCH 1:4294967296 FLAGS", b"Invalid sequence set 1:4294967296: numbers are 1 to 4294967295 or *."),
    (b"A1 FETCH 1::2 FLAGS", b"Invalid sequence set 1::2."),
    (b"A1 FETCH x FLAGS", b"Expected a sequence set (like 1:5,7, 2:* or $)."),
    (b"A1 FETCH 1 (FLAGS ALL)", b"ALL is a macro: it cannot be part of a list."),
    (b"A1 FETCH 1 BODY.PEEK", b"BODY.PEEK needs a [section]."),
    (b"A1 FETCH 1 (FLAGS", b"Expected a space or ) in the FETCH item list."),
    (b"A1 FETCH 1 BINARY[TEXT]", b"A BINARY section is part numbers only, like [1.2] (no HEADER, TEXT or MIME)."),
    (b"A1 FETCH 1 BODY[MIME]", b"Invalid section text 'MIME': HEADER, HEADER.FIELDS (...), "
                               b"HEADER.FIELDS.NOT (...), TEXT, or MIME after a part number."),
    (b"A1 FETCH 1 BODY[0]", b"0 is out of range for a part number: 1 to 4294967295."),
    (b"A1 FETCH 1 BODY[HEADER.FIELDS]", b"Expected a space and the header field list."),
    (b"A1 FETCH 1 BODY[HEADER.FIELDS (A:B)]", b"Invalid header field name 'A:B'."),
    (b"A1 FETCH 1 BODY[]<5.0>", b"0 is out of range for the partial's length: 1 to 4294967295."),
    (b"A1 FETCH 1 FLAGS (CHANGEDSINCE 5 VANISHED)", b"The VANISHED modifier is only valid with UID FETCH."),
    (b"A1 FETCH 1  FLAGS", b"Expected a FETCH item (like FLAGS, UID or BODY.PEEK[HEADER])."),
])
def test_fetch_errors(line, error):
    assert command(line) == b"A1 BAD " + error + b"\r\n"


# ------------------------------------------------------------------------------ STORE
@pytest.mark.parametrize("line, parsed", [
    (b"A003 STORE 2:4 +FLAGS (\\Deleted)", T.Store("A003", seq((2, 4)), "add", ("\\Deleted",))),
    (b"A003 STORE 2:4 -FLAGS.SILENT \\Seen \\Flagged", T.Store("A003", seq((2, 4)), "remove", ("\\Seen", "\\Flagged"),
                                                               silent=True)),
    (b"A003 UID STORE 9 flags ()", T.Store("A003", seq((9, 9)), "replace", (), uid=True)),
    (b"A003 STORE 1 FLAGS.SILENT ($Forwarded \\ANSWERED \\Draft)",
     T.Store("A003", seq((1, 1)), "replace", ("$Forwarded", "\\Answered", "\\Draft"), silent=True)),
])
def test_store_forms(line, parsed):
    assert command(line) == parsed


@pytest.mark.parametrize("line, error", [
    (b"A1 STORE 1 *FLAGS (\\Seen)", b"Expected FLAGS, +FLAGS or -FLAGS."),
    (b"A1 STORE 1 +FLAG (\\Seen)", b"Unknown STORE item +FLAG: FLAGS, +FLAGS or -FLAGS (with .SILENT)."),
    (b"A1 STORE 1 FLAGS (\\Recent)", b"\\Recent cannot be set by a client."),
    (b"A1 STORE 1 FLAGS (\\Seen", b"Expected a space or ) in the flag list."),
    (b"A1 STORE 1 FLAGS", b"Expected the flags."),
])
def test_store_errors(line, error):
    assert command(line) == b"A1 BAD " + error + b"\r\n"


# ----------------------------------------------------------------------------- SEARCH
def test_search_rfc3501_examples():
    assert command(b'A282 SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM "Smith"') == T.Search("A282", K("AND", (
        K("FLAGGED"), K("SINCE", (datetime.date(1994, 2, 1),)), K("NOT", (K("FROM", ("Smith",)),)))))
    assert command(b'A283 SEARCH TEXT "string not in mailbox"') == T.Search("A283", K("AND", (
        K("TEXT", ("string not in mailbox",)),)))
    assert command(b"A284 SEARCH CHARSET UTF-8 TEXT {6}\r\nXXXXXX") == T.Search("A284", K("AND", (
        K("TEXT", ("XXXXXX",)),)), "UTF-8")


def test_search_every_key():
    line = (b'A1 UID SEARCH CHARSET us-ascii ALL ANSWERED BCC b BEFORE "2-Mar-2020" BODY x CC c DELETED DRAFT FLAGGED '
            b"FROM f HEADER X-Mailer {4}\r\n\xc3\xa9t\xc3 KEYWORD $Junk LARGER 100 NEW NOT SEEN OLD ON 3-apr-2021 "
            b"OR 1:3 UID 5:* RECENT SEEN SENTBEFORE 1-Jan-2000 SENTON 1-Jan-2000 SENTSINCE 1-Jan-2000 SINCE 1-Jan-2000 "
            b"SMALLER 5 SUBJECT \"s\\\"q\" TEXT t TO t UID 1,2 UNANSWERED UNDELETED UNDRAFT UNFLAGGED UNKEYWORD k "
            b"UNSEEN (DELETED (SEEN)) 2,4:*")
    parsed = command(line.replace(b"{4}\r\n\xc3\xa9t\xc3", b"{3}\r\n\xc3\xa9t"))
    jan = datetime.date(2000, 1, 1)
    assert parsed == T.Search("A1", K("AND", (
        K("ALL"), K("ANSWERED"), K("BCC", ("b",)), K("BEFORE", (datetime.date(2020, 3, 2),)), K("BODY", ("x",)),
        K("CC", ("c",)), K("DELETED"), K("DRAFT"), K("FLAGGED"), K("FROM", ("f",)), K("HEADER", ("X-Mailer", "ét")),
        K("KEYWORD", ("$Junk",)), K("LARGER", (100,)), K("NEW"), K("NOT", (K("SEEN"),)), K("OLD"),
        K("ON", (datetime.date(2021, 4, 3),)), K("OR", (K("SEQ", (seq((1, 3)),)), K("UID", (seq((5, None)),)))),
        K("RECENT"), K("SEEN"), K("SENTBEFORE", (jan,)), K("SENTON", (jan,)), K("SENTSINCE", (jan,)),
        K("SINCE", (jan,)), K("SMALLER", (5,)), K("SUBJECT", ('s"q',)), K("TEXT", ("t",)), K("TO", ("t",)),
        K("UID", (seq((1, 1), (2, 2)),)), K("UNANSWERED"), K("UNDELETED"), K("UNDRAFT"), K("UNFLAGGED"),
        K("UNKEYWORD", ("k",)), K("UNSEEN"), K("AND", (K("DELETED"), K("AND", (K("SEEN"),)))),
        K("SEQ", (seq((2, 2), (4, None)),)),
    )), "US-ASCII", uid=True)


@pytest.mark.parametrize("line, reply", [
    (b"A1 SEARCH CHARSET ISO-8859-1 TEXT x", b"A1 NO [BADCHARSET (US-ASCII UTF-8)] Unsupported charset ISO-8859-1."),
    (b"A1 SEARCH", b"A1 BAD Expected a search key."),
    (b"A1 SEARCH FROB", b"A1 BAD Unknown search key FROB."),
    (b"A1 SEARCH SINCE 30-Feb-2020", b"A1 BAD Invalid date 30-Feb-2020."),
    (b"A1 SEARCH SINCE yesterday", b"A1 BAD Expected a date like 1-Feb-1994."),
    (b"A1 SEARCH LARGER", b"A1 BAD Expected an argument after LARGER."),
    (b"A1 SEARCH LARGER x", b"A1 BAD Expected the LARGER size (a number)."),
    (b"A1 SEARCH OR SEEN", b"A1 BAD Expected a second search key after OR."),
    (b"A1 SEARCH (SEEN", b"A1 BAD Expected a space or ) in the search key list."),
    (b"A1 SEARCH SUBJECT \xff\xfe", b"A1 BAD The SUBJECT string is not valid UTF-8."),
    # well-formed strings whose octets are not UTF-8 (imaptest cuts words mid-character): refused, not BAD
    (b'A1 SEARCH SUBJECT "\xc3"', b"A1 NO [BADCHARSET (US-ASCII UTF-8)] The SUBJECT string is not valid UTF-8."),
    (b"A1 SEARCH SUBJECT {1+}\r\n\xc3", b"A1 NO [BADCHARSET (US-ASCII UTF-8)] The SUBJECT string is not valid UTF-8."),
    (b"A1 SEARCH HEADER X-A \"\xc3\"", b"A1 NO [BADCHARSET (US-ASCII UTF-8)] The HEADER string is not valid UTF-8."),
    (b"A1 SEARCH " + b"NOT " * 40 + b"SEEN", b"A1 BAD The search program is nested too deeply."),
    (b"A1 SEARCH RETURN (FIRST) ALL", b"A1 BAD Unknown RETURN option FIRST: MIN, MAX, ALL, COUNT or SAVE."),
])
def test_search_errors(line, reply):
    assert command(line) == reply + b"\r\n"


# --------------------------------------------------------------------- other BAD forms
@pytest.mark.parametrize("line, error", [
    (b"A1 SELECT", b"Expected a mailbox name."),
    (b"A1 SELECT INBOX (ANNOTATE)", b"Unknown SELECT parameter ANNOTATE: CONDSTORE or QRESYNC."),
    (b'A1 SELECT "unterminated', b"Unterminated quoted string."),
    (b'A1 SELECT "bad\\escape"', b'Invalid escape in a quoted string (only \\" and \\\\ are allowed).'),
    (b"A1 SELECT &Jjo", b"A mailbox name is not valid modified UTF-7 (or UTF-8)."),
    (b'A1 CREATE "a\x01b"', b"A mailbox name must not contain control characters."),
    (b"A1 CREATE a  b", b"Unexpected characters at the end of CREATE."),
    (b"A1 RENAME a", b"Expected the new mailbox name."),
    (b"A1 STATUS INBOX (MESSAGES SIZES)", b"Unknown status item SIZES: MESSAGES, RECENT, UIDNEXT, UIDVALIDITY,"
     b" UNSEEN, HIGHESTMODSEQ, SIZE or DELETED."),
    (b"A1 UID FROB 1", b"UID FROB is not a command: UID FETCH, SEARCH, STORE, COPY, MOVE or EXPUNGE."),
    (b"A1 UID EXPUNGE", b"Expected a UID set."),
    (b"A1 EXPUNGE 1", b"Unexpected characters at the end of EXPUNGE."),
    (b"A1 NOOP now", b"Unexpected characters at the end of NOOP."),
    (b"A1 COPY 1", b"Expected the destination mailbox."),
    (b"A1 ID (\"a\")", b"Expected the value of the ID field."),
    (b"A1 ID maybe", b"Expected NIL or a parameter list."),
    (b"A1 SELECT {5}x", b"Invalid literal."),
])
def test_malformed_commands_name_what_is_wrong(line, error):
    assert command(line) == b"A1 BAD " + error + b"\r\n"
