"""The typed values the IMAP4 core hands to the server: parsed commands, sequence sets, FETCH
attributes and the SEARCH program. Everything here is decoded already: mailbox names are str
(modified UTF-7 undone), search strings are str (decoded with the command's CHARSET), dates
are datetime.date, literals are bytes."""
from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Union


# ---------------------------------------------------------------------------- sequence sets
@dataclass(frozen=True)
class SequenceSet:
    """RFC 3501 sequence-set: ranges of numbers, None standing for "*" (the largest number in
    use). For UID commands the numbers are UIDs, otherwise message sequence numbers.
    `saved` is SEARCHRES's "$" (RFC 5182): the messages the last SEARCH RETURN (SAVE) found,
    which the server puts in its place (`ranges` is empty: a "$" left as it is names nothing)."""

    ranges: tuple[tuple[int | None, int | None], ...]
    saved: bool = False

    def resolve(self, largest: int) -> list[tuple[int, int]]:
        """The ranges with "*" replaced by `largest` and each range ordered low-high."""
        out = []
        for low, high in self.ranges:
            a = largest if low is None else low
            b = largest if high is None else high
            out.append((min(a, b), max(a, b)))
        return out

    def contains(self, number: int, largest: int) -> bool:
        return any(a <= number <= b for a, b in self.resolve(largest))


#: "$" (RFC 5182).
SAVED = SequenceSet((), saved=True)


# -------------------------------------------------------------------------------- FETCH
@dataclass(frozen=True)
class Section:
    """BODY[section]: `part` is the part number path (1.2.3; () is the whole message);
    `text` None (the whole part), "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT" or
    "MIME"; `fields` the header field names (upper case) of HEADER.FIELDS(.NOT)."""

    part: tuple[int, ...] = ()
    text: str | None = None
    fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class FetchAttribute:
    """One FETCH data item. `name` is one of ENVELOPE FLAGS INTERNALDATE RFC822 RFC822.HEADER
    RFC822.SIZE RFC822.TEXT BODY BODYSTRUCTURE UID MODSEQ (RFC 7162), or "BODY[]" for BODY[section] / BODY.PEEK
    (`section` set; `peek` for BODY.PEEK; `partial` (origin, count) for <origin.count>); "BINARY[]"
    for BINARY[part] / BINARY.PEEK (RFC 3516: `section` holds part numbers only; `peek`, `partial`
    as BODY's), "BINARY.SIZE" for BINARY.SIZE[part] (`section` set). The macros ALL, FAST and
    FULL arrive expanded."""

    name: str
    section: Section | None = None
    peek: bool = False
    partial: tuple[int, int] | None = None


# -------------------------------------------------------------------------------- SEARCH
@dataclass(frozen=True)
class SearchKey:
    """One search key. `op` is the RFC 3501 key name in upper case (ALL, ANSWERED, BCC,
    BEFORE, BODY, CC, DELETED, DRAFT, FLAGGED, FROM, HEADER, KEYWORD, LARGER, NEW, NOT, OLD,
    ON, OR, RECENT, SEEN, SENTBEFORE, SENTON, SENTSINCE, SINCE, SMALLER, SUBJECT, TEXT, TO,
    UID, UNANSWERED, UNDELETED, UNDRAFT, UNFLAGGED, UNKEYWORD, UNSEEN), or "AND" for a
    parenthesised list (and the top-level list), or "SEQ" for a bare sequence set.
    `args` by op: str for text keys (HEADER: field name, then str), datetime.date for date
    keys, int for LARGER/SMALLER, SequenceSet for UID and SEQ, one SearchKey for NOT, two for
    OR, any number for AND; a keyword (str) for KEYWORD/UNKEYWORD; the mod-sequence (int) for
    MODSEQ (RFC 7162 3.1.5: messages whose modseq is at least that; a metadata entry name given
    with it is ignored, as the server keeps one modseq per message)."""

    op: str
    args: tuple[Union[str, int, datetime.date, SequenceSet, "SearchKey"], ...] = ()


# ------------------------------------------------------------------------------ commands
@dataclass(frozen=True)
class Command:
    tag: str


@dataclass(frozen=True)
class Capability(Command): ...
@dataclass(frozen=True)
class Noop(Command): ...
@dataclass(frozen=True)
class Logout(Command): ...
@dataclass(frozen=True)
class Check(Command): ...
@dataclass(frozen=True)
class Close(Command): ...
@dataclass(frozen=True)
class Unselect(Command): ...
@dataclass(frozen=True)
class Namespace(Command): ...
@dataclass(frozen=True)
class Idle(Command): ...


