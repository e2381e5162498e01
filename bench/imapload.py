#!/usr/bin/env python3
"""imapload.py - bounded, loopback-only IMAP4 load generator (the IMAP sibling of the kit's mailload.py).

One request at a time per connection (no pipelining): send a command, read every untagged reply
and literal up to its tagged reply, check the tagged OK and the counts, then the next command.
Every read and write has a timeout (--io-timeout); a run stops by itself (--duration, --max-ops).
One JSON line of results on stdout, with the same fields as mailload's (ops_per_s, messages_per_s,
mb_per_s, latencies, server_cpu_ms_per_op over the --server-pid process tree, client and host CPU):
the accounting is the kit's own code (mailload.Accounting), imported from the kit.

Modes (one op in brackets):
  imap-login    connect [STARTTLS|implicit TLS] LOGIN LOGOUT                        [one login]
  imap-headers  SELECT INBOX; FETCH 1:N (UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (...)])
                on a logged-in session                                              [SELECT + FETCH]
  imap-bodies   FETCH a:b (BODY.PEEK[]) of --bodies messages, sliding over the mailbox [one FETCH]
  imap-search   SEARCH UNSEEN, the count checked against --expect-unseen           [one SEARCH]
  imap-store    STORE n +FLAGS (\\Flagged), then STORE n -FLAGS (\\Flagged), n walking the
                mailbox; the FETCH FLAGS reply checked                             [one STORE]
  imap-mixed    a whole session: connect [TLS] LOGIN SELECT, FETCH of N headers, SEARCH
                UNSEEN, FETCH of 3 bodies, STORE +FLAGS and -FLAGS, LOGOUT         [one session]
The session modes log in and SELECT before the measured window (one session per worker, users
round-robin) and LOGOUT after it; a session that fails is reopened inside the window.
Exit status 2 when the run failed (an unexpected reply beyond --max-errors, no ops, hung workers).
"""
from __future__ import annotations

import argparse
import asyncio
import importlib.util
import ipaddress
import json
import os
import re
import resource
import socket
import ssl
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
KIT = os.environ.get("BENCH_KIT", os.path.normpath(os.path.join(HERE, "..", "..", "shared", "bench")))
VERSION = "1.0"
MODES = ("imap-login", "imap-headers", "imap-bodies", "imap-search", "imap-store", "imap-mixed")
SESSION_MODES = ("imap-headers", "imap-bodies", "imap-search", "imap-store")
# What a desktop client asks for to draw a folder's message list.
HEADER_FIELDS = b"(From To Cc Subject Date Message-ID References In-Reply-To Content-Type)"
LITERAL_AT_END = re.compile(rb"\{(\d+)\+?\}\r\n$")
FETCH_LINE = re.compile(rb"^\* (\d+) FETCH ")


def kit_mailload():
    """The kit's mailload module: the same CPU accounting, users files and TLS context."""
    path = os.path.join(KIT, "mailload.py")
    spec = importlib.util.spec_from_file_location("kit_mailload", path)
    if spec is None or spec.loader is None:
        sys.exit(f"the shared bench kit's mailload.py is not at {path} (set BENCH_KIT)")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ML = kit_mailload()


class ProtocolError(Exception):
    pass


class Reply:
    """The untagged lines of one command (each with its literals) and the tagged status line."""
    __slots__ = ("untagged", "tagged")

    def __init__(self) -> None:
        self.untagged: list[tuple[bytes, list[bytes]]] = []
        self.tagged = b""


