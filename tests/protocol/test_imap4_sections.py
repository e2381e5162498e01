"""IMAP4 BODY[section]<partial>: every section form cut from the message bytes (RFC 3501 6.4.5
and its example part numbering), nested message/rfc822 parts, and sections that do not exist."""
from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from imap4_messages import EXAMPLE, MIXED, NESTED, RFC3501

from postroom.protocol.imap4 import structure
from postroom.protocol.imap4.sections import field_filter, partial, section
from postroom.protocol.imap4.types import Section

HEADER_OF_RFC3501 = RFC3501[:RFC3501.index(b"\r\n\r\n") + 4]


def body(data: bytes, part: tuple[int, ...] = (), text: str | None = None, fields: tuple[str, ...] = ()) -> bytes:
    return section(data, structure.load(structure.describe(data)), Section(part, text, fields))


def test_whole_message_header_and_text():
    assert body(RFC3501) == RFC3501
    assert body(RFC3501, text="HEADER") == HEADER_OF_RFC3501
    assert body(RFC3501, text="TEXT") == b"Hello\r\nworld\r\n"


def test_single_part_message_has_part_one_its_body():
    assert body(RFC3501, (1,)) == b"Hello\r\nworld\r\n"
    assert body(RFC3501, (2,)) == b""
    assert body(RFC3501, (1, 1)) == b""


def test_header_fields_in_message_order_with_folding_and_the_empty_line():
    got = body(RFC3501, text="HEADER.FIELDS", fields=("MESSAGE-ID", "CC", "X-ABSENT"))
    assert got == (b"cc: minutes@CNRI.Reston.VA.US, \r\n John Klensin <KLENSIN@MIT.EDU>\r\n"
                   b"Message-Id: <B27397-0100000@cac.washington.edu>\r\n\r\n")
    assert body(RFC3501, text="HEADER.FIELDS", fields=("X-ABSENT",)) == b"\r\n"


def test_header_fields_not():
    got = body(RFC3501, text="HEADER.FIELDS.NOT", fields=("DATE", "FROM", "SUBJECT", "TO", "CC", "MIME-VERSION"))
    assert got == (b"Message-Id: <B27397-0100000@cac.washington.edu>\r\n"
                   b"Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n\r\n")


@pytest.mark.parametrize("part, text, expected", [
    ((1,), None, b"part 1"),
    ((2,), None, b"part 2"),
    ((3,), "HEADER", b"Subject: part 3 header\r\nContent-Type: MULTIPART/MIXED; boundary=three\r\n\r\n"),
    ((3, 1), None, b"part 3.1"),
    ((3, 2), None, b"part 3.2"),
    ((4,), None, b"part 4"),
    ((5,), "HEADER.FIELDS", b"Subject: part 4 header\r\n\r\n"),
    ((5, 1), None, b"part 4.2.1"),
    ((5, 2, 1), None, b"part 4.2.2.1"),
    ((5, 2, 2), None, b"part 4.2.2.2"),
    ((5, 2, 2), "MIME", b"Content-Type: TEXT/RICHTEXT\r\n\r\n"),
    ((1,), "MIME", b"Content-Type: TEXT/PLAIN\r\n\r\n"),
    ((6,), None, b""),
    ((5, 3), None, b""),
    ((5, 2, 2, 1), None, b""),
    ((1,), "HEADER", b""),  # HEADER of a part that is not message/rfc822
    ((0,), None, b""),
])
def test_rfc3501_part_numbering(part, text, expected):
    fields = ("SUBJECT",) if text == "HEADER.FIELDS" else ()
    assert body(EXAMPLE, part, text, fields) == expected


def test_message_rfc822_part_is_the_whole_encapsulated_message_and_its_text():
    inner = EXAMPLE[EXAMPLE.index(b"Subject: part 3 header"):EXAMPLE.index(b"--three--\r\n") + len(b"--three--")]
    assert body(EXAMPLE, (3,)) == inner
    assert body(EXAMPLE, (3,), "TEXT") == inner[inner.index(b"\r\n\r\n") + 4:]
    assert body(EXAMPLE, (3,), "MIME") == b"Content-Type: MESSAGE/RFC822\r\n\r\n"


def test_multipart_part_body_runs_from_its_first_delimiter():
    got = body(MIXED, (1,))
    assert got.startswith(b"--inner\r\nContent-Type: text/plain") and got.endswith(b"--inner--")
    assert body(MIXED, (1, 2)) == b"<p>html</p>"
    assert body(MIXED, (2,)) == b"JVBERi0xLjQK"
    assert body(MIXED, text="TEXT").startswith(b"This is a preamble.\r\n--outer\r\n")


