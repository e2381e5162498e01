"""SEARCH evaluation (RFC 3501 6.4.4): whether a message matches a search program.

The server hands each message as a `MessageView`: what the folder listing knows (numbers,
flags, size, internal date, \\Recent) and, lazily, the message's text. `needs_content(key)`
tells whether a program looks at the text at all, so SEARCH UNSEEN never reads a body.
`ContentView` is the view over a message's bytes. Text keys match a case-insensitive
substring of the decoded text (RFC 2047 headers, transfer encodings and charsets undone;
accents compared decomposed);
dates compare days, disregarding time and timezone, as RFC 3501 asks.
"""
from __future__ import annotations

import datetime
import re
import unicodedata
from typing import Collection, Protocol

from ._decode import body_text, header_value
from ._mime import Entity, parse
from .types import SearchKey, SequenceSet

__all__ = ["MessageView", "ContentView", "needs_content", "matches", "parse_date"]

_CONTENT_KEYS = frozenset(("BCC", "BODY", "CC", "FROM", "HEADER", "SUBJECT", "TEXT", "TO",
                           "SENTBEFORE", "SENTON", "SENTSINCE"))
_ADDRESS_KEYS = {"BCC": "bcc", "CC": "cc", "FROM": "from", "SUBJECT": "subject", "TO": "to"}
_FLAG_KEYS = {
    "ANSWERED": ("\\answered", True), "DELETED": ("\\deleted", True), "DRAFT": ("\\draft", True),
    "FLAGGED": ("\\flagged", True), "SEEN": ("\\seen", True),
    "UNANSWERED": ("\\answered", False), "UNDELETED": ("\\deleted", False), "UNDRAFT": ("\\draft", False),
    "UNFLAGGED": ("\\flagged", False), "UNSEEN": ("\\seen", False),
}
_MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
                                       "nov", "dec"), 1)}
_DATE = re.compile(r"(\d{1,2})[\s-]+([A-Za-z]{3})[A-Za-z]*\.?[\s-]+(\d{2,4})(?!\d)")
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


class MessageView(Protocol):
    """One message as SEARCH sees it. The content methods are only called for programs
    `needs_content` says need the message's bytes."""

    @property
    def msn(self) -> int: ...
    @property
    def uid(self) -> int: ...
    @property
    def flags(self) -> Collection[str]: ...  # system flags with backslash, keywords; no \Recent
    @property
    def size(self) -> int: ...
    @property
    def internal_date(self) -> datetime.date: ...
    @property
    def recent(self) -> bool: ...

    def header(self, name: str) -> list[str]:
        """The decoded values of the top-level header fields `name` (any case), in order."""
    def sent_date(self) -> datetime.date | None:
        """The day of the Date header field (in its own timezone), None if absent or unreadable."""
    def text(self) -> str:
        """The decoded body text: every text part (and encapsulated messages' headers and text)."""
    def headers_text(self) -> str:
        """The decoded top-level header, one "Name: value" line per field."""


class ContentView:
    """A MessageView over the message's bytes (`data`; None: a message without content, for
    which every text key fails). Parsing and decoding happen once, on first use."""

    __slots__ = ("msn", "uid", "flags", "size", "internal_date", "recent", "_data", "_root", "_text", "_headers")

    def __init__(self, msn: int, uid: int, flags: Collection[str], size: int, internal_date: datetime.date,
                 recent: bool, data: bytes | None) -> None:
        self.msn = msn
        self.uid = uid
        self.flags = flags
        self.size = size
        self.internal_date = internal_date
        self.recent = recent
        self._data = data
        self._root: Entity | None = None
        self._text: str | None = None
        self._headers: str | None = None

    def _entity(self) -> Entity | None:
        if self._root is None and self._data is not None:
            self._root = parse(self._data)
        return self._root

    def header(self, name: str) -> list[str]:
        root = self._entity()
        return [] if root is None else [header_value(v) for v in root.fields.get(name.lower(), ())]

    def sent_date(self) -> datetime.date | None:
        values = self.header("date")
        return parse_date(values[0]) if values else None

    def text(self) -> str:
        if self._text is None:
            root = self._entity()
            self._text = "" if root is None or self._data is None else "\n".join(_texts(self._data, root))
        return self._text

    def headers_text(self) -> str:
        if self._headers is None:
            root = self._entity()
            self._headers = "" if root is None else _header_lines(root)
        return self._headers


def _header_lines(entity: Entity) -> str:
    return "\n".join(name + ": " + header_value(value) for name, values in entity.fields.items() for value in values)


def _texts(data: bytes, entity: Entity) -> list[str]:
    """The decoded text of every text part under `entity`, with encapsulated messages' headers."""
    if entity.children is not None:
        return [text for child in entity.children for text in _texts(data, child)]
    if entity.message is not None:
        return [_header_lines(entity.message), *_texts(data, entity.message)]
    if entity.type != "text":
        return []
    raw = data[entity.body:entity.end]
    return [body_text(raw, entity.encoding, entity.values.get("charset", "us-ascii"))]


