"""SMTP core, message content: end-of-data framing at every split, speed on big messages,
bounded memory for oversized ones, and two properties (content round-trip; any bytes are
survived with the core in a consistent state)."""
from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from postroom.protocol import _smtp_content
from postroom.protocol.lines import LineBuffer
from postroom.protocol.smtp import (
    NEED_DATA, PAUSED, UNKNOWN_MAILBOX, Authenticate, CheckRecipient, CloseConnection, Deliver, SmtpConfig, SmtpServer,
    StartTls, State,
)

HEAD = b"EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<u@example.com>\r\n"


def converse(parts, config=None):
    """Feed `parts` one receive_data call each; accept every recipient and delivery.
    Returns (output, events)."""
    conn = SmtpServer(config or SmtpConfig())
    out, events = conn.data_to_send(), []
    for part in [*(p for p in parts if p), b""]:  # b"" is EOF: only at the end
        conn.receive_data(part)
        while True:
            ev = conn.next_event()
            out += conn.data_to_send()
            if ev is NEED_DATA or isinstance(ev, CloseConnection):
                break
            events.append(ev)
            if isinstance(ev, CheckRecipient):
                conn.recipient_accepted()
            elif isinstance(ev, Deliver):
                conn.delivered("Q")
        if conn.state is State.CLOSED:
            break
    return b"".join(out), events


def stored(events) -> list[bytes]:
    return [e.content for e in events if isinstance(e, Deliver)]


def via_data(wire: bytes, parts=None) -> list[bytes]:
    stream = HEAD + b"DATA\r\n" + wire
    return stored(converse(parts(stream) if parts else [stream])[1])


def stuff(content: bytes) -> bytes:
    """What a correct client sends after DATA for wire-form `content`."""
    body = (b"." if content.startswith(b".") else b"") + content.replace(b"\r\n.", b"\r\n..")
    return body + b".\r\n"


# --------------------------------------------------------------- end of data, split anywhere
def test_end_of_data_split_at_every_position():
    stream = HEAD + b"DATA\r\nline\r\n..x\r\n.\r\nQUIT\r\n"
    reference = converse([stream])
    assert stored(reference[1]) == [b"line\r\n.x\r\n"]
    assert reference[0].endswith(b"250 2.6.0 Message accepted for delivery, queue id Q\r\n"
                                 b"221 2.0.0 localhost closing connection\r\n")
    for i in range(len(stream) + 1):
        assert converse([stream[:i], stream[i:]]) == reference, i
    # Three calls, both cuts near the marker.
    marker = stream.index(b"\r\n.\r\nQUIT")
    for i in range(marker - 3, marker + 8):
        for j in range(i, marker + 8):
            assert converse([stream[:i], stream[i:j], stream[j:]]) == reference, (i, j)


def test_byte_at_a_time_through_data_and_bdat():
    stream = HEAD + b"DATA\r\n.a\r\nb\n.\nc\r\n.\r\n" + HEAD[16:] + b"BDAT 3\r\nx\r\rBDAT 1 LAST\r\n\nQUIT\r\n"
    whole = converse([stream])
    assert converse([stream[i:i + 1] for i in range(len(stream))]) == whole
    assert stored(whole[1]) == [b"a\r\nb\r\n\r\nc\r\n", b"x\r\r\n"]


def test_lf_dot_lf_never_ends_data():
    for fake_end in (b"\n.\n", b"\n.\r\n", b"\r\n.\n", b"\r.\r\n", b"\r\n .\r\n"):
        out, events = converse([HEAD + b"DATA\r\nx" + fake_end + b"QUIT\r\n"])
        assert stored(events) == [] and not out.endswith(b"closing connection\r\n"), fake_end


