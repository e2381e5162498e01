"""What IMAP4 COMPRESS=DEFLATE costs (server/compression.py), measured in-process:

- memory: the RSS growth over N compressed layers (the inflater is all a compressed connection
  keeps; tracemalloc cannot see zlib's own allocations), after an idle client's few commands and
  after 64 KB of client input (the inflater's window full);
- the side-channel defence: octets and CPU time of a header listing compressed one context per
  message against all in one context, and of a flag synchronisation of 10,000 messages.

Usage: PYTHONPATH=src .venv/bin/python bench/imap_compress_cost.py [N]
"""
from __future__ import annotations

import os
import random
import sys
import time
import zlib

from postroom.server.compression import CompressedTransport, deflate_chunks


def rss_kb() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


class Below:
    """A transport that drops what is written."""

    def write(self, data: bytes) -> None:
        pass


def memory_per_layer(client_plain: bytes, count: int) -> float:
    deflater = zlib.compressobj(6, zlib.DEFLATED, -15)
    sent = deflater.compress(client_plain) + deflater.flush(zlib.Z_SYNC_FLUSH)
    deflate_chunks([b"warm up the thread's compressor"])
    kept = []
    before = rss_kb()
    for _ in range(count):
        layer = CompressedTransport(Below())  # type: ignore[arg-type]
        layer.inflate(sent, 64 * 1024)
        while layer.held:
            layer.inflate(b"", 64 * 1024)
        layer.write(b"* 1 EXISTS\r\n")
        kept.append(layer)
    return (rss_kb() - before) / count


def header_blocks(count: int) -> list[bytes]:
    """`* n FETCH (UID n FLAGS (\\Seen) BODY[HEADER] {..}` replies of plausible header blocks."""
    rng = random.Random(1)
    names = ["alice", "bob", "carol", "dave", "erin"]
    out = []
    for n in range(1, count + 1):
        a, b = rng.sample(names, 2)
        header = (
            f"Return-Path: <{a}@example.net>\r\nReceived: from mx{n % 3}.example.net (mx{n % 3}.example.net "
            f"[192.0.2.{n % 250}])\r\n\tby mail.example.com with ESMTPS id {rng.getrandbits(64):x}\r\n"
            f"\tfor <{b}@example.com>; Mon, 7 Dec 2026 10:{n % 60:02d}:00 +0000\r\n"
            f"From: {a.title()} <{a}@example.net>\r\nTo: {b.title()} <{b}@example.com>\r\n"
            f"Subject: Report number {n} about the quarterly figures\r\nDate: Mon, 7 Dec 2026 10:{n % 60:02d}:00 +0000"
            f"\r\nMessage-ID: <{rng.getrandbits(80):x}@example.net>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n").encode()
        out.append(b"* %d FETCH (UID %d FLAGS (\\Seen) BODY[HEADER] {%d}\r\n%s)\r\n" % (n, n, len(header), header))
    return out


def cpu_ms(pieces: list[bytes], rounds: int = 20) -> float:
    best = float("inf")
    for _ in range(5):
        started = time.process_time()
        for _ in range(rounds):
            deflate_chunks(pieces)
        best = min(best, (time.process_time() - started) / rounds)
    return best * 1000


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 4000
    idle = b"a CAPABILITY\r\nb SELECT INBOX\r\nc UID FETCH 1:* (FLAGS)\r\nd IDLE\r\n"
    full = os.urandom(32 * 1024).hex().encode()
    print(f"memory per compressed connection (RSS, N={count}): logged in and idling "
          f"{memory_per_layer(idle, count):.1f} KB; after 64 KB of client input {memory_per_layer(full, count):.1f} KB")
    blocks = header_blocks(200)
    plain = sum(map(len, blocks))
    alone, together = len(deflate_chunks(blocks)), len(deflate_chunks([b"".join(blocks)]))
    print(f"200 header blocks, {plain} octets: one context per message {alone} ({alone / plain:.0%}, "
          f"{cpu_ms(blocks):.1f} ms CPU); one context {together} ({together / plain:.0%}, "
          f"{cpu_ms([b''.join(blocks)]):.1f} ms CPU)")
    flags = b"".join(b"* %d FETCH (UID %d FLAGS (\\Seen))\r\n" % (n, n) for n in range(1, 10001))
    squeezed = len(deflate_chunks([flags]))
    print(f"flags of 10,000 messages, {len(flags)} octets: {squeezed} ({squeezed / len(flags):.0%}, "
          f"{cpu_ms([flags], 10):.1f} ms CPU)")


if __name__ == "__main__":
    main()
