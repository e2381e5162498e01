"""SMTP message content: DATA and BDAT, the part of the core that reads raw octets.

`ContentCore` holds SmtpServer's DATA and BDAT handlers (a mixin: it works on the core's
state, `smtp.py` puts its handlers in TRANSITIONS); `DataReader` frames DATA content and
`ChunkReader` counts BDAT chunks. Choices: see `smtp.py`'s docstring.
"""
from __future__ import annotations

import codecs
import io
from typing import Any, Callable

from . import _smtp_replies as R
from ._smtp_replies import Reply
from ._smtp_types import Deliver, State, Transaction

__all__ = ["ChunkReader", "ContentCore", "DataReader", "chunks_content", "normalise_after", "normalise_newlines",
           "take_chunks"]


class ContentCore:
    """SmtpServer's DATA and BDAT handling, mixed into it: it uses the core's state
    (`_state`, `_lines`, `_eof`, `_tx`, `_reader`, `_chunk`, ...) and its reply methods."""

    def _data(self, arg: str | None) -> None:
        R.no_args(arg, R.DATA_SYNTAX)
        assert self._tx is not None
        self._reader = DataReader(self.config.max_message_size, self._tx.size_declared)
        self._state = State.DATA
        self._send(R.START_DATA)

    def _content_reader(self) -> DataReader | None:
        """The DATA reader, when octets arriving now are message content (nothing buffered)."""
        if self._state is not State.DATA or self._eof or len(self._lines):
            return None
        return self._reader

    def receive_data(self, data: bytes) -> None:
        reader = self._content_reader()
        if reader is not None and data:
            reader.append(data)  # message content goes straight to the reader: no framing copy
            return
        super().receive_data(data)

    def content_buffer(self, sizehint: int) -> memoryview | None:
        """Room in the DATA reader for a transport to receive content into (then
        `content_received(n)`): no copy on the way in. None: use `receive_data`."""
        reader = self._content_reader()
        return reader.reserve(sizehint) if reader is not None else None

    def content_received(self, nbytes: int) -> None:
        assert self._reader is not None
        self._reader.commit(nbytes)

    # Spooling: an adapter may take the content in pieces (to a file) while it arrives, so
    # that what the core holds stays bounded whatever the message's size.
    @property
    def content_held(self) -> int:
        """Octets of message content (DATA or BDAT) the core holds now."""
        if self._reader is not None:
            return self._reader.held - 2
        tx = self._tx
        return len(tx.chunks) if tx is not None else 0

    @property
    def content_taken(self) -> int:
        """Octets `take_content()` handed out for the message being received (0: none, or
        that message is gone: RSET, refused, connection closed)."""
        if self._reader is not None:
            return self._reader.taken
        tx = self._tx
        return tx.taken if tx is not None and self._state in _CHUNK_STATES else 0

    def take_content(self) -> bytes:
        """The start of the content that can no longer change, in wire form (unstuffed, bare
        LF normalised), removed from the core: the adapter keeps it, and the `Deliver` event
        then carries the rest (`Deliver.spooled` counts what was taken). b"" when there is
        nothing to take yet, or the message is already too big (it will be refused)."""
        if self._reader is not None:
            return self._reader.take()
        tx = self._tx
        if tx is None or self._state not in _CHUNK_STATES:
            return b""
        return take_chunks(tx)

    def _read_data(self) -> bool:
        reader = self._reader
        assert reader is not None
        if len(self._lines):
            reader.append(self._lines.take())
        rest = reader.scan()
        if rest is None:
            return False
        self._lines.feed(rest)  # took everything: these are the commands pipelined after it
        self._finish(reader.content())
        self._reader = None  # no raw copy kept while the delivery is pending
        return True

    def _finish(self, content: bytes | memoryview | None) -> None:
        """The content is complete: deliver it, or refuse it as too big."""
        tx = self._tx
        assert tx is not None and self._helo is not None
        spooled = self._reader.taken if self._reader is not None else tx.taken
        if content is None or spooled + len(content) > self.config.max_message_size:
            self._end_transaction(R.SIZE_EXCEEDED)
            return
        self._state = State.DELIVERING
        envelope = tx.envelope(self._helo, self._esmtp, self.tls_active, self._user)
        self._events.append(Deliver(envelope, content, spooled))

    def _bdat_size(self, arg: str | None) -> tuple[int, bool] | None:
        parsed = R.bdat_args(arg)
        if parsed is None:  # how much content follows is unknown: nothing else can be read
            self._send(R.BDAT_SYNTAX)
            self._close("bdat-syntax")
        return parsed

    def _read_chunk_then(self, size: int, sink: bytearray | None, then: Callable[[], None]) -> None:
        self._chunk = ChunkReader(size, sink, then, self._state)
        self._state = State.BDAT

    def _read_chunk(self) -> bool:
        chunk = self._chunk
        assert chunk is not None
        if not chunk.feed(self._lines.take(chunk.left)):
            return False
        self._chunk, self._state = None, chunk.resume
        chunk.then()
        return True

    def _bdat(self, arg: str | None) -> None:
        tx, parsed = self._tx, self._bdat_size(arg)
        assert tx is not None
        if parsed is None:
            return
        size, last = parsed
        if tx.raw_taken + len(tx.chunks) + size > self.config.max_message_size:
            self._read_chunk_then(size, None, lambda: self._end_transaction(R.SIZE_EXCEEDED))
        else:
            self._read_chunk_then(size, tx.chunks, lambda: self._chunk_done(size, last))

    def _chunk_done(self, size: int, last: bool) -> None:
        tx = self._tx
        assert tx is not None
        if last:
            content = chunks_content(tx.chunks, tx.last_taken)
            del tx.chunks[:]  # no raw copy kept while the delivery is pending
            self._finish(content)
        else:
            self._state = State.CHUNKING
            self._send(R.chunk_received(size))

    def _refuse_chunk(self, arg: str | None, reply: Reply, counted: bool = True) -> None:
        """BDAT where it cannot be accepted: read the chunk all the same, then refuse it."""
        parsed = self._bdat_size(arg)
        if parsed is not None:
            self._read_chunk_then(parsed[0], None, lambda: self._refusal(reply, counted))


