"""SMTP message content: the readers the core owns while content arrives (DATA, BDAT).

`DataReader` frames DATA content (end-of-data search, dot-unstuffing, bare LF, a buffer a
transport receives into); `ChunkedContent` assembles a message's BDAT chunks. Both know
nothing of the core's state: `smtp.py` creates them, keeps them in its DATA and BDAT states
and asks them for the content. Both hand out the start of a message early on request
(`take()`, for spooling) and count what they held (`held`) and handed out (`taken`); what
they hand out early also goes to their `headers` scan (`_smtp_policy.HeaderScan`).

Choices the contract left open (the others: see `smtp.py`):
- Bare LF in DATA/BDAT content is normalised to CRLF (as Postfix's smtpd_forbid_bare_newline
  = normalize), lone CRs stay, and a line after a bare LF is unstuffed like any other. Only
  <CRLF>.<CRLF> ends DATA: never <LF>.<LF>, <LF>.<CRLF>, <CRLF>.<LF>.
- The size limit applies to the content as delivered; oversized content is read to its end
  with bounded memory, then refused.
"""
from __future__ import annotations

import codecs
import io

from ._smtp_policy import HeaderScan

__all__ = ["NO_CONTENT", "ChunkedContent", "DataReader", "NoContent", "normalise_after", "normalise_newlines"]


END_OF_DATA = b"\r\n.\r\n"
CR, LF = 13, 10


def normalise_newlines(data: bytes) -> bytes:
    """Every bare LF becomes CRLF; lone CRs stay. Two C-speed passes, only when needed."""
    if data.count(b"\n") == data.count(b"\r\n"):
        return data
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def normalise_after(before: int, data: bytes, unstuff: bool = False) -> bytes:
    """`data` normalised (and dot-unstuffed) as a continuation: `before` is the raw octet
    that preceded it (-1: none), so a CR there pairs with an LF here and an LF there makes
    a dot here a stuffed one, exactly as if the two had arrived together."""
    prefix = b"\r\n" if before == LF else b"\r" if before == CR else b""
    data = normalise_newlines(prefix + data) if prefix else normalise_newlines(data)
    if unstuff:
        data = data.replace(b"\r\n.", b"\r\n")
    return data[len(prefix):] if prefix else data


_latin1 = codecs.latin_1_decode  # octets -> str one to one, a copy at memcpy speed for ASCII


