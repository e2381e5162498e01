"""QRESYNC's arithmetic (server/imap4_resync.py): the UIDs a VANISHED (EARLIER) reply names, worked
out on ranges (never enumerated) and checked against plain sets; the message sequence match data
of RFC 7162 3.2.5.2."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from postroom.protocol.imap4.types import QResync, SequenceSet
from postroom.server import imap4_resync as r


def numbers(merged: r.Ranges) -> set[int]:
    return {n for low, high in merged for n in range(low, high + 1)}


range_lists = st.lists(st.tuples(st.integers(1, 60), st.integers(1, 60)), min_size=1, max_size=6)
uid_lists = st.lists(st.integers(1, 60), unique=True).map(sorted)


@given(range_lists, uid_lists, uid_lists)
def test_vanished_is_the_set_difference(wanted, present, record):
    merged = r.ranges(SequenceSet(tuple(wanted)), 60)
    asked = {n for low, high in wanted for n in range(min(low, high), max(low, high) + 1)}
    assert numbers(merged) == asked
    assert all(a[1] + 1 < b[0] for a, b in zip(merged, merged[1:]))  # merged: no two ranges touch
    assert numbers(r.vanished(merged, present, None)) == asked - set(present)
    assert numbers(r.vanished(merged, present, record)) == (asked & set(record)) - set(present)


def test_ranges_resolve_star_and_render_compactly():
    assert r.ranges(SequenceSet(((5, None), (1, 2), (3, 3))), 7) == [(1, 3), (5, 7)]
    assert r.clip(r.ranges(SequenceSet(((1, None),)), 0), 0, 0) == []  # an empty folder: "*" is 0
    assert r.text([(1, 3), (5, 5)]) == b"1:3,5"
    assert r.missing([(1, 4294967295)], [2, 3]) == [(1, 1), (4, 4294967295)]  # never enumerated
    assert r.clip([(1, 3), (5, 9)], 5, 8) == [(6, 8)] and r.clip([(1, 3), (5, 9)], 1, 2) == [(2, 2)]
    assert r.clip([(1, 3)], 3, 9) == [] and r.clip([(4, 6)], 0, 3) == []


def test_seq_match_data_stops_at_the_first_pair_that_no_longer_matches():
    view = [3, 6, 9, 12, 15]  # message n has UID 3n
    def known(numbers, uids):
        return r.matched_up_to(QResync(1, 1, None, (SequenceSet(numbers), SequenceSet(uids))), view)
    assert known(((1, 1), (3, 3)), ((3, 3), (9, 9))) == 9
    assert known(((1, 1), (3, 3), (5, 5)), ((3, 3), (8, 8), (15, 15))) == 3  # 3 no longer has UID 8
    assert known(((2, 4),), ((6, 6), (9, 9), (12, 12))) == 12
    assert known(((6, 6),), ((18, 18),)) == 0  # past the end of the folder
    assert known(((1, 4294967295),), ((1, 4294967295),)) == 0  # a huge sample: stops at once
    assert r.matched_up_to(QResync(1, 1), view) == 0
    assert r.resync_set(QResync(1, 1), 1) == [] and r.resync_set(QResync(1, 1), 8) == [(1, 7)]
    assert r.resync_set(QResync(1, 1, SequenceSet(((4, 6), (2, 2)))), 8) == [(2, 2), (4, 6)]
