"""COMPRESS=DEFLATE (RFC 4978) for an IMAP4 session: a layer between the transport (plain or
TLS: TLS is always below it) and the sans-IO core.

`CompressedTransport` wraps the session's transport once the tagged OK of COMPRESS has been
written: every octet written through it goes out as raw deflate (RFC 1951, no zlib header),
and `inflate()` turns what the client sends into the plain octets the core reads.

The compression side channel (CRIME/BREACH). Someone who can put text of their choosing in
the mailbox (anyone who sends it mail) and watch the length of the encrypted stream could
guess a secret compressed together with that text one character at a time: a right guess
compresses better. So octets that belong to different messages never share compression
history:

- Every chunk the core hands out (each `send_data()` call, each tagged or untagged line of
  the core's own) is compressed in a context of its own: the compressor's history is reset
  (Z_FULL_FLUSH) after each chunk, and a reset compressor writes the same octets for a chunk
  whatever it compressed before, so nothing of an earlier chunk can show in the length of a
  later one. Every write therefore also ends with a flush: the client always gets whole
  replies (an IDLE update is never stuck in the compressor).
- The server makes the chunks along the lines that matter: a FETCH whose items carry a
  message's own text (its header, body, ENVELOPE, BODY/BODYSTRUCTURE) emits each message's
  `* n FETCH` response as a chunk of its own (imap4_folder.py); a FETCH of flags, UIDs, sizes
  and dates only, which holds nothing a sender chose, stays one chunk per batch (so a flag
  synchronisation of a large folder still compresses well). Tagged replies are chunks of their
  own.
- Compression starts only after login, so credentials are never compressed.

What the client sends is compressed by the client, with its own history: which of its
commands it lets share a context is the client's business (RFC 4978's security considerations).

Memory. The inflater is the one thing a compressed connection keeps: the client's history is
up to 32 KB back (raw deflate, wbits -15), and zlib fills that window only as the client sends
(some 10 KB for a client that has only logged in and idles, 40 KB at most). Since a reset
compressor holds nothing of the past, one compressor serves every session of an event loop's
thread (`_shared_deflater`), so the sending side costs no memory per connection.

Big writes. zlib compresses some 30 MB a second: a whole 35 MB message would hold the event
loop, and every session on it, for a second. A write of OFFLOAD_OCTETS or more is compressed on
a worker thread (zlib lets go of the interpreter while it works) with a compressor of its own,
fresh, so in a context of its own like any chunk. Until it is written, later writes of the
session wait behind it in order and the session is told it is busy (`busy(True)`: it stops
answering and reading, as when the client reads slowly); closing waits for them too.

Bad compressed input ends the session with `* BYE` (CompressionError); a small input that
inflates to a great deal (a "decompression bomb") is inflated `room` octets at a time, as the
core takes them, while reading from the socket waits (server/imap4.py).
"""
from __future__ import annotations

import asyncio
import collections
import threading
import zlib
from typing import Any, Callable, Iterable

__all__ = ["CompressedTransport", "CompressionError", "deflate_chunks"]

WBITS = -15  # raw deflate; the client may use the largest window, 32 KB
LEVEL = 6  # zlib's default: most of the gain for a modest cost
MEM_LEVEL = 8  # one compressor per thread, not per connection: zlib's defaults cost nothing
OFFLOAD_OCTETS = 128 * 1024  # a write this big is compressed off the event loop (about 4 ms of zlib)
_per_thread = threading.local()


class CompressionError(Exception):
    """The client's compressed data cannot be inflated; the text says why."""


def _shared_deflater() -> Any:
    """This thread's compressor (each event loop runs on its own thread, and a write is done
    in one go, so two sessions never use it at once). It is always left reset."""
    deflater = getattr(_per_thread, "deflater", None)
    if deflater is None:
        deflater = _per_thread.deflater = zlib.compressobj(LEVEL, zlib.DEFLATED, WBITS, MEM_LEVEL)
    return deflater


def deflate_chunks(chunks: Iterable[bytes]) -> bytes:
    """The raw deflate octets of `chunks`, each compressed in a context of its own (the
    history reset after it, with a full flush that also completes the output)."""
    deflater = _shared_deflater()
    out: list[bytes] = []
    try:
        for chunk in chunks:
            if chunk:
                out.append(deflater.compress(chunk))
                out.append(deflater.flush(zlib.Z_FULL_FLUSH))
    except BaseException:
        # Half a chunk may be left in it: no other session may ever get that. A new one.
        _per_thread.deflater = None
        raise
    return b"".join(out)


def deflate_apart(chunks: Iterable[bytes]) -> bytes:
    """deflate_chunks with a compressor of its own (for a worker thread): the same octets."""
    deflater = zlib.compressobj(LEVEL, zlib.DEFLATED, WBITS, MEM_LEVEL)
    return b"".join(deflater.compress(chunk) + deflater.flush(zlib.Z_FULL_FLUSH) for chunk in chunks if chunk)


