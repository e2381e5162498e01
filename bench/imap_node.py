#!/usr/bin/env python3
"""imap_node.py - one IMAP4 service in-process over a SQLite store, for profiling and A/B runs of
postroom alone (no Dovecot, no `postroom serve` around it).

  PYTHONPATH=<tree>/src .venv/bin/python bench/imap_node.py [--db DIR/postroom.db] [--port 31143]
      [--users 4] [--profile FILE]

Users imap001@bench.test.. (password "pw"), each with the bench's 120 messages of 2048 bytes (the
kit's make_message), 1:90 \\Seen; plain-text login on 127.0.0.1:PORT. Prints "ready PID" and
serves until SIGTERM or SIGINT; --profile FILE: cProfile of the event-loop thread, written then.
Load it with bench/imapload.py (--server-pid PID gives its CPU per op), e.g.
  bench/imapload.py --mode imap-headers --port 31143 --users-file USERS --concurrency 1 \\
      --max-ops 300 --expect-messages 120 --expect-unseen 30 --server-pid PID
(USERS: lines "imap001@bench.test:pw"). An existing --db is served as it is. Like imapload.py it
needs the shared bench kit (BENCH_KIT, default ../../shared/bench).
"""
from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import signal

import uvloop

from imapload import ML  # the kit's mailload module (make_message)
from postroom.auth import Authenticator, hash_password
from postroom.model import ImapSettings, LoginType
from postroom.server.imap4 import ImapService
from postroom.storage.sqlite import SqliteStore

MESSAGES, SEEN, SIZE = 120, 90, 2048


async def main(a: argparse.Namespace) -> None:
    fresh = not os.path.exists(a.db)
    store = SqliteStore(a.db)
    await store.open()
    await store.migrate()
    if fresh:
        await store.add_domain("bench.test")
        password = hash_password("pw")
        for n in range(1, a.users + 1):
            box = await store.create_mailbox(f"imap{n:03d}@bench.test", "", password)
            for i in range(MESSAGES):
                await store.deliver(box.id, ML.make_message(SIZE, "seed@bench.test", f"imap{n:03d}@bench.test", seq=i))
            inbox = await store.get_folder(box.id, "INBOX")
            await store.store_flags(inbox.id, list(range(1, SEEN + 1)), ("\\Seen",), "add")
    service = ImapService(store, Authenticator(failure_delay=0.01), "BENCH")
    service.configure(ImapSettings(login_type=LoginType.PLAIN_TEXT_LOGIN, max_connections_per_user=100000),
                      None, None)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(service.protocol_factory(False, "bench"), "127.0.0.1", a.port)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("ready", os.getpid(), flush=True)
    profile = cProfile.Profile() if a.profile else None
    if profile is not None:
        profile.enable()
    await stop.wait()
    if profile is not None:
        profile.disable()
        profile.dump_stats(a.profile)
    server.close()
    await store.close()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", default="/tmp/imap-node/postroom.db")
    ap.add_argument("--port", type=int, default=31143)
    ap.add_argument("--users", type=int, default=4)
    ap.add_argument("--profile")
    args = ap.parse_args()
    os.makedirs(os.path.dirname(os.path.abspath(args.db)), exist_ok=True)
    uvloop.run(main(args))
