#!/usr/bin/env python3
"""imap_floor.py - the least a Python IMAP4 server on uvloop can spend per command: it answers
each command with the bytes a real server gave to the same command, looked up in a dict.

  .venv/bin/python bench/imap_floor.py --upstream-port 31143 --port 32143 [--tls-port 32993
      --cert CERT --key KEY]

No parser, no store, no session state: a read, a split at the first space, a dict lookup and one
write per command, on the same event loop (uvloop) and the same socket options as postroom. A
command it has not seen yet is learned once from the upstream server (a real IMAP4 server, e.g.
bench/imap_node.py): the connection's commands so far are replayed there, then its reply is kept.
Run bench/imapload.py against it once to learn every command of a mode, then again to measure
(--server-pid PID: the second run never reaches the upstream). What it measures is the floor of
a server written in Python with asyncio's event loop: its CPU per operation against Dovecot's in
the same run says whether a target of a fraction of Dovecot's CPU can be met at all (docs/
performance.md, "IMAP4: the Python floor").
"""
from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import ssl

import uvloop

GREETING = b"* OK IMAP4rev1 floor ready\r\n"
LEARNED: dict[bytes, bytes] = {}  # command without its tag -> untagged replies + b"\0" + the tagged line's rest


async def read_reply(reader: asyncio.StreamReader, tag: bytes) -> tuple[bytes, bytes]:
    """Untagged replies (literals included) up to the line tagged `tag`, and that line without its tag."""
    out = bytearray()
    while True:
        line = await reader.readuntil(b"\r\n")
        if line.startswith(tag + b" "):
            return bytes(out), line[len(tag) + 1:]
        out += line
        if line.endswith(b"}\r\n") and b"{" in line:
            size = int(line[line.rindex(b"{") + 1:-3].rstrip(b"+"))
            out += await reader.readexactly(size)


class Upstream:
    """A connection to the real server, opened when a connection first sends a command not learned yet."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.sent = 0
        self.counter = 0

    async def ask(self, history: list[bytes], command: bytes) -> tuple[bytes, bytes]:
        if self.reader is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port, limit=1 << 26)
            await self.reader.readuntil(b"\r\n")
        for earlier in history[self.sent:]:
            await self._exchange(earlier)
        self.sent = len(history) + 1
        return await self._exchange(command)

    async def _exchange(self, command: bytes) -> tuple[bytes, bytes]:
        assert self.writer is not None and self.reader is not None
        self.counter += 1
        tag = b"U%d" % self.counter
        self.writer.write(tag + b" " + command + b"\r\n")
        return await read_reply(self.reader, tag)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class Floor(asyncio.Protocol):
    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream_address = upstream
        self.buffer = b""
        self.history: list[bytes] = []
        self.upstream: Upstream | None = None
        self.learning: asyncio.Task | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        transport.write(GREETING)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.learning is None:
            self.answer()

    def answer(self) -> None:
        while True:
            end = self.buffer.find(b"\r\n")
            if end < 0:
                return
            line, self.buffer = self.buffer[:end], self.buffer[end + 2:]
            tag, _, command = line.partition(b" ")
            reply = LEARNED.get(command)
            if reply is None:
                self.learning = asyncio.ensure_future(self.learn(tag, command))
                return
            untagged, _, rest = reply.partition(b"\0")
            self.transport.write(untagged + tag + b" " + rest)
            self.history.append(command)
            if command == b"LOGOUT":
                self.transport.close()
                return

    async def learn(self, tag: bytes, command: bytes) -> None:
        if self.upstream is None:
            self.upstream = Upstream(*self.upstream_address)
        untagged, rest = await self.upstream.ask(self.history, command)
        LEARNED[command] = untagged + b"\0" + rest
        self.learning = None
        self.buffer = tag + b" " + command + b"\r\n" + self.buffer
        self.answer()

    def connection_lost(self, exc) -> None:
        if self.upstream is not None:
            self.upstream.close()


async def main(a: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    servers = [await loop.create_server(lambda: Floor((a.upstream_host, a.upstream_port)), "127.0.0.1", a.port)]
    if a.tls_port:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.cert, a.key)
        servers.append(await loop.create_server(lambda: Floor((a.upstream_host, a.upstream_port)), "127.0.0.1",
                                                a.tls_port, ssl=ctx))
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("ready", os.getpid(), flush=True)
    await stop.wait()
    for server in servers:
        server.close()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--upstream-host", default="127.0.0.1")
    ap.add_argument("--upstream-port", type=int, required=True)
    ap.add_argument("--port", type=int, default=32143)
    ap.add_argument("--tls-port", type=int)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    uvloop.run(main(ap.parse_args()))
