"""Rendering FETCH responses (RFC 3501 7.4.2) from what the store keeps.

ENVELOPE, BODY and BODYSTRUCTURE come from the structure computed at delivery (part C's
protocol.imap4.structure); BODY[section] cuts the stored octets with the structure's part map
(protocol.imap4.sections). The message's octets are read only when an item needs them, and
only its header block when the items ask for nothing else of them (the common
"FETCH 1:100 (UID FLAGS BODY.PEEK[HEADER.FIELDS (...)])" of a client listing a folder).

A `Plan` is made once per FETCH command: what its items need read, and one renderer per item
(section labels, header-field filters and flag lists worked out once), so that each message
costs a few calls.
"""
from __future__ import annotations

import datetime
import functools
import itertools
from typing import Callable, Sequence

from ..model.imap import FolderMessage
from ..protocol.imap4 import binary, sections, structure, wire
from ..protocol.imap4.types import FetchAttribute, Section

_STRUCTURE_ITEMS = frozenset({"ENVELOPE", "BODY", "BODYSTRUCTURE"})
_HEADER_SECTIONS = frozenset({"HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT"})
_CONTENT_ITEMS = frozenset({"RFC822", "RFC822.TEXT", "BINARY[]", "BINARY.SIZE"})
_SECTION_ITEMS = frozenset({"BODY[]", "BINARY[]", "BINARY.SIZE"})
_FLAG_LISTS = 256  # distinct (flags, recent) renderings a plan keeps
_CHANGING = frozenset({"FLAGS", "MODSEQ"})  # items that change for a message entry (UID goes first, apart)
_serials = itertools.count(1)

#: An item's renderer: (message, \Recent, structure, octets) -> its reply data. The octets are
#: the whole message for a plan that reads content, its header block for one that reads headers.
Renderer = Callable[[FolderMessage, bool, "structure.Structure | None", "bytes | None"], bytes]


def internal_date(message: FolderMessage) -> datetime.datetime:
    return internal_date_of(message.internal_date)


def internal_date_of(text: str) -> datetime.datetime:
    """A listing's internal date (ISO-8601; UTC when it names no offset)."""
    when = datetime.datetime.fromisoformat(text)
    return when if when.tzinfo is not None else when.replace(tzinfo=datetime.timezone.utc)


def section_label(section: Section) -> bytes:
    """The section spec as the reply names it: "1.2.HEADER.FIELDS (FROM TO)"."""
    parts = [str(n) for n in section.part]
    if section.text is not None:
        parts.append(section.text)
    label = ".".join(parts).encode("ascii")
    if section.text in ("HEADER.FIELDS", "HEADER.FIELDS.NOT"):
        label += b" (" + b" ".join(wire.astring(f) for f in section.fields) + b")"
    return label


def flags_item(flags: Sequence[str], recent: bool) -> bytes:
    return b"FLAGS " + wire.flag_list(tuple(flags) + (("\\Recent",) if recent else ()))


def _top_header(attribute: FetchAttribute) -> bool:
    """Whether the item is the message's own header, or fields of it (no part number)."""
    if attribute.name == "RFC822.HEADER":
        return True
    section = attribute.section or Section()
    return attribute.name == "BODY[]" and not section.part and section.text in _HEADER_SECTIONS


@functools.lru_cache(maxsize=64)
def plan(attributes: tuple[FetchAttribute, ...], uid: bool) -> Plan:
    """The Plan of these items (a client asks for the same items again and again: made once)."""
    return Plan(attributes, uid)