class Session:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeout: float) -> None:
        self.r, self.w, self.t = reader, writer, timeout
        self.n = 0
        self.bytes_in = 0

    async def line(self) -> bytes:
        data = await asyncio.wait_for(self.r.readline(), self.t)
        if not data.endswith(b"\n"):
            raise ProtocolError("connection closed by the server (partial line %r)" % data[:80])
        self.bytes_in += len(data)
        return data

    async def response_line(self) -> tuple[bytes, list[bytes]]:
        """One logical line: its text (literals replaced by their {n} markers) and its literals."""
        text, literals = b"", []
        while True:
            part = await self.line()
            text += part
            m = LITERAL_AT_END.search(part)
            if not m:
                return text, literals
            size = int(m.group(1))
            literals.append(await asyncio.wait_for(self.r.readexactly(size), self.t))
            self.bytes_in += size

    async def command(self, cmd: bytes, what: str | None = None) -> Reply:
        self.n += 1
        tag = b"a%d" % self.n
        self.w.write(tag + b" " + cmd + b"\r\n")
        await asyncio.wait_for(self.w.drain(), self.t)
        reply = Reply()
        while True:
            text, literals = await self.response_line()
            if text.startswith(tag + b" "):
                reply.tagged = text
                break
            if text.startswith(b"+"):
                raise ProtocolError("%s: unexpected continuation %r" % (what or cmd[:20], text[:120]))
            reply.untagged.append((text, literals))
        if not reply.tagged[len(tag) + 1:].startswith(b"OK"):
            raise ProtocolError("%s -> %r" % (what or cmd.split(b" ")[0].decode(), reply.tagged[:200]))
        return reply

    def close(self) -> None:
        try:
            self.w.close()
        except Exception:  # noqa: BLE001 - closing a broken connection
            pass


def quoted(s: str) -> bytes:
    return b'"' + s.encode().replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


async def connect(args, ctx, user: str, pw: str) -> Session:
    implicit = args.tls == "implicit"
    r, w = await asyncio.wait_for(asyncio.open_connection(
        args.host, args.port, ssl=ctx if implicit else None,
        server_hostname=args.tls_servername if implicit else None, limit=64 * 1024 * 1024), args.io_timeout)
    sock = w.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
    s = Session(r, w, args.io_timeout)
    try:
        greeting = await s.line()
        if not greeting.startswith(b"* OK"):
            raise ProtocolError("greeting %r" % greeting[:200])
        if args.tls == "starttls":
            await s.command(b"STARTTLS")
            await asyncio.wait_for(w.start_tls(ctx, server_hostname=args.tls_servername), args.io_timeout)
        await s.command(b"LOGIN " + quoted(user) + b" " + quoted(pw), "LOGIN")
    except BaseException:
        s.close()
        raise
    return s


async def logout(s: Session) -> None:
    try:
        reply = await s.command(b"LOGOUT")
        if not any(t.startswith(b"* BYE") for t, _ in reply.untagged):
            raise ProtocolError("LOGOUT without * BYE")
    finally:
        s.close()


async def select(s: Session, args) -> int:
    reply = await s.command(b"SELECT INBOX")
    exists = [int(t.split()[1]) for t, _ in reply.untagged if t.rstrip().endswith(b" EXISTS")]
    if not exists:
        raise ProtocolError("SELECT INBOX without * n EXISTS")
    if args.expect_messages is not None and exists[-1] != args.expect_messages:
        raise ProtocolError("SELECT INBOX: %d messages, expected %d" % (exists[-1], args.expect_messages))
    return exists[-1]


def fetches(reply: Reply) -> list[tuple[int, bytes, list[bytes]]]:
    out = []
    for text, literals in reply.untagged:
        m = FETCH_LINE.match(text)
        if m:
            out.append((int(m.group(1)), text, literals))
    return out


async def fetch_headers(s: Session, args, st) -> dict[int, bytes]:
    """FETCH the header fields of 1:N; returns each message's FETCH line (its FLAGS)."""
    n = args.headers
    reply = await s.command(b"FETCH 1:%d (UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS %s])" % (n, HEADER_FIELDS),
                            "FETCH headers")
    got = fetches(reply)
    if sorted(msn for msn, _, _ in got) != list(range(1, n + 1)):
        raise ProtocolError("FETCH 1:%d answered %d FETCH replies" % (n, len(got)))
    for msn, _, literals in got:
        if len(literals) != 1 or b"Subject:" not in literals[0]:
            raise ProtocolError("FETCH %d: no header fields literal with Subject" % msn)
        st["bytes"] += len(literals[0])
    st["messages"] += n
    return {msn: text for msn, text, _ in got}


