"""Fuzz targets for the sans-IO cores (POP3, SMTP, SASL), run with Hypothesis.

Each target drives arbitrary or grammar-ish byte streams, cut at random points, through a
core answered by the fake adapter in `drivers.py`, which checks: no exception escapes, every
reply is well-formed, output is bounded by the input, nothing follows a close. The budget is
in `settings.py` (POSTROOM_FUZZ_EXAMPLES, HYPOTHESIS_SEED); interesting inputs live in
corpus/ and are replayed by test_corpus.py on every run.
"""
from __future__ import annotations

import base64

from hypothesis import given
from hypothesis import strategies as st

from postroom.protocol import sasl

from .drivers import run_pop3, run_smtp, run_smtp_client, split
from .settings import fuzz

# ------------------------------------------------------------------------------ building blocks
EOLS = st.sampled_from([b"\r\n", b"\n", b"\r\n", b"\r", b"\r\r\n", b""])
NASTY = st.sampled_from([
    b"", b"\x00", b"\xff\xfe", "é".encode(), b"\x80", b" ", b"  ", b"\t", b"=", b"*", b".",
    b"<>", b"<a@b>", b"0", b"-1", b"99999999999999999999", b"A" * 600, b"B" * 1100, b"\r", b"\x1b[",
])
WORD = st.one_of(NASTY, st.binary(max_size=24), st.text(max_size=12).map(lambda s: s.encode("utf-8")))
NUMBER = st.one_of(st.integers(-3, 12).map(lambda n: str(n).encode()), NASTY)


def b64ish() -> st.SearchStrategy[bytes]:
    plain = st.builds(lambda z, u, p: base64.b64encode(z + b"\x00" + u + b"\x00" + p),
                      st.sampled_from([b"", b"adm"]), st.sampled_from([b"", b"u", "ü".encode()]),
                      st.sampled_from([b"good", b"bad", b"", b"\x00"]))
    return st.one_of(plain, st.binary(max_size=40).map(base64.b64encode),
                     st.text(alphabet="ABCDEFGHabcdefgh0123456789+/=*\x00 -_", max_size=40).map(str.encode),
                     st.sampled_from([b"=", b"*", b"", b"Z29vZA==", b"dXNlcg==", b"====", b"A"]))


