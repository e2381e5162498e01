"""A listener for a binding behind a TCP load balancer that speaks the PROXY protocol.

It accepts connections itself, refuses any that does not come from a configured balancer
address, reads the PROXY header (v1 or v2) without reading one octet past it (MSG_PEEK, then
exactly the header's length), and only then hands the socket to asyncio, with TLS on an
implicit-TLS binding (the header comes before the TLS handshake). The session then sees the
client's address, not the balancer's: connection limits, failed-login blocks, the protocol
log, message tracking and the doctor all use it.
"""
from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import ssl
from typing import Any, Callable, Sequence

from ..protocol.proxy import MAX_HEADER, ProxyHeader, ProxyHeaderError, parse
from .tls_transport import tls_server_factory

log = logging.getLogger("postroom.node")
HEADER_TIMEOUT = 5.0  # seconds a balancer has to send the header
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def trusted(address: str, networks: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return any(ip.version == net.version and ip in net for net in networks)


async def read_header(loop: asyncio.AbstractEventLoop, conn: socket.socket) -> ProxyHeader:
    """The PROXY header at the start of `conn`, consumed (and nothing after it)."""
    while True:
        await _readable(loop, conn)
        data = conn.recv(MAX_HEADER, socket.MSG_PEEK)
        if not data:
            raise ProxyHeaderError("the balancer closed the connection before the PROXY header")
        header = parse(data)
        if header is not None:
            break
        # Incomplete: the rest is on its way. MSG_PEEK leaves the socket readable, so wait a
        # little rather than spin.
        await asyncio.sleep(0.005)
    left = header.length
    while left:
        chunk = conn.recv(left)  # the header octets were peeked: they are there
        if not chunk:
            raise ProxyHeaderError("the balancer closed the connection inside the PROXY header")
        left -= len(chunk)
    return header


async def _readable(loop: asyncio.AbstractEventLoop, conn: socket.socket) -> None:
    ready = loop.create_future()
    fd = conn.fileno()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(fd, wake)
    try:
        await ready
    finally:
        loop.remove_reader(fd)


class ProxyListener:
    """Stands where asyncio's Server would (close(), sockets) for one PROXY-protocol binding."""

    def __init__(self, factory: Callable[[], Any], host: str, port: int, networks: Sequence[Network],
                 tls: ssl.SSLContext | None, binding: str) -> None:
        self.factory = factory
        self.host, self.port = host, port
        self.networks = tuple(networks)
        self.tls = tls
        self.binding = binding
        self.sock: socket.socket | None = None
        self.accepting: asyncio.Task[None] | None = None
        self.pending: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Bind and listen (OSError as create_server would raise it), then accept."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind((self.host, self.port))
            sock.listen(1024)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self.sock = sock
        self.accepting = asyncio.get_running_loop().create_task(self._accept())

    @property
    def sockets(self) -> list[socket.socket]:
        return [self.sock] if self.sock is not None else []

    def close(self) -> None:
        if self.accepting is not None:
            self.accepting.cancel()
        for task in list(self.pending):
            task.cancel()
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    async def wait_closed(self) -> None:
        tasks = [t for t in (self.accepting, *self.pending) if t is not None]
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _accept(self) -> None:
        loop = asyncio.get_running_loop()
        assert self.sock is not None
        while True:
            try:
                conn, peer = await loop.sock_accept(self.sock)
            except asyncio.CancelledError:
                raise
            except OSError as exc:  # out of file descriptors, say: keep listening
                log.warning("PROXY listener %s cannot accept: %s", self.binding, exc)
                await asyncio.sleep(0.1)
                continue
            task = loop.create_task(self._admit(loop, conn, str(peer[0])))
            self.pending.add(task)
            task.add_done_callback(self.pending.discard)

    async def _admit(self, loop: asyncio.AbstractEventLoop, conn: socket.socket, balancer: str) -> None:
        conn.setblocking(False)
        if not trusted(balancer, self.networks):
            log.warning("PROXY listener %s: refused a connection from %s, which is not a configured load"
                        " balancer", self.binding, balancer)
            conn.close()
            return
        try:
            header = await asyncio.wait_for(read_header(loop, conn), HEADER_TIMEOUT)
        except (ProxyHeaderError, asyncio.TimeoutError, OSError) as exc:
            reason = "no PROXY header in time" if isinstance(exc, asyncio.TimeoutError) else str(exc)
            log.warning("PROXY listener %s: dropped a connection from %s: %s", self.binding, balancer, reason)
            conn.close()
            return
        except asyncio.CancelledError:
            conn.close()
            raise

        def made() -> Any:
            session = self.factory()
            if header.client_ip is not None:
                session.peer_override = (header.client_ip, header.client_port or 0)
            return session
        try:
            await loop.connect_accepted_socket(tls_server_factory(made, self.tls, 30) if self.tls else made, conn)
        except OSError as exc:  # a failed TLS handshake is logged by the TLS layer
            log.info("PROXY listener %s: cannot serve %s: %s", self.binding,
                     header.client_ip or balancer, exc.__class__.__name__)
            conn.close()