@dataclass(frozen=True)
class Id(Command):
    parameters: tuple[tuple[str, str | None], ...] | None  # None for ID NIL


@dataclass(frozen=True)
class Enable(Command):
    capabilities: tuple[str, ...]  # upper case


@dataclass(frozen=True)
class QResync:
    """SELECT's (QRESYNC (uidvalidity modseq [known-uids [(known-sequence-set known-uid-set)]]))
    parameter (RFC 7162 3.2.5). The sets hold no "*"; `seq_match` pairs the message numbers of
    its first set with the UIDs of its second, as many of each, both ascending."""

    uidvalidity: int
    modseq: int
    known_uids: SequenceSet | None = None
    seq_match: tuple[SequenceSet, SequenceSet] | None = None


@dataclass(frozen=True)
class Select(Command):
    mailbox: str
    readonly: bool = False  # EXAMINE
    condstore: bool = False  # the CONDSTORE parameter (RFC 7162 3.1.8)
    qresync: QResync | None = None


@dataclass(frozen=True)
class Create(Command):
    mailbox: str


@dataclass(frozen=True)
class Delete(Command):
    mailbox: str


@dataclass(frozen=True)
class Rename(Command):
    mailbox: str
    new_name: str


@dataclass(frozen=True)
class Subscribe(Command):
    mailbox: str
    subscribe: bool = True  # False: UNSUBSCRIBE


@dataclass(frozen=True)
class List(Command):
    """LIST and LSUB; LIST-EXTENDED (RFC 5258) adds selection options, several patterns and return
    options. `selection` holds SUBSCRIBED, REMOTE, RECURSIVEMATCH and SPECIAL-USE (RFC 6154), upper
    case; `returns` SUBSCRIBED, CHILDREN and SPECIAL-USE; `status` the STATUS items LIST-STATUS
    (RFC 5819) asks of each folder listed (None: no STATUS return option)."""

    reference: str
    pattern: str  # may hold the wildcards * and %; the first of `patterns`
    lsub: bool = False  # LSUB
    patterns: tuple[str, ...] = ()  # LIST "" ("INBOX" "Sent*"): every pattern; () means (pattern,)
    selection: frozenset[str] = frozenset()
    returns: frozenset[str] = frozenset()
    status: tuple[str, ...] | None = None
    extended: bool = False  # the client used LIST-EXTENDED's syntax: \NonExistent, CHILDINFO may be sent

    @property
    def all_patterns(self) -> tuple[str, ...]:
        return self.patterns or (self.pattern,)


@dataclass(frozen=True)
class Status(Command):
    mailbox: str
    items: tuple[str, ...]  # upper case: MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN HIGHESTMODSEQ SIZE DELETED


@dataclass(frozen=True)
class Append(Command):
    mailbox: str
    flags: tuple[str, ...]
    internal_date: datetime.datetime | None  # timezone-aware
    message: bytes


@dataclass(frozen=True)
class Expunge(Command):
    uids: SequenceSet | None = None  # UID EXPUNGE (UIDPLUS)


@dataclass(frozen=True)
class Search(Command):
    """SEARCH; `returns` the RETURN options of ESEARCH (RFC 4731) and SEARCHRES (RFC 5182), upper
    case, among MIN MAX ALL COUNT SAVE (RETURN () arrives as ("ALL",)); None for a plain SEARCH,
    answered with `* SEARCH`."""

    key: SearchKey  # op "AND" at the top
    charset: str | None = None
    uid: bool = False
    returns: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Fetch(Command):
    sequence: SequenceSet
    attributes: tuple[FetchAttribute, ...]  # with MODSEQ when changed_since is set (RFC 7162 3.1.4.1)
    uid: bool = False
    changed_since: int | None = None  # the CHANGEDSINCE modifier: messages whose modseq is above it
    vanished: bool = False  # UID FETCH's VANISHED modifier (with CHANGEDSINCE; RFC 7162 3.2.6)


@dataclass(frozen=True)
class Store(Command):
    sequence: SequenceSet
    mode: str  # "add" (+FLAGS), "remove" (-FLAGS) or "replace" (FLAGS)
    flags: tuple[str, ...]
    silent: bool = False  # .SILENT
    uid: bool = False
    unchanged_since: int | None = None  # the UNCHANGEDSINCE modifier (RFC 7162 3.1.3)


@dataclass(frozen=True)
class Copy(Command):
    sequence: SequenceSet
    mailbox: str
    uid: bool = False
    move: bool = False  # MOVE (RFC 6851)
