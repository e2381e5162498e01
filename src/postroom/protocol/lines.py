"""Line framing for text protocols (POP3, SMTP).

`LineBuffer` accumulates received bytes and hands out complete lines without their
terminator; `take()` hands out raw octets instead, for content that is not framed by lines
(SMTP DATA and BDAT). CRLF and a bare LF both end a line. A line longer than `max_line` octets
(terminator included) is reported once as `TooLong`, and the rest of it is discarded up to
its end, so an overlong line can never be mistaken for a command.

Work is amortised O(n) in the bytes received: every search resumes where the previous one
stopped, and consumed bytes are dropped from the front of a bytearray (O(1) in CPython).
"""
from __future__ import annotations

from typing import Iterator

__all__ = ["LineBuffer", "TooLong"]


class _TooLongType:
    """Type of the `TooLong` sentinel (one instance)."""

    _instance: "_TooLongType | None" = None

    def __new__(cls) -> "_TooLongType":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "TooLong"


TooLong = _TooLongType()


class LineBuffer:
    """Accumulate bytes; return complete lines (bytes, terminator removed) or `TooLong`."""

    __slots__ = ("max_line", "_buf", "_scan", "_discarding")

    def __init__(self, max_line: int) -> None:
        if max_line < 2:
            raise ValueError("max_line must leave room for CRLF")
        #: Largest accepted line in octets, terminator included. May be changed between
        #: lines (an SMTP core uses a different limit for DATA than for commands).
        self.max_line = max_line
        self._buf = bytearray()
        self._scan = 0  # bytes of _buf already known to hold no LF
        self._discarding = False  # inside an overlong line that was already reported

    def __len__(self) -> int:
        """Octets buffered and not yet returned as lines."""
        return len(self._buf)

    def feed(self, data: bytes) -> None:
        """Append received bytes. `b""` is a no-op (EOF is the caller's business)."""
        if not data:
            return
        if self._discarding:
            end = data.find(b"\n")
            if end < 0:
                return  # still inside the overlong line: nothing to keep
            self._discarding = False
            data = data[end + 1 :]
        self._buf += data

    def next_line(self) -> bytes | _TooLongType | None:
        """The next complete line, `TooLong` for an overlong one, or None if none is complete."""
        buf = self._buf
        end = buf.find(b"\n", self._scan)
        if end < 0:
            if len(buf) >= self.max_line:
                # Even if the LF came next, the line would exceed max_line.
                del buf[:]
                self._scan = 0
                self._discarding = True
                return TooLong
            self._scan = len(buf)
            return None
        self._scan = 0
        if end + 1 > self.max_line:
            del buf[: end + 1]
            return TooLong
        stop = end - 1 if end and buf[end - 1] == 0x0D else end
        line = bytes(buf[:stop])
        del buf[: end + 1]
        return line

    def lines(self) -> Iterator[bytes | _TooLongType]:
        """Iterate over the complete lines buffered now."""
        while (line := self.next_line()) is not None:
            yield line

    def take(self, limit: int | None = None) -> bytes:
        """Remove and return up to `limit` buffered octets (all of them when None), unframed.

        Meant for content read right after a complete command line (SMTP DATA, BDAT): a
        caller that took too much feeds the surplus back, which restores the order because
        the buffer is then empty.
        """
        buf = self._buf
        size = len(buf) if limit is None else min(limit, len(buf))
        with memoryview(buf) as view:  # one copy; the view must be gone before the del
            data = bytes(view[:size])
        del buf[:size]
        self._scan = max(self._scan - size, 0)
        return data

    def clear(self) -> None:
        """Drop everything buffered (e.g. plaintext pipelined after STLS/STARTTLS)."""
        del self._buf[:]
        self._scan = 0
        self._discarding = False
