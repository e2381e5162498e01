"""QRESYNC's arithmetic (RFC 7162 3.2.5, 3.2.6): which UIDs a VANISHED (EARLIER) reply names,
from the store's record of expunged UIDs when it reaches back far enough, else from the UIDs that
still exist; UID sets as ranges, never enumerated (a client may name 1:4294967295).

`Enabled` is what a session turned on: CONDSTORE (any CONDSTORE enabling command, 3.1) and
QRESYNC (ENABLE QRESYNC, 3.2.3), UTF8=ACCEPT and IMAP4rev2 (ENABLE); the engine and the selected
folder share it.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Iterator, Sequence

from ..protocol.imap4.modes import Mode
from ..protocol.imap4.types import QResync, SequenceSet

Ranges = list[tuple[int, int]]


@dataclass
class Enabled:
    condstore: bool = False
    qresync: bool = False
    mode: Mode = Mode()  # UTF8=ACCEPT and IMAP4rev2 (protocol/imap4/modes.py), as the core has them


def ranges(found: SequenceSet, largest: int) -> Ranges:
    """The set's ranges ("*" = `largest`), each low-high, sorted and merged; none below 1."""
    out: Ranges = []
    for low, high in sorted(found.resolve(largest)):
        low = max(low, 1)
        if high < low:
            continue
        if out and low <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], high))
        else:
            out.append((low, high))
    return out


def contains(merged: Ranges, number: int) -> bool:
    index = bisect.bisect_right(merged, (number, 2**64)) - 1
    return index >= 0 and merged[index][0] <= number <= merged[index][1]


def text(merged: Ranges) -> bytes:
    """Ranges as a sequence set: 2,4:5."""
    return b",".join(b"%d" % low if low == high else b"%d:%d" % (low, high) for low, high in merged)


def compact(uids: Sequence[int]) -> Ranges:
    """Ascending UIDs as merged ranges."""
    out: Ranges = []
    for uid in uids:
        if out and uid == out[-1][1] + 1:
            out[-1] = (out[-1][0], uid)
        else:
            out.append((uid, uid))
    return out


def missing(wanted: Ranges, present: Sequence[int]) -> Ranges:
    """The numbers of `wanted` not among `present` (ascending): the gaps, range by range."""
    out: Ranges = []
    for low, high in wanted:
        start = bisect.bisect_left(present, low)
        end = bisect.bisect_right(present, high)
        cursor = low
        for uid in present[start:end]:
            if uid > cursor:
                out.append((cursor, uid - 1))
            cursor = uid + 1
        if cursor <= high:
            out.append((cursor, high))
    return out


def vanished(wanted: Ranges, present: Sequence[int], record: Sequence[int] | None) -> Ranges:
    """The UIDs of `wanted` a VANISHED (EARLIER) reply names: those the record of expunged UIDs
    holds (`record`, when it reaches back to the client's modseq) that the view does not; else
    (None: the record was pruned, 3.2.6's note) every UID of `wanted` the view does not hold.
    `present`: the view's UIDs, ascending (one it still shows is never named: VANISHED without
    EARLIER tells of it later)."""
    if record is None:
        return missing(wanted, present)
    return compact([uid for uid in record if contains(wanted, uid)
                    and not _holds(present, uid)])


def _holds(present: Sequence[int], uid: int) -> bool:
    index = bisect.bisect_left(present, uid)
    return index < len(present) and present[index] == uid


def _numbers(found: SequenceSet) -> Iterator[int]:
    for low, high in found.ranges:
        assert low is not None and high is not None  # the parser allows no "*" here
        yield from range(low, high + 1) if low <= high else range(low, high - 1, -1)


def matched_up_to(qresync: QResync, uids: Sequence[int]) -> int:
    """The message sequence match data (3.2.5.2): the UID of the last of the client's (number,
    UID) pairs that the view still holds, before the first that it does not (0: none). The
    client knows of every expunge up to that UID. Stops at the first mismatch: never walks
    further than the view holds messages."""
    if qresync.seq_match is None:
        return 0
    known = 0
    for msn, uid in zip(_numbers(qresync.seq_match[0]), _numbers(qresync.seq_match[1])):
        if not 1 <= msn <= len(uids) or uids[msn - 1] != uid:
            break
        known = uid
    return known


def resync_set(qresync: QResync, uidnext: int) -> Ranges:
    """The UIDs SELECT (QRESYNC) reports on: the known UIDs, or 1:uidnext-1 (3.2.5.1)."""
    if qresync.known_uids is not None:
        return ranges(qresync.known_uids, 0)
    return [(1, uidnext - 1)] if uidnext > 1 else []


def clip(merged: Ranges, floor: int, ceiling: int) -> Ranges:
    """The ranges cut to the numbers above `floor` and at most `ceiling`."""
    return [(max(low, floor + 1), min(high, ceiling)) for low, high in merged
            if high > floor and low <= ceiling and floor < ceiling]
