"""Fuzz targets for the IMAP4 core (Hypothesis): arbitrary bytes and grammar-ish sessions, cut
at random points, through the fake adapter of `imap_driver.py` (no exception escapes, every
reply is an RFC 3501 response line answering a command the client sent, bounded output,
nothing after a close). Budget: settings.py; interesting inputs: corpus/imap4/."""
from __future__ import annotations

from hypothesis import assume, given
from hypothesis import strategies as st

from postroom.protocol.imap4.core import ImapConfig

from .imap_driver import run_imap
from .settings import fuzz
from .test_fuzz_cores import NASTY, draw_session, split

# Mostly well-formed framing, so that sessions get far; the odd cases still come up.
EOLS = st.sampled_from([b"\r\n"] * 6 + [b"\n", b"\r", b""])
TAG = st.sampled_from([b"a1", b"A2", b"t]", b"a1", b"b.3"] * 3 + [b"*", b"+x", b"", b"x" * 70, b"\xff"])
MAILBOX = st.sampled_from([b"INBOX", b"inbox", b'"Sent"', b"bad", b'""', b"&Jjo", b"&U,BTFw-", b"a/b", b"%", b"*",
                           b'"a\\"b"', b'"x', "é".encode(), b"{3}\r\nabc", b"{4+}\r\nab", b"{0}\r\n", b"()"])
SEQ = st.sampled_from([b"1", b"1:*", b"*", b"0", b"2,4:5", b"1::2", b"4294967296", b"x", b"", b"1,"])
FLAGS = st.sampled_from([b"(\\Seen)", b"\\Deleted $Junk", b"()", b"(\\Recent)", b"(\\", b"(a b", b"\\seen"])
FETCH = st.sampled_from([b"ALL", b"FAST", b"FULL", b"(FLAGS UID)", b"BODY[]", b"BODY.PEEK[HEADER.FIELDS (A B)]<0.5>",
                         b"BODY[1.2.MIME]", b"BODY[", b"(BODY[TEXT]<1.0>)", b"(FLAGS", b"BODY[HEADER.FIELDS ()]",
                         b"RFC822.SIZE ENVELOPE", b"(ALL)", b"BODYSTRUCTURE"])
SEARCH = st.sampled_from([b"ALL", b"CHARSET UTF-8 TEXT x", b"CHARSET KOI8 ALL", b"OR SEEN", b"NOT NOT (SEEN)",
                          b"SINCE 1-Feb-1994", b'BEFORE "31-Feb-2020"', b"HEADER X {2}\r\nab", b"LARGER x",
                          b"(((", b"UID 1:*", b"1,2 UNKEYWORD $x", b"SUBJECT \xff", b"NOT " * 50 + b"SEEN"])
