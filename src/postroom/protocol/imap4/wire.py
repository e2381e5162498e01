"""Rendering IMAP4 reply data (RFC 3501 section 9 grammar): strings (atom, quoted or literal),
NIL, flag lists, dates, and mailbox names in modified UTF-7 (RFC 3501 5.1.3) or, for a session
that enabled UTF8=ACCEPT or IMAP4rev2, in UTF-8."""
from __future__ import annotations

import base64
import datetime

_ATOM_SPECIALS = frozenset(b'(){ %*"\\]') | frozenset(range(0, 32)) | {127}
_QUOTABLE = frozenset(range(1, 128)) - {10, 13}
_UNQUOTABLE = frozenset((0, 10, 13))  # what even a UTF-8 quoted string cannot hold
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
NIL = b"NIL"


def literal(data: bytes) -> bytes:
    return b"{%d}\r\n" % len(data) + data


def quoted(data: bytes) -> bytes:
    """A quoted string; the caller checked that `data` is quotable (7-bit, no CR or LF)."""
    return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def string(data: bytes | str) -> bytes:
    """A quoted string when it can be one, else a literal."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    if len(data) < 1024 and all(c in _QUOTABLE for c in data):
        return quoted(data)
    return literal(data)


def nstring(data: bytes | str | None) -> bytes:
    return NIL if data is None else string(data)


def astring(data: bytes | str) -> bytes:
    """An atom when it is one (no specials, not empty), else a string."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    if data and not any(c in _ATOM_SPECIALS or c > 127 for c in data):
        return data
    return string(data)


def flag_list(flags: tuple[str, ...] | list[str]) -> bytes:
    return b"(" + " ".join(flags).encode("ascii") + b")"


def date_time(when: datetime.datetime) -> bytes:
    """INTERNALDATE's form: "07-Dec-2026 11:54:37 +0000"."""
    offset = when.utcoffset() or datetime.timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    minutes = abs(minutes)
    text = "%02d-%s-%04d %02d:%02d:%02d %s%02d%02d" % (
        when.day, _MONTHS[when.month - 1], when.year, when.hour, when.minute, when.second,
        sign, minutes // 60, minutes % 60)
    return b'"' + text.encode("ascii") + b'"'


# ------------------------------------------------------------------ modified UTF-7 (5.1.3)
def encode_mailbox(name: str) -> bytes:
    """A mailbox name in modified UTF-7: printable ASCII as is ("&" as "&-"), the rest in
    "&...-" runs of modified BASE64 over UTF-16BE."""
    out = bytearray()
    run: list[str] = []

    def flush() -> None:
        if run:
            encoded = base64.b64encode("".join(run).encode("utf-16-be")).rstrip(b"=").replace(b"/", b",")
            out.extend(b"&" + encoded + b"-")
            run.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.extend(b"&-" if ch == "&" else ch.encode("ascii"))
        else:
            run.append(ch)
    flush()
    return bytes(out)


def decode_mailbox(data: bytes) -> str:
    """The inverse of encode_mailbox; ValueError for a malformed name (bad "&" run, 8-bit
    octets). A UTF-8 name (not modified UTF-7) is taken as UTF-8 when it has 8-bit octets."""
    if any(c > 127 for c in data):
        return data.decode("utf-8")  # UnicodeDecodeError is a ValueError
    out = []
    i = 0
    while i < len(data):
        c = data[i]
        if c != 0x26:  # "&"
            out.append(chr(c))
            i += 1
            continue
        end = data.index(b"-", i + 1)  # ValueError if unterminated
        chunk = data[i + 1:end]
        if not chunk:
            out.append("&")
        else:
            b64 = chunk.replace(b",", b"/")
            b64 += b"=" * (-len(b64) % 4)
            out.append(base64.b64decode(b64, validate=True).decode("utf-16-be"))
        i = end + 1
    return "".join(out)


def mailbox(name: str, utf8: bool = False) -> bytes:
    """A mailbox name as reply data: modified UTF-7, then an astring; for a session that enabled
    UTF8=ACCEPT or IMAP4rev2 (`utf8`), UTF-8, quoted when it is not an atom (RFC 6855 3)."""
    if not utf8 or name.isascii():
        return astring(encode_mailbox(name) if not utf8 else name.encode("ascii"))
    data = name.encode("utf-8")
    if len(data) < 1024 and not any(c in _UNQUOTABLE for c in data):
        return quoted(data)
    return literal(data)