async def fetch_bodies(s: Session, args, st, first: int, count: int) -> None:
    last = first + count - 1
    reply = await s.command(b"FETCH %d:%d (BODY.PEEK[])" % (first, last), "FETCH bodies")
    got = fetches(reply)
    if sorted(msn for msn, _, _ in got) != list(range(first, last + 1)):
        raise ProtocolError("FETCH %d:%d answered %d FETCH replies" % (first, last, len(got)))
    for msn, _, literals in got:
        size = len(literals[0]) if len(literals) == 1 else -1
        if args.expect_size and not (args.expect_size * 0.97 <= size <= args.expect_size * 1.05):
            raise ProtocolError("FETCH %d BODY[]: %d bytes, expected ~%d" % (msn, size, args.expect_size))
        st["bytes"] += size
    st["messages"] += count


async def search_unseen(s: Session, args) -> list[int]:
    reply = await s.command(b"SEARCH UNSEEN")
    hits = [t for t, _ in reply.untagged if t.startswith(b"* SEARCH")]
    if len(hits) != 1:
        raise ProtocolError("SEARCH UNSEEN: %d * SEARCH replies" % len(hits))
    found = [int(x) for x in hits[0].split()[2:]]
    if args.expect_unseen is not None and len(found) != args.expect_unseen:
        raise ProtocolError("SEARCH UNSEEN found %d, expected %d" % (len(found), args.expect_unseen))
    return found


async def unflag_all(s: Session, exists: int) -> None:
    """Dovecot sends no FETCH FLAGS for a STORE that changes nothing: every pair starts unflagged."""
    await s.command(b"STORE 1:%d -FLAGS.SILENT (\\Flagged)" % exists, "STORE -FLAGS.SILENT")


async def store_flag(s: Session, msn: int, add: bool) -> None:
    reply = await s.command(b"STORE %d %sFLAGS (\\Flagged)" % (msn, b"+" if add else b"-"), "STORE")
    mine = [text for n, text, _ in fetches(reply) if n == msn]
    if not mine:
        raise ProtocolError("STORE %d: no * %d FETCH (FLAGS ...) reply" % (msn, msn))
    flagged = b"\\flagged" in mine[-1].lower()
    if flagged != add:
        raise ProtocolError("STORE %d %sFLAGS: reply %r" % (msn, "+" if add else "-", mine[-1][:200]))


