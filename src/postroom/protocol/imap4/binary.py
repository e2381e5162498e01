"""BINARY[section]<partial> and BINARY.SIZE[section] (RFC 3516, folded into RFC 9051 6.4.5): a
section's content with its Content-Transfer-Encoding undone, cut with the part map as
sections.py cuts BODY[section].

Only a leaf part has an encoding to undo: a multipart's and a message/rfc822's must be 7bit,
8bit or binary (RFC 2045 6.4), so BINARY[] (the whole message) and BINARY of a container part
are their octets as they are. base64 and quoted-printable are decoded; 7bit, 8bit and binary
are identities; any other encoding is `UnknownEncoding` (the command fails with NO
[UNKNOWN-CTE]). Decoded text/* content goes out with CRLF line ends (RFC 3516 4.3). The reply
is a literal8 (~{n}) only when the content holds a NUL octet; otherwise an ordinary literal.
"""
from __future__ import annotations

import binascii
import re

from . import sections
from ._decode import lenient_base64
from ._mime import fields_of, unfold
from ._tokens import shown
from .structure import Part, Structure

__all__ = ["UnknownEncoding", "content", "literal"]

_IDENTITY = frozenset(("", "7bit", "8bit", "binary"))
_LONE_LF = re.compile(rb"(?<!\r)\n")
_LONE_CR = re.compile(rb"\r(?!\n)")


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