class DataReader:
    """Frames DATA content: finds <CRLF>.<CRLF>, keeps a bounded amount, decodes it.

    The buffer starts with the CRLF that ended the DATA command, so a "." first line ends
    the content too and the first line is unstuffed like any other. Each `scan()` looks only
    at what arrived since the last one, while it is still in the CPU cache: one search for
    <CRLF>. finds both the end marker and the (rare) lines that need unstuffing, and the C
    newline decoder tells whether any bare LF needs normalising. A 1 MiB message is read once.

    The buffer has room beyond what it holds: a transport can receive straight into it
    (`reserve`, then `commit`), so content is never copied on its way in. It is sized from
    the SIZE the client declared (RFC 1870), up to `PREALLOCATE` (a small message costs a
    small buffer), and doubles when it must grow; it never shrinks or moves while a
    transport may hold a view of it.
    """

    __slots__ = ("_buf", "_end", "_limit", "_bound", "_scan", "_counted", "_stuffed", "_newlines", "_bare_lf",
                 "oversize", "taken", "_dropped", "headers")

    MIN_ROOM = 4 * 1024  # less free space than this and the buffer grows before a receive
    START = 16 * 1024  # the first buffer when the client declared no SIZE
    PREALLOCATE = 1024 * 1024  # at most this much is reserved before content arrives

    def __init__(self, limit: int, expected: int | None = None) -> None:
        wanted = min(max(expected or 0, 0), limit, self.PREALLOCATE) if expected else min(self.START, limit)
        self._buf = bytearray(wanted + self.MIN_ROOM)  # room for the marker and a few stuffed dots
        self._buf[:2] = b"\r\n"
        self._end = 2  # octets of _buf in use; the rest is room
        self._limit = limit
        # Unstuffing removes at most one octet in four (a CRLF-dot line cannot follow another
        # without forming the end marker) and normalising only adds octets: beyond this bound
        # the decoded message is certainly too big, so only the marker search goes on.
        self._bound = (limit + 2) * 4 // 3 + 8
        self._scan = 0  # octets of _buf known to hold no <CRLF>. that starts a marker
        self._counted = 0  # octets of _buf already checked for bare LFs
        self._stuffed = False  # a <CRLF>. other than the end marker was seen
        # Which line ends were seen (CRLF, bare LF, lone CR): the C newline decoder looks at
        # each octet once, three times faster than counting LFs and then CRLFs.
        self._newlines = io.IncrementalNewlineDecoder(None, translate=False)
        self._bare_lf = False  # an LF without its CR was seen (maybe after the marker: harmless)
        self.oversize = False
        self.taken = 0  # octets of decoded content handed out by take()
        self._dropped = 0  # raw octets take() removed from the front of the buffer
        self.headers = HeaderScan()  # the header section, from what take() hands out

    def reserve(self, hint: int) -> memoryview:
        """Free space at the end to receive into: what is left, or (when under MIN_ROOM) at
        least `hint` octets more."""
        if len(self._buf) - self._end < self.MIN_ROOM:
            self._grow(self._end + max(hint, self.MIN_ROOM))
        return memoryview(self._buf)[self._end:]

    def commit(self, nbytes: int) -> None:
        """`nbytes` octets were written at the start of the last `reserve()`d space."""
        self._end += nbytes

    def append(self, data: bytes) -> None:
        end = self._end + len(data)
        if end > len(self._buf):
            self._grow(end)
        self._buf[self._end:end] = data
        self._end = end

    def _grow(self, want: int) -> None:
        # A new buffer rather than a resize: a transport may still hold a view of the old one.
        bigger = bytearray(max(want, 2 * len(self._buf)))
        bigger[:self._end] = memoryview(self._buf)[:self._end]
        self._buf = bigger

    def feed(self, data: bytes) -> bytes | None:
        self.append(data)
        return self.scan()

    def scan(self) -> bytes | None:
        """Look at what arrived. Once the end is found, return what followed it (next
        commands, maybe b""); before that, None."""
        buf, end, counted = self._buf, self._end, self._counted
        if not self._bare_lf and counted < end:
            with memoryview(buf) as view:
                self._newlines.decode(_latin1(view[counted:end])[0])
            kinds = self._newlines.newlines  # None, one kind ("\r\n") or a tuple of kinds
            self._bare_lf = kinds == "\n" or (isinstance(kinds, tuple) and "\n" in kinds)
        self._counted = end
        if buf.find(b".", self._scan + 2, end) < 0:  # memchr: no dot, no marker and nothing to unstuff
            self._scan = max(end - 4, 0)
            self._bounded()
            return None
        while True:
            hit = buf.find(b"\r\n.", self._scan, end)
            if hit < 0 or end - hit < 5:  # none, or too close to the end to tell yet
                self._scan = max(end - 4, 0) if hit < 0 else hit
                break
            if buf[hit + 3:hit + 5] == b"\r\n":
                rest = bytes(buf[hit + 5:end])
                self._end = hit + 2  # keep the content's final CRLF, drop ".\r\n"
                return rest
            self._stuffed = True
            self._scan = hit + 3
        self._bounded()
        return None

    def _bounded(self) -> None:
        """Past the bound only the marker search goes on: keep what may start the marker."""
        end = self._end
        if self.oversize or end + self._dropped > self._bound:
            self.oversize = True
            keep = end - self._scan
            self._buf[:keep] = self._buf[self._scan:end]  # same length: moved in place, no resize
            self._end = self._counted = keep
            self._scan = 0

    @property
    def held(self) -> int:
        """Octets of content (or, past the limit, of the marker search) held now."""
        return self._end - 2

    def _decoded(self, stop: int) -> bytes | memoryview:
        """Content octets 2..stop in wire form. _buf[:2] is what precedes them: the CRLF that
        ended the DATA command, or the last two raw octets take() handed out."""
        view = memoryview(self._buf).toreadonly()
        if self._stuffed or self._bare_lf:  # bare LFs may hide dot-lines from the scan
            return normalise_after(self._buf[1], bytes(view[2:stop]), unstuff=True)
        return view[2:stop]

    def take(self) -> bytes:
        """Hand out the content that can no longer change (before `_scan`: no marker starts
        there), decoded; keep its last two raw octets as the context of what follows."""
        stop = self._scan
        if self.oversize or stop <= 2:
            return b""
        piece = bytes(self._decoded(stop))
        self.taken += len(piece)
        if self.taken > self._limit:
            self.oversize = True  # refused at the end; from here on only the marker search
            return b""
        keep = self._end - (stop - 2)
        self._buf[:keep] = self._buf[stop - 2:self._end]  # a few octets, moved in place: no resize
        shift = stop - 2
        self._dropped += shift
        self._end, self._scan, self._counted = keep, 2, self._counted - shift
        self.headers.feed(piece)
        return piece

    def content(self) -> bytes | memoryview | None:
        """The message in wire form (what follows any take()), or None if it exceeds the
        limit. In the common case (no dot-line, no bare LF) a read-only view of the buffer:
        the reader is done with it."""
        if self.oversize:
            return None
        data = self._decoded(self._end)
        return None if self.taken + len(data) > self._limit else data


class ChunkedContent:
    """The BDAT chunks of one message, raw, as they arrive; decoded (bare LF normalised, CRLF
    appended if missing) when handed out. `take()` may hand out the start early: what it
    returns plus `content()` is exactly what `content()` alone would have been."""

    __slots__ = ("raw", "taken", "raw_taken", "last_taken", "headers")

    def __init__(self) -> None:
        self.raw = bytearray()  # chunk octets received and not yet taken
        self.taken = 0  # octets of decoded content handed out by take()
        self.raw_taken = 0  # raw octets those came from
        self.last_taken = -1  # the last raw octet handed out (-1: none)
        self.headers = HeaderScan()  # the header section, from what take() hands out

    @property
    def held(self) -> int:
        return len(self.raw)

    @property
    def size(self) -> int:
        """Raw octets received for the message, taken or not (what the size limit counts)."""
        return self.raw_taken + len(self.raw)

    def take(self) -> bytes:
        """All but the last two raw octets, decoded (so what stays still ends in CRLF once
        normalised); b"" when there is nothing to take yet."""
        raw = self.raw
        stop = len(raw) - 2
        if stop <= 0:
            return b""
        piece_raw = bytes(raw[:stop])
        del raw[:stop]
        piece = normalise_after(self.last_taken, piece_raw)
        self.last_taken = piece_raw[-1]
        self.taken += len(piece)
        self.raw_taken += stop
        self.headers.feed(piece)
        return piece

    def content(self) -> bytes:
        """What follows any take(), decoded; the raw octets are let go (no copy kept while the
        delivery is pending)."""
        data = normalise_after(self.last_taken, bytes(self.raw))
        del self.raw[:]
        return data if not data or data.endswith(b"\r\n") else data + b"\r\n"


class NoContent:
    """No message content is being received: nothing held, taken or to take."""

    __slots__ = ()
    held = taken = 0

    def take(self) -> bytes:
        return b""


NO_CONTENT = NoContent()
