#!/usr/bin/env python3
"""relay_floor.py - the least a Python relay on uvloop can spend per message: SMTP in, the
message on disk (fdatasync), SMTP out to a smart host over kept connections, the file removed.

  .venv/bin/python bench/relay_floor.py --port 31140 --smart-host 127.0.0.21:25 --spool DIR
      [--connections 8]

What a relay cannot do without, and nothing else: no parser beyond the verb, no routing, no
database, no tracking, no retries; the DATA octets go out as they came in (dot-stuffed already);
every reply is a constant. One file per accepted message (written, fdatasync'd, closed before the
250: the durability promise) and removed after the smart host's 250; a line per delivered
message in DIR/../delivered.log (unsynced, as a mail log). What it measures is the floor of a relay
written in Python with asyncio's event loop, against Postfix in the same run (bench/relay.py
--relay-servers floor,postfix,postroom; docs/performance.md, "Relay: the Python floor").
"""
from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket

import uvloop

EHLO_REPLY = (b"250-floor.localhost\r\n250-PIPELINING\r\n250-SIZE 36700160\r\n250-8BITMIME\r\n"
              b"250 ENHANCEDSTATUSCODES\r\n")
END = b"\r\n.\r\n"


class Relay:
    def __init__(self, spool: str, smart_host: tuple[str, int], connections: int) -> None:
        self.spool, self.smart_host = spool, smart_host
        self.queue: asyncio.Queue[tuple[str, bytes, list[bytes], bytes]] = asyncio.Queue()
        self.counter = 0
        self.log = open(os.path.join(os.path.dirname(spool.rstrip("/")), "delivered.log"), "ab", buffering=0)
        self.senders = [asyncio.ensure_future(self.sender()) for _ in range(connections)]

    def accept(self, sender: bytes, recipients: list[bytes], data: bytes) -> None:
        """On disk before the 250: one file, written and synced."""
        self.counter += 1
        path = os.path.join(self.spool, "%d.%d" % (os.getpid(), self.counter))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, b"%s\n%s\n" % (sender, b" ".join(recipients)) + data)
            os.fdatasync(fd)
        finally:
            os.close(fd)
        self.queue.put_nowait((path, sender, recipients, data))

    async def sender(self) -> None:
        while True:
            try:
                reader, writer = await asyncio.open_connection(*self.smart_host)
                writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                await reply(reader)
                writer.write(b"EHLO floor.localhost\r\n")
                await reply(reader)
                while True:
                    path, sender, recipients, data = await self.queue.get()
                    writer.write(b"MAIL FROM:%s\r\n" % sender
                                 + b"".join(b"RCPT TO:%s\r\n" % r for r in recipients) + b"DATA\r\n")
                    codes = [await reply(reader) for _ in range(len(recipients) + 2)]
                    if codes[-1] != b"354":
                        raise ConnectionError(codes)
                    writer.write(data + b".\r\n")
                    if await reply(reader) != b"250":
                        raise ConnectionError("not taken")
                    os.unlink(path)
                    self.log.write(b"sent %s\n" % b" ".join(recipients))
            except (OSError, ConnectionError, asyncio.IncompleteReadError):
                await asyncio.sleep(0.1)


async def reply(reader: asyncio.StreamReader) -> bytes:
    """A reply's code (its last line's)."""
    while True:
        line = await reader.readuntil(b"\r\n")
        if line[3:4] != b"-":
            return line[:3]


class Inbound(asyncio.Protocol):
    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self.buffer = b""
        self.in_data = False
        self.sender = b""
        self.recipients: list[bytes] = []

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        transport.write(b"220 floor.localhost ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        out = []
        while True:
            if self.in_data:
                end = self.buffer.find(END)  # the buffer starts with the CRLF before DATA's content
                if end < 0:
                    break
                body, self.buffer = self.buffer[2:end + 2], self.buffer[end + 5:]
                self.relay.accept(self.sender, self.recipients, body)
                self.in_data = False
                out.append(b"250 2.0.0 queued\r\n")
                continue
            end = self.buffer.find(b"\r\n")
            if end < 0:
                break
            line, self.buffer = self.buffer[:end], self.buffer[end + 2:]
            verb = line[:4].upper()
            if verb == b"MAIL":
                self.sender, self.recipients = line[10:].split(b" ")[0], []
                out.append(b"250 2.1.0 ok\r\n")
            elif verb == b"RCPT":
                self.recipients.append(line[8:].split(b" ")[0])
                out.append(b"250 2.1.5 ok\r\n")
            elif verb == b"DATA":
                self.in_data = True
                self.buffer = b"\r\n" + self.buffer  # so that "\r\n.\r\n" ends even an empty content
                out.append(b"354 go on\r\n")
            elif verb in (b"EHLO", b"HELO"):
                out.append(EHLO_REPLY)
            elif verb == b"QUIT":
                out.append(b"221 2.0.0 bye\r\n")
                self.transport.write(b"".join(out))
                self.transport.close()
                return
            else:
                out.append(b"250 2.0.0 ok\r\n")
        if out:
            self.transport.write(b"".join(out))


async def main(a: argparse.Namespace) -> None:
    os.makedirs(a.spool, exist_ok=True)
    host, _, port = a.smart_host.rpartition(":")
    relay = Relay(a.spool, (host, int(port)), a.connections)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Inbound(relay), a.host, a.port)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("ready", os.getpid(), flush=True)
    await stop.wait()
    server.close()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=31140)
    ap.add_argument("--smart-host", default="127.0.0.21:25")
    ap.add_argument("--spool", default="/tmp/relay-floor/spool")
    ap.add_argument("--connections", type=int, default=8)
    uvloop.run(main(ap.parse_args()))