class CompressedTransport(asyncio.Transport):
    """The session's transport with DEFLATE on top: writes are compressed, `inflate()`
    decompresses what was received. Anything else goes to the transport below."""

    def __init__(self, below: asyncio.Transport, busy: Callable[[bool], None] | None = None) -> None:
        super().__init__()
        self.below = below
        self._busy = busy  # told True while a big write is compressed off the loop, False after
        self._waiting: collections.deque[list[bytes]] = collections.deque()  # writes behind that one
        self._compressing = False
        self._close_after = False  # close() came while writes waited: close once they are out
        self._inflater = zlib.decompressobj(WBITS)
        self._held = b""  # compressed input not inflated yet: the core had no room for more
        self._full = False  # the last inflate stopped at its limit: zlib may hold more output
        self.octets_in = self.octets_out = 0  # compressed octets received and sent
        self.plain_in = self.plain_out = 0  # and what they are plain

    # receiving -----------------------------------------------------------------------
    @property
    def held(self) -> bool:
        """Compressed input is waiting for the core to take what was inflated so far."""
        return bool(self._held) or self._full

    def inflate(self, data: bytes, room: int) -> bytes:
        """Append the received `data` and return at most `room` (> 0) of the plain octets now
        available; the rest stays compressed in here until the next call (`held`)."""
        self.octets_in += len(data)
        pending = self._held + data if self._held else data
        if not pending and not self._full:
            return b""
        inflater = self._inflater
        if inflater.eof:  # the client ended its stream (a final block): nothing may follow
            if pending:
                raise CompressionError("data followed the end of the compressed stream")
            return b""
        room = max(room, 1)
        try:
            plain = inflater.decompress(pending, room)
        except zlib.error as exc:
            raise CompressionError(f"the compressed data is corrupt ({exc})") from None
        if inflater.eof and inflater.unused_data:
            raise CompressionError("data followed the end of the compressed stream")
        self._held = inflater.unconsumed_tail
        self._full = len(plain) == room
        self.plain_in += len(plain)
        return plain

    # sending -------------------------------------------------------------------------
    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writelines([bytes(data)])

    def writelines(self, list_of_data: Iterable[bytes | bytearray | memoryview]) -> None:
        chunks = [bytes(chunk) for chunk in list_of_data]
        if self._close_after or self.below.is_closing():
            return
        self._waiting.append(chunks)
        if not self._compressing:
            self._send_waiting()

    def _send_waiting(self) -> None:
        """Compress and write the waiting writes in order, until one big enough to go to a
        worker thread (the rest then waits for it)."""
        while self._waiting:
            chunks = self._waiting.popleft()
            if sum(len(chunk) for chunk in chunks) >= OFFLOAD_OCTETS:
                self._compressing = True
                if self._busy is not None:
                    self._busy(True)
                future = asyncio.get_running_loop().run_in_executor(None, deflate_apart, chunks)
                future.add_done_callback(lambda done: self._compressed(done, chunks))
                return
            self._send(deflate_chunks(chunks), chunks)
        if self._close_after:
            self.below.close()

    def _compressed(self, done: asyncio.Future[bytes], chunks: list[bytes]) -> None:
        self._compressing = False
        if done.cancelled() or self.below.is_closing():
            self._waiting.clear()
            return
        error = done.exception()
        if error is not None:  # never half a reply: the stream cannot go on without these octets
            self._waiting.clear()
            self.below.abort()
            return
        self._send(done.result(), chunks)
        self._send_waiting()
        if not self._compressing and self._busy is not None:
            self._busy(False)

    def _send(self, data: bytes, chunks: list[bytes]) -> None:
        self.plain_out += sum(len(chunk) for chunk in chunks)
        self.octets_out += len(data)
        if data:
            self.below.write(data)

    # the transport below -------------------------------------------------------------
    def close(self) -> None:
        if self._compressing or self._waiting:
            self._close_after = True  # as a transport's close: what was written goes out first
            return
        self.below.close()

    def abort(self) -> None:
        self._waiting.clear()
        self.below.abort()

    def is_closing(self) -> bool:
        return self._close_after or self.below.is_closing()

    def pause_reading(self) -> None:
        self.below.pause_reading()

    def resume_reading(self) -> None:
        self.below.resume_reading()

    def is_reading(self) -> bool:
        return self.below.is_reading()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.below.get_extra_info(name, default)

    def get_write_buffer_size(self) -> int:
        """Octets not sent yet: the compressed ones below, and (plain) the ones waiting here."""
        return self.below.get_write_buffer_size() + sum(len(chunk) for chunks in self._waiting for chunk in chunks)

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self.below.set_write_buffer_limits(high, low)

    def can_write_eof(self) -> bool:
        return False  # the compressed stream has no half-close of its own

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.below.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self.below.get_protocol()
