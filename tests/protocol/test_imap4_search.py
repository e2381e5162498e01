"""IMAP4 SEARCH evaluation: every search key of RFC 3501 6.4.4 against a ContentView, decoded
text (RFC 2047 headers, base64 and quoted-printable bodies, charsets), dates by day, sequence
sets with "*", and which programs need the message's bytes."""
from __future__ import annotations

import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from imap4_messages import MIXED, NESTED

from postroom.protocol.imap4.search import ContentView, matches, needs_content, parse_date, reads
from postroom.protocol.imap4.types import SearchKey, SequenceSet

MESSAGE = (
    b"Date: Tue, 1 Jul 2003 23:52:37 -0700\r\n"
    b"From: =?utf-8?q?J=C3=B6rg?= =?utf-8?b?IE3DvGxsZXI=?= <joerg@example.de>\r\n"
    b"To: Alice <alice@example.com>, bob@example.com\r\n"
    b"Cc: carol@example.net\r\n"
    b"Bcc: dave@example.org\r\n"
    b"Subject: Quarterly =?iso-8859-1?q?R=E9sum=E9?=\r\n"
    b"X-Priority: 1\r\n"
    b"X-Empty:\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: multipart/mixed; boundary=b\r\n"
    b"\r\n"
    b"--b\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"R3LDvMOfZSBhdXMgS8O2bG4sIHRoZSBzZWNyZXQgd29yZCBpcyBaZXBoeXIu\r\n"
    b"--b\r\n"
    b"Content-Type: text/html; charset=iso-8859-1\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"<p>Caf=E9 cr=E8me, soft=\r\nbreak</p>\r\n"
    b"--b\r\n"
    b"Content-Type: application/octet-stream\r\n"
    b"\r\n"
    b"attachment-only-token\r\n"
    b"--b--\r\n"
)


def view(data=MESSAGE, msn=3, uid=30, flags=("\\Seen", "\\Flagged", "$Important"), size=None,
         internal=datetime.date(2003, 7, 2), recent=False):
    return ContentView(msn, uid, flags, len(data or b"") if size is None else size, internal, recent, data)


def key(op, *args):
    return SearchKey(op, args)


def check(search_key, **kw):
    return matches(search_key, view(**kw), largest_msn=10, largest_uid=100)


@pytest.mark.parametrize("op, with_flag, without", [
    ("ANSWERED", ("\\Answered",), ()), ("DELETED", ("\\Deleted",), ()), ("DRAFT", ("\\Draft",), ()),
    ("FLAGGED", ("\\Flagged",), ()), ("SEEN", ("\\Seen",), ()),
    ("UNANSWERED", (), ("\\Answered",)), ("UNDELETED", (), ("\\Deleted",)), ("UNDRAFT", (), ("\\Draft",)),
    ("UNFLAGGED", (), ("\\Flagged",)), ("UNSEEN", (), ("\\Seen",)),
])
def test_flag_keys(op, with_flag, without):
    assert check(key(op), flags=with_flag) and not check(key(op), flags=without)


def test_flags_compare_case_insensitively():
    assert check(key("SEEN"), flags=("\\SEEN",))
    assert check(key("KEYWORD", "$important")) and not check(key("KEYWORD", "$Other"))
    assert check(key("UNKEYWORD", "$Other")) and not check(key("UNKEYWORD", "$IMPORTANT"))


def test_recent_new_old():
    assert check(key("RECENT"), recent=True) and not check(key("RECENT"))
    assert check(key("NEW"), recent=True, flags=()) and not check(key("NEW"), recent=True)  # \Seen
    assert not check(key("NEW"), recent=False, flags=())
    assert check(key("OLD")) and not check(key("OLD"), recent=True)


def test_all_not_or_and():
    assert check(key("ALL"))
    assert not check(key("NOT", key("ALL")))
    assert check(key("OR", key("DELETED"), key("SEEN")))
    assert not check(key("OR", key("DELETED"), key("DRAFT")))
    assert check(key("AND", key("SEEN"), key("FLAGGED")))
    assert not check(key("AND", key("SEEN"), key("DELETED")))
    assert check(key("AND"))  # an empty list matches everything


