"""BINARY[section]<partial> and BINARY.SIZE[section] (RFC 3516, folded into RFC 9051 6.4.5): a
section's content with its Content-Transfer-Encoding undone, cut with the part map as
sections.py cuts BODY[section].

Only a leaf part has an encoding to undo: a multipart's and a message/rfc822's must be 7bit,
8bit or binary (RFC 2045 6.4), so BINARY[] (the whole message) and BINARY of a container part
are their octets as they are. base64 and quoted-printable are decoded; 7bit, 8bit and binary
are identities; any other encoding is `UnknownEncoding` (the command fails with NO
[UNKNOWN-CTE]). Decoded text/* content goes out with CRLF line ends (RFC 3516 4.3). The reply
is a literal8 (~{n}) only when the content holds a NUL octet; otherwise an ordinary literal.

APPEND's side (RFC 3516 4.4): the store keeps mail as text in wire form, so `stored_form` gives
each part in the binary domain (Content-Transfer-Encoding binary, or a NUL octet in its body) a
base64 encoding, as Dovecot does: BINARY[part] then gives back the very octets appended. What
cannot be encoded so (a NUL in a header, a preamble, or a part MIME parsing gave up on) is
`UnknownEncoding`: the APPEND is refused NO [UNKNOWN-CTE].
"""
from __future__ import annotations

import base64
import binascii
import re

from . import sections
from ._decode import lenient_base64
from ._mime import Entity, fields_of, parse, unfold
from ._tokens import shown
from .structure import Part, Structure

__all__ = ["UnknownEncoding", "content", "literal", "stored_form"]

_IDENTITY = frozenset(("", "7bit", "8bit", "binary"))
_LONE_LF = re.compile(rb"(?<!\r)\n")
_LONE_CR = re.compile(rb"\r(?!\n)")
_BINARY_DECLARED = re.compile(rb"(?im)^content-transfer-encoding[ \t]*:[ \t]*binary[ \t]*\r?$")
_FIELD_LINE = re.compile(rb"[^\n]*\n|[^\n]+\Z")


class UnknownEncoding(ValueError):
    """The part's Content-Transfer-Encoding is one the server cannot undo."""

    def __init__(self, encoding: str) -> None:
        super().__init__(encoding)
        self.encoding = shown(encoding)  # as a reply may echo it


def content(data: bytes, structure: Structure, part: tuple[int, ...]) -> bytes:
    """The decoded octets of BINARY[part] of the message `data`; b"" for a part that does not
    exist (as BODY[section] answers)."""
    if not part:
        return data
    found = sections.resolve(structure.root, part)
    if found is None:
        return b""
    body = data[found.body:found.end]
    if found.parts is not None or found.message is not None:
        return body  # a container: never encoded
    encoding = _encoding(data[found.start:found.body])
    if encoding in _IDENTITY:
        return body
    if encoding == "base64":
        decoded = lenient_base64(body)
    elif encoding == "quoted-printable":
        decoded = binascii.a2b_qp(body)
    else:
        raise UnknownEncoding(encoding)
    return _crlf(decoded) if _textual(found) else decoded


def literal(octets: bytes) -> bytes:
    """`octets` as reply data: literal8 when they hold a NUL (which no other string may), else a literal."""
    return b"%s{%d}\r\n%s" % (b"~" if b"\0" in octets else b"", len(octets), octets)


def _encoding(header: bytes) -> str:
    values = fields_of(header.decode("latin-1")).get("content-transfer-encoding")
    return unfold(values[0]).lower() if values else ""


def _textual(part: Part) -> bool:
    return part.content_type.startswith("text/")


def _crlf(octets: bytes) -> bytes:
    if b"\r" in octets:
        octets = _LONE_CR.sub(b"\r\n", octets)
    return _LONE_LF.sub(b"\r\n", octets)


def stored_form(data: bytes) -> bytes:
    """The message as the store can keep it: each binary part base64-encoded (its header's
    Content-Transfer-Encoding now base64), the rest as it was; `data` itself when it has no
    binary part. UnknownEncoding when a NUL octet would remain."""
    if b"\0" not in data and not _BINARY_DECLARED.search(data):
        return data
    out, pos = [], 0
    for entity in _binary_leaves(parse(data), data):
        out += [data[pos:entity.start], _base64_header(data[entity.start:entity.body]),
                _base64_body(data[entity.body:entity.end])]
        pos = entity.end
    out.append(data[pos:])
    stored = b"".join(out)
    if b"\0" in stored:
        raise UnknownEncoding("binary")
    return stored


def _binary_leaves(entity: Entity, data: bytes) -> list[Entity]:
    if entity.children is not None:
        return [leaf for child in entity.children for leaf in _binary_leaves(child, data)]
    if entity.message is not None:
        return _binary_leaves(entity.message, data)
    container = (entity.field("content-type") or "").lower().startswith(("multipart/", "message/"))
    if container or (entity.encoding != "binary" and data.find(b"\0", entity.body, entity.end) < 0):
        return []  # (a container MIME parsing gave up on is left alone: a NUL in it is refused)
    return [entity]


def _base64_header(block: bytes) -> bytes:
    """The header block with its Content-Transfer-Encoding field (folded lines too) replaced by
    base64's, just before the empty line that ends it."""
    kept: list[bytes] = []
    dropping = False
    for line in _FIELD_LINE.findall(block):
        if line[:1] in (b" ", b"\t") and dropping:
            continue
        dropping = line.split(b":", 1)[0].strip().lower() == b"content-transfer-encoding"
        if not dropping:
            kept.append(line)
    end = len(kept) - 1 if kept and kept[-1].strip() == b"" else len(kept)
    return b"".join(kept[:end]) + b"Content-Transfer-Encoding: base64\r\n" + b"".join(kept[end:])


def _base64_body(body: bytes) -> bytes:
    """base64 in lines of 76 characters (RFC 2045 6.8), CRLF between them."""
    encoded = base64.b64encode(body)
    return b"\r\n".join(encoded[i:i + 76] for i in range(0, len(encoded), 76))