class Plan:
    """What a FETCH's items need and how each is rendered. `content`: the message's octets;
    `header`: only its header block (never with `content`); `structure`: its parsed structure;
    `seen`: the items set \\Seen (BODY[...] without PEEK, RFC822, RFC822.TEXT: 6.4.5);
    `message_text`: any of the first three (replies that must not share compression history)."""

    def __init__(self, attributes: Sequence[FetchAttribute], uid: bool) -> None:
        names = {a.name for a in attributes}
        headers = [a for a in attributes if _top_header(a)]
        self.content = any(a.name in _CONTENT_ITEMS or (a.name == "BODY[]" and not _top_header(a))
                           for a in attributes)
        self.header = bool(headers) and not self.content
        self.structure = bool(names & _STRUCTURE_ITEMS) or (self.content and any(
            a.name in ("RFC822.HEADER", "RFC822.TEXT")
            or (a.name in _SECTION_ITEMS and (a.section or Section()) != Section()) for a in attributes))
        # Its replies carry a message's own text (what a sender chose): each message's reply
        # is then compressed on its own (server/compression.py, the side channel).
        self.message_text = self.content or self.header or self.structure
        self.seen = any((a.name in ("BODY[]", "BINARY[]") and not a.peek) or a.name in ("RFC822", "RFC822.TEXT")
                        for a in attributes)
        self.uid_first = uid or "UID" in names  # a UID FETCH always returns UID, first
        self.flags_named = "FLAGS" in names
        self.modseq_named = "MODSEQ" in names
        self._flag_lists: dict[tuple[tuple[str, ...], bool], bytes] = {}
        asked = [a for a in attributes if a.name != "UID"]
        self.items = [self._renderer(a) for a in asked]
        # `fixed`: the items after FLAGS and MODSEQ render the same for a message entry in every
        # session and at any time (its header or structure: an entry never changes), so the node
        # keeps them rendered, by (serial, entry id) (imap4_cache.RenderedCache). Message
        # content is never kept so (too big); nor items asked before FLAGS (the order is kept).
        kinds = [a.name in _CHANGING for a in asked]
        self.serial = next(_serials)
        self.fixed = (self.header or self.structure) and not self.content and not all(kinds) \
            and kinds == sorted(kinds, reverse=True)
        self.changing = [item for item, changing in zip(self.items, kinds) if changing]
        self._fixed_items = [item for item, changing in zip(self.items, kinds) if not changing]

    def render_fixed(self, message: FolderMessage, parsed: structure.Structure | None, data: bytes | None) -> bytes:
        """A `fixed` plan's items after FLAGS and MODSEQ, as they go out for this message."""
        return b" ".join([item(message, False, parsed, data) for item in self._fixed_items])

    def render(self, msn: int, message: FolderMessage, recent: bool, parsed: structure.Structure | None,
               data: bytes | None, add_flags: bool, condstore: bool = False, fixed: bytes | None = None) -> bytes:
        """`* msn FETCH (...)` for one message; `add_flags`: the fetch set \\Seen, so FLAGS
        goes out even if not asked for, and, for a CONDSTORE client (`condstore`), UID and
        MODSEQ too (RFC 7162 3.2.4); `fixed`: render_fixed's octets for it (what is read is then
        not needed)."""
        if fixed is None:
            items = [item(message, recent, parsed, data) for item in self.items]
        else:
            items = [item(message, recent, None, None) for item in self.changing]
            items.append(fixed)
        if add_flags and not self.flags_named:
            items.insert(0, self.flags(message, recent))
        if add_flags and condstore and not self.modseq_named:
            items.append(b"MODSEQ (%d)" % message.modseq)
        if self.uid_first or (add_flags and condstore):
            items.insert(0, b"UID %d" % message.uid)
        return b"* %d FETCH (%s)\r\n" % (msn, b" ".join(items))

    def flags(self, message: FolderMessage, recent: bool) -> bytes:
        key = (message.flags, recent)
        rendered = self._flag_lists.get(key)
        if rendered is None:
            rendered = flags_item(message.flags, recent)
            if len(self._flag_lists) < _FLAG_LISTS:
                self._flag_lists[key] = rendered
        return rendered

    def _renderer(self, attribute: FetchAttribute) -> Renderer:
        name = attribute.name
        if name == "FLAGS":
            return lambda message, recent, parsed, data: self.flags(message, recent)
        if name == "MODSEQ":
            return lambda message, recent, parsed, data: b"MODSEQ (%d)" % message.modseq
        if name == "INTERNALDATE":
            return lambda message, recent, parsed, data: b"INTERNALDATE " + wire.date_time(internal_date(message))
        if name == "RFC822.SIZE":
            return lambda message, recent, parsed, data: b"RFC822.SIZE %d" % message.size
        if name in _STRUCTURE_ITEMS:
            return _structure_item(name)
        if name == "RFC822":
            return lambda message, recent, parsed, data: _literal(b"RFC822 ", data or b"")
        if name in ("RFC822.HEADER", "RFC822.TEXT"):
            label = name.encode("ascii") + b" "
            return self._section(Section(text="HEADER" if name == "RFC822.HEADER" else "TEXT"), label, None)
        if name in ("BINARY[]", "BINARY.SIZE"):
            return _binary_item(attribute)
        section = attribute.section or Section()
        label = b"BODY[" + section_label(section) + b"]"
        if attribute.partial is not None:
            label += b"<%d>" % attribute.partial[0]
        return self._section(section, label + b" ", attribute.partial)

    def _section(self, section: Section, label: bytes, partial: tuple[int, int] | None) -> Renderer:
        """BODY[section]<partial>: from the header block (a header plan), else cut from the
        octets with the part map."""
        cut: Callable[[bytes], bytes] | None = None
        if section.text in ("HEADER.FIELDS", "HEADER.FIELDS.NOT"):
            cut = sections.field_filter(section.fields, section.text == "HEADER.FIELDS")
        top_header = not section.part and section.text in _HEADER_SECTIONS
        if top_header and self.header and partial is None:  # the octets given are the header block
            if cut is None:
                return lambda message, recent, parsed, data: b"%s{%d}\r\n%s" % (label, len(data or b""), data or b"")
            return lambda message, recent, parsed, data: _literal(label, cut(data or b""))
        whole = section == Section()
        if whole and partial is None:  # BODY[], RFC822: the octets as they are
            return lambda message, recent, parsed, data: _literal(label, data or b"")

        def octets(parsed: structure.Structure | None, data: bytes | None) -> bytes:
            data = data or b""
            if top_header:
                if not self.header:  # the whole message: its header block first
                    data = data[:parsed.root.body] if parsed is not None else data
                return cut(data) if cut is not None else data
            if whole or parsed is None:
                return data
            return sections.section(data, parsed, section)

        if partial is None:
            return lambda message, recent, parsed, data: label + wire.literal(octets(parsed, data))
        origin, count = partial
        return lambda message, recent, parsed, data: label + wire.literal(
            sections.partial(octets(parsed, data), origin, count))


