"""Submission policy the SMTP core applies itself: who an authenticated session may send as
(`SendAs`), and what the message's header section says (`HeaderScan`: the Received fields
counted for the hop limit, the From addresses for sender ownership).

Choices (RFC 5321 6.3, RFC 5322 3.4 and 3.6.2):
- A message with more Received fields than `SmtpConfig.max_hop_count` is refused at the end of
  its content with 554 5.4.6 (exactly that many pass; the one we add is not counted).
- An authenticated session may use in MAIL FROM and in every From field only its own address and
  its send-as grants (`*@domain`: a whole domain); anything else, the null reverse-path <>
  included, is refused with 550 5.7.1. A From field that names no parsable address is refused
  too (it cannot be shown to be the sender's); a message without a From field is accepted (its
  envelope sender was checked). Addresses compare case-insensitively, as mailboxes do here.
- Only the first `HeaderScan.LIMIT` octets of the header section are read.
"""
from __future__ import annotations

import re
from typing import Iterable

from ._smtp_replies import HOP_COUNT_EXCEEDED, SEND_AS_DENIED, Reply

__all__ = ["HeaderScan", "SendAs", "content_refusal", "from_addresses"]

_RECEIVED = re.compile(rb"^received[ \t]*:", re.I | re.M)  # a field, not a continuation line
_FROM = re.compile(rb"^from[ \t]*:", re.I | re.M)


class SendAs:
    """The senders an authenticated session may use: its own address and its grants."""

    __slots__ = ("addresses", "domains")

    def __init__(self, own: str, grants: Iterable[str] = ()) -> None:
        addresses, domains = {own.lower()}, set()
        for grant in grants:
            grant = grant.lower()
            if grant.startswith("*@"):
                domains.add(grant[2:])
            else:
                addresses.add(grant)
        self.addresses: frozenset[str] = frozenset(addresses)
        self.domains: frozenset[str] = frozenset(domains)

    def permits(self, address: str) -> bool:
        """Whether the session may send as `address` (never as the null reverse-path "")."""
        address = _unquoted(address).lower()
        if address in self.addresses:
            return bool(address)
        local, at, domain = address.rpartition("@")
        return bool(at and local and domain in self.domains)

    def __repr__(self) -> str:
        return f"SendAs({sorted(self.addresses)}, domains={sorted(self.domains)})"


_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\x80-\U0010ffff-]+"
_DOT_ATOM = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*")


def _unquoted(address: str) -> str:
    """`"alice"@example.com` is `alice@example.com` (RFC 5321 4.1.2): the quotes go when not needed."""
    local, at, domain = address.rpartition("@")
    if at and len(local) >= 2 and local[0] == local[-1] == '"':
        inner = re.sub(r"\\(.)", r"\1", local[1:-1])
        if _DOT_ATOM.fullmatch(inner):
            return f"{inner}@{domain}"
    return address


class HeaderScan:
    """The header section of a message, gathered from the start of its content (which may come
    in pieces, when the adapter spools): fed until the empty line that ends it, or LIMIT."""

    __slots__ = ("_head", "done")

    LIMIT = 256 * 1024  # octets of header section read at most
    _WINDOWS = (4096, 65536)  # look for the end in a small window first: no big copy

    def __init__(self) -> None:
        self._head = bytearray()
        self.done = False  # the end of the header section (or LIMIT) was seen

    def feed(self, data: bytes | memoryview) -> None:
        if self.done or not len(data):
            return
        head = self._head
        before = len(head)
        room = self.LIMIT - before
        for window in (*self._WINDOWS, room):
            piece = bytes(data[:min(window, room)])
            end = self._end_in(head, piece, before)
            if end >= 0 or len(piece) == len(data) or len(piece) >= room:
                break
        head += piece
        if end >= 0:
            del head[end:]
            self.done = True
        elif len(head) >= self.LIMIT:
            self.done = True

    @staticmethod
    def _end_in(head: bytearray, piece: bytes, before: int) -> int:
        """Where the header section ends in head + piece (before the empty line's CRLF), or -1."""
        if before < 2 and (bytes(head) + piece[:2]).startswith(b"\r\n"):
            return 0  # no header fields at all (the content starts with the empty line)
        start = max(before - 3, 0)
        joined = bytes(head[start:]) + piece[:3] if before else b""
        if joined:
            hit = joined.find(b"\r\n\r\n")
            if hit >= 0:
                return start + hit + 2
        hit = piece.find(b"\r\n\r\n")
        return before + hit + 2 if hit >= 0 else -1

    @property
    def header(self) -> bytes:
        """The header fields seen (each ending CRLF, unless cut at LIMIT)."""
        return bytes(self._head)

    def received_count(self) -> int:
        return len(_RECEIVED.findall(self._head))

    def from_fields(self) -> list[str]:
        """The value of every From field, unfolded, as text (UTF-8, RFC 6532)."""
        head, values = self._head, []
        for match in _FROM.finditer(head):
            end = match.end()
            while True:  # the field runs to the first CRLF not followed by WSP (folding)
                crlf = head.find(b"\r\n", end)
                if crlf < 0:
                    end = len(head)
                    break
                end = crlf + 2
                if end >= len(head) or head[end] not in (32, 9):  # not SP or HTAB: the next field
                    end = crlf
                    break
            raw = bytes(head[match.end():end]).replace(b"\r\n", b"")
            values.append(raw.decode("utf-8", "replace"))
        return values