WORD = st.one_of(NASTY, st.binary(max_size=16))
ARGS = st.one_of(
    st.tuples(st.sampled_from([b"LOGIN"]), st.sampled_from([b"u good", b"u bad", b"{1}\r\nu {4}\r\ngood", b"u",
                                                             b'"u" "good"', b"u {4+}\r\ngood"])),
    st.tuples(st.sampled_from([b"AUTHENTICATE"]), st.sampled_from([b"PLAIN", b"PLAIN AHUAZ29vZA==", b"PLAIN =",
                                                                    b"PLAIN\r\n*", b"PLAIN\r\nAHUAZ29vZA==", b"X"])),
    st.tuples(st.sampled_from([b"SELECT", b"EXAMINE", b"CREATE", b"DELETE", b"SUBSCRIBE", b"UNSUBSCRIBE"]), MAILBOX),
    st.tuples(st.sampled_from([b"RENAME", b"LIST", b"LSUB"]), st.tuples(MAILBOX, MAILBOX).map(b" ".join)),
    st.tuples(st.sampled_from([b"STATUS"]), MAILBOX.map(lambda m: m + b" (MESSAGES UNSEEN)")),
    st.tuples(st.sampled_from([b"APPEND"]), st.sampled_from([b"INBOX {5}\r\nhello", b"INBOX (\\Seen) {3+}\r\nabc",
                                                              b'INBOX " 1-Jan-2000 00:00:00 +0000" {1}\r\nx',
                                                              b"INBOX {99999}\r\n", b"INBOX {99999+}\r\n"])),
    st.tuples(st.sampled_from([b"FETCH", b"UID FETCH"]), st.tuples(SEQ, FETCH).map(b" ".join)),
    st.tuples(st.sampled_from([b"STORE", b"UID STORE"]),
              st.tuples(SEQ, st.sampled_from([b"+FLAGS", b"-FLAGS.SILENT", b"FLAGS", b"X"]), FLAGS).map(b" ".join)),
    st.tuples(st.sampled_from([b"COPY", b"MOVE", b"UID MOVE"]), st.tuples(SEQ, MAILBOX).map(b" ".join)),
    st.tuples(st.sampled_from([b"SEARCH", b"UID SEARCH"]), SEARCH),
    st.tuples(st.sampled_from([b"ID"]), st.sampled_from([b"NIL", b'("name" "x")', b'("a")', b"()"])),
    st.tuples(st.sampled_from([b"ENABLE", b"UID EXPUNGE"]), st.sampled_from([b"X", b"1:*", b""])),
    st.tuples(st.sampled_from([b"CAPABILITY", b"NOOP", b"LOGOUT", b"STARTTLS", b"CHECK", b"CLOSE", b"UNSELECT",
                               b"EXPUNGE", b"NAMESPACE", b"IDLE\r\nDONE", b"IDLE\r\ndone", b"IDLE\r\nx\r\nDONE",
                               b"IDLE\r\n", b"FROB"]), st.just(b"")),
    st.tuples(WORD, WORD),
)
COMMAND = st.builds(lambda tag, args, eol: tag + b" " + args[0] + (b" " + args[1] if args[1] else b"") + eol,
                    TAG, ARGS, EOLS)
IMAP_LINE = st.one_of(
    COMMAND, COMMAND, COMMAND,
    st.binary(max_size=64),
    st.sampled_from([b"DONE\r\n", b"*\r\n", b"{5}\r\n", b"a1 LOGIN {2000}\r\n", b"\r\n"]),
)
LOGIN = b"a LOGIN u good\r\n"


@st.composite
def imap_session(draw) -> tuple[list[bytes], bool]:
    prefixes = [b"", LOGIN, LOGIN + b"s SELECT INBOX\r\n", b"a STARTTLS\r\n" + LOGIN,
                b"a AUTHENTICATE PLAIN AHUAZ29vZA==\r\ns SELECT INBOX\r\n"]
    return draw_session(draw, prefixes, IMAP_LINE, 20)


@fuzz
@given(st.lists(st.binary(max_size=300), max_size=12), st.booleans(), st.booleans())
def test_imap4_arbitrary_bytes(chunks, eof, tls_active):
    run_imap(chunks, eof, tls_active=tls_active)


@fuzz
@given(imap_session())
def test_imap4_command_grammar(session):
    chunks, eof = session
    run_imap(chunks, eof)


@fuzz
@given(imap_session())
def test_imap4_chunking_does_not_change_the_conversation(session):
    """The same bytes give the same replies and events however they are cut (STARTTLS aside:
    plaintext pipelined after it in the same read is discarded, by design)."""
    chunks, eof = session
    data = b"".join(chunks)
    assume(b"starttls" not in data.lower())
    assert run_imap(chunks, eof) == run_imap([data], eof)


@fuzz
@given(imap_session(), st.sampled_from(["secure-login", "plain-text-authentication"]), st.booleans())
def test_imap4_login_types(session, login_type, tls_active):
    chunks, eof = session
    run_imap(chunks, eof, tls_active=tls_active, config=ImapConfig(login_type=login_type, max_command_size=256,
                                                                   max_literal_size=100))


@fuzz
@given(st.binary(max_size=200), st.lists(st.integers(0, 1 << 16), max_size=8))
def test_imap4_literal_prefixed_bytes(payload, cuts):
    """A logged-in session where arbitrary bytes follow a literal marker."""
    data = LOGIN + b"x APPEND INBOX {%d+}\r\n" % len(payload) + payload + b"\r\nz NOOP\r\n"
    out, events = run_imap(split(data, cuts), True)
    assert b"z OK done." in out
