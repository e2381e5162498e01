"""Reading mbox, Maildir and .eml sources into wire-form messages."""
from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postroom.errors import ValidationError
from postroom.mailsource import count_messages, detect, iter_messages, to_wire

BARE = re.compile(rb"\r(?!\n)|(?<!\r)\n")

MSG1 = b"From: a@example.com\nSubject: one\n\nHello\n"
MSG2 = b"From: b@example.com\nSubject: two\n\nCaf\xc3\xa9 \xff\xfe raw 8-bit\n\nbye\n"


def messages(path) -> list[bytes]:
    result = list(iter_messages(path))
    assert count_messages(path) == len(result)
    return result


# to_wire ---------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "raw, wire",
    [
        (b"a\nb\n", b"a\r\nb\r\n"),
        (b"a\r\nb\r\n", b"a\r\nb\r\n"),  # already wire form: untouched, CRs not doubled
        (b"a\r\nb\nc\rd", b"a\r\nb\r\nc\r\nd\r\n"),  # mixed line ends
        (b"a\r\r\nb", b"a\r\nb\r\n"),  # double-converted CRLF is one line end
        (b"no newline", b"no newline\r\n"),
        (b"body\n\n\n", b"body\r\n\r\n\r\n"),  # trailing blank lines are kept
        (b"", b""),
        (b"\x00\x80\xff\n", b"\x00\x80\xff\r\n"),
    ],
)
def test_to_wire_examples(raw, wire):
    assert to_wire(raw) == wire


line_bytes = st.lists(st.sampled_from([b"a", b"\r", b"\n", b"\r\n", b"\xff", b"From ", b"."])).map(b"".join)


@given(st.one_of(st.binary(), line_bytes))
def test_to_wire_is_idempotent_and_leaves_no_bare_line_ends(raw):
    wire = to_wire(raw)
    assert to_wire(wire) == wire
    assert BARE.search(wire) is None
    assert wire == b"" or wire.endswith(b"\r\n")
    # Nothing but line ends changes.
    assert wire.replace(b"\r", b"").replace(b"\n", b"") == raw.replace(b"\r", b"").replace(b"\n", b"")


# mbox ------------------------------------------------------------------------------------

def test_mbox(tmp_path):
    p = tmp_path / "inbox.mbox"
    p.write_bytes(
        b"From a@example.com Mon Jan  1 00:00:00 2024\n" + MSG1 + b"\n"
        b"From b@example.com Tue Jan  2 00:00:00 2024\n" + MSG2 + b"\n"
    )
    assert detect(p) == "mbox"
    assert messages(p) == [to_wire(MSG1), to_wire(MSG2)]


def test_mbox_last_message_without_separator_blank_and_crlf_file(tmp_path):
    p = tmp_path / "inbox"
    p.write_bytes(b"From x\r\nSubject: one\r\n\r\nbody\r\n\r\nFrom y\r\nSubject: two\r\n\r\nend")
    assert messages(p) == [b"Subject: one\r\n\r\nbody\r\n", b"Subject: two\r\n\r\nend\r\n"]


def test_mbox_from_line_not_after_blank_is_body(tmp_path):
    p = tmp_path / "inbox"
    p.write_bytes(b"From x\nSubject: s\n\nline\nFrom here on, body\n\nFrom y\nSubject: t\n\nb\n")
    assert messages(p) == [
        b"Subject: s\r\n\r\nline\r\nFrom here on, body\r\n",
        b"Subject: t\r\n\r\nb\r\n",
    ]


def test_mboxrd_unescaping(tmp_path):
    p = tmp_path / "inbox"
    p.write_bytes(
        b"From x\nSubject: s\n\n>From the start\n>>From quoted\n> From not escaped\n>Fromage\nplain\n\n"
    )
    assert messages(p) == [
        b"Subject: s\r\n\r\nFrom the start\r\n>From quoted\r\n> From not escaped\r\n>Fromage\r\nplain\r\n"
    ]


def test_mbox_8bit_bytes_preserved(tmp_path):
    p = tmp_path / "inbox"
    p.write_bytes(b"From x\n" + MSG2)
    [msg] = messages(p)
    assert b"Caf\xc3\xa9 \xff\xfe raw 8-bit" in msg
    assert msg == to_wire(MSG2)


def test_empty_mbox(tmp_path):
    p = tmp_path / "empty.mbox"
    p.write_bytes(b"")
    assert detect(p) == "mbox"
    assert messages(p) == []


def test_mbox_is_streamed(tmp_path):
    p = tmp_path / "big"
    with open(p, "wb") as f:
        for i in range(2000):
            f.write(b"From x\nSubject: %d\n\nbody\n\n" % i)
    it = iter_messages(p)
    assert next(it) == b"Subject: 0\r\n\r\nbody\r\n"
    assert sum(1 for _ in it) == 1999
    assert count_messages(p) == 2000


# Maildir and .eml ------------------------------------------------------------------------

def test_maildir(tmp_path):
    for sub in ("cur", "new", "tmp"):
        (tmp_path / sub).mkdir()
    (tmp_path / "cur" / "1700000002.M2.host:2,S").write_bytes(MSG2)
    (tmp_path / "new" / "1700000001.M1.host").write_bytes(MSG1)
    (tmp_path / "new" / "1700000003.M3.host").write_bytes(b"Subject: three\n\nx")
    (tmp_path / "tmp" / "1700000004.M4.host").write_bytes(b"in progress")
    (tmp_path / "cur" / ".hidden").write_bytes(b"junk")
    assert detect(tmp_path) == "maildir"
    assert messages(tmp_path) == [to_wire(MSG1), to_wire(MSG2), b"Subject: three\r\n\r\nx\r\n"]