def _strip_comments(text: str) -> str | None:
    """`text` without its (nested) comments, quoted strings kept; None if unbalanced."""
    out, depth, quoted, escaped = [], 0, False, False
    for char in text:
        if escaped:
            escaped = False
            if depth == 0:
                out.append(char)
            continue
        if char == "\\":
            escaped = True
            if depth == 0:
                out.append(char)
        elif quoted:
            quoted = char != '"'
            out.append(char)
        elif char == "(":
            depth += 1
        elif char == ")":
            if depth == 0:
                return None
            depth -= 1
            if depth == 0:
                out.append(" ")  # a comment separates like a space
        elif depth == 0:
            quoted = char == '"'
            out.append(char)
    return None if depth or quoted else "".join(out)


def _split_outside_quotes(text: str, separators: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = angle = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif not quoted and char == "<":
            angle = True
        elif not quoted and char == ">":
            angle = False
        elif not quoted and not angle and char in separators:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def from_addresses(value: str) -> list[str] | None:
    """The addresses of a From field's value (an RFC 5322 mailbox-list; groups tolerated), or
    None when one of its entries is not an address: display names, comments and routes are
    dropped. `"Alice" <alice@example.com>, (x) bob@example.com` -> both addresses."""
    text = _strip_comments(value)
    if text is None:
        return None
    found: list[str] = []
    for entry in _split_outside_quotes(text, ",;"):
        parts = _split_outside_quotes(entry, ":")
        entry = ":".join(parts[1:]) if len(parts) > 1 else entry  # "Team: a@x": a group's name
        entry = entry.strip()
        if not entry:
            continue  # empty entries, an empty group ("undisclosed-recipients:;")
        match = re.fullmatch(r'([^<>]*)<([^<>]*)>\s*', entry)
        if match and "@" in re.sub(r'"(?:[^"\\]|\\.)*"', "", match.group(1)):
            return None  # an unquoted @ in the display name: shown as an address by some readers
        address = match.group(2).strip() if match else entry
        if address.startswith("@"):  # an obsolete route: <@relay:alice@example.com>
            address = address.partition(":")[2]
        address = re.sub(r"\s*([.@])\s*", r"\1", address)  # obsolete FWS around dots and the @
        local, at, domain = address.rpartition("@")
        if not (at and local and domain) or any(c in address for c in " \t<>"):
            return None
        found.append(address)
    return found


def content_refusal(headers: HeaderScan, content: bytes | memoryview, max_hop_count: int,
                    send_as: SendAs | None) -> Reply | None:
    """The refusal of a complete message (`content`: what follows the pieces `headers` was fed),
    or None: past the hop limit, or (`send_as` of an authenticated session) a From field naming
    an address it may not send as."""
    headers.feed(content)  # nothing is read once the header section is complete
    if headers.received_count() > max_hop_count:
        return HOP_COUNT_EXCEEDED
    if send_as is not None:
        for value in headers.from_fields():
            addresses = from_addresses(value)
            if not addresses or not all(send_as.permits(a) for a in addresses):
                return SEND_AS_DENIED
    return None
