"""LineBuffer: framing, overlong lines, clear(), and linear cost."""
from __future__ import annotations

import time

from hypothesis import given, settings
from hypothesis import strategies as st

from postroom.protocol.lines import LineBuffer, TooLong


def collect(buf: LineBuffer) -> list:
    return list(buf.lines())


def test_crlf_and_bare_lf_end_lines_without_terminator():
    buf = LineBuffer(100)
    buf.feed(b"one\r\ntwo\nthree\r\n\r\n\n")
    assert collect(buf) == [b"one", b"two", b"three", b"", b""]
    assert len(buf) == 0


def test_lone_cr_inside_a_line_is_kept():
    buf = LineBuffer(100)
    buf.feed(b"a\rb\r\nc\r")
    assert collect(buf) == [b"a\rb"]
    buf.feed(b"\n")
    assert collect(buf) == [b"c"]


def test_incomplete_line_waits_and_terminator_may_be_split():
    buf = LineBuffer(100)
    buf.feed(b"US")
    assert buf.next_line() is None
    buf.feed(b"ER x\r")
    assert buf.next_line() is None
    assert len(buf) == 7
    buf.feed(b"\nNO")
    assert buf.next_line() == b"USER x"
    assert buf.next_line() is None
    assert len(buf) == 2


def test_feed_empty_is_a_no_op():
    buf = LineBuffer(10)
    buf.feed(b"")
    assert buf.next_line() is None


def test_limit_counts_the_terminator():
    buf = LineBuffer(10)
    buf.feed(b"12345678\r\n")  # exactly 10 octets
    assert buf.next_line() == b"12345678"
    buf.feed(b"123456789\n")  # exactly 10 with a bare LF
    assert buf.next_line() == b"123456789"
    buf.feed(b"123456789\r\nnext\r\n")  # 11 octets
    assert collect(buf) == [TooLong, b"next"]


def test_overlong_line_reported_once_and_discarded_to_its_end():
    buf = LineBuffer(10)
    buf.feed(b"x" * 10)  # cannot fit even if LF came next
    assert buf.next_line() is TooLong
    assert buf.next_line() is None
    assert len(buf) == 0
    buf.feed(b"y" * 50)
    assert buf.next_line() is None
    buf.feed(b"zzz\r\nQUIT\r\n")
    assert collect(buf) == [b"QUIT"]


def test_overlong_line_discard_ends_at_lf_in_the_same_chunk():
    buf = LineBuffer(10)
    buf.feed(b"a" * 30 + b"\r\nSTAT\r\n" + b"b" * 12)
    assert collect(buf) == [TooLong, b"STAT", TooLong]
    buf.feed(b"\r\nNOOP\n")
    assert collect(buf) == [b"NOOP"]


def test_partial_line_below_limit_is_not_reported_early():
    buf = LineBuffer(10)
    buf.feed(b"123456789")  # 9 octets: an LF would make it exactly 10
    assert buf.next_line() is None
    buf.feed(b"\n")
    assert buf.next_line() == b"123456789"


def test_clear_drops_everything_including_a_discard_in_progress():
    buf = LineBuffer(10)
    buf.feed(b"STLS\r\nUSER evil\r\nPASS x")
    assert buf.next_line() == b"STLS"
    buf.clear()
    assert len(buf) == 0 and buf.next_line() is None
    buf.feed(b"x" * 20)
    assert buf.next_line() is TooLong
    buf.clear()
    buf.feed(b"CAPA\r\n")
    assert buf.next_line() == b"CAPA"


def test_max_line_can_change_between_lines():
    buf = LineBuffer(10)
    buf.feed(b"short\r\n" + b"d" * 20 + b"\r\n")
    assert buf.next_line() == b"short"
    buf.max_line = 1000
    assert buf.next_line() == b"d" * 20


def test_toolong_repr():
    assert repr(TooLong) == "TooLong"


class ScanCounter(bytearray):
    """A bytearray that counts the octets its find() calls may examine."""

    scanned = 0

    def find(self, sub, start=0, *args):  # type: ignore[override]
        ScanCounter.scanned += len(self) - start
        return super().find(sub, start, *args)


def test_byte_at_a_time_scans_each_octet_once():
    # White-box: a buffer that rescans from the start on every byte examines ~n²/2 octets.
    size = 20_000
    buf = LineBuffer(size + 10)
    buf._buf = ScanCounter()
    ScanCounter.scanned = 0
    for _ in range(size):
        buf.feed(b"a")
        assert buf.next_line() is None
    buf.feed(b"\r\n")
    assert buf.next_line() == b"a" * size
    assert ScanCounter.scanned <= 3 * size


def test_many_pipelined_lines_are_linear():
    buf = LineBuffer(512)
    buf.feed(b"NOOP\r\n" * 200_000)
    start = time.perf_counter()
    assert sum(1 for _ in buf.lines()) == 200_000
    assert time.perf_counter() - start < 2.0


def reference(data: bytes, max_line: int) -> list:
    """What a buffer fed `data` must have produced once everything is read."""
    out: list = []
    *complete, tail = data.split(b"\n")
    for seg in complete:
        if len(seg) + 1 > max_line:
            out.append(TooLong)
        else:
            out.append(seg[:-1] if seg.endswith(b"\r") else seg)
    if len(tail) >= max_line:
        out.append(TooLong)
    return out


@settings(max_examples=200, deadline=None)
@given(
    data=st.lists(st.sampled_from([b"a", b"bc", b"\r", b"\n", b"\r\n", b"xxxxxxx", b"."]), max_size=60).map(b"".join),
    cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=10),
    max_line=st.integers(min_value=2, max_value=12),
)
def test_any_chunking_gives_the_reference_lines(data, cuts, max_line):
    buf = LineBuffer(max_line)
    got: list = []
    previous = 0
    for cut in sorted(c % (len(data) + 1) for c in cuts) + [len(data)]:
        buf.feed(data[previous:cut])
        previous = cut
        got.extend(buf.lines())
    assert got == reference(data, max_line)
