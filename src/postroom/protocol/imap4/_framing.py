"""IMAP4 command framing: lines, and the literals `{n}` / `{n+}` (RFC 7888) that end a line.

`CommandBuffer` is the line buffer of the other cores plus what an overlong IMAP line still
owes the client: its tag (so the refusal can be tagged) and whether it ended in a
non-synchronising literal (whose octets follow at once and must never be read as commands).
"""
from __future__ import annotations

import re

from ..lines import LineBuffer, TooLong, _TooLongType

__all__ = ["CommandBuffer", "command_name", "literal_marker", "tag_of"]

_LITERAL_END = re.compile(rb"\{(\d{1,20})(\+?)\}\Z")
MAX_TAG = 100  # octets; a longer tag is refused rather than echoed in replies (lines stay short)
_TAG = re.compile(rb"[\x21\x23\x24\x26\x27\x2c-\x5b\x5d-\x7a\x7c-\x7e]{1,%d}" % MAX_TAG)  # ASTRING-CHAR but "+"
_TAIL = 32  # octets of a discarded line kept to see whether it ended in a literal


def literal_marker(line: bytes) -> tuple[int, bool] | None:
    """(size, synchronising) when `line` ends with a literal's `{n}` or `{n+}`."""
    if not line.endswith(b"}"):
        return None
    match = _LITERAL_END.search(line)
    if match is None:
        return None
    return int(match.group(1)), not match.group(2)


def tag_of(line: bytes) -> str | None:
    """The command tag at the start of `line`, if it has a valid one followed by a space."""
    match = _TAG.match(line)
    if match is None or line[match.end():match.end() + 1] != b" ":
        return None
    return match.group().decode("ascii")


def command_name(parts: list[bytes]) -> str:
    """The command name (upper case) of a command being assembled: its first line's 2nd word."""
    words = parts[0].split(b" ", 2) if parts else []
    return words[1].decode("latin-1").upper() if len(words) > 1 else ""


class CommandBuffer(LineBuffer):
    """A LineBuffer that remembers, for an overlong line, its first octets (`overlong_head`)
    and sets `literal_plus_skipped` when the discarded line ended with `{n+}`."""

    __slots__ = ("overlong_head", "literal_plus_skipped", "_tail")

    def __init__(self, max_line: int) -> None:
        super().__init__(max_line)
        self.overlong_head = b""
        self.literal_plus_skipped = False
        self._tail = b""

    def feed(self, data: bytes) -> None:
        if self._discarding and data:
            end = data.find(b"\n")
            self._tail = (self._tail + (data if end < 0 else data[:end]))[-_TAIL:]
            if end >= 0:
                self._mark_end(self._tail)
        super().feed(data)

    def next_line(self) -> bytes | _TooLongType | None:
        buf = self._buf
        if len(buf) < self.max_line:
            return super().next_line()
        # Only now can the line be overlong: keep what the client is still owed.
        head = bytes(buf[:64])
        end = buf.find(b"\n", self._scan)
        if end < 0:
            self._tail = bytes(buf[-_TAIL:])
        elif end + 1 > self.max_line:
            self._mark_end(bytes(buf[max(0, end - _TAIL):end]))
        line = super().next_line()
        if line is TooLong:
            self.overlong_head = head
        return line

    def _mark_end(self, tail: bytes) -> None:
        marker = literal_marker(tail.rstrip(b"\r"))
        if marker is not None and not marker[1]:
            self.literal_plus_skipped = True

    def clear(self) -> None:
        super().clear()
        self._tail = b""
        self.literal_plus_skipped = False