class Worker:
    """One connection's state for the session modes: its session and where it is in the mailbox."""

    def __init__(self, wid: int) -> None:
        self.wid = wid
        self.session: Session | None = None
        self.exists = 0
        self.step = wid * 8  # workers start at different messages; even: a STORE pair starts with +FLAGS

    async def open(self, args, ctx, user: str, pw: str) -> None:
        self.session = await connect(args, ctx, user, pw)
        self.exists = await select(self.session, args)
        if args.mode == "imap-store":
            await unflag_all(self.session, self.exists)

    async def op(self, args, st) -> None:
        s = self.session
        assert s is not None
        step = self.step
        self.step += 1
        if args.mode == "imap-headers":
            await select(s, args)
            await fetch_headers(s, args, st)
        elif args.mode == "imap-bodies":
            count = min(args.bodies, self.exists)
            first = 1 + (step * count) % max(1, self.exists - count + 1)
            await fetch_bodies(s, args, st, first, count)
        elif args.mode == "imap-search":
            await search_unseen(s, args)
        elif args.mode == "imap-store":
            await store_flag(s, 1 + (step // 2) % self.exists, add=step % 2 == 0)


async def mixed_session(args, ctx, user: str, pw: str, st, step: int) -> None:
    s = await connect(args, ctx, user, pw)
    try:
        exists = await select(s, args)
        listed = await fetch_headers(s, args, st)
        unseen = await search_unseen(s, args)
        first = unseen[0] if unseen and unseen[0] + 2 <= exists else 1
        await fetch_bodies(s, args, st, first, 3)
        msn = 1 + step % len(listed)  # flag it, or unflag it if flagged, then back: two real changes
        flagged = b"\\flagged" in listed[msn].lower()
        await store_flag(s, msn, add=not flagged)
        await store_flag(s, msn, add=flagged)
        await logout(s)
    finally:
        s.close()


async def run_load(args) -> dict:
    users = ML.load_users(args)
    ctx = ML.make_ctx(args)
    st = {"ops": 0, "messages": 0, "bytes": 0, "errors": 0, "first_error": None}
    lat: list[float] = []
    claimed = [0]
    failures = (ProtocolError, OSError, asyncio.TimeoutError, asyncio.IncompleteReadError,
                asyncio.LimitOverrunError, ssl.SSLError, ValueError)

    def failed(e: BaseException) -> bool:
        st["errors"] += 1
        if st["first_error"] is None:
            st["first_error"] = "%s: %s" % (type(e).__name__, e)
        return st["errors"] > args.max_errors

    workers = [Worker(i) for i in range(args.concurrency)]
    if args.mode in SESSION_MODES:  # log in and SELECT before the measured window
        opened = await asyncio.gather(*(w.open(args, ctx, *users[w.wid % len(users)]) for w in workers),
                                      return_exceptions=True)
        for res in opened:
            if isinstance(res, BaseException):
                failed(res)
        if st["errors"]:
            return {"ok": False, "first_error": "opening sessions: " + str(st["first_error"]), "ops": 0}
    stop = asyncio.Event()
    deadline = [0.0]

    async def work(w: Worker) -> None:
        while not stop.is_set() and time.perf_counter() < deadline[0] and claimed[0] < args.max_ops:
            idx = claimed[0]
            claimed[0] += 1
            t = time.perf_counter()
            try:
                if args.mode == "imap-login":
                    user, pw = users[idx % len(users)]
                    await logout(await connect(args, ctx, user, pw))
                elif args.mode == "imap-mixed":
                    await mixed_session(args, ctx, *users[idx % len(users)], st, idx)
                else:
                    if w.session is None:
                        await w.open(args, ctx, *users[w.wid % len(users)])
                    await w.op(args, st)
            except failures as e:
                if w.session is not None:
                    w.session.close()
                    w.session = None
                if failed(e):
                    stop.set()
                    break
                continue
            lat.append(time.perf_counter() - t)
            st["ops"] += 1

    acct = ML.Accounting(args.server_pid)
    acct.start()
    deadline[0] = time.perf_counter() + args.duration
    tasks = [asyncio.ensure_future(work(w)) for w in workers]
    done, pending = await asyncio.wait(tasks, timeout=args.duration + args.io_timeout * 3 + 5)
    for t in pending:
        t.cancel()
    if pending:
        await asyncio.wait(pending, timeout=5)
    out: dict = {}
    el = acct.stop(out, st["ops"])
    for w in workers:  # after the window, not measured: flags as found, a polite LOGOUT
        if w.session is not None:
            try:
                if args.mode == "imap-store":
                    await unflag_all(w.session, w.exists)
                await logout(w.session)
            except failures:
                w.session.close()
    lat.sort()
    ops = st["ops"]
    res = {
        "tool": "imapload", "version": VERSION, "mode": args.mode, "label": args.label,
        "target": f"{args.host}:{args.port}", "tls": args.tls, "concurrency": args.concurrency,
        "duration_s": args.duration, "max_ops": args.max_ops, "size": args.expect_size,
        "ops": ops, "ops_per_s": round(ops / el, 2) if el else None,
        "messages": st["messages"], "messages_per_s": round(st["messages"] / el, 2) if el else None,
        "bytes": st["bytes"], "mb_per_s": round(st["bytes"] / el / 1e6, 3) if el else None,
        "lat_ms_p50": ML.pct(lat, 50), "lat_ms_p90": ML.pct(lat, 90), "lat_ms_p99": ML.pct(lat, 99),
        "errors": st["errors"], "hung_workers": len(pending),
    }
    res.update(out)
    res["loop"] = LOOP_NAME
    res["ok"] = st["errors"] <= args.max_errors and not pending and ops > 0
    if st["first_error"]:
        res["first_error"] = st["first_error"]
    return res


LOOP_NAME = "asyncio"


def target_arguments(ap: argparse.ArgumentParser, tls: str) -> None:
    """The server, TLS and users options (imapload, imapidle)."""
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--tls", choices=["none", "starttls", "implicit"], default=tls)
    ap.add_argument("--tls-max", choices=["1.2", "1.3"], default="1.3")
    ap.add_argument("--tls-servername", default="localhost")
    ap.add_argument("--cafile", help="verify the server certificate against this CA (default: no verification)")
    ap.add_argument("--users-file", required=True, help="lines 'user:password'")


def checked(ap: argparse.ArgumentParser, argv) -> argparse.Namespace:
    """The arguments, checked: a loopback target, a bounded run, file descriptors for every connection."""
    args = ap.parse_args(argv)
    args.user = args.password = None  # mailload.load_users reads these too
    addrs = {ai[4][0] for ai in socket.getaddrinfo(args.host, args.port, proto=socket.IPPROTO_TCP)}
    if not all(ipaddress.ip_address(a).is_loopback for a in addrs):
        ap.error(f"refusing non-loopback target {args.host}")
    if args.duration <= 0 or args.duration > 3600 or args.max_ops <= 0:
        ap.error("--duration must be in (0, 3600] and --max-ops > 0")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < args.concurrency + 64:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, args.concurrency + 64), hard))
    return args