# ------------------------------------------------- large content (speed: bench/, not here)
def test_one_mebibyte_messages_of_each_shape():
    text = b"Subject: big\r\n\r\n" + (b"y" * 76 + b"\r\n") * 13_800
    dots = (b".leading dot line to be unstuffed, and more text to fill it\r\n") * 17_000
    bare = (b"bare lf line\n" + b".dot after bare lf\n") * 33_000 + b"\r\n"
    bare_stored = bare.replace(b"\n", b"\r\n").replace(b"\r\r\n", b"\r\n").replace(b"\r\n.", b"\r\n")
    for wire, expected in ((stuff(text), text), (stuff(dots), dots), (bare + b".\r\n", bare_stored)):
        assert len(wire) > 1 << 20
        chunks = [wire[i:i + 65536] for i in range(0, len(wire), 65536)]
        out, events = converse([HEAD + b"DATA\r\n", *chunks], SmtpConfig(max_message_size=4 << 20))
        assert stored(events) == [expected]


class ScanCounter(bytearray):
    """A bytearray that counts the octets its find() calls may examine."""

    scanned = 0

    def find(self, sub, start=0, end=None):  # type: ignore[override]
        end = len(self) if end is None else end
        hit = super().find(sub, start, end)
        ScanCounter.scanned += (end if hit < 0 else hit + len(sub)) - start  # up to the hit
        return hit


def test_end_marker_search_resumes_where_it_stopped():
    # White-box: searching the whole buffer on every receive examines ~n^2/2 octets.
    reader = _smtp_content.DataReader(1 << 22, expected=1 << 20)  # room for it all: never regrown
    reader._buf = ScanCounter(reader._buf)
    ScanCounter.scanned = 0
    line = b"x" * 98 + b"\r\n"
    for _ in range(10_000):  # 1 MB in 100-octet receives
        assert reader.feed(line) is None
    assert reader.feed(b".\r\nNEXT") == b"NEXT"
    assert ScanCounter.scanned <= 2 * 1_000_000
    assert reader.content() == line * 10_000


def test_oversized_data_is_read_in_bounded_memory():
    reader = _smtp_content.DataReader(1000)
    peak = 0
    for _ in range(2000):  # 2 MB
        assert reader.feed(b"z" * 999 + b"\n") is None
        peak = max(peak, reader.held)
    assert reader.feed(b"\r\n.\r\n") == b""
    assert reader.content() is None
    assert peak < 1000 * 4 // 3 + 1000 + 16
    assert len(reader._buf) == 1000 + _smtp_content.DataReader.MIN_ROOM  # the room never grew


def test_ten_megabytes_of_dot_lines_through_the_core():
    message = b".x\r\n" * 2_500_000
    wire = stuff(message)
    chunks = [wire[i:i + 262144] for i in range(0, len(wire), 262144)]
    _, events = converse([HEAD + b"DATA\r\n", *chunks], SmtpConfig(max_message_size=64 << 20))
    assert stored(events) == [message]


def test_dot_lines_are_searched_once():
    # Every line needs unstuffing: the search must still resume, not restart (linear, not n^2).
    reader = _smtp_content.DataReader(1 << 24, expected=1 << 20)
    reader._buf = ScanCounter(reader._buf)
    ScanCounter.scanned = 0
    wire = stuff(b".x\r\n" * 200_000)[:-3]  # without the end marker
    for i in range(0, len(wire), 65536):
        assert reader.feed(wire[i:i + 65536]) is None
    assert reader.feed(b".\r\n") == b""
    assert ScanCounter.scanned <= 3 * len(wire)
    assert reader.content() == b".x\r\n" * 200_000


# ------------------------------------------------------------------- LineBuffer.take
def test_take_hands_out_raw_octets_and_keeps_framing_state():
    buf = LineBuffer(100)
    buf.feed(b"BDAT 3\r\nab\ncd\r\nNOOP")
    assert buf.next_line() == b"BDAT 3"
    assert buf.take(3) == b"ab\n"
    assert buf.take(0) == b""
    assert buf.next_line() == b"cd"
    assert buf.next_line() is None  # scanned "NOOP" once ...
    assert buf.take(2) == b"NO"  # ... and the scan position follows the removal
    buf.feed(b"\r\nX\r\n")
    assert list(buf.lines()) == [b"OP", b"X"]
    buf.feed(b"rest")
    assert buf.take() == b"rest" and buf.take() == b"" and len(buf) == 0
    assert buf.take(10) == b""


