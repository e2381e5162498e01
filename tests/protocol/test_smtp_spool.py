"""SMTP core, content taken in pieces (what the server spools to a file past a threshold):
the pieces plus the final content are exactly what the all-in-memory core delivers, at any
split of the input, for DATA (end marker, dot-unstuffing, bare LF) and BDAT (bare LF, CRLF
appended), the size limit is the same octet for octet, and what the core holds stays small."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from test_smtp_content import HEAD, MESSAGE, converse, split, stored, stuff

from postroom.protocol.smtp import NEED_DATA, CheckRecipient, CloseConnection, Deliver, SmtpConfig, SmtpServer, State


def converse_taking(parts, config=None, threshold=0):
    """Like `converse`, but after every receive the adapter takes the content past
    `threshold` octets (as server/smtp.py does into its spool file). Returns (output,
    delivered messages (taken + final, joined), peak octets the core held)."""
    conn = SmtpServer(config or SmtpConfig())
    out, delivered, taken, peak = conn.data_to_send(), [], [], 0
    for part in [*(p for p in parts if p), b""]:
        conn.receive_data(part)
        while True:
            ev = conn.next_event()
            out += conn.data_to_send()
            if ev is NEED_DATA or isinstance(ev, CloseConnection):
                break
            if isinstance(ev, CheckRecipient):
                conn.recipient_accepted()
            elif isinstance(ev, Deliver):
                assert ev.spooled == sum(map(len, taken))
                delivered.append(b"".join(taken) + bytes(ev.content))
                taken = []
                conn.delivered("Q")
        if conn.content_taken == 0:
            taken = []  # the message taken from is gone (refused, RSET): the adapter drops its spool
        peak = max(peak, conn.content_held)
        if conn.content_held > threshold:
            piece = conn.take_content()
            taken.append(piece)
            assert conn.content_taken == sum(map(len, taken))
        if conn.state is State.CLOSED:
            break
    return b"".join(out), delivered, peak


def whole(parts, config=None):
    out, events = converse(parts, config)
    return out, [bytes(c) for c in stored(events)]


# Streams with every hazard a piece boundary can cut: CRLF, <CRLF>.<CRLF>, a dot at a line
# start (stuffed), bare LF before a dot, CR at a boundary, pipelined commands after the end.
DATA_STREAM = (HEAD + b"DATA\r\n..first\r\nline\r\n..x\r\nbare\n.after bare\n\r\r\nlone\rcr\r\n"
               b"..\r\n.\r\n" + HEAD[16:] + b"DATA\r\n.\r\nQUIT\r\n")
BDAT_STREAM = (HEAD + b"BDAT 4\r\nab\r\rBDAT 4\r\n\nc\n\rBDAT 3 LAST\r\n\r\n\n" + HEAD[16:]
               + b"BDAT 3 LAST\r\nx\ryQUIT\r\n")


def test_taken_pieces_equal_the_whole_at_every_split():
    for stream in (DATA_STREAM, BDAT_STREAM):
        reference = whole([stream])
        assert len(reference[1]) == 2
        for i in range(len(stream) + 1):
            out, delivered, _ = converse_taking([stream[:i], stream[i:]])
            assert (out, delivered) == reference, i


def test_taken_pieces_equal_the_whole_byte_at_a_time():
    for stream in (DATA_STREAM, BDAT_STREAM):
        out, delivered, peak = converse_taking([stream[i:i + 1] for i in range(len(stream))])
        assert (out, delivered) == whole([stream])
        assert peak <= 8  # taken after every octet: only the marker search's few octets stay


def test_three_cuts_around_every_hazard():
    stream = DATA_STREAM
    reference = whole([stream])
    hazards = [i for i in range(len(stream) - 1) if stream[i:i + 1] in (b"\r", b"\n", b".")]
    for h in hazards:
        for i in range(max(h - 2, 0), h + 3):
            for j in range(i, h + 4):
                assert converse_taking([stream[:i], stream[i:j], stream[j:]])[:2] == reference, (i, j)


@settings(max_examples=300, deadline=None)
@given(message=MESSAGE, cuts=st.lists(st.integers(0, 10_000), max_size=8), threshold=st.integers(0, 12))
def test_taking_changes_nothing_any_message_any_split(message, cuts, threshold):
    ending = b"" if not message or message.endswith(b"\r\n") else b"\r\n"
    data_wire = (b"." if message.startswith(b".") else b"") + message.replace(b"\n.", b"\n..")
    for stream in (HEAD + b"DATA\r\n" + data_wire + ending + b".\r\nQUIT\r\n",
                   HEAD + b"BDAT %d LAST\r\n" % len(message) + message + b"QUIT\r\n"):
        parts = split(stream, cuts)
        assert converse_taking(parts, threshold=threshold)[:2] == whole(parts)


def test_size_limit_is_the_same_octet_for_octet():
    limit = 100
    config = SmtpConfig(max_message_size=limit)
    for size in (limit - 1, limit, limit + 1):
        for body in (b"x" * (size - 2) + b"\r\n", (b".\r\n" * size)[:size - 2] + b"\r\n"):
            for stream in (HEAD + b"DATA\r\n" + stuff(body) + b"QUIT\r\n",
                           HEAD + b"BDAT %d LAST\r\n" % len(body) + body + b"QUIT\r\n"):
                parts = [stream[i:i + 7] for i in range(0, len(stream), 7)]
                out, delivered, _ = converse_taking(parts, config)
                assert (out, delivered) == whole(parts, config), size
                assert (b"552 5.3.4" in out) is (size > limit)
    # Bare LFs normalised past the limit: the raw octets fit, the stored ones do not.
    body = b"y\n" * 50
    stream = HEAD + b"BDAT 100 LAST\r\n" + body + b"QUIT\r\n"
    out, delivered, _ = converse_taking([stream[i:i + 9] for i in range(0, len(stream), 9)], config)
    assert delivered == [] and b"552 5.3.4" in out


def test_rset_after_a_taken_chunk_forgets_it():
    stream = HEAD + b"BDAT 40\r\n" + b"z" * 40 + b"RSET\r\n" + HEAD[16:] + b"BDAT 4 LAST\r\nnew\nQUIT\r\n"
    out, delivered, _ = converse_taking([stream[:70], stream[70:]])
    assert delivered == [b"new\r\n"]


def test_eight_megabytes_through_a_small_buffer():
    line = b"y" * 74 + b"\r\n"
    message = b"Subject: big\r\n\r\n" + line * (8 * 1024 * 1024 // len(line))
    stream = HEAD + b"DATA\r\n" + stuff(message)
    parts = [stream[i:i + 65536] for i in range(0, len(stream), 65536)]
    out, delivered, peak = converse_taking(parts, SmtpConfig(max_message_size=16 << 20), threshold=256 * 1024)
    assert delivered == [message]
    assert peak < 256 * 1024 + 65536 + 8
