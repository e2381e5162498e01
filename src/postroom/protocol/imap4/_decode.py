"""Decoding message text for SEARCH: header values (unfolded, RFC 2047 encoded words, raw
8-bit octets taken as UTF-8 when they are), and part bodies (transfer encodings, RFC 2045,
then their charset). Never raises: an unknown charset reads as UTF-8, broken encodings as
far as they go, undecodable octets as U+FFFD."""
from __future__ import annotations

import binascii
import re

__all__ = ["header_value", "body_text", "lenient_base64", "octets_text"]

_ENCODED_WORD = re.compile(r"=\?([^?\s*]+)(?:\*[^?\s]*)?\?([bBqQ])\?([^?\s]*)\?=")
_FOLD = re.compile(r"\r?\n")
_SPACE = re.compile(r"[ \t\r\n]*")
_BASE64_JUNK = re.compile(rb"[^A-Za-z0-9+/]")
_ASCII_OR_UTF8 = frozenset(("", "us-ascii", "ascii", "utf-8", "utf8", "unknown-8bit", "x-unknown", "default"))
_ASCII_SUPERSETS = ("iso-8859-", "iso8859-", "windows-", "cp", "latin", "koi8", "gb", "big5", "shift_jis", "euc-")


def octets_text(raw: bytes, charset: str = "utf-8") -> str:
    """Octets in `charset`; 8-bit octets under a 7-bit (or no) charset are tried as UTF-8,
    then latin-1; an unknown charset reads as UTF-8."""
    name = charset.strip().strip('"').lower()
    if name in _ASCII_OR_UTF8 or name.startswith(_ASCII_SUPERSETS):
        if raw.isascii():
            return raw.decode("ascii")
        if name in _ASCII_OR_UTF8:
            try:
                return raw.decode("utf-8")
            except UnicodeDecodeError:
                return raw.decode("utf-8" if name.startswith("utf") else "latin-1", "replace")
    try:
        return raw.decode(name, "replace")
    except LookupError:
        return raw.decode("utf-8", "replace")


def header_value(raw: str) -> str:
    """A header field's raw value (latin-1 str, folded) as text: unfolded, encoded words decoded
    (the white space between two adjacent ones dropped, RFC 2047 6.2), 8-bit octets decoded."""
    value = _FOLD.sub("", raw).strip()
    if not value.isascii():
        value = octets_text(value.encode("latin-1"), "us-ascii")
    if "=?" not in value:
        return value
    out: list[str] = []
    pos = 0
    for m in _ENCODED_WORD.finditer(value):
        between = value[pos:m.start()]
        if not (pos and _SPACE.fullmatch(between)):  # pos > 0: an encoded word came before
            out.append(between)
        out.append(_encoded_word(m.group(1), m.group(2), m.group(3)))
        pos = m.end()
    out.append(value[pos:])
    return "".join(out)


def _encoded_word(charset: str, encoding: str, text: str) -> str:
    data = text.encode("latin-1", "replace")
    try:
        raw = lenient_base64(data) if encoding in "bB" else binascii.a2b_qp(data, header=True)
    except (binascii.Error, ValueError):
        return text
    return octets_text(raw, charset)


def lenient_base64(data: bytes) -> bytes:
    """base64 as mail carries it: characters outside the alphabet skipped, padding forgiven."""
    clean = _BASE64_JUNK.sub(b"", data)
    clean = clean[:len(clean) - len(clean) % 4] if len(clean) % 4 == 1 else clean
    return binascii.a2b_base64(clean + b"=" * (-len(clean) % 4))


def body_text(raw: bytes, transfer_encoding: str, charset: str) -> str:
    """A part body as text: its transfer encoding undone, then decoded from its charset."""
    encoding = transfer_encoding.strip().lower()
    try:
        if encoding == "base64":
            raw = lenient_base64(raw)
        elif encoding == "quoted-printable":
            raw = binascii.a2b_qp(raw)
    except (binascii.Error, ValueError):
        pass  # searched as it is
    return octets_text(raw, charset)
