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
import functools
import re
import unicodedata
from typing import Callable, Collection, Protocol

from ._decode import body_text, header_value
from ._mime import Entity, parse
from .types import SearchKey, SequenceSet

__all__ = ["MessageView", "ContentView", "needs_content", "reads", "matches", "compile", "parse_date"]

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
    @property
    def modseq(self) -> int: ...  # the message's mod-sequence (RFC 7162)

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

    __slots__ = ("msn", "uid", "flags", "size", "internal_date", "recent", "modseq", "_data", "_root", "_text",
                 "_headers")

    def __init__(self, msn: int, uid: int, flags: Collection[str], size: int, internal_date: datetime.date,
                 recent: bool, data: bytes | None, modseq: int = 0) -> None:
        self.msn = msn
        self.uid = uid
        self.flags = flags
        self.size = size
        self.internal_date = internal_date
        self.recent = recent
        self.modseq = modseq
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


_READS = {**{op: frozenset({"flags"}) for op in (*_FLAG_KEYS, "KEYWORD", "UNKEYWORD")},
          "NEW": frozenset({"flags", "recent"}), "RECENT": frozenset({"recent"}), "OLD": frozenset({"recent"}),
          "SEQ": frozenset({"msn"}), "UID": frozenset({"uid"}), "LARGER": frozenset({"size"}),
          "SMALLER": frozenset({"size"}), "MODSEQ": frozenset({"modseq"}),
          **{op: frozenset({"internal_date"}) for op in ("BEFORE", "ON", "SINCE")}}


@functools.lru_cache(maxsize=1024)
def reads(key: SearchKey) -> frozenset[str]:
    """What of a MessageView the program reads: "flags", "recent", "msn", "uid", "size",
    "internal_date", "modseq", "content" (the text keys). A program that reads only flags and \\Recent
    has one verdict per distinct (flags, recent): the caller may evaluate it once for each."""
    found = _READS.get(key.op, frozenset({"content"}) if key.op in _CONTENT_KEYS else frozenset())
    for arg in key.args:
        if isinstance(arg, SearchKey):
            found |= reads(arg)
    return found


def _fold(text: str) -> str:
    """Case-folded and canonically decomposed: "é" and "e\u0301" read alike, and a key may match
    the letter under an accent, as Dovecot's search does (one "u" finds "Grüße")."""
    folded = text.casefold()
    return folded if folded.isascii() else unicodedata.normalize("NFD", folded)


def matches(key: SearchKey, view: MessageView, largest_msn: int, largest_uid: int) -> bool:
    """Whether the message matches the search key; `largest_msn` and `largest_uid` stand for
    "*" in sequence sets (the folder's message count and its largest UID)."""
    return compile(key, largest_msn, largest_uid)(view)


Predicate = Callable[[MessageView], bool]
_LOWERED_KEPT = 1024  # distinct flag sets a compiled program keeps lowered


@functools.lru_cache(maxsize=256)
def compile(key: SearchKey, largest_msn: int, largest_uid: int) -> Predicate:
    """`matches` for one program and many messages: the program is worked out once (sequence
    sets resolved, needles case-folded, flags compared lowered, each distinct flag set lowered
    once), then each message costs a call. Kept: a client polls with the same program again
    and again (SEARCH UNSEEN), and a program is a pure function of its key and the two counts."""
    return _Compiler(largest_msn, largest_uid).key(key)


def _always(view: MessageView) -> bool:
    return True


def _never(view: MessageView) -> bool:
    return False