def test_sequence_sets_with_star():
    assert check(key("SEQ", SequenceSet(((1, 3),))))
    assert not check(key("SEQ", SequenceSet(((4, None),))), msn=3)
    assert check(key("SEQ", SequenceSet(((None, None),))), msn=10)  # "*" is the last message
    assert check(key("UID", SequenceSet(((30, 30),))))
    assert check(key("UID", SequenceSet(((None, 25),))))  # 25:* covers 30 (largest 100)
    assert not check(key("UID", SequenceSet(((31, 99),))))


def test_sizes():
    assert check(key("LARGER", 99), size=100) and not check(key("LARGER", 100), size=100)
    assert check(key("SMALLER", 101), size=100) and not check(key("SMALLER", 100), size=100)


def test_internal_date_keys_compare_days():
    assert check(key("ON", datetime.date(2003, 7, 2)))
    assert check(key("BEFORE", datetime.date(2003, 7, 3))) and not check(key("BEFORE", datetime.date(2003, 7, 2)))
    assert check(key("SINCE", datetime.date(2003, 7, 2))) and not check(key("SINCE", datetime.date(2003, 7, 3)))


def test_sent_date_keys_use_the_date_header_day_in_its_own_zone():
    # 23:52 -0700 on 1 July is 2 July in UTC: RFC 3501 disregards time and timezone.
    assert check(key("SENTON", datetime.date(2003, 7, 1)))
    july = datetime.date(2003, 7, 1), datetime.date(2003, 7, 2)
    assert check(key("SENTBEFORE", july[1])) and not check(key("SENTBEFORE", july[0]))
    assert check(key("SENTSINCE", july[0])) and not check(key("SENTSINCE", july[1]))
    no_date = b"Subject: x\r\n\r\n"
    assert not check(key("SENTON", datetime.date(2003, 7, 1)), data=no_date)
    assert check(key("NOT", key("SENTSINCE", datetime.date(2003, 7, 1))), data=no_date)


@pytest.mark.parametrize("value, expected", [
    ("Tue, 1 Jul 2003 10:52:37 +0200", datetime.date(2003, 7, 1)),
    ("1 Jul 03 10:52 GMT", datetime.date(2003, 7, 1)),
    ("Sat, 31 Dec 99 23:59 EST", datetime.date(1999, 12, 31)),
    ("17-Jul-1996 02:44:25 -0700", datetime.date(1996, 7, 17)),
    ("2024-02-29T10:00:00Z", datetime.date(2024, 2, 29)),
    ("31 Feb 2003", None), ("yesterday", None), ("", None),
])
def test_parse_date(value, expected):
    assert parse_date(value) == expected


@pytest.mark.parametrize("op, needle, found", [
    ("FROM", "jörg müller", True), ("FROM", "JOERG@EXAMPLE", True), ("FROM", "alice", False),
    ("TO", "alice", True), ("TO", "BOB@", True), ("TO", "carol", False),
    ("CC", "carol", True), ("CC", "dave", False), ("BCC", "dave@example.org", True),
    ("SUBJECT", "résumé", True), ("SUBJECT", "QUARTERLY", True), ("SUBJECT", "annual", False),
    ("BODY", "GRÜSSE aus köln", True), ("BODY", "ZEPHYR", True), ("BODY", "café crème", True),
    ("BODY", "softbreak", True), ("BODY", "attachment-only-token", False), ("BODY", "Quarterly", False),
    ("TEXT", "Quarterly", True), ("TEXT", "zephyr", True), ("TEXT", "x-priority: 1", True),
    ("TEXT", "nowhere", False),
])
def test_text_keys_match_decoded_substrings_case_insensitively(op, needle, found):
    assert check(key(op, needle)) is found


def test_header_key():
    assert check(key("HEADER", "X-Priority", "1"))
    assert check(key("HEADER", "x-priority", ""))  # empty string: the field is present
    assert check(key("HEADER", "X-Empty", ""))
    assert not check(key("HEADER", "X-Absent", ""))
    assert not check(key("HEADER", "X-Priority", "2"))


def test_nested_message_headers_and_text_are_body_text():
    assert check(key("BODY", "inner text"), data=NESTED)
    assert check(key("BODY", "Inner Person"), data=NESTED)  # the encapsulated message's From
    assert not check(key("FROM", "Inner Person"), data=NESTED)  # not the top-level From
    assert check(key("BODY", "<p>html</p>"), data=MIXED)


def test_eight_bit_header_and_body_without_charset_read_as_utf8():
    data = "Subject: Grüße\r\n\r\nÜber alles\r\n".encode("utf-8")
    assert check(key("SUBJECT", "GRÜSSE".lower().replace("ss", "ß")), data=data)
    assert check(key("BODY", "über"), data=data)
    latin = "Subject: Grüße\r\n\r\nx\r\n".encode("latin-1")
    assert check(key("SUBJECT", "grüße"), data=latin)


