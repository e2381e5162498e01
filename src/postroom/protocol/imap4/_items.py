"""FETCH data items (with BODY[section]<partial>) and the SEARCH program (RFC 3501 6.4.4,
6.4.5 and the grammar of section 9), parsed into the values of types.py."""
from __future__ import annotations

import re

from ._modseq import search_modseq
from ._tokens import Cursor, ParseError, shown
from .types import FetchAttribute, SearchKey, Section

__all__ = ["fetch_attributes", "search_program"]

# ---------------------------------------------------------------------------------- FETCH
_ITEM = re.compile(rb"[A-Za-z0-9.]+")
_SECTION_TEXT = re.compile(rb"[A-Za-z.]+")
_SIMPLE = frozenset(
    "ENVELOPE FLAGS INTERNALDATE RFC822 RFC822.HEADER RFC822.SIZE RFC822.TEXT BODY BODYSTRUCTURE UID MODSEQ".split()
)
_ALL = ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE")
MACROS = {"ALL": _ALL, "FAST": _ALL[:3], "FULL": (*_ALL, "BODY")}
_MSGTEXT = frozenset({"HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT"})
_FIELD_NAME = re.compile(r"[!-9;-~]+")  # printable ASCII but ":"


def fetch_attributes(cur: Cursor) -> tuple[FetchAttribute, ...]:
    """A macro (ALL FAST FULL, expanded), one item, or a parenthesised list of items."""
    if cur.skip(b"("):
        items = [_fetch_item(cur)]
        while not cur.skip(b")"):
            cur.sp("a space or ) in the FETCH item list")
            items.append(_fetch_item(cur))
        return tuple(items)
    start = cur.pos
    name = (cur.match(_ITEM) or b"").decode("ascii").upper()
    if name in MACROS:
        return tuple(FetchAttribute(n) for n in MACROS[name])
    cur.pos = start
    return (_fetch_item(cur),)


def _fetch_item(cur: Cursor) -> FetchAttribute:
    token = cur.match(_ITEM)
    if token is None:
        raise ParseError("Expected a FETCH item (like FLAGS, UID or BODY.PEEK[HEADER]).")
    name = token.decode("ascii").upper()
    if name in ("BODY", "BODY.PEEK") and cur.peek() == 0x5B:  # "["
        section = _section(cur)
        partial = None
        if cur.skip(b"<"):
            origin = cur.number("the partial's first octet")
            cur.expect(b".", "a . between the partial's first octet and its length")
            partial = (origin, cur.number("the partial's length", nonzero=True))
            cur.expect(b">", "> after the partial")
        return FetchAttribute("BODY[]", section, name == "BODY.PEEK", partial)
    if name in _SIMPLE:
        return FetchAttribute(name)
    if name in MACROS:
        raise ParseError(f"{name} is a macro: it cannot be part of a list.")
    raise ParseError(f"Unknown FETCH item {shown(name)}." if name != "BODY.PEEK" else "BODY.PEEK needs a [section].")


def _section(cur: Cursor) -> Section:
    cur.expect(b"[", "[")
    part: list[int] = []
    text: str | None = None
    while cur.peek() != 0x5D:  # "]"
        if 0x30 <= cur.peek() <= 0x39:
            part.append(cur.number("a part number", nonzero=True))
            if cur.skip(b"."):
                continue
            break
        token = cur.match(_SECTION_TEXT)
        text = token.decode("ascii").upper() if token else ""
        if text not in _MSGTEXT and not (text == "MIME" and part):
            raise ParseError(f"Invalid section text '{shown(text)}': HEADER, HEADER.FIELDS (...), "
                             "HEADER.FIELDS.NOT (...), TEXT, or MIME after a part number.")
        break
    fields: tuple[str, ...] = ()
    if text in ("HEADER.FIELDS", "HEADER.FIELDS.NOT"):
        cur.sp("a space and the header field list")
        fields = _header_list(cur)
    cur.expect(b"]", "] to end the section")
    return Section(tuple(part), text, fields)