class _Compiler:
    def __init__(self, largest_msn: int, largest_uid: int) -> None:
        self.largest_msn, self.largest_uid = largest_msn, largest_uid
        self._lowered: dict[Collection[str], frozenset[str]] = {}

    def lowered(self, view: MessageView) -> frozenset[str]:
        """The message's flags in lower case (\\Seen and \\SEEN are one flag)."""
        flags = view.flags
        try:
            return self._lowered[flags]
        except KeyError:
            low = frozenset(f.lower() for f in flags)
            if len(self._lowered) < _LOWERED_KEPT:  # the program is kept (compile): so is this, bounded
                self._lowered[flags] = low
            return low
        except TypeError:  # not hashable (a list): lowered each time
            return frozenset(f.lower() for f in flags)

    def key(self, key: SearchKey) -> Predicate:
        op, args = key.op, key.args
        lowered = self.lowered
        if op == "AND":
            if not all(isinstance(k, SearchKey) for k in args):
                return _never
            parts = [self.key(k) for k in args if isinstance(k, SearchKey)]
            return parts[0] if len(parts) == 1 else lambda v: all(p(v) for p in parts)
        if op in _FLAG_KEYS:
            flag, wanted = _FLAG_KEYS[op]
            return lambda v: (flag in lowered(v)) == wanted
        if op == "ALL":
            return _always
        if op == "NOT":
            if not args or not isinstance(args[0], SearchKey):
                return _never
            inner = self.key(args[0])
            return lambda v: not inner(v)
        if op == "OR":
            either = [self.key(k) for k in args[:2] if isinstance(k, SearchKey)]
            return lambda v: any(p(v) for p in either)
        if op in ("SEQ", "UID"):
            if not args or not isinstance(args[0], SequenceSet):
                return _never
            if op == "SEQ":
                ranges = args[0].resolve(self.largest_msn)
                return lambda v: any(a <= v.msn <= b for a, b in ranges)
            ranges = args[0].resolve(self.largest_uid)
            return lambda v: any(a <= v.uid <= b for a, b in ranges)
        if op == "RECENT":
            return lambda v: v.recent
        if op == "NEW":
            return lambda v: v.recent and "\\seen" not in lowered(v)
        if op == "OLD":
            return lambda v: not v.recent
        if op in ("KEYWORD", "UNKEYWORD"):
            keyword, present = (str(args[0]).lower() if args else ""), op == "KEYWORD"
            return lambda v: (keyword in lowered(v)) == present
        if op in ("LARGER", "SMALLER"):
            limit = args[0] if args and isinstance(args[0], int) else None
            if limit is None:
                return _never
            return (lambda v: v.size > limit) if op == "LARGER" else (lambda v: v.size < limit)
        if op == "MODSEQ":  # RFC 7162 3.1.5: a mod-sequence equal to or greater than the one given
            least = args[0] if args and isinstance(args[0], int) else None
            return _never if least is None else (lambda v: v.modseq >= least)
        if op in ("BEFORE", "ON", "SINCE"):
            return lambda v: _compare_day(op, v.internal_date, args)
        if op in ("SENTBEFORE", "SENTON", "SENTSINCE"):
            return lambda v: _sent(v, op[4:], args)
        return self._text(op, args)

    def _text(self, op: str, args: tuple[object, ...]) -> Predicate:
        """The keys that read the message's header or text."""
        if op in _ADDRESS_KEYS:
            if not args:
                return _never
            name, needle = _ADDRESS_KEYS[op], _fold(str(args[0]))
            return lambda v: any(needle in _fold(value) for value in v.header(name))
        if op == "HEADER":
            if len(args) < 2:
                return _never
            field, needle = str(args[0]), _fold(str(args[1]))
            return lambda v: any(needle in _fold(value) for value in v.header(field))
        if op == "BODY":
            if not args:
                return _never
            needle = _fold(str(args[0]))
            return lambda v: needle in _fold(v.text())
        if op == "TEXT":
            if not args:
                return _never
            needle = _fold(str(args[0]))
            return lambda v: needle in _fold(v.headers_text()) or needle in _fold(v.text())
        return _never  # not a search key (the parser never makes one)


def _sent(view: MessageView, op: str, args: tuple[object, ...]) -> bool:
    sent = view.sent_date()
    return sent is not None and _compare_day(op, sent, args)


def _compare_day(op: str, day: datetime.date, args: tuple[object, ...]) -> bool:
    if not args or not isinstance(args[0], datetime.date):
        return False
    wanted = args[0]
    if isinstance(wanted, datetime.datetime):
        wanted = wanted.date()
    if isinstance(day, datetime.datetime):
        day = day.date()
    return day < wanted if op == "BEFORE" else day == wanted if op == "ON" else day >= wanted