def test_broken_encodings_do_not_raise():
    data = (b"Subject: =?bogus-charset?q?caf=E9?= =?utf-8?b?!!!?=\r\nContent-Transfer-Encoding: base64\r\n"
            b"Content-Type: text/plain; charset=no-such-charset\r\n\r\n@@@not base64\r\n")
    assert check(key("SUBJECT", "caf"), data=data)
    assert not check(key("BODY", "zzz"), data=data)


def test_message_without_content_fails_text_keys_only():
    assert not check(key("SUBJECT", ""), data=None)
    assert not check(key("BODY", "x"), data=None)
    assert check(key("SEEN"), data=None, size=10)


def test_needs_content():
    assert not needs_content(key("AND", key("UNSEEN"), key("NOT", key("UID", SequenceSet(((1, 5),))))))
    assert not needs_content(key("OR", key("SINCE", datetime.date(2020, 1, 1)), key("LARGER", 5)))
    for op in ("BCC", "BODY", "CC", "FROM", "SUBJECT", "TEXT", "TO"):
        assert needs_content(key("AND", key("NOT", key(op, "x"))))
    assert needs_content(key("OR", key("SEEN"), key("HEADER", "X-A", "b")))
    assert needs_content(key("SENTON", datetime.date(2020, 1, 1)))


def test_unknown_key_matches_nothing():
    assert not check(key("NOSUCHKEY"))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from([
    b"\r\n", b"Content-Type: multipart/mixed; boundary=q\r\n", b"--q\r\n", b"--q--\r\n", b"Subject: =?x?q?=ZZ?=\r\n",
    b"Content-Transfer-Encoding: base64\r\n", b"Content-Transfer-Encoding: quoted-printable\r\n", b"=\r\n", b"=4",
    b"Content-Type: text/plain; charset=utf-16\r\n", b"Content-Type: message/rfc822\r\n", b"Date: 99 Foo 0\r\n",
    b"\xc3", b"\xff\xfe", b"abc\r\n", b"From: =?utf-8?b?w6k=?= <a@b>\r\n",
]), max_size=30), st.text(max_size=5))
def test_text_keys_never_raise(pieces, needle):
    data = b"".join(pieces)
    for op in ("BCC", "BODY", "CC", "FROM", "SUBJECT", "TEXT", "TO"):
        assert check(key(op, needle), data=data) in (True, False)
    assert check(key("HEADER", "Subject", needle), data=data) in (True, False)
    assert check(key("SENTON", datetime.date(2000, 1, 1)), data=data) in (True, False)


def test_text_keys_compare_decomposed_forms():
    """Composed and decomposed accents read alike (a client may send either), and a key may be any
    part of the decomposed text, as Dovecot searches (imaptest expects it: "u" and "\\u0308s" find "Grüße")."""
    data = "Subject: Gr\u00fc\u00dfe aus K\u00f6ln\r\n\r\nCafe\u0301 cre\u0300me\r\n".encode("utf-8")
    assert check(key("SUBJECT", "gru\u0308sse"), data=data)
    assert check(key("SUBJECT", "U"), data=data) and check(key("SUBJECT", "\u0308S"), data=data)
    assert check(key("BODY", "caf\u00e9 cr\u00e8me"), data=data)
    assert not check(key("SUBJECT", "Koeln"), data=data)


def test_what_a_program_reads():
    unseen, new = SearchKey("UNSEEN"), SearchKey("NEW")
    assert reads(SearchKey("AND", (unseen, SearchKey("KEYWORD", ("$x",))))) == {"flags"}
    assert reads(SearchKey("OR", (new, SearchKey("ALL")))) == {"flags", "recent"}
    assert reads(SearchKey("NOT", (SearchKey("UID", ()),))) == {"uid"}
    assert reads(SearchKey("AND", (SearchKey("SINCE", ()), SearchKey("LARGER", (1,)), SearchKey("SEQ", ())))) == {
        "internal_date", "size", "msn"}
    assert reads(SearchKey("AND", (unseen, SearchKey("OR", (SearchKey("SUBJECT", ("x",)), new))))) == {
        "flags", "recent", "content"}
    assert reads(SearchKey("ALL")) == frozenset()
