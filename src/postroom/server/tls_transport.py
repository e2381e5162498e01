"""TLS for the listeners and STARTTLS, small enough for ten thousand idle connections.

asyncio's TLS layer (and uvloop's) keeps a read buffer of 256 KB per connection, and, with
uvloop, some 25 KB per connection all told: more than an idle IMAP4 session itself. Here the
layer is one object per connection (`TlsLayer`, slotted) between the socket's transport and the
session: ciphertext is read into one buffer per thread (a read is handed on to OpenSSL's memory
BIO before the next read can happen on that loop), plaintext goes straight into the session's
own buffer, and what OpenSSL writes goes to the socket's transport at once. What is left per
connection is OpenSSL's own state (it releases its record buffers while idle) and this object.

`tls_server_factory` wraps a protocol factory for an implicit-TLS listener (the session sees
`connection_made` once the handshake is done, as with asyncio's `ssl=`); `start_tls` upgrades a
connection in place (STARTTLS/STLS), as `loop.start_tls` does.
"""
from __future__ import annotations

import asyncio
import logging
import ssl
import threading
from typing import Any, Callable

log = logging.getLogger("postroom.tls")
CIPHERTEXT_READ = 64 * 1024  # one read of ciphertext: four full TLS records
_per_thread = threading.local()
_READ_FAILURES = (ssl.SSLError, ssl.CertificateError)


def _ciphertext_buffer() -> memoryview:
    view = getattr(_per_thread, "view", None)
    if view is None:
        view = _per_thread.view = memoryview(bytearray(CIPHERTEXT_READ))
    return view