def test_maildir_with_new_only(tmp_path):
    (tmp_path / "new").mkdir()
    assert detect(tmp_path) == "maildir"
    assert messages(tmp_path) == []


def test_eml_dir(tmp_path):
    (tmp_path / "b.eml").write_bytes(MSG2)
    (tmp_path / "a.EML").write_bytes(MSG1)
    (tmp_path / "notes.txt").write_bytes(b"not mail")
    assert detect(tmp_path) == "eml-dir"
    assert messages(tmp_path) == [to_wire(MSG1), to_wire(MSG2)]


def test_single_eml(tmp_path):
    p = tmp_path / "one.eml"
    p.write_bytes(MSG2)
    assert detect(p) == "eml"
    assert messages(p) == [to_wire(MSG2)]


def test_message_file_without_eml_suffix(tmp_path):
    p = tmp_path / "message"
    p.write_bytes(MSG1)
    assert detect(p) == "eml"


@pytest.mark.parametrize("make", ["missing", "empty-dir", "binary-file"])
def test_bad_path(tmp_path, make):
    p = tmp_path / "thing"
    if make == "empty-dir":
        p.mkdir()
    elif make == "binary-file":
        p.write_bytes(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(ValidationError) as info:
        detect(p)
    assert info.value.field == "path"
    assert "mbox" in info.value.message and "Maildir" in info.value.message and ".eml" in info.value.message
    with pytest.raises(ValidationError):
        list(iter_messages(p))
    with pytest.raises(ValidationError):
        count_messages(p)


# what is not a message is refused, naming the file and the line -------------------------

SHADOW = (b"root:$y$j9T$Qm1bS2lrZXk$C5x0Jk5oQp8y2f1v3Tq7e9Rw4uXy6zA1bC3dE5fG7h.:19000:0:99999:7:::\n"
          b"daemon:*:19000:0:99999:7:::\nbin:*:19000:0:99999:7:::\nsshd:!:19000::::::\n")
PASSWD = b"root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"


def refusal(path) -> str:
    with pytest.raises(ValidationError) as info:
        count_messages(path)
    assert info.value.field == "path"
    return info.value.message


@pytest.mark.parametrize("content, line, why", [
    (SHADOW, 1, "has none of the fields From, To, Subject"),
    (PASSWD, 1, "has none of the fields"),
    (b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00", 1, "NUL byte"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", 1, "neither a header field"),
    (b"Subject: x\nX-Data: \x00\x01\n\nbody\n", 2, "NUL byte"),
    (b"just some notes\nabout things\n", 1, "neither a header field"),
    (b"Note: buy milk\nTodo: call Bob\n", 1, "has none of the fields"),
    (b"Subject: no empty line before the body\nHello there\n", 2, "neither a header field"),
    (b" folded: first\nSubject: x\n\n", 1, "continuation"),
    (b"\nSubject: after a blank line\n", 1, "empty line"),
])
def test_a_file_that_is_not_a_message_is_refused_with_its_line(tmp_path, content, line, why):
    p = tmp_path / "thing.eml"
    p.write_bytes(content)
    message = refusal(p)
    assert f"{p}: line {line}: " in message and why in message and "nothing was imported" in message


@pytest.mark.parametrize("content", [
    b"Subject: only a subject\n\nbody\n",
    b"From: only-a-sender@example.com\n\n",
    b"from: lower case\r\nX-Custom_Field.v2: odd but legal name\r\n\r\n",
    b"Received: from a by b;\n\tMon, 1 Jan 2024 00:00:00 +0000\nSubject: folded\n  on two lines\n\nx\n",
    b"From sender@example.com Mon Jan  1 00:00:00 2024\nSubject: an envelope line left on\n\nx\n",
    b"Subject: headers only, no body, no final newline",
    b"Subject: Caf\xc3\xa9 8-bit \xff\r\r\nTo: a@example.com\r\r\n\r\r\n\x00 binary body is the body's business\n",
])
def test_real_messages_pass_the_check(tmp_path, content):
    p = tmp_path / "one.eml"
    p.write_bytes(content)
    assert count_messages(p) == 1


def test_a_header_section_without_end_is_refused(tmp_path):
    p = tmp_path / "long.eml"
    p.write_bytes(b"Subject: x\n" + b"X-Pad: " + b"a" * 100 + b"\n" * 1 + b"X-More: y\n" * 200_000)
    assert "no empty line ends a header section" in refusal(p)


def test_a_long_message_is_checked_from_its_head(tmp_path):
    p = tmp_path / "big.eml"
    p.write_bytes(b"Subject: big\n\n" + b"body line\n" * 300_000)
    assert count_messages(p) == 1


def test_an_mbox_names_the_line_of_the_message_that_is_not_one(tmp_path):
    p = tmp_path / "inbox"
    p.write_bytes(b"From x\n" + MSG1 + b"\nFrom y\nroot:x:0:0:root:/root:/bin/bash\n\nFrom z\n" + MSG2)
    assert f"{p}: line 8: not a message" in refusal(p)


def test_a_maildir_names_the_file_that_is_not_a_message(tmp_path):
    (tmp_path / "cur").mkdir()
    (tmp_path / "cur" / "1.host").write_bytes(MSG1)
    bad = tmp_path / "cur" / "2.host"
    bad.write_bytes(b"\x00\x01\x02\x03")
    assert f"{bad}: line 1: " in refusal(tmp_path)
