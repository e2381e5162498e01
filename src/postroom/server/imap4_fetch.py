"""Rendering one message's FETCH response (RFC 3501 7.4.2) from what the store keeps.

ENVELOPE, BODY and BODYSTRUCTURE come from the structure computed at delivery (part C's
protocol.imap4.structure); BODY[section] cuts the stored octets with the structure's part map
(protocol.imap4.sections). The message's octets are read only when an item needs them.
"""
from __future__ import annotations

import datetime
from typing import Sequence

from ..model.imap import FolderMessage
from ..protocol.imap4 import sections, structure, wire
from ..protocol.imap4.types import FetchAttribute, Section

# Items whose reply needs the message's octets, and those that set \Seen (unless PEEK).
_CONTENT_ITEMS = frozenset({"BODY[]", "RFC822", "RFC822.HEADER", "RFC822.TEXT"})
_STRUCTURE_ITEMS = frozenset({"ENVELOPE", "BODY", "BODYSTRUCTURE"})


def needs_content(attributes: Sequence[FetchAttribute]) -> bool:
    return any(a.name in _CONTENT_ITEMS for a in attributes)


def needs_structure(attributes: Sequence[FetchAttribute]) -> bool:
    return any(a.name in _STRUCTURE_ITEMS or (a.name == "BODY[]" and a.section is not None and a.section != Section())
               or a.name in ("RFC822.HEADER", "RFC822.TEXT") for a in attributes)


_HEADER_SECTIONS = frozenset({"HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT"})


def header_only(attributes: Sequence[FetchAttribute]) -> bool:
    """Whether the octets the items need are all in the message's header (the common
    "FETCH 1:100 BODY.PEEK[HEADER.FIELDS (...)]"): only those are read then."""
    for a in attributes:
        if a.name == "BODY[]":
            section = a.section or Section()
            if section.part or section.text not in _HEADER_SECTIONS:
                return False
        elif a.name in _CONTENT_ITEMS and a.name != "RFC822.HEADER":
            return False
    return True


def sets_seen(attributes: Sequence[FetchAttribute]) -> bool:
    """BODY[...] without PEEK, RFC822 and RFC822.TEXT mark the message \\Seen (6.4.5)."""
    return any((a.name == "BODY[]" and not a.peek) or a.name in ("RFC822", "RFC822.TEXT") for a in attributes)


def internal_date(message: FolderMessage) -> datetime.datetime:
    when = datetime.datetime.fromisoformat(message.internal_date)
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


def render(msn: int, message: FolderMessage, attributes: Sequence[FetchAttribute], *, recent: bool, uid: bool,
           parsed: structure.Structure | None, data: bytes | None, add_flags: bool) -> bytes:
    """`* msn FETCH (...)` for one message. `uid`: a UID FETCH (UID always returned);
    `add_flags`: the fetch set \\Seen, so FLAGS goes out even if not asked for."""
    items: list[bytes] = []
    names = {a.name for a in attributes}
    if uid or "UID" in names:
        items.append(b"UID %d" % message.uid)
    if add_flags and "FLAGS" not in names:
        items.append(flags_item(message.flags, recent))
    for attribute in attributes:
        items.append(_item(message, attribute, recent, parsed, data))
    return b"* %d FETCH (" % msn + b" ".join(i for i in items if i) + b")\r\n"


def _item(message: FolderMessage, attribute: FetchAttribute, recent: bool,
          parsed: structure.Structure | None, data: bytes | None) -> bytes:
    name = attribute.name
    if name == "UID":
        return b""  # rendered first, once
    if name == "FLAGS":
        return flags_item(message.flags, recent)
    if name == "INTERNALDATE":
        return b"INTERNALDATE " + wire.date_time(internal_date(message))
    if name == "RFC822.SIZE":
        return b"RFC822.SIZE %d" % message.size
    if name in _STRUCTURE_ITEMS:
        assert parsed is not None
        value = parsed.envelope if name == "ENVELOPE" else parsed.body if name == "BODY" else parsed.bodystructure
        return name.encode("ascii") + b" " + value
    assert data is not None
    if name == "RFC822":
        return b"RFC822 " + wire.literal(data)
    if name in ("RFC822.HEADER", "RFC822.TEXT"):
        assert parsed is not None
        part = Section(text="HEADER" if name == "RFC822.HEADER" else "TEXT")
        return name.encode("ascii") + b" " + wire.literal(sections.section(data, parsed, part))
    section = attribute.section or Section()
    if section == Section() or parsed is None:
        content = data
    else:
        content = sections.section(data, parsed, section)
    label = b"BODY[" + section_label(section) + b"]"
    if attribute.partial is not None:
        origin, count = attribute.partial
        content = sections.partial(content, origin, count)
        label += b"<%d>" % origin
    return label + b" " + wire.literal(content)
