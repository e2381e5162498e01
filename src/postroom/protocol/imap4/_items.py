"""FETCH data items (with BODY[section]<partial>) and the SEARCH program (RFC 3501 6.4.4,
6.4.5 and the grammar of section 9), parsed into the values of types.py."""
from __future__ import annotations

import re

from ._modseq import search_modseq
from ._tokens import Cursor, ParseError, shown
from .types import FetchAttribute, SearchKey, Section

__all__ = ["append_data", "fetch_attributes", "search_program"]

# ---------------------------------------------------------------------------------- FETCH
_ITEM = re.compile(rb"[A-Za-z0-9.]+")
_SECTION_TEXT = re.compile(rb"[A-Za-z.]+")
_SIMPLE = frozenset(
    "ENVELOPE FLAGS INTERNALDATE RFC822 RFC822.HEADER RFC822.SIZE RFC822.TEXT BODY BODYSTRUCTURE UID MODSEQ".split()
)
_BINARY = frozenset({"BINARY", "BINARY.PEEK", "BINARY.SIZE"})
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
        return FetchAttribute("BODY[]", section, name == "BODY.PEEK", _partial(cur))
    if name in _BINARY and cur.peek() == 0x5B:
        section = Section(_binary_section(cur))
        if name == "BINARY.SIZE":
            return FetchAttribute(name, section)
        return FetchAttribute("BINARY[]", section, name == "BINARY.PEEK", _partial(cur))
    if name in _SIMPLE:
        return FetchAttribute(name)
    if name in MACROS:
        raise ParseError(f"{name} is a macro: it cannot be part of a list.")
    if name == "BODY.PEEK" or name in _BINARY:
        raise ParseError(f"{name} needs a [section].")
    raise ParseError(f"Unknown FETCH item {shown(name)}.")


def _partial(cur: Cursor) -> tuple[int, int] | None:
    """<origin.count> after a section, if there is one."""
    if not cur.skip(b"<"):
        return None
    origin = cur.number("the partial's first octet")
    cur.expect(b".", "a . between the partial's first octet and its length")
    partial = (origin, cur.number("the partial's length", nonzero=True))
    cur.expect(b">", "> after the partial")
    return partial


def _binary_section(cur: Cursor) -> tuple[int, ...]:
    """RFC 3516 section-binary: "[" [part numbers] "]" (no HEADER, TEXT or MIME)."""
    cur.expect(b"[", "[")
    part: list[int] = []
    while not cur.skip(b"]"):
        if part and not cur.skip(b"."):
            raise ParseError("Expected . or ] after a part number in the BINARY section.")
        if not 0x30 <= cur.peek() <= 0x39:
            raise ParseError("A BINARY section is part numbers only, like [1.2] (no HEADER, TEXT or MIME).")
        part.append(cur.number("a part number", nonzero=True))
    return tuple(part)


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
_RECENT_KEYS = frozenset({"NEW", "OLD", "RECENT"})
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
    if name in _RECENT_KEYS and cur.mode.rev2:
        raise ParseError(f"{name} is not a search key in IMAP4rev2 (there is no \\Recent).")
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


# --------------------------------------------------------------------------------- APPEND
def append_data(cur: Cursor) -> bytes:
    """APPEND's message: a literal, a literal8 (RFC 3516), or, once UTF8=ACCEPT is enabled,
    UTF8 (literal8) (RFC 6855 4)."""
    if cur.peek() in (0x7B, 0x7E):  # "{" or "~{"
        return cur.literal(literal8=True)
    if cur.text[cur.pos:cur.pos + 6].upper() != b"UTF8 (":
        raise ParseError("Expected the message as a literal ({size} or ~{size}).")
    if not cur.mode.utf8:
        raise ParseError("APPEND UTF8 (...) needs ENABLE UTF8=ACCEPT first.")
    cur.pos += 6
    if cur.peek() != 0x7E:
        raise ParseError("Expected the message as a literal8 (~{size}) in UTF8 (...).")
    message = cur.literal(literal8=True)
    cur.expect(b")", ") after the UTF8 message literal")
    return message