def _header_list(cur: Cursor) -> tuple[str, ...]:
    cur.expect(b"(", "a header field list in parentheses")
    names: list[str] = []
    while True:
        name = cur.astring("a header field name").decode("latin-1")
        if not _FIELD_NAME.fullmatch(name):
            raise ParseError(f"Invalid header field name '{shown(name)}'.")
        names.append(name.upper())
        if cur.skip(b")"):
            return tuple(names)
        cur.sp("a space or ) in the header field list")


# --------------------------------------------------------------------------------- SEARCH
_NO_ARGUMENT = frozenset(
    "ALL ANSWERED DELETED DRAFT FLAGGED NEW OLD RECENT SEEN UNANSWERED UNDELETED UNDRAFT UNFLAGGED UNSEEN".split()
)
_TEXT = frozenset("BCC BODY CC FROM SUBJECT TEXT TO".split())
_DATE = frozenset("BEFORE ON SINCE SENTBEFORE SENTON SENTSINCE".split())
_WITH_ARGUMENT = frozenset({"HEADER", "KEYWORD", "UNKEYWORD", "LARGER", "SMALLER", "UID", "NOT", "OR", "MODSEQ"})
_MAX_DEPTH = 32


def search_program(cur: Cursor, charset: str) -> SearchKey:
    """1*(SP search-key) after SEARCH [CHARSET x]; strings decoded with `charset`."""
    keys = [_search_key(cur, charset, 0)]
    while cur.space_then():
        keys.append(_search_key(cur, charset, 0))
    return SearchKey("AND", tuple(keys))


def _search_key(cur: Cursor, charset: str, depth: int) -> SearchKey:
    if depth > _MAX_DEPTH:
        raise ParseError("The search program is nested too deeply.")
    c = cur.peek()
    if c == 0x28:  # "("
        cur.pos += 1
        keys = [_search_key(cur, charset, depth + 1)]
        while not cur.skip(b")"):
            cur.sp("a space or ) in the search key list")
            keys.append(_search_key(cur, charset, depth + 1))
        return SearchKey("AND", tuple(keys))
    if c == 0x2A or c == 0x24 or 0x30 <= c <= 0x39:  # "*", "$" (RFC 5182) or a digit: a sequence set
        return SearchKey("SEQ", (cur.sequence_set(),))
    if c == -1:
        raise ParseError("Expected a search key.")
    name = cur.keyword("a search key")
    if name in _NO_ARGUMENT:
        return SearchKey(name)
    if name not in _TEXT | _DATE | _WITH_ARGUMENT:
        raise ParseError(f"Unknown search key {shown(name)}.")
    cur.sp(f"an argument after {name}")
    if name == "MODSEQ":
        return search_modseq(cur)
    if name in _TEXT:
        return SearchKey(name, (cur.text_arg(f"the {name} string", charset, search=True),))
    if name in _DATE:
        return SearchKey(name, (cur.date(),))
    if name == "HEADER":
        field = cur.astring("a header field name").decode("latin-1")
        if not _FIELD_NAME.fullmatch(field):
            raise ParseError(f"Invalid header field name '{shown(field)}'.")
        cur.sp("the string to search the header for")
        return SearchKey(name, (field, cur.text_arg("the HEADER string", charset, search=True)))
    if name in ("KEYWORD", "UNKEYWORD"):
        return SearchKey(name, (cur.flag(stored=False),))
    if name in ("LARGER", "SMALLER"):
        return SearchKey(name, (cur.number(f"the {name} size"),))
    if name == "UID":
        return SearchKey(name, (cur.sequence_set("a UID set"),))
    if name == "NOT":
        return SearchKey(name, (_search_key(cur, charset, depth + 1),))
    first = _search_key(cur, charset, depth + 1)
    cur.sp("a second search key after OR")
    return SearchKey(name, (first, _search_key(cur, charset, depth + 1)))