# ---------------------------------------------------------------------------- properties
PIECES = [b"a", b"xyz", b".", b"..", b"\r", b"\n", b"\r\n", b" ", b"\x00", b"\xff", b"\r\n.", b"\n.",
          b".\r\n", b"\r\n.\r\n", b"\n.\n", b"BDAT 1\r\n"]
MESSAGE = st.one_of(st.lists(st.sampled_from(PIECES), max_size=30).map(b"".join), st.binary(max_size=120))


def split(data: bytes, cuts: list[int]):
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


def canonical(message: bytes) -> bytes:
    """Wire form of arbitrary octets under the bare-LF policy: every LF ends a line as CRLF,
    and a message not ending in a line end gets one."""
    data = re.sub(rb"(?<!\r)\n", b"\r\n", message)
    return data if not data or data.endswith(b"\r\n") else data + b"\r\n"


@settings(max_examples=300, deadline=None)
@given(message=MESSAGE, cuts=st.lists(st.integers(0, 10_000), max_size=6))
def test_content_round_trip(message, cuts):
    # DATA: the client stuffs every line start (after any LF) and ends with <CRLF>.<CRLF>,
    # adding the CRLF if M lacks it. BDAT: M goes raw.
    ending = b"" if not message or message.endswith(b"\r\n") else b"\r\n"
    data_wire = (b"." if message.startswith(b".") else b"") + message.replace(b"\n.", b"\n..")
    from_data = via_data(data_wire + ending + b".\r\n", lambda s: split(s, cuts))
    from_bdat = stored(converse(split(HEAD + b"BDAT %d LAST\r\n" % len(message) + message, cuts))[1])
    assert from_data == [canonical(message + ending)]
    assert from_bdat == [canonical(message)]
    content = from_bdat[0]
    assert content == b"" or content.endswith(b"\r\n")
    assert content.count(b"\n") == content.count(b"\r\n")  # no bare LF
    # Stored content sent back by a correct client comes back unchanged, both ways.
    assert via_data(stuff(content), lambda s: split(s, cuts)) == [content]
    assert stored(converse(split(HEAD + b"BDAT %d LAST\r\n" % len(content) + content, cuts))[1]) == [content]


TOKENS = [
    b"EHLO x\r\n", b"HELO y\r\n", b"MAIL FROM:<a@b.example>\r\n", b"MAIL FROM:<> SIZE=5\r\n",
    b"RCPT TO:<u@example.com>\r\n", b"RCPT TO:<postmaster>\r\n", b"DATA\r\n", b"BDAT 3\r\n",
    b"BDAT 0 LAST\r\n", b"BDAT 2 LAST\r\n", b"BDAT x\r\n", b"RSET\r\n", b"NOOP\r\n", b"STARTTLS\r\n",
    b"AUTH PLAIN\r\n", b"AUTH PLAIN AGEAYg==\r\n", b"AUTH LOGIN\r\n", b"YQ==\r\n", b"*\r\n", b"QUIT\r\n",
    b".\r\n", b"\r\n.\r\n", b"\n", b"\r\n", b".", b"x" * 1200, b"z" * 60,
]


def transaction(recipients: int, body: bytes, bdat: bool) -> bytes:
    """A whole transaction, its content unstuffed: DATA may end early, the rest then runs
    as commands."""
    head = b"MAIL FROM:<a@b.example>\r\n" + b"RCPT TO:<u@example.com>\r\n" * recipients
    if bdat:
        return head + b"BDAT %d\r\n" % len(body) + body + b"BDAT 0 LAST\r\n"
    return head + b"DATA\r\n" + body + b"\r\n.\r\n"