class TlsLayer(asyncio.BufferedProtocol, asyncio.Transport):
    """The socket transport's protocol and the application's transport, for one connection."""

    __slots__ = ("app", "raw", "tls", "incoming", "outgoing", "loop", "handshaken", "app_connected", "waiter",
                 "timer", "closing", "reading", "app_buffered")

    def __init__(self, app: asyncio.BaseProtocol, context: ssl.SSLContext, handshake_timeout: float | None,
                 waiter: asyncio.Future[None] | None = None) -> None:
        super().__init__()
        self.app = app
        self.raw: asyncio.Transport | None = None
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_side=True)
        self.loop = asyncio.get_running_loop()
        self.handshaken = False
        self.app_connected = waiter is not None  # an upgrade: the application is connected already
        self.waiter = waiter  # start_tls awaits it; None for a listener's connection
        self.timer: asyncio.TimerHandle | None = None
        if handshake_timeout:
            self.timer = self.loop.call_later(handshake_timeout, self._handshake_timed_out)
        self.closing = False
        self.reading = True  # what the application asked for
        self.app_buffered = isinstance(app, asyncio.BufferedProtocol)

    # the socket's side ---------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.raw = transport  # type: ignore[assignment]  # a stream transport
        # nothing to do until the client's hello arrives (a server speaks second)

    def get_buffer(self, sizehint: int) -> memoryview:
        return _ciphertext_buffer()

    def buffer_updated(self, nbytes: int) -> None:
        self.incoming.write(_ciphertext_buffer()[:nbytes])
        if self.handshaken:
            self._read_plaintext()
        else:
            self._handshake()

    def eof_received(self) -> bool | None:
        if not self.handshaken:
            self._failed(ConnectionResetError("the connection closed during the TLS handshake"))
            return False
        if self.app_connected and not self.closing:
            return self.app.eof_received()  # type: ignore[attr-defined]
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        if not self.handshaken:
            self._fail_waiter(exc or ConnectionResetError("the connection closed during the TLS handshake"))
        self.raw = None
        if self.app_connected:
            self.app_connected = False
            self.app.connection_lost(exc)
        self.app = None  # type: ignore[assignment]  # no cycle left for the collector

    def pause_writing(self) -> None:
        if self.app_connected:
            self.app.pause_writing()

    def resume_writing(self) -> None:
        if self.app_connected:
            self.app.resume_writing()

    # TLS --------------------------------------------------------------------------------
    def _handshake(self) -> None:
        try:
            self.tls.do_handshake()
        except ssl.SSLWantReadError:
            self._send_ciphertext()
            return
        except (*_READ_FAILURES, OSError) as exc:
            self._send_ciphertext()  # the alert, if OpenSSL made one
            self._failed(exc)
            return
        self.handshaken = True
        self._cancel_timer()
        self._send_ciphertext()
        if self.waiter is not None:
            if not self.waiter.done():
                self.waiter.set_result(None)
            self.waiter = None
        else:
            self.app_connected = True
            self.app.connection_made(self)
        if self.raw is not None and not self.closing:
            self._read_plaintext()  # the client may have sent its first command with its Finished

    def _read_plaintext(self) -> None:
        """Hand the application what OpenSSL decrypted, until it has no more or asks for a pause."""
        app, tls = self.app, self.tls
        while self.reading and not self.closing and self.app_connected:
            try:
                count: int
                if self.app_buffered:
                    buffer = app.get_buffer(-1)  # type: ignore[attr-defined]
                    count = tls.read(len(buffer), buffer)  # type: ignore[assignment]  # into a buffer: a count
                    if count:
                        app.buffer_updated(count)  # type: ignore[attr-defined]
                else:
                    data = tls.read(CIPHERTEXT_READ)
                    count = len(data)
                    if count:
                        app.data_received(data)  # type: ignore[attr-defined]
                if not count:  # the peer's close_notify
                    self._peer_closed()
                    return
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                self._peer_closed()
                return
            except (*_READ_FAILURES, OSError) as exc:
                self._failed(exc)
                return
        self._send_ciphertext()  # a TLS 1.3 key update's answer, if any

    def _peer_closed(self) -> None:
        keep_open = self.app.eof_received() if self.app_connected else False  # type: ignore[attr-defined]
        if not keep_open:
            self.close()

    def _send_ciphertext(self) -> None:
        data = self.outgoing.read()
        if data and self.raw is not None and not self.raw.is_closing():
            self.raw.write(data)

    def _handshake_timed_out(self) -> None:
        self.timer = None
        if not self.handshaken:
            self._failed(asyncio.TimeoutError())

    def _cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _fail_waiter(self, exc: BaseException) -> None:
        if self.waiter is not None:
            if not self.waiter.done():
                self.waiter.set_exception(exc)
            self.waiter = None

    def _failed(self, exc: BaseException) -> None:
        """A handshake or record that cannot go on: drop the connection."""
        if not self.handshaken:
            if self.waiter is None:  # a listener's connection (an upgrade's caller says it itself)
                peer = self.raw.get_extra_info("peername") if self.raw is not None else None
                log.info("TLS handshake with %s failed: %s", peer[0] if peer else "?", exc.__class__.__name__)
            self._fail_waiter(exc)
        self._cancel_timer()
        self.closing = True
        if self.raw is not None:
            self.raw.abort()

    # the application's transport ------------------------------------------------------------
    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self.closing or self.raw is None or not data:
            return
        try:
            self.tls.write(data)
        except (*_READ_FAILURES, OSError) as exc:
            self._failed(exc)
            return
        self._send_ciphertext()

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def close(self) -> None:
        """close_notify, then the socket closes once what is queued is sent."""
        if self.closing:
            return
        self.closing = True
        self._cancel_timer()
        if self.raw is None:
            return
        if self.handshaken:
            try:
                self.tls.unwrap()
            except (ssl.SSLWantReadError, *_READ_FAILURES, OSError):
                pass  # not waiting for the peer's close_notify
            self._send_ciphertext()
        self.raw.close()

    def abort(self) -> None:
        self.closing = True
        self._cancel_timer()
        if self.raw is not None:
            self.raw.abort()

    def is_closing(self) -> bool:
        return self.closing or self.raw is None or self.raw.is_closing()

    def can_write_eof(self) -> bool:
        return False

    def pause_reading(self) -> None:
        self.reading = False
        if self.raw is not None:
            self.raw.pause_reading()

    def resume_reading(self) -> None:
        if self.reading:
            return
        self.reading = True
        if self.raw is not None:
            self.raw.resume_reading()
            # what OpenSSL still holds (decrypted, or read before the pause) goes on now
            self.loop.call_soon(self._resume_plaintext)

    def _resume_plaintext(self) -> None:
        if self.handshaken and self.raw is not None:
            self._read_plaintext()

    def is_reading(self) -> bool:
        return self.reading and not self.is_closing()

    def get_write_buffer_size(self) -> int:
        return self.raw.get_write_buffer_size() if self.raw is not None else 0

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self.raw.get_write_buffer_limits() if self.raw is not None else (0, 0)

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        if self.raw is not None:
            self.raw.set_write_buffer_limits(high, low)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.app = protocol
        self.app_buffered = isinstance(protocol, asyncio.BufferedProtocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self.app

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        tls = self.tls
        if name == "ssl_object":
            return tls
        if name == "sslcontext":
            return tls.context
        if name == "cipher":
            return tls.cipher()
        if name == "peercert":
            return tls.getpeercert()
        if name == "compression":
            return tls.compression()
        return self.raw.get_extra_info(name, default) if self.raw is not None else default


def tls_server_factory(factory: Callable[[], asyncio.BaseProtocol], context: ssl.SSLContext,
                       handshake_timeout: float | None) -> Callable[[], TlsLayer]:
    """For `loop.create_server` without `ssl=`: each connection's session behind a TlsLayer."""
    return lambda: TlsLayer(factory(), context, handshake_timeout)


async def start_tls(transport: asyncio.Transport, app: asyncio.BaseProtocol, context: ssl.SSLContext,
                    handshake_timeout: float | None) -> TlsLayer:
    """Upgrade a plain connection in place; the TlsLayer the application writes to from now on.
    Raises as `loop.start_tls` does when the handshake fails (the connection is then dropped)."""
    waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    layer = TlsLayer(app, context, handshake_timeout, waiter)
    transport.pause_reading()  # nothing reaches the layer before it is in place
    transport.set_protocol(layer)
    layer.connection_made(transport)
    transport.resume_reading()
    try:
        await waiter
    except BaseException:
        transport.abort()
        raise
    return layer
