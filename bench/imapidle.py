#!/usr/bin/env python3
"""imapidle.py - IMAP4 IDLE wake-up latency, loopback only (a sibling of imapload.py, whose
sessions, TLS and accounting it uses).

--concurrency sessions log in (users round-robin), SELECT INBOX and send IDLE; then mail is
delivered to their mailboxes one message at a time (mailbox after mailbox), and for every
session idling on that mailbox the time from the end of the delivery to its untagged
`* n EXISTS` is one sample. A delivery is complete when the server could know of it:
  --deliver smtp     one SMTP connection to --smtp-port (postroom): the 250 after DATA;
  --deliver maildir  the message written into <--maildir-root>/<user>/Maildir/tmp and renamed
                     into new/, owned by --maildir-owner (what Dovecot's LDA does): the rename.
The next delivery starts once every session has seen the last one (and --gap has passed).
Afterwards the sessions leave IDLE (DONE), the delivered messages are expunged (the mailboxes
hold --expect-messages again for the other points) and every session logs out.
One JSON line on stdout: lat_ms_p50/p90/p99 and wake_ms_max over every sample, deliveries
(ops), the server's CPU over the run (--server-pid, the kit's accounting).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import pwd
import re
import sys
import time

import imapload

ML = imapload.ML
EXISTS = re.compile(rb"^\* (\d+) EXISTS\r?\n$")
SENDER = "loadgen@bench.test"


class Idler:
    """One session in IDLE: a reader task notes every EXISTS with the time it was read."""

    def __init__(self, user: str, session: imapload.Session, exists: int) -> None:
        self.user, self.session, self.exists = user, session, exists
        self.seen: list[tuple[float, int]] = []
        self.changed = asyncio.Event()
        self.reader: asyncio.Task | None = None
        self.tag = b""

    async def start(self) -> None:
        self.session.n += 1
        self.tag = b"a%d" % self.session.n
        self.session.w.write(self.tag + b" IDLE\r\n")
        line = await self.session.line()
        if not line.startswith(b"+"):
            raise imapload.ProtocolError("IDLE -> %r" % line[:120])
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        while True:
            line = await self.session.r.readline()
            if not line:
                raise imapload.ProtocolError("connection closed while idling")
            if line.startswith(self.tag + b" "):
                return
            m = EXISTS.match(line)
            if m:
                self.seen.append((time.perf_counter(), int(m.group(1))))
                self.changed.set()

    async def wait_for(self, count: int, timeout: float) -> float:
        """The time the session was told of `count` messages."""
        deadline = time.perf_counter() + timeout
        while True:
            for at, n in self.seen:
                if n >= count:
                    return at
            self.changed.clear()
            left = deadline - time.perf_counter()
            if left <= 0 or self.reader is None or self.reader.done():
                raise imapload.ProtocolError("no * %d EXISTS within %.0f s" % (count, timeout))
            try:
                await asyncio.wait_for(self.changed.wait(), left)
            except asyncio.TimeoutError:
                pass

    async def done(self, io_timeout: float) -> None:
        self.session.w.write(b"DONE\r\n")
        if self.reader is not None:
            await asyncio.wait_for(self.reader, io_timeout)


class Smtp:
    """One SMTP connection for every delivery; deliver() returns once the 250 after DATA is read."""

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.host, self.port, self.t = host, port, timeout
        self.r: asyncio.StreamReader | None = None
        self.w: asyncio.StreamWriter | None = None

    async def reply(self) -> bytes:
        assert self.r is not None
        while True:
            line = await asyncio.wait_for(self.r.readline(), self.t)
            if len(line) < 4:
                raise imapload.ProtocolError("SMTP: connection closed (%r)" % line)
            if line[3:4] != b"-":
                return line

    async def command(self, line: bytes, want: bytes) -> None:
        assert self.w is not None
        self.w.write(line + b"\r\n")
        reply = await self.reply()
        if not reply.startswith(want):
            raise imapload.ProtocolError("SMTP %r -> %r" % (line.split(b":")[0], reply[:120]))

    async def open(self) -> None:
        self.r, self.w = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), self.t)
        if not (await self.reply()).startswith(b"220"):
            raise imapload.ProtocolError("SMTP greeting")
        await self.command(b"EHLO imapidle.bench.test", b"250")

    async def deliver(self, rcpt: str, data: bytes) -> float:
        await self.command(b"MAIL FROM:<%s>" % SENDER.encode(), b"250")
        await self.command(b"RCPT TO:<%s>" % rcpt.encode(), b"250")
        await self.command(b"DATA", b"354")
        assert self.w is not None
        self.w.write(data.replace(b"\r\n.", b"\r\n..") + b".\r\n")
        reply = await self.reply()
        done = time.perf_counter()
        if not reply.startswith(b"250"):
            raise imapload.ProtocolError("SMTP end of DATA -> %r" % reply[:120])
        return done

    async def close(self) -> None:
        if self.w is not None:
            try:
                await self.command(b"QUIT", b"221")
            except (imapload.ProtocolError, OSError, asyncio.TimeoutError):
                pass
            self.w.close()


def into_maildir(root: str, user: str, data: bytes, owner: tuple[int, int], number: int) -> float:
    """Write the message as an LDA does (tmp/, then a rename into new/); the time of the rename."""
    maildir = os.path.join(root, user, "Maildir")
    now = time.time()
    name = "%d.M%dP%dQ%d.imapidle,S=%d" % (now, int(now * 1e6) % 1000000, os.getpid(), number, len(data))
    tmp = os.path.join(maildir, "tmp", name)
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.chown(tmp, *owner)
    os.rename(tmp, os.path.join(maildir, "new", name))
    return time.perf_counter()


def message(number: int, user: str) -> bytes:
    body = b"".join(b"line %04d of an IDLE wake-up message, to fill it to about 2 KB of text.\r\n" % i
                    for i in range(26))
    return (b"From: %s\r\nTo: %s\r\nSubject: idle wake-up %d\r\nMessage-ID: <idle-%d-%d@bench.test>\r\n\r\n"
            % (SENDER.encode(), user.encode(), number, os.getpid(), number)) + body


async def run_idle(args) -> dict:
    users = ML.load_users(args)
    ctx = ML.make_ctx(args)
    idlers: list[Idler] = []
    smtp = Smtp(args.host, args.smtp_port, args.io_timeout) if args.deliver == "smtp" else None
    owner = (0, 0)
    if args.deliver == "maildir":
        entry = pwd.getpwnam(args.maildir_owner)
        owner = (entry.pw_uid, entry.pw_gid)
    st = {"errors": 0, "first_error": None}
    samples: list[float] = []
    deliveries = expected = 0  # deliveries made, and the wake-ups they should cause

    async def open_one(i: int) -> Idler:
        user, pw = users[i % len(users)]
        s = await imapload.connect(args, ctx, user, pw)
        return Idler(user, s, await imapload.select(s, args))
    try:
        for first in range(0, args.concurrency, 50):  # a few logins at a time (argon2id at postroom)
            idlers += await asyncio.gather(*(open_one(i) for i in range(first, min(first + 50, args.concurrency))))
        for idler in idlers:
            await idler.start()
        if smtp is not None:
            await smtp.open()
        mailboxes = sorted({idler.user for idler in idlers})
        watching = {user: [i for i in idlers if i.user == user] for user in mailboxes}
        counts = {user: watching[user][0].exists for user in mailboxes}
        acct = ML.Accounting(args.server_pid)
        acct.start()
        deadline = time.perf_counter() + args.duration
        while deliveries < args.max_ops and time.perf_counter() < deadline:
            user = mailboxes[deliveries % len(mailboxes)]
            data = message(deliveries, user)
            if smtp is not None:
                done = await smtp.deliver(user, data)
            else:
                done = into_maildir(args.maildir_root, user, data, owner, deliveries)
            deliveries += 1
            counts[user] += 1
            expected += len(watching[user])
            for idler in watching[user]:
                samples.append(await idler.wait_for(counts[user], args.io_timeout) - done)
            await asyncio.sleep(args.gap)
        out: dict = {}
        el = acct.stop(out, deliveries)
    except (imapload.ProtocolError, OSError, asyncio.TimeoutError, ValueError) as e:
        st["errors"] += 1
        st["first_error"] = "%s: %s" % (type(e).__name__, e)
        out, el = {}, 0.0
    finally:
        if smtp is not None:
            await smtp.close()
    await cleanup(args, idlers, st)
    samples.sort()
    ms = [x * 1000 for x in samples]
    res = {"tool": "imapidle", "mode": "imap-idle", "label": args.label, "target": f"{args.host}:{args.port}",
           "tls": args.tls, "concurrency": args.concurrency, "sessions": len(idlers), "deliver": args.deliver,
           "ops": deliveries, "ops_per_s": round(deliveries / el, 2) if el else None, "wakes": len(ms),
           "lat_ms_p50": ML.pct(samples, 50), "lat_ms_p90": ML.pct(samples, 90), "lat_ms_p99": ML.pct(samples, 99),
           "wake_ms_min": round(ms[0], 2) if ms else None, "wake_ms_max": round(ms[-1], 2) if ms else None,
           "errors": st["errors"]}
    res.update(out)
    res["ok"] = not st["errors"] and deliveries > 0 and len(ms) == expected
    if st["first_error"]:
        res["first_error"] = st["first_error"]
    return res


async def cleanup(args, idlers: list[Idler], st: dict) -> None:
    """DONE on every session; the delivered messages expunged, one session per mailbox; LOGOUT."""
    expunged: set[str] = set()
    for idler in idlers:
        try:
            await idler.done(args.io_timeout)
            if idler.user not in expunged and args.expect_messages is not None:
                expunged.add(idler.user)
                await idler.session.command(b"STORE %d:* +FLAGS.SILENT (\\Deleted)" % (args.expect_messages + 1))
                await idler.session.command(b"EXPUNGE")
            await imapload.logout(idler.session)
        except (imapload.ProtocolError, OSError, asyncio.TimeoutError) as e:
            st["errors"] += 1
            st["first_error"] = st["first_error"] or "cleanup: %s: %s" % (type(e).__name__, e)
            idler.session.close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    imapload.target_arguments(ap, "implicit")
    ap.add_argument("--concurrency", "-c", type=int, default=100, help="idling sessions")
    ap.add_argument("--deliver", choices=["smtp", "maildir"], required=True)
    ap.add_argument("--smtp-port", type=int, help="--deliver smtp: the server's SMTP port (no TLS, no AUTH)")
    ap.add_argument("--maildir-root", help="--deliver maildir: <root>/<user>/Maildir")
    ap.add_argument("--maildir-owner", default="benchmail", help="--deliver maildir: the owner of the files")
    ap.add_argument("--duration", type=float, default=30.0, help="seconds; no delivery starts after this")
    ap.add_argument("--max-ops", type=int, default=200, help="deliveries at most")
    ap.add_argument("--gap", type=float, default=0.02, help="seconds between one wake-up and the next delivery")
    ap.add_argument("--io-timeout", type=float, default=10.0, help="seconds per read, and per wake-up")
    ap.add_argument("--expect-messages", type=int, help="SELECT INBOX must report this many EXISTS")
    ap.add_argument("--server-pid", type=int, help="server master pid: CPU and memory over its process tree")
    ap.add_argument("--label", default="")
    args = imapload.checked(ap, argv)
    if args.deliver == "smtp" and not args.smtp_port:
        ap.error("--deliver smtp needs --smtp-port")
    if args.deliver == "maildir" and not args.maildir_root:
        ap.error("--deliver maildir needs --maildir-root")
    try:
        import uvloop
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    return imapload.finish("imapidle", asyncio.run(run_idle(args)), "no wake-ups")


if __name__ == "__main__":
    sys.exit(main())
