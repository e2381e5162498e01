"""ESEARCH (RFC 4731) and SEARCHRES (RFC 5182): SEARCH's RETURN options and the `* ESEARCH` reply.

`SEARCH RETURN (MIN MAX ALL COUNT SAVE) ...` asks for parts of the result instead of the whole
`* SEARCH` list: the lowest and highest number found, all of them as a compressed sequence set,
how many, and SAVE keeps the result for "$" in later commands. RETURN () is RETURN (ALL). With
SAVE alone no ESEARCH reply is sent. With MIN and/or MAX but neither ALL nor COUNT, SAVE keeps only
those messages (RFC 5182 2.4), and the MODSEQ a CONDSTORE search reports is theirs (RFC 4731 3.2).
"""
from __future__ import annotations

from typing import Sequence

from . import wire
from ._tokens import Cursor, ParseError, shown

__all__ = ["RETURN_OPTIONS", "esearch_line", "reported", "return_options", "sequence_text"]

RETURN_OPTIONS = ("MIN", "MAX", "ALL", "COUNT", "SAVE")
_CHOICES = "MIN, MAX, ALL, COUNT or SAVE"


def return_options(cur: Cursor) -> tuple[str, ...]:
    """"(" [search-return-opt *(SP search-return-opt)] ")" after RETURN and a space: the options
    in upper case, each once, in the order given; () is ("ALL",) (RFC 4731 3.1)."""
    cur.expect(b"(", f"the RETURN options in parentheses ({_CHOICES})")
    found: list[str] = []
    if not cur.skip(b")"):
        while True:
            name = cur.keyword(f"a RETURN option ({_CHOICES})")
            if name not in RETURN_OPTIONS:
                raise ParseError(f"Unknown RETURN option {shown(name)}: {_CHOICES}.")
            found.append(name)
            if cur.skip(b")"):
                break
            cur.sp("a space or ) in the RETURN options")
    return tuple(dict.fromkeys(found)) or ("ALL",)


def reported(returns: Sequence[str], found: Sequence[int]) -> list[int]:
    """The messages the options speak of (ascending `found`): all of them when ALL or COUNT is
    asked for, else only the lowest and/or highest. What SAVE keeps, and whose MODSEQ is told."""
    if not found or "ALL" in returns or "COUNT" in returns:
        return list(found)
    chosen = {found[0]} if "MIN" in returns else set()
    if "MAX" in returns:
        chosen.add(found[-1])
    return sorted(chosen) if chosen else list(found)  # SAVE alone: all


def sequence_text(numbers: Sequence[int]) -> bytes:
    """Ascending numbers as a compressed sequence set: 3:5,9 for [3, 4, 5, 9]."""
    runs: list[list[int]] = []
    for number in numbers:
        if runs and number == runs[-1][1] + 1:
            runs[-1][1] = number
        else:
            runs.append([number, number])
    return b",".join(b"%d" % a if a == b else b"%d:%d" % (a, b) for a, b in runs)


def esearch_line(tag: str, uid: bool, returns: Sequence[str], found: Sequence[int],
                 modseq: int | None = None) -> bytes:
    """`* ESEARCH (TAG "tag") [UID] ...` for `found` (ascending); b"" when SAVE is the only option.
    MIN, MAX and ALL are left out of an empty result, COUNT says 0; `modseq` (a search with a
    MODSEQ key) is added when something was found."""
    if not any(option != "SAVE" for option in returns):
        return b""
    out = [b"* ESEARCH (TAG " + wire.quoted(tag.encode("ascii")) + b")"]
    if uid:
        out.append(b"UID")
    if found and "MIN" in returns:
        out.append(b"MIN %d" % found[0])
    if found and "MAX" in returns:
        out.append(b"MAX %d" % found[-1])
    if "COUNT" in returns:
        out.append(b"COUNT %d" % len(found))
    if found and "ALL" in returns:
        out.append(b"ALL " + sequence_text(found))
    if found and modseq is not None:
        out.append(b"MODSEQ %d" % modseq)
    return b" ".join(out) + b"\r\n"