def test_nested_message_with_a_non_multipart_body():
    data = (b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: message/rfc822\r\n\r\n"
            b"Subject: in\r\n\r\ninner body\r\n--x--\r\n")
    assert body(data, (1, 1)) == b"inner body"
    assert body(data, (1,), "TEXT") == b"inner body"
    assert body(data, (1,), "HEADER") == b"Subject: in\r\n\r\n"


def test_nested_header_fields_not():
    assert body(NESTED, (2,), "HEADER.FIELDS.NOT", ("SUBJECT", "CONTENT-TYPE")) == (
        b"From: Inner Person <inner@example.org>\r\n\r\n")


def test_header_without_empty_line_gets_line_ends():
    data = b"Subject: x\r\nFrom: a@b"
    assert body(data, text="HEADER") == data
    assert body(data, text="HEADER.FIELDS", fields=("FROM",)) == b"From: a@b\r\n\r\n"
    assert body(data, text="TEXT") == b""


def test_mime_of_the_whole_message_is_empty():
    assert body(RFC3501, text="MIME") == b""


def test_partial():
    assert partial(b"0123456789", 2, 3) == b"234"
    assert partial(b"0123456789", 8, 10) == b"89"
    assert partial(b"0123456789", 20, 5) == b""
    assert partial(b"0123456789", 0, 0) == b""


_PIECES = [b"\r\n", b"\n", b"Content-Type: multipart/mixed; boundary=q\r\n", b"--q\r\n", b"--q--\r\n",
           b"Content-Type: message/rfc822\r\n", b"Subject: s\r\n", b" folded\r\n", b"body\r\n", b"\xff", b":"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_PIECES), max_size=30),
       st.lists(st.integers(min_value=0, max_value=4), max_size=4),
       st.sampled_from([None, "HEADER", "TEXT", "MIME", "HEADER.FIELDS", "HEADER.FIELDS.NOT"]))
def test_any_section_of_any_message_is_cut_from_its_bytes(pieces, part, text):
    data = b"".join(pieces)
    if text == "MIME" and not part:
        text = None
    got = body(data, tuple(part), text, ("SUBJECT",) if text and text.startswith("HEADER.FIELDS") else ())
    if text and text.startswith("HEADER.FIELDS"):
        assert got == b"" or got.endswith(b"\r\n")  # b"": no such part
    else:
        assert got in data


def walked(block: bytes, names: tuple[str, ...], keep: bool) -> bytes:
    """HEADER.FIELDS as RFC 3501 reads: the block cut into fields (a line not starting with a
    space or tab starts one), each kept when its name (before its first colon, stripped)
    is named, in any case."""
    wanted, out = {name.upper() for name in names}, []
    for field in re.split(rb"(?<=\n)(?![ \t])", block):
        name, colon, _ = field.partition(b":")
        if colon and (name.strip().decode("latin-1").upper() in wanted) == keep:
            out.append(field if field.endswith(b"\n") else field + b"\r\n")
    return b"".join(out) + b"\r\n"


PIECES = [b"Subject", b"subject", b"SUBJECT", b"To", b"From", b"X-A", b":", b": x", b" ", b"\t", b"\r", b"\n", b"\r\n",
          b"\r\n ", b"\r\n\t", b"\x0b", b"\x1c", b"x", b"\xe9", b"Stra\xdfe", b"T", b"o", b"\r\nSubject: y",
          b"\r\n\rSubject", b"\r\n\x0b To", b"\r\n\r\r\n Subject", b"\r\nSubject\r\n :"]
NAMES = ["SUBJECT", "to", "From", "X-A", "STRASSE", "", "A:B", "SUBJECT ", "T O", "\xe9", "TOKEN"]


@settings(max_examples=3000, deadline=None)
@example(block=b"\rSubject: x\r\n", names=("SUBJECT",), keep=True)
@example(block=b"To: a\r\n\x0b Subject\r\n : x\r\n", names=("SUBJECT",), keep=True)
@example(block=b"To: a\r\n\r\r\n Subject: x\r\n", names=("SUBJECT",), keep=True)
@example(block=b"Stra\xdfe: x\r\n", names=("STRASSE",), keep=True)
@example(block=b" Subject: x\r\n", names=("SUBJECT",), keep=True)
@example(block=b"Subject: x", names=("SUBJECT",), keep=True)
@given(block=st.lists(st.sampled_from(PIECES), max_size=30).map(b"".join),
       names=st.lists(st.sampled_from(NAMES), min_size=1, max_size=4).map(tuple), keep=st.booleans())
def test_header_fields_are_what_the_field_walk_finds(block, names, keep):
    assert field_filter(names, keep)(block) == walked(block, names, keep)
