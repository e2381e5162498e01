#!/usr/bin/env python3
"""idlemem.py - server memory per idle IMAP4 connection over TLS, and wake-up while they idle.

  bench/idlemem.py --port 31993 --users-file USERS -c 10000 --server-pid PID
      --deliver smtp --smtp-port 31225   (or --deliver maildir --maildir-root DIR)

Loopback only. Opens --concurrency implicit-TLS connections (users round-robin from --users-file,
lines "user:password"), each LOGIN, SELECT INBOX, IDLE, and holds them. Then:
1. memory: the server's processes (--server-pid and every descendant: for Dovecot its imap,
   imap-login, imap-hibernate, auth... processes) summed from /proc/PID/smaps_rollup, PSS (shared
   pages counted once) and RSS, after --settle seconds, minus the same sum taken before the first
   connection, divided by the connections: KB per idle connection;
2. wake-up: one message is delivered to each of --sample mailboxes in turn (over SMTP, or written
   into the Maildir as an LDA does); every session idling on that mailbox must read its
   `* n EXISTS` within --wake-limit seconds of the delivery's end.
One JSON line on stdout. The client stays lean (one asyncio process, TLS over ssl.MemoryBIO, no
read buffer of its own per connection), so it can hold 10,000 connections itself; it raises its
open-files limit as far as the hard limit allows.
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import ipaddress
import json
import os
import pwd
import re
import resource
import socket
import ssl
import sys
import time

EXISTS = re.compile(rb"^\* (\d+) EXISTS\r?$")
SENDER = "idlemem@bench.test"


class ProtocolError(Exception):
    pass


class TlsLines(asyncio.Protocol):
    """One client connection: TLS through memory BIOs, the server's lines kept with the time
    each was read. Small on purpose: 10,000 of these live in one process."""

    __slots__ = ("transport", "tls", "incoming", "outgoing", "ready", "handshaken", "lines", "waiter", "partial",
                 "closed")

    def __init__(self, ctx: ssl.SSLContext, server_name: str) -> None:
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = ctx.wrap_bio(self.incoming, self.outgoing, server_side=False, server_hostname=server_name)
        self.transport: asyncio.Transport | None = None
        self.ready: asyncio.Future = asyncio.get_running_loop().create_future()
        self.handshaken = False
        self.lines: collections.deque = collections.deque()
        self.waiter: asyncio.Future | None = None
        self.partial = b""
        self.closed = False

    def connection_made(self, transport) -> None:
        self.transport = transport
        self._handshake()

    def _handshake(self) -> None:
        try:
            self.tls.do_handshake()
        except ssl.SSLWantReadError:
            self._send_out()
            return
        except (ssl.SSLError, OSError) as exc:
            if not self.ready.done():
                self.ready.set_exception(exc)
            return
        self._send_out()
        self.handshaken = True
        if not self.ready.done():
            self.ready.set_result(None)
        self._read()

    def data_received(self, data: bytes) -> None:
        self.incoming.write(data)
        if not self.handshaken:
            self._handshake()
        else:
            self._read()

    def _read(self) -> None:
        got = []
        while True:
            try:
                chunk = self.tls.read(65536)
            except ssl.SSLWantReadError:
                break
            except (ssl.SSLError, OSError):
                self.closed = True
                break
            if not chunk:
                self.closed = True
                break
            got.append(chunk)
        self._send_out()  # a TLS 1.3 key update or alert may want an answer
        if got:
            now = time.perf_counter()
            data = self.partial + b"".join(got)
            *complete, self.partial = data.split(b"\n")
            for line in complete:
                self.lines.append((now, line + b"\n"))
        self._wake()

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def _send_out(self) -> None:
        data = self.outgoing.read()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def connection_lost(self, exc) -> None:
        self.closed = True
        if not self.ready.done():
            self.ready.set_exception(exc or ConnectionError("closed during the TLS handshake"))
        self._wake()

    def send(self, data: bytes) -> None:
        self.tls.write(data)
        self._send_out()

    async def line(self, timeout: float) -> tuple[float, bytes]:
        deadline = time.perf_counter() + timeout
        while not self.lines:
            if self.closed:
                raise ProtocolError("connection closed")
            left = deadline - time.perf_counter()
            if left <= 0:
                raise asyncio.TimeoutError()
            self.waiter = asyncio.get_running_loop().create_future()
            try:
                await asyncio.wait_for(self.waiter, left)
            except asyncio.TimeoutError:
                pass
            self.waiter = None
        return self.lines.popleft()

    async def command(self, tag: bytes, text: bytes, timeout: float) -> bytes:
        self.send(tag + b" " + text + b"\r\n")
        while True:
            _, line = await self.line(timeout)
            if line.startswith(tag + b" "):
                if not line.startswith(tag + b" OK"):
                    raise ProtocolError("%s -> %r" % (text.split(b" ")[0].decode(), line[:200]))
                return line

    def close(self) -> None:
        if self.transport is not None:
            self.transport.abort()


def quoted(s: str) -> bytes:
    return b'"' + s.encode().replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


class Idler:
    __slots__ = ("user", "conn")

    def __init__(self, user: str, conn: TlsLines) -> None:
        self.user, self.conn = user, conn


async def open_idler(args, ctx: ssl.SSLContext, user: str, password: str) -> Idler:
    loop = asyncio.get_running_loop()
    _, conn = await asyncio.wait_for(loop.create_connection(lambda: TlsLines(ctx, args.tls_servername),
                                                            args.host, args.port), args.io_timeout)
    try:
        await asyncio.wait_for(conn.ready, args.io_timeout)
        _, greeting = await conn.line(args.io_timeout)
        if not greeting.startswith(b"* OK"):
            raise ProtocolError("greeting %r" % greeting[:200])
        await conn.command(b"a1", b"LOGIN " + quoted(user) + b" " + quoted(password), args.io_timeout)
        await conn.command(b"a2", b"SELECT INBOX", args.io_timeout)
        conn.send(b"a3 IDLE\r\n")
        while True:
            _, line = await conn.line(args.io_timeout)
            if line.startswith(b"+"):
                break
            if line.startswith(b"a3 "):
                raise ProtocolError("IDLE -> %r" % line[:200])
        conn.lines.clear()
    except BaseException:
        conn.close()
        raise
    return Idler(user, conn)


# ---- the server's memory ----------------------------------------------------------------------
def process_tree(root: int) -> list[int]:
    children: dict[int, list[int]] = collections.defaultdict(list)
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        children[ppid].append(int(name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, ()))
    return tree


def memory(root: int) -> dict:
    """PSS and RSS in KB over the process tree of `root`, in all and by process name."""
    total = {"pss_kb": 0, "rss_kb": 0, "processes": 0}
    by_name: dict[str, dict] = {}
    for pid in process_tree(root):
        try:
            with open(f"/proc/{pid}/comm") as f:
                name = f.read().strip()
            with open(f"/proc/{pid}/smaps_rollup") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line and not line.startswith(" "))
        except OSError:
            continue
        pss, rss = int(fields["Pss"].split()[0]), int(fields["Rss"].split()[0])
        entry = by_name.setdefault(name, {"pss_kb": 0, "rss_kb": 0, "processes": 0})
        for d in (total, entry):
            d["pss_kb"] += pss
            d["rss_kb"] += rss
            d["processes"] += 1
    total["by_name"] = by_name
    return total


def own_rss_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


# ---- deliveries -------------------------------------------------------------------------------
def message(number: int, user: str) -> bytes:
    return (b"From: %s\r\nTo: %s\r\nSubject: idle memory wake-up %d\r\nMessage-ID: <idlemem-%d-%d@bench.test>\r\n"
            b"\r\nA message to wake the sessions idling on this mailbox.\r\n"
            % (SENDER.encode(), user.encode(), number, os.getpid(), number))


async def smtp_deliver(host: str, port: int, rcpt: str, data: bytes, timeout: float) -> float:
    """One SMTP transaction; the time the 250 after DATA was read."""
    r, w = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)

    async def reply(want: bytes) -> None:
        while True:
            line = await asyncio.wait_for(r.readline(), timeout)
            if len(line) < 4 or not line.startswith(want):
                raise ProtocolError("SMTP: %r (wanted %s)" % (line[:200], want.decode()))
            if line[3:4] != b"-":
                return
    try:
        await reply(b"220")
        for line, want in ((b"EHLO idlemem.bench.test", b"250"), (b"MAIL FROM:<%s>" % SENDER.encode(), b"250"),
                           (b"RCPT TO:<%s>" % rcpt.encode(), b"250"), (b"DATA", b"354")):
            w.write(line + b"\r\n")
            await reply(want)
        w.write(data.replace(b"\r\n.", b"\r\n..") + b".\r\n")
        await reply(b"250")
        done = time.perf_counter()
        w.write(b"QUIT\r\n")
        return done
    finally:
        w.close()


def maildir_deliver(root: str, user: str, data: bytes, owner: tuple[int, int], number: int) -> float:
    """As an LDA writes it: into tmp/, then renamed into new/; the time of the rename."""
    maildir = os.path.join(root, user, "Maildir")
    now = time.time()
    name = "%d.M%dP%dQ%d.idlemem,S=%d" % (now, int(now * 1e6) % 1000000, os.getpid(), number, len(data))
    tmp = os.path.join(maildir, "tmp", name)
    with open(tmp, "wb") as f:
        f.write(data)
    os.chown(tmp, *owner)
    os.rename(tmp, os.path.join(maildir, "new", name))
    return time.perf_counter()


async def woken(idler: Idler, limit: float) -> float:
    """Seconds from now-ish: the time its `* n EXISTS` was read (perf_counter)."""
    while True:
        at, line = await idler.conn.line(limit)
        if EXISTS.match(line):
            return at


# ---- the run ----------------------------------------------------------------------------------
def client_context(args) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=args.cafile) if args.cafile else ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if not args.cafile:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def load_users(path: str) -> list[tuple[str, str]]:
    with open(path) as f:
        return [tuple(line.rstrip("\n").split(":", 1)) for line in f if line.strip()]  # type: ignore[misc]


async def run(args) -> dict:
    users = load_users(args.users_file)
    ctx = client_context(args)
    res: dict = {"tool": "idlemem", "label": args.label, "target": f"{args.host}:{args.port}",
                 "connections_wanted": args.concurrency, "users": min(len(users), args.concurrency),
                 "deliver": args.deliver, "errors": 0}
    idlers: list[Idler] = []
    if args.server_pid:
        await asyncio.sleep(args.settle_before)
        res["before"] = memory(args.server_pid)
    client_before = own_rss_kb()
    t0 = time.perf_counter()
    failures: list[str] = []

    async def one(i: int) -> None:
        user, password = users[i % len(users)]
        try:
            idlers.append(await open_idler(args, ctx, user, password))
        except (ProtocolError, OSError, asyncio.TimeoutError, ssl.SSLError) as exc:
            failures.append(f"{type(exc).__name__}: {exc}")
    # The first session of every user alone (an uncached login may cost the server tens of ms),
    # then the rest --batch at a time.
    order = list(range(args.concurrency))
    for first in range(0, len(order), args.batch):
        await asyncio.gather(*(one(i) for i in order[first:first + args.batch]))
        if len(failures) > args.max_errors:
            break
    res["connect_s"] = round(time.perf_counter() - t0, 1)
    res["connections"] = len(idlers)
    res["errors"] = len(failures)
    if failures:
        res["first_error"] = failures[0]
    res["client_kb_per_connection"] = round((own_rss_kb() - client_before) / max(1, len(idlers)), 1)
    if args.server_pid and idlers:
        await asyncio.sleep(args.settle)
        after = memory(args.server_pid)
        res["after"] = after
        before = res["before"]
        res["server_pss_mb"] = round(after["pss_kb"] / 1024, 1)
        res["server_rss_mb"] = round(after["rss_kb"] / 1024, 1)
        res["pss_growth_mb"] = round((after["pss_kb"] - before["pss_kb"]) / 1024, 1)
        res["rss_growth_mb"] = round((after["rss_kb"] - before["rss_kb"]) / 1024, 1)
        res["kb_per_connection_pss"] = round((after["pss_kb"] - before["pss_kb"]) / len(idlers), 1)
        res["kb_per_connection_rss"] = round((after["rss_kb"] - before["rss_kb"]) / len(idlers), 1)
    await wake_sample(args, idlers, users, res)
    for idler in idlers:
        idler.conn.close()
    await asyncio.sleep(0.5)
    woke = res.get("wakes", 0) > 0 and res.get("wakes") == res.get("wakes_expected")
    res["ok"] = (not failures and len(idlers) == args.concurrency and woke
                 and (res.get("wake_ms_max") or 0) <= args.wake_limit * 1000)
    return res


async def wake_sample(args, idlers: list[Idler], users: list[tuple[str, str]], res: dict) -> None:
    """One delivery to each of --sample mailboxes; every idler of that mailbox must wake."""
    by_user: dict[str, list[Idler]] = collections.defaultdict(list)
    for idler in idlers:
        by_user[idler.user].append(idler)
    step = max(1, len(by_user) // max(1, args.sample))
    sample = sorted(by_user)[::step][:args.sample]
    owner = (0, 0)
    if args.deliver == "maildir" and sample:
        entry = pwd.getpwnam(args.maildir_owner)
        owner = (entry.pw_uid, entry.pw_gid)
    waits: list[float] = []
    expected = 0
    late: list[str] = []
    for number, user in enumerate(sample):
        data = message(number, user)
        watchers = by_user[user]
        expected += len(watchers)
        try:
            pending = [asyncio.ensure_future(woken(i, args.io_timeout)) for i in watchers]
            if args.deliver == "smtp":
                done = await smtp_deliver(args.host, args.smtp_port, user, data, args.io_timeout)
            else:
                done = maildir_deliver(args.maildir_root, user, data, owner, number)
            for at in await asyncio.gather(*pending):
                waits.append(max(0.0, at - done))
        except (ProtocolError, OSError, asyncio.TimeoutError) as exc:
            late.append(f"{user}: {type(exc).__name__}: {exc}")
    waits.sort()
    res["sample_mailboxes"] = len(sample)
    res["wakes_expected"] = expected
    res["wakes"] = len(waits)
    if waits:
        res["wake_ms_p50"] = round(waits[len(waits) // 2] * 1000, 1)
        res["wake_ms_p99"] = round(waits[min(len(waits) - 1, int(len(waits) * 0.99))] * 1000, 1)
        res["wake_ms_max"] = round(waits[-1] * 1000, 1)
    if late:
        res["errors"] += len(late)
        res.setdefault("first_error", late[0])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True, help="the implicit-TLS IMAP port")
    ap.add_argument("--tls-servername", default="localhost")
    ap.add_argument("--cafile", help="verify the server certificate against this CA (default: no verification)")
    ap.add_argument("--users-file", required=True, help="lines 'user:password'")
    ap.add_argument("--concurrency", "-c", type=int, default=1000, help="idle connections")
    ap.add_argument("--batch", type=int, default=100, help="connections opened at once")
    ap.add_argument("--server-pid", type=int, help="server master pid: memory over its process tree")
    ap.add_argument("--settle-before", type=float, default=1.0, help="seconds before the baseline")
    ap.add_argument("--settle", type=float, default=5.0, help="seconds between the last IDLE and the measurement")
    ap.add_argument("--deliver", choices=["smtp", "maildir"], required=True)
    ap.add_argument("--smtp-port", type=int, help="--deliver smtp: the server's SMTP port (no TLS, no AUTH)")
    ap.add_argument("--maildir-root", help="--deliver maildir: <root>/<user>/Maildir")
    ap.add_argument("--maildir-owner", default="benchmail")
    ap.add_argument("--sample", type=int, default=20, help="mailboxes that get one message each")
    ap.add_argument("--wake-limit", type=float, default=1.0, help="seconds a wake-up may take at most")
    ap.add_argument("--io-timeout", type=float, default=30.0)
    ap.add_argument("--max-errors", type=int, default=0)
    ap.add_argument("--label", default="")
    args = ap.parse_args(argv)
    if not all(ipaddress.ip_address(ai[4][0]).is_loopback for ai in socket.getaddrinfo(args.host, args.port)):
        ap.error(f"refusing non-loopback target {args.host}")
    if args.deliver == "smtp" and not args.smtp_port:
        ap.error("--deliver smtp needs --smtp-port")
    if args.deliver == "maildir" and not args.maildir_root:
        ap.error("--deliver maildir needs --maildir-root")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < args.concurrency + 100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, args.concurrency + 100), hard))
    try:
        import uvloop
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    res = asyncio.run(run(args))
    print(json.dumps(res), flush=True)
    if not res["ok"]:
        print("idlemem: FAILED: %s" % res.get("first_error", "see the result line"), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
