"""BODY[section]<partial> (RFC 3501 6.4.5): the octets of a section, cut from the message's
bytes with the part map its Structure holds (nothing is parsed again, except the header block
HEADER.FIELDS filters).

Part numbers: a multipart's parts are 1..n; a message that is not multipart has the one part
1 (its body); below a message/rfc822 part, the numbers address the encapsulated message's
parts the same way. HEADER, HEADER.FIELDS(.NOT) and TEXT apply to the message itself (no part
number) or to a message/rfc822 part; MIME to a part's own header. A section that does not
exist is empty (b""), which FETCH returns as an empty string, as Dovecot does.
RFC822 is BODY[], RFC822.HEADER is BODY.PEEK[HEADER], RFC822.TEXT is BODY[TEXT].
"""
from __future__ import annotations

import re
from typing import Callable

from .structure import Part, Structure
from .types import Section

__all__ = ["section", "partial", "header_fields", "field_filter"]

_FIELD_START = re.compile(rb"(?<=\n)(?![ \t])")


def section(data: bytes, structure: Structure, wanted: Section) -> bytes:
    """The octets of BODY[wanted] of the message `data` (wire form) described by `structure`."""
    message = structure.root
    if wanted.part:
        part = resolve(structure.root, wanted.part)
        if part is None:
            return b""
        if wanted.text is None:
            return data[part.body:part.end]
        if wanted.text == "MIME":
            return data[part.start:part.body]
        if part.message is None:
            return b""
        message = part.message
    text = wanted.text
    if text is None:
        return data[message.start:message.end]
    if text == "HEADER":
        return data[message.start:message.body]
    if text == "TEXT":
        return data[message.body:message.end]
    if text in ("HEADER.FIELDS", "HEADER.FIELDS.NOT"):
        return header_fields(data[message.start:message.body], wanted.fields, text == "HEADER.FIELDS")
    return b""  # MIME of the whole message: not a section


def resolve(root: Part, path: tuple[int, ...]) -> Part | None:
    """The part a part number path names, or None."""
    part: Part | None = _pick(root, path[0])
    for number in path[1:]:
        if part is None:
            return None
        if part.parts is not None:
            part = part.parts[number - 1] if 1 <= number <= len(part.parts) else None
        elif part.message is not None:
            part = _pick(part.message, number)
        else:
            return None
    return part


def _pick(message: Part, number: int) -> Part | None:
    """Part `number` of a message: of its parts when multipart, else 1 is the message's body."""
    if message.parts is not None:
        return message.parts[number - 1] if 1 <= number <= len(message.parts) else None
    return message if number == 1 else None


def header_fields(block: bytes, names: tuple[str, ...], keep: bool) -> bytes:
    """The header fields of `block` named in `names` (keep) or not named (not keep), in
    message order with their folded lines, then the empty line that ends a header."""
    return field_filter(names, keep)(block)


_NAMES_KEPT = 256  # field names whose verdict a filter remembers (a message may make up any number)
# What bytes.strip() takes from a field name besides spaces, tabs and line ends (a name is what
# precedes the colon, so it may run over folded lines: "Subject\r\n : x" is a Subject field).
_STRIPPED = rb"\r\x0b\x0c"


def field_filter(names: tuple[str, ...], keep: bool) -> Callable[[bytes], bytes]:
    """header_fields(block, names, keep) as a function of the block, made once for a FETCH of
    many messages. HEADER.FIELDS of an ASCII block (nearly every one: RFC 2047 keeps headers
    ASCII) is one regular-expression scan; anything else takes the field-by-field walk, which
    judges each raw field name once. Both give the same octets (tests/protocol hold them to it)."""
    wanted = frozenset(name.upper() for name in names)
    walk = _walker(wanted, keep)
    usable = all(name.isascii() and name == name.strip() != "" and not any(c in name for c in ":\r\n")
                 for name in wanted)
    if not keep or not usable or not wanted:
        return walk
    alternatives = b"|".join(re.escape(name.encode("ascii")) for name in sorted(wanted))
    space = rb"(?:[ \t" + _STRIPPED + rb"]|\n(?=[ \t]))*"  # within a field: a fold goes on with a space or tab
    fields = re.compile(rb"(?mi)^(?:[" + _STRIPPED + rb"]" + space + rb")?(?:" + alternatives + rb")" + space
                        + rb":[^\n]*(?:\n[ \t][^\n]*)*\n?")

    def select(block: bytes) -> bytes:
        if not block.isascii() or block[:1] in b" \t":  # (an empty block too) latin-1 names, a leading fold
            return walk(block)
        found = fields.findall(block)
        if found and not found[-1].endswith(b"\n"):
            found[-1] += b"\r\n"
        found.append(b"\r\n")
        return b"".join(found)
    return select


def _walker(wanted: frozenset[str], keep: bool) -> Callable[[bytes], bytes]:
    verdicts: dict[bytes, bool] = {}

    def select(block: bytes) -> bytes:
        out = []
        for field in _FIELD_START.split(block):
            name, colon, _ = field.partition(b":")
            if not colon:
                continue  # the empty line, or a line that is no field
            verdict = verdicts.get(name)
            if verdict is None:
                verdict = (name.strip().decode("latin-1").upper() in wanted) == keep
                if len(verdicts) < _NAMES_KEPT:
                    verdicts[name] = verdict
            if verdict:
                out.append(field if field.endswith(b"\n") else field + b"\r\n")
        out.append(b"\r\n")
        return b"".join(out)
    return select


def partial(data: bytes, origin: int, count: int) -> bytes:
    """<origin.count> of a section's octets: `count` octets from `origin` (b"" past the end)."""
    if origin < 0 or count <= 0:
        return b""
    return data[origin:origin + count]