def finish(tool: str, res: dict, nothing: str) -> int:
    """The result line on stdout; exit status 2 when the run failed."""
    print(json.dumps(res), flush=True)
    if not res["ok"]:
        print("%s: FAILED: %s" % (tool, res.get("first_error") or nothing), file=sys.stderr)
        return 2
    return 0


def main(argv=None) -> int:
    global LOOP_NAME
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", required=True, choices=MODES)
    target_arguments(ap, "none")
    ap.add_argument("--concurrency", "-c", type=int, default=1)
    ap.add_argument("--duration", type=float, default=5.0, help="seconds; no new op starts after this")
    ap.add_argument("--max-ops", type=int, default=1000000, help="hard cap on ops")
    ap.add_argument("--max-errors", type=int, default=0, help="fail the run after more than this many errors")
    ap.add_argument("--io-timeout", type=float, default=10.0, help="seconds per read or write")
    ap.add_argument("--expect-messages", type=int, help="SELECT INBOX must report this many EXISTS")
    ap.add_argument("--expect-unseen", type=int, help="SEARCH UNSEEN must find this many")
    ap.add_argument("--expect-size", type=int, default=0, help="each BODY[] about this many bytes (-3%%..+5%%)")
    ap.add_argument("--headers", type=int, default=100, help="messages whose headers one FETCH asks for")
    ap.add_argument("--bodies", type=int, default=10, help="imap-bodies: messages per FETCH")
    ap.add_argument("--server-pid", type=int, help="server master pid: CPU and memory over its process tree")
    ap.add_argument("--label", default="")
    ap.add_argument("--loop", choices=["auto", "asyncio", "uvloop"], default="auto")
    args = checked(ap, argv)
    if args.loop in ("auto", "uvloop"):
        try:
            import uvloop
            asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
            LOOP_NAME = "uvloop"
        except ImportError:
            if args.loop == "uvloop":
                ap.error("uvloop not installed")
    return finish("imapload", asyncio.run(run_load(args)), "no ops")


if __name__ == "__main__":
    sys.exit(main())
