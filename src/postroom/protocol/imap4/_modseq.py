"""The grammar CONDSTORE and QRESYNC (RFC 7162 section 7) add to commands: SELECT/EXAMINE
parameters, the FETCH and STORE modifiers (RFC 4466 2.4, 2.5) and the MODSEQ search key. Each
reads from the cursor at its opening token and raises ParseError with a readable text."""
from __future__ import annotations

import re
from typing import Callable

from ._tokens import Cursor, ParseError, shown
from .types import QResync, SearchKey, SequenceSet

__all__ = ["fetch_modifiers", "search_modseq", "select_parameters", "store_modifiers"]

_ENTRY = re.compile(rb'"/flags/(?:[^"\\\x00-\x1f\x7f]|\\\\)+"', re.IGNORECASE)
_ENTRY_TYPES = frozenset({"PRIV", "SHARED", "ALL"})


def _names(cur: Cursor, kind: str, choices: str, read: Callable[[str], None]) -> None:
    """"(" name [args] *(SP name [args]) ")" (the "(" read already): `read` takes each name
    (upper case) and its arguments; a name given twice is BAD."""
    seen = set()
    while True:
        name = cur.keyword(f"a {kind} ({choices})")
        if name in seen:
            raise ParseError(f"The {kind} {name} is given twice.")
        seen.add(name)
        read(name)
        if cur.skip(b")"):
            return
        cur.sp(f"a space or ) in the {kind}s")


def select_parameters(cur: Cursor) -> tuple[bool, QResync | None]:
    """"(" select-param *(SP select-param) ")" after SELECT's mailbox: (CONDSTORE given, QRESYNC's)."""
    cur.expect(b"(", "SELECT parameters in parentheses")
    found: dict[str, QResync | None] = {}

    def read(name: str) -> None:
        if name == "QRESYNC":
            cur.sp("the QRESYNC values in parentheses")
            found[name] = _qresync(cur)
        elif name == "CONDSTORE":
            found[name] = None
        else:
            raise ParseError(f"Unknown SELECT parameter {shown(name)}: CONDSTORE or QRESYNC.")
    _names(cur, "SELECT parameter", "CONDSTORE or QRESYNC", read)
    return "CONDSTORE" in found, found.get("QRESYNC")


def _qresync(cur: Cursor) -> QResync:
    """"(" uidvalidity SP mod-sequence-value [SP known-uids] [SP seq-match-data] ")"."""
    cur.expect(b"(", "(uidvalidity modseq [known-uids [seq-match-data]]) after QRESYNC")
    uidvalidity = cur.number("the UIDVALIDITY in QRESYNC", nonzero=True)
    cur.sp("the mod-sequence in QRESYNC")
    modseq = cur.mod_sequence("the mod-sequence in QRESYNC")
    known, match = None, None
    if cur.skip(b" "):
        if cur.peek() != 0x28:
            known = _no_star(cur.sequence_set("the known UIDs in QRESYNC"), "the known UIDs")
            if cur.skip(b" "):
                match = _seq_match(cur)
        else:
            match = _seq_match(cur)
    cur.expect(b")", ") to end the QRESYNC values")
    return QResync(uidvalidity, modseq, known, match)


def _seq_match(cur: Cursor) -> tuple[SequenceSet, SequenceSet]:
    cur.expect(b"(", "(message numbers, UIDs) in QRESYNC")
    numbers = _no_star(cur.sequence_set("the known message numbers"), "the known message numbers")
    cur.sp("the known UIDs that match the message numbers")
    uids = _no_star(cur.sequence_set("the known UIDs that match the message numbers"), "the matching UIDs")
    cur.expect(b")", ") after the message numbers and UIDs")
    if _count(numbers) != _count(uids):
        raise ParseError("QRESYNC's message numbers and UIDs must be as many.")
    return numbers, uids


def _no_star(found: SequenceSet, what: str) -> SequenceSet:
    """A set of QRESYNC: no "*", in ascending order (RFC 7162 section 7)."""
    if found.saved:
        raise ParseError(f'"$" is not allowed in {what} of QRESYNC.')
    last = 0
    for low, high in found.ranges:
        if low is None or high is None:
            raise ParseError(f"\"*\" is not allowed in {what} of QRESYNC.")
        if min(low, high) <= last:
            raise ParseError(f"{what[0].upper()}{what[1:]} of QRESYNC must ascend.")
        last = max(low, high)
    return found


def _count(found: SequenceSet) -> int:
    return sum(abs(high - low) + 1 for low, high in found.ranges if low is not None and high is not None)


def fetch_modifiers(cur: Cursor, uid: bool) -> tuple[int, bool]:
    """" (" fetch-modifier *(SP fetch-modifier) ")" after the FETCH items: (CHANGEDSINCE's
    mod-sequence, VANISHED given). VANISHED is UID FETCH's only, and needs CHANGEDSINCE."""
    cur.expect(b" (", "a space and FETCH modifiers in parentheses")
    found: dict[str, int] = {}

    def read(name: str) -> None:
        if name == "CHANGEDSINCE":
            cur.sp("the mod-sequence after CHANGEDSINCE")
            found[name] = cur.mod_sequence("the mod-sequence after CHANGEDSINCE")
        elif name == "VANISHED":
            if not uid:
                raise ParseError("The VANISHED modifier is only valid with UID FETCH.")
            found[name] = 0
        else:
            raise ParseError(f"Unknown FETCH modifier {shown(name)}: CHANGEDSINCE or VANISHED.")
    _names(cur, "FETCH modifier", "CHANGEDSINCE or VANISHED", read)
    if "CHANGEDSINCE" not in found:
        raise ParseError("The VANISHED modifier needs CHANGEDSINCE.")
    return found["CHANGEDSINCE"], "VANISHED" in found


def store_modifiers(cur: Cursor) -> int:
    """"(" "UNCHANGEDSINCE" SP mod-sequence-valzer ")" before STORE's item: the mod-sequence."""
    cur.expect(b"(", "STORE modifiers in parentheses")
    name = cur.keyword("a STORE modifier (UNCHANGEDSINCE)")
    if name != "UNCHANGEDSINCE":
        raise ParseError(f"Unknown STORE modifier {shown(name)}: UNCHANGEDSINCE.")
    cur.sp("the mod-sequence after UNCHANGEDSINCE")
    value = cur.mod_sequence("the mod-sequence after UNCHANGEDSINCE")
    if not cur.skip(b")"):
        raise ParseError("Expected ) after UNCHANGEDSINCE: it is the only STORE modifier and given once.")
    return value


def search_modseq(cur: Cursor) -> SearchKey:
    """After MODSEQ and a space: [entry-name SP entry-type-req SP] mod-sequence-valzer. The entry
    ("/flags/\\\\seen" priv) is checked and ignored: one modseq per message (RFC 7162 3.1.5)."""
    if cur.peek() == 0x22:
        if cur.match(_ENTRY) is None:
            raise ParseError('Expected a MODSEQ entry name like "/flags/\\\\seen".')
        cur.sp("the entry type (priv, shared or all) after the entry name")
        kind = cur.keyword("the entry type (priv, shared or all)")
        if kind not in _ENTRY_TYPES:
            raise ParseError(f"Unknown MODSEQ entry type {shown(kind)}: priv, shared or all.")
        cur.sp("the mod-sequence after the entry type")
    return SearchKey("MODSEQ", (cur.mod_sequence("the mod-sequence of MODSEQ"),))