TRANSACTION = st.builds(transaction, st.integers(0, 3), MESSAGE, st.booleans())
EVENT_TYPES = (Authenticate, StartTls, CheckRecipient, Deliver, CloseConnection)
REPLY_LINE = re.compile(rb"[2-5]\d\d[ -][^\r\n]*\r\n")
IN_TRANSACTION = {State.MAIL, State.RCPT, State.CHUNKING, State.DATA, State.CHECKING_RECIPIENT, State.DELIVERING}


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    greet=st.sampled_from([b"EHLO x\r\n", b"EHLO x\r\nAUTH PLAIN AGEAYg==\r\n", b""]),
    tokens=st.lists(TRANSACTION | st.sampled_from(TOKENS) | st.binary(max_size=30), min_size=1, max_size=12),
    cuts=st.lists(st.integers(0, 10_000), max_size=8),
    choices=st.lists(st.integers(0, 3), min_size=1, max_size=40),
    tls_active=st.booleans(),
    flags=st.fixed_dictionaries({
        **{k: st.booleans() for k in ("offer_tls", "offer_basic", "basic_requires_tls")},
        "require_tls": st.sampled_from([False, False, True]),  # mostly let transactions through
        "anonymous_allowed": st.sampled_from([True, True, False]),
    }),
)
def test_any_bytes_never_raise_and_leave_a_consistent_core(greet, tokens, cuts, choices, tls_active, flags):
    parts = split(greet + b"".join(tokens), cuts)
    config = SmtpConfig(max_recipients=2, max_message_size=50, max_errors=8, **flags)
    conn = SmtpServer(config, tls_active=tls_active)
    pick = iter(choices * 40)
    closed = False
    for part in [*(p for p in parts if p), b""]:
        conn.receive_data(part)
        for _ in range(10_000):
            ev = conn.next_event()
            out = b"".join(conn.data_to_send())
            assert REPLY_LINE.sub(b"", out) == b"", out
            state = conn.state
            # White-box: exactly the transaction states carry the transaction (the delivering
            # one gave it to the Deliver event; BDAT's carries the state it returns to).
            has_tx = getattr(conn._phase, "tx", None) is not None
            assert has_tx == (state in IN_TRANSACTION - {State.DELIVERING}) or state is State.BDAT
            if ev is NEED_DATA:
                assert state not in {State.AUTHENTICATING, State.CHECKING_RECIPIENT, State.DELIVERING}
                break
            if ev is PAUSED:
                assert state in {State.AUTHENTICATING, State.CHECKING_RECIPIENT, State.DELIVERING,
                                 State.TLS_NEGOTIATING}
                assert conn.next_event() is PAUSED
                if state is State.TLS_NEGOTIATING:
                    conn.tls_started()
                continue
            assert isinstance(ev, EVENT_TYPES), ev
            if isinstance(ev, CloseConnection):
                assert state is State.CLOSED
                closed = True
                break
            choice = next(pick)
            if isinstance(ev, Authenticate):
                conn.auth_succeeded() if choice else conn.auth_failed("bad-credentials")
            elif isinstance(ev, CheckRecipient):
                conn.recipient_accepted() if choice else conn.recipient_rejected(UNKNOWN_MAILBOX)
            elif isinstance(ev, Deliver):
                assert 1 <= len(ev.envelope.recipients) <= 2
                content = bytes(ev.content)  # bytes, or a read-only view of the receive buffer
                assert len(content) <= 50
                assert content == b"" or content.endswith(b"\r\n")
                assert content.count(b"\n") == content.count(b"\r\n")
                conn.delivered("Q1") if choice else conn.delivery_failed(UNKNOWN_MAILBOX)
            elif isinstance(ev, StartTls) and choice:
                conn.tls_started()
        else:
            raise AssertionError("next_event() never asked for data")
        if closed:
            break
    assert closed  # EOF always ends the conversation
    conn.receive_data(b"NOOP\r\n")
    assert conn.next_event() is NEED_DATA and conn.data_to_send() == []