def line(command: st.SearchStrategy[bytes], *args: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    parts = st.tuples(command, *args, EOLS)
    return parts.map(lambda p: b" ".join(x for x in p[:-1] if x is not None) + p[-1])


def case(name: bytes) -> st.SearchStrategy[bytes]:
    return st.sampled_from([name, name.lower(), name.title(), name + b"X"])


# ----------------------------------------------------------------------------------- POP3
POP3_LINE = st.one_of(
    line(case(b"USER"), st.sampled_from([b"u", b"u@example.com", b""]) | WORD),
    line(case(b"PASS"), st.sampled_from([b"good", b"bad", b"good extra", b""]) | WORD),
    line(case(b"AUTH"), st.sampled_from([b"PLAIN", b"LOGIN", b"plain", b"CRAM-MD5"]) | WORD, b64ish()),
    line(case(b"AUTH")),
    b64ish().flatmap(lambda b: EOLS.map(lambda e: b + e)),
    line(case(b"STLS")), line(case(b"CAPA")), line(case(b"STAT")), line(case(b"LIST"), NUMBER),
    line(case(b"UIDL"), NUMBER), line(case(b"RETR"), NUMBER), line(case(b"TOP"), NUMBER, NUMBER),
    line(case(b"DELE"), NUMBER), line(case(b"NOOP")), line(case(b"RSET")), line(case(b"QUIT")),
    line(WORD, WORD),
    st.binary(max_size=64),
)
LOGIN = b"USER u\r\nPASS good\r\n"


def draw_session(draw, prefixes: list[bytes], lines, max_lines: int) -> tuple[list[bytes], bool]:
    """A setup prefix, then grammar lines, cut at random points; and whether the stream ends."""
    data = draw(st.sampled_from(prefixes)) + b"".join(draw(st.lists(lines, max_size=max_lines)))
    return split(data, draw(st.lists(st.integers(0, 1 << 16), max_size=12))), draw(st.booleans())


@st.composite
def pop3_session(draw) -> tuple[list[bytes], bool]:
    prefixes = [b"", LOGIN, b"AUTH PLAIN AHUAZ29vZA==\r\n", b"STLS\r\n" + LOGIN]
    return draw_session(draw, prefixes, POP3_LINE, 25)


@fuzz
@given(st.lists(st.binary(max_size=300), max_size=12), st.booleans(), st.booleans())
def test_pop3_arbitrary_bytes(chunks, eof, tls_active):
    run_pop3(chunks, eof, tls_active=tls_active)


@fuzz
@given(pop3_session())
def test_pop3_command_grammar(session):
    chunks, eof = session
    run_pop3(chunks, eof)


# ----------------------------------------------------------------------------------- SMTP
ADDRESS = st.one_of(
    st.sampled_from([b"<a@b.example>", b"<>", b"<bad@example.com>", b"<u@example.com>",
                     b"<@r.example:u@example.com>", "<ü@example.com>".encode(), b"<u@[127.0.0.1]>",
                     b"u@example.com", b"<u@example.com", b"<" + b"x" * 300 + b"@e.com>"]),
    WORD,
)
PARAMS = st.lists(st.sampled_from([b"SIZE=10", b"SIZE=999999999", b"SIZE=x", b"BODY=8BITMIME",
                                   b"BODY=7BIT", b"SMTPUTF8", b"FOO=bar", b"SIZE=",
                                   # DSN (RFC 3461): good, bad and repeated values
                                   b"RET=FULL", b"RET=hdrs", b"RET=x", b"ENVID=a+2Bb", b"ENVID=a+2", b"ENVID=\xc3\xa9",
                                   b"NOTIFY=NEVER", b"NOTIFY=SUCCESS,DELAY", b"NOTIFY=NEVER,FAILURE", b"NOTIFY=",
                                   b"ORCPT=rfc822;a+2Bb@c", b"ORCPT=utf-8;\\x{E9}@c", b"ORCPT=x", b"ORCPT=rfc822;a=b",
                                   ]), max_size=3).map(b" ".join)


@st.composite
def content(draw) -> bytes:
    pieces = draw(st.lists(st.one_of(
        st.sampled_from([b"\r\n", b"\n", b".", b"..", b"\r\n.\r\n", b"\r\n..\r\n", b"\n.\n",
                         b"\r\n.\n", b"\x00", b"\xff", b"Subject: x\r\n\r\n", b"x" * 1100]),
        st.binary(max_size=40)), max_size=12))
    return b"".join(pieces)


BDAT_SIZE = st.one_of(st.integers(0, 60).map(lambda n: str(n).encode()), NUMBER,
                      st.sampled_from([b"00", b"+1", b"1e3", b"25000"]))

SMTP_LINE = st.one_of(
    line(case(b"EHLO"), st.sampled_from([b"c.example", b"[127.0.0.1]", b""]) | WORD),
    line(case(b"HELO"), st.sampled_from([b"c.example", b""]) | WORD),
    st.builds(lambda a, p, e: b"MAIL FROM:" + a + (b" " + p if p else b"") + e, ADDRESS, PARAMS, EOLS),
    st.builds(lambda a, p, e: b"RCPT TO:" + a + (b" " + p if p else b"") + e, ADDRESS, PARAMS, EOLS),
    line(case(b"MAIL"), WORD), line(case(b"RCPT"), WORD),
    st.builds(lambda e, c, t: b"DATA" + e + c + t, EOLS, content(),
              st.sampled_from([b"\r\n.\r\n", b".\r\n", b"\r\n.\n", b""])),
    st.builds(lambda n, last, eol, c: b"BDAT " + n + (b" LAST" if last else b"") + eol + c,
              BDAT_SIZE, st.booleans(), EOLS, content()),
    line(case(b"AUTH"), st.sampled_from([b"PLAIN", b"LOGIN", b"plain", b"XOAUTH2"]) | WORD, b64ish()),
    line(case(b"AUTH"), st.sampled_from([b"PLAIN", b"LOGIN"])),
    b64ish().flatmap(lambda b: EOLS.map(lambda e: b + e)),
    line(case(b"STARTTLS")), line(case(b"RSET")), line(case(b"NOOP")), line(case(b"QUIT")),
    line(case(b"VRFY"), WORD), line(case(b"HELP")), line(WORD, WORD),
    st.binary(max_size=64),
)


@st.composite
def smtp_session(draw) -> tuple[list[bytes], bool]:
    prefixes = [b"", b"EHLO c.example\r\n", b"EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<u@example.com>\r\n",
                b"EHLO c\r\nAUTH PLAIN AHUAZ29vZA==\r\nMAIL FROM:<a@b>\r\nRCPT TO:<u@x>\r\n",
                b"EHLO c\r\nSTARTTLS\r\nEHLO c\r\n"]
    return draw_session(draw, prefixes, SMTP_LINE, 20)


@fuzz
@given(st.lists(st.binary(max_size=300), max_size=12), st.booleans(), st.booleans())
def test_smtp_arbitrary_bytes(chunks, eof, tls_active):
    run_smtp(chunks, eof, tls_active=tls_active)


@fuzz
@given(smtp_session())
def test_smtp_command_grammar(session):
    chunks, eof = session
    run_smtp(chunks, eof)


# ----------------------------------------------------------------------------------- SASL
OUTCOMES = (sasl.Challenge, sasl.Credentials, sasl.SaslError, sasl.Cancelled)
TEXTISH = st.one_of(b64ish(), st.binary(max_size=80), st.text(max_size=40))


def check_exchange(mechanism: str, initial, steps) -> None:
    exchange = sasl.SaslExchange()
    outcome = exchange.start(mechanism, initial)
    assert isinstance(outcome, OUTCOMES)
    for step in steps:
        outcome = exchange.step(step)
        assert isinstance(outcome, OUTCOMES)
        if not isinstance(outcome, sasl.Challenge):
            assert exchange.done
    if isinstance(outcome, sasl.Credentials):
        assert "\x00" not in outcome.username + outcome.password + outcome.authzid
        if outcome.mechanism == "PLAIN":  # RFC 4616: authcid and passwd are non-empty
            assert outcome.username and outcome.password
    if isinstance(outcome, sasl.SaslError):
        assert outcome.reason in ("bad-base64", "malformed", "unsupported-mechanism", "not-in-progress")


@fuzz
@given(TEXTISH, st.booleans())
def test_sasl_decode_response(text, initial):
    result = sasl.decode_response(text, initial=initial)
    assert isinstance(result, (bytes, sasl.SaslError))
    if isinstance(result, sasl.SaslError):
        assert result.reason == "bad-base64"


@fuzz
@given(st.sampled_from(["PLAIN", "LOGIN", "plain", "login", "CRAM-MD5", ""]) | st.text(max_size=10),
       st.none() | TEXTISH, st.lists(TEXTISH, max_size=4))
def test_sasl_exchange(mechanism, initial, steps):
    check_exchange(mechanism, initial, steps)


# ----------------------------------------------------------------------------- SMTP client
REPLY_TEXT = st.one_of(
    st.sampled_from([b"", b"Ok", b"2.1.0 Ok", b"5.1.1 User unknown", b"4.7.0 later", b"mx.example.net",
                     b"PIPELINING", b"CHUNKING", b"SIZE 100", b"SIZE", b"SIZE x", b"DSN", b"SMTPUTF8", b"8BITMIME",
                     b"STARTTLS", b"AUTH PLAIN LOGIN", b"AUTH=LOGIN", b"AUTH CRAM-MD5", b"ENHANCEDSTATUSCODES",
                     b"VXNlcm5hbWU6", b"2.0.0 Ok: queued", b"9.9.9 odd", b"\xff\xfe", b"\x00", b"A" * 600]),
    WORD)
REPLY_CODE = st.one_of(st.sampled_from([b"220", b"221", b"235", b"250", b"251", b"334", b"354", b"421", b"450",
                                        b"451", b"452", b"500", b"501", b"502", b"503", b"530", b"550", b"552",
                                        b"554"]), st.binary(min_size=0, max_size=4))


@st.composite
def server_replies(draw) -> tuple[list[bytes], bool]:
    """Replies a server might send: mostly well-formed (multi-line, bare LF...), some not."""
    parts = [draw(st.sampled_from([b"220 mx ESMTP\r\n", b"554 no\r\n", b""]))]
    for _ in range(draw(st.integers(0, 30))):
        code, more = draw(REPLY_CODE), draw(st.integers(0, 3))
        lines = [code + b"-" + draw(REPLY_TEXT) for _ in range(more)]
        lines.append(code + draw(st.sampled_from([b" ", b"", b"-", b"x"])) + draw(REPLY_TEXT))
        parts.append(b"".join(line + draw(EOLS) for line in lines))
    data = b"".join(parts)
    return split(data, draw(st.lists(st.integers(0, len(data)), max_size=8))), draw(st.booleans())


@fuzz
@given(st.lists(st.binary(max_size=300), max_size=12), st.booleans(), st.booleans())
def test_smtp_client_arbitrary_bytes(chunks, eof, pipelining):
    run_smtp_client(chunks, eof, pipelining=pipelining)


@fuzz
@given(server_replies(), st.booleans())
def test_smtp_client_reply_grammar(replies, pipelining):
    chunks, eof = replies
    run_smtp_client(chunks, eof, pipelining=pipelining)


@fuzz
@given(st.lists(st.one_of(st.binary(max_size=80), line(REPLY_CODE, REPLY_TEXT).map(lambda b: b.rstrip(b"\r\n"))),
                max_size=20))
def test_smtp_client_reply_reader(lines):
    """Any lines: a Reply (one-line printable text, a 2xx-5xx code, an enhanced code of its
    class) or BadReply; never another exception."""
    from postroom.protocol._smtp_client_replies import BadReply, ReplyReader
    reader = ReplyReader()
    for raw in lines:
        try:
            reply = reader.line(raw)
        except BadReply:
            reader = ReplyReader()
            continue
        if reply is not None:
            assert 200 <= reply.code <= 599 and reply.text.isprintable() and reply.lines
            assert reply.enhanced is None or reply.enhanced[0] == str(reply.code)[0]
