"""BINARY (RFC 3516): the FETCH items parsed from the wire, and each section's content with its
Content-Transfer-Encoding undone (protocol/imap4/binary.py)."""
from __future__ import annotations

import base64

import pytest
from imap4_messages import MIXED, NESTED
from test_imap4_parser import command

from postroom.protocol.imap4 import binary, structure
from postroom.protocol.imap4 import types as T
from postroom.protocol.imap4.types import FetchAttribute as A
from postroom.protocol.imap4.types import Section, SequenceSet

ONE = SequenceSet(((1, 1),))

PARTS = (
    b"Subject: parts\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n"
    b"--x\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
    b"caf=C3=A9 =3D soft=\r\n break\r\n"
    b"--x\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: BASE64\r\n\r\n"
    + base64.encodebytes(b"\x00\x01binary\xff\r\n") +
    b"--x\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    + base64.encodebytes(b"line one\nline two\n") +
    b"--x\r\nContent-Type: application/zip\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\n"
    b"begin 644 a\r\n`\r\nend\r\n"
    b"--x\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    b"d\xc3\xa9j\xc3\xa0\r\n"
    b"--x--\r\n"
)


@pytest.mark.parametrize("line, attributes", [
    (b"A1 FETCH 1 BINARY[1]", (A("BINARY[]", Section((1,))),)),
    (b"A1 FETCH 1 BINARY[]", (A("BINARY[]", Section()),)),
    (b"A1 FETCH 1 BINARY.PEEK[1.2.3]<0.100>", (A("BINARY[]", Section((1, 2, 3)), peek=True, partial=(0, 100)),)),
    (b"A1 FETCH 1 (UID BINARY.SIZE[2] binary.peek[1])",
     (A("UID"), A("BINARY.SIZE", Section((2,))), A("BINARY[]", Section((1,)), peek=True))),
])
def test_binary_items_parse(line, attributes):
    assert command(line) == T.Fetch("A1", ONE, attributes)


@pytest.mark.parametrize("line, error", [
    (b"A1 FETCH 1 BINARY", b"BINARY needs a [section]."),
    (b"A1 FETCH 1 BINARY.SIZE", b"BINARY.SIZE needs a [section]."),
    (b"A1 FETCH 1 BINARY[1.TEXT]", b"A BINARY section is part numbers only, like [1.2] (no HEADER, TEXT or MIME)."),
    (b"A1 FETCH 1 BINARY[HEADER]", b"A BINARY section is part numbers only, like [1.2] (no HEADER, TEXT or MIME)."),
    (b"A1 FETCH 1 BINARY[0]", b"0 is out of range for a part number: 1 to 4294967295."),
    (b"A1 FETCH 1 BINARY[1", b"Expected . or ] after a part number in the BINARY section."),
    (b"A1 FETCH 1 BINARY[1 2]", b"Expected . or ] after a part number in the BINARY section."),
    (b"A1 FETCH 1 BINARY.SIZE[1]<0.5>", b"Unexpected characters after the FETCH items."),
    (b"A1 FETCH 1 BINARY[1]<0.0>", b"0 is out of range for the partial's length: 1 to 4294967295."),
])
def test_binary_item_errors(line, error):
    assert command(line) == b"A1 BAD " + error + b"\r\n"


def content(data: bytes, part: tuple[int, ...]) -> bytes:
    return binary.content(data, structure.of(data), part)


def test_quoted_printable_and_base64_are_decoded():
    assert content(PARTS, (1,)) == "café = soft break".encode()
    assert content(PARTS, (2,)) == b"\x00\x01binary\xff\r\n"


def test_decoded_text_goes_out_with_crlf_line_ends():
    assert content(PARTS, (3,)) == b"line one\r\nline two\r\n"


def test_identity_encodings_are_the_octets_as_they_are():
    assert content(PARTS, (5,)) == b"d\xc3\xa9j\xc3\xa0"
    assert content(MIXED, (1, 1)) == b"plain text"  # no Content-Transfer-Encoding: 7bit


def test_an_unknown_encoding_is_refused():
    with pytest.raises(binary.UnknownEncoding) as raised:
        content(PARTS, (4,))
    assert raised.value.encoding == "x-uuencode"


def test_whole_message_containers_and_missing_parts():
    assert content(PARTS, ()) == PARTS
    inner = structure.of(NESTED).root.parts[1]  # type: ignore[index]
    assert content(NESTED, (2,)) == NESTED[inner.body:inner.end]  # message/rfc822: as it is
    assert content(MIXED, (1,)).startswith(b"--inner\r\n")  # a multipart: as it is
    assert content(PARTS, (9,)) == b"" and content(PARTS, (1, 1)) == b""


def test_the_single_part_of_a_plain_message_is_its_body_decoded():
    data = b"Subject: x\r\nContent-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(b"hello\n")
    assert content(data, (1,)) == b"hello\r\n"


def test_literal8_only_for_content_with_nul():
    assert binary.literal(b"abc\xff") == b"{4}\r\nabc\xff"
    assert binary.literal(b"a\x00c") == b"~{3}\r\na\x00c"
    assert binary.literal(b"") == b"{0}\r\n"


def test_stored_form_leaves_a_message_without_binary_parts_as_it_is():
    assert binary.stored_form(PARTS) is PARTS
    assert binary.stored_form(MIXED) is MIXED


def test_stored_form_base64_encodes_binary_parts_and_their_header_says_so():
    appended = (b"Subject: x\r\nContent-Type: multipart/mixed; boundary=z\r\n\r\n"
                b"--z\r\nContent-Type: text/plain\r\n\r\nplain \xc3\xa9\r\n"
                b"--z\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding:\r\n BINARY\r\n"
                b"X-Other: kept\r\n\r\n" + bytes(range(200)) + b"\r\n--z--\r\n")
    stored = binary.stored_form(appended)
    assert b"\0" not in stored and b"X-Other: kept\r\nContent-Transfer-Encoding: base64\r\n\r\n" in stored
    assert b" BINARY" not in stored and b"plain \xc3\xa9\r\n--z" in stored  # the other part untouched
    lines = stored.split(b"base64\r\n\r\n", 1)[1].split(b"\r\n--z--", 1)[0].split(b"\r\n")
    assert max(map(len, lines)) == 76 and base64.b64decode(b"".join(lines)) == bytes(range(200))
    assert content(stored, (2,)) == bytes(range(200))


def test_stored_form_of_a_single_part_message_with_nul():
    stored = binary.stored_form(b"Subject: y\r\nContent-Type: image/png\r\n\r\n\x89PNG\x00\x1a\n")
    assert stored == b"Subject: y\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORwAaCg=="
    assert content(stored, (1,)) == b"\x89PNG\x00\x1a\n"  # not text: no line ends changed


@pytest.mark.parametrize("data", [
    b"Subject: nul\x00\r\n\r\nbody\r\n",  # in a header
    b"Content-Type: multipart/mixed; boundary=z\r\n\r\npre\x00amble\r\n--z\r\n\r\nx\r\n--z--\r\n",  # a preamble
])
def test_stored_form_refuses_a_nul_it_cannot_encode(data):
    with pytest.raises(binary.UnknownEncoding):
        binary.stored_form(data)