END_OF_DATA = b"\r\n.\r\n"
_CHUNK_STATES = frozenset({State.BDAT, State.CHUNKING})
CR, LF = 13, 10


def normalise_newlines(data: bytes) -> bytes:
    """Every bare LF becomes CRLF; lone CRs stay. Two C-speed passes, only when needed."""
    if data.count(b"\n") == data.count(b"\r\n"):
        return data
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def chunks_content(raw: bytes | bytearray, before: int = -1) -> bytes:
    """BDAT content in wire form: raw octets, bare LF normalised, CRLF appended if missing.
    `before`: the raw octet that preceded `raw` (what was taken before it), -1 for none."""
    data = normalise_after(before, bytes(raw))
    return data if not data or data.endswith(b"\r\n") else data + b"\r\n"


def take_chunks(tx: Transaction) -> bytes:
    """BDAT content received so far, normalised, all but its last two raw octets (so what
    stays still ends in CRLF once normalised): see ContentCore.take_content."""
    chunks = tx.chunks
    stop = len(chunks) - 2
    if stop <= 0:
        return b""
    raw = bytes(chunks[:stop])
    del chunks[:stop]
    piece = normalise_after(tx.last_taken, raw)
    tx.last_taken = raw[-1]
    tx.taken += len(piece)
    tx.raw_taken += stop
    return piece


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
                 "oversize", "taken", "_dropped")

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
            return self._bounded()
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
        return self._bounded()

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
        """Octets of content (and of the marker search) held now."""
        return self._end

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
        return piece

    def content(self) -> bytes | memoryview | None:
        """The message in wire form (what follows any take()), or None if it exceeds the
        limit. In the common case (no dot-line, no bare LF) a read-only view of the buffer:
        the reader is done with it."""
        if self.oversize:
            return None
        data = self._decoded(self._end)
        return None if self.taken + len(data) > self._limit else data


class ChunkReader:
    """Reads exactly the `left` octets a BDAT command announced into `sink` (None: discards
    them); then the core returns to state `resume` and calls `then`."""

    __slots__ = ("left", "sink", "then", "resume")

    def __init__(self, size: int, sink: bytearray | None, then: Callable[[], None], resume: Any) -> None:
        self.left, self.sink, self.then, self.resume = size, sink, then, resume

    def feed(self, data: bytes) -> bool:
        """Take octets (at most `left`); True once the chunk is complete."""
        self.left -= len(data)
        if self.sink is not None:
            self.sink += data
        return not self.left