def parse_date(value: str) -> datetime.date | None:
    """The day of an RFC 5322 date ("Tue, 1 Jul 2003 10:52:37 +0200"; also "1-Jul-2003" and
    ISO 2003-07-01); two-digit years as RFC 5322 4.3 reads them."""
    m = _DATE.search(value)
    try:
        if m and m.group(2).lower() in _MONTHS:
            year = int(m.group(3))
            if len(m.group(3)) <= 2:
                year += 2000 if year < 50 else 1900
            elif len(m.group(3)) == 3:
                year += 1900
            return datetime.date(year, _MONTHS[m.group(2).lower()], int(m.group(1)))
        iso = _ISO_DATE.search(value)
        if iso:
            return datetime.date(int(iso.group(1)), int(iso.group(2)), int(iso.group(3)))
    except ValueError:  # 31 Feb, year 0
        return None
    return None


def needs_content(key: SearchKey) -> bool:
    """Whether evaluating `key` reads the message's header or body."""
    return key.op in _CONTENT_KEYS or any(isinstance(arg, SearchKey) and needs_content(arg) for arg in key.args)


def _fold(text: str) -> str:
    """Case-folded and canonically decomposed: "é" and "e\u0301" read alike, and a key may match
    the letter under an accent, as Dovecot's search does (one "u" finds "Grüße")."""
    folded = text.casefold()
    return folded if folded.isascii() else unicodedata.normalize("NFD", folded)


def _contains(haystack: str, needle: str) -> bool:
    return _fold(needle) in _fold(haystack)


def matches(key: SearchKey, view: MessageView, largest_msn: int, largest_uid: int) -> bool:
    """Whether the message matches the search key; `largest_msn` and `largest_uid` stand for
    "*" in sequence sets (the folder's message count and its largest UID)."""
    op, args = key.op, key.args
    if op == "AND":
        return all(isinstance(k, SearchKey) and matches(k, view, largest_msn, largest_uid) for k in args)
    if op in _FLAG_KEYS:
        flag, wanted = _FLAG_KEYS[op]
        return any(f.lower() == flag for f in view.flags) == wanted
    if op == "ALL":
        return True
    if op == "NOT":
        return bool(args) and isinstance(args[0], SearchKey) and not matches(args[0], view, largest_msn, largest_uid)
    if op == "OR":
        return any(isinstance(k, SearchKey) and matches(k, view, largest_msn, largest_uid) for k in args[:2])
    if op in ("SEQ", "UID"):
        number, largest = (view.msn, largest_msn) if op == "SEQ" else (view.uid, largest_uid)
        return bool(args) and isinstance(args[0], SequenceSet) and args[0].contains(number, largest)
    if op in ("RECENT", "NEW", "OLD"):
        if op == "OLD":
            return not view.recent
        return view.recent and (op == "RECENT" or not any(f.lower() == "\\seen" for f in view.flags))
    if op in ("KEYWORD", "UNKEYWORD"):
        keyword = str(args[0]).lower() if args else ""
        return any(f.lower() == keyword for f in view.flags) == (op == "KEYWORD")
    if op in ("LARGER", "SMALLER"):
        limit = args[0] if args and isinstance(args[0], int) else None
        return limit is not None and (view.size > limit if op == "LARGER" else view.size < limit)
    if op in ("BEFORE", "ON", "SINCE"):
        return _compare_day(op, view.internal_date, args)
    if op in ("SENTBEFORE", "SENTON", "SENTSINCE"):
        sent = view.sent_date()
        return sent is not None and _compare_day(op[4:], sent, args)
    if op in _ADDRESS_KEYS:
        return bool(args) and any(_contains(value, str(args[0])) for value in view.header(_ADDRESS_KEYS[op]))
    if op == "HEADER":
        if len(args) < 2:
            return False
        values = view.header(str(args[0]))
        return bool(values) and any(_contains(value, str(args[1])) for value in values)
    if op == "BODY":
        return bool(args) and _contains(view.text(), str(args[0]))
    if op == "TEXT":
        return bool(args) and (_contains(view.headers_text(), str(args[0])) or _contains(view.text(), str(args[0])))
    return False  # not a search key (the parser never makes one)


def _compare_day(op: str, day: datetime.date, args: tuple[object, ...]) -> bool:
    if not args or not isinstance(args[0], datetime.date):
        return False
    wanted = args[0]
    if isinstance(wanted, datetime.datetime):
        wanted = wanted.date()
    if isinstance(day, datetime.datetime):
        day = day.date()
    return day < wanted if op == "BEFORE" else day == wanted if op == "ON" else day >= wanted