def _binary_item(attribute: FetchAttribute) -> Renderer:
    """BINARY[part]<partial> and BINARY.SIZE[part]: the part's decoded content (binary.py; an
    encoding it cannot undo raises binary.UnknownEncoding, which fails the FETCH)."""
    part = (attribute.section or Section()).part
    spec = ".".join(str(n) for n in part).encode("ascii")

    def decoded(parsed: structure.Structure | None, data: bytes | None) -> bytes:
        if parsed is None or not part:  # the whole message: no encoding of its own to undo
            return data or b""
        return binary.content(data or b"", parsed, part)

    if attribute.name == "BINARY.SIZE":
        label = b"BINARY.SIZE[%s] " % spec
        return lambda message, recent, parsed, data: label + b"%d" % len(decoded(parsed, data))
    partial = attribute.partial
    if partial is None:
        label = b"BINARY[%s] " % spec
        return lambda message, recent, parsed, data: label + binary.literal(decoded(parsed, data))
    origin, count = partial
    label = b"BINARY[%s]<%d> " % (spec, origin)
    return lambda message, recent, parsed, data: label + binary.literal(
        sections.partial(decoded(parsed, data), origin, count))


def _literal(label: bytes, octets: bytes) -> bytes:
    return b"%s{%d}\r\n%s" % (label, len(octets), octets)


def _structure_item(name: str) -> Renderer:
    label = name.encode("ascii") + b" "
    if name == "ENVELOPE":
        return lambda message, recent, parsed, data: label + parsed.envelope  # type: ignore[union-attr]
    if name == "BODY":
        return lambda message, recent, parsed, data: label + parsed.body  # type: ignore[union-attr]
    return lambda message, recent, parsed, data: label + parsed.bodystructure  # type: ignore[union-attr]
