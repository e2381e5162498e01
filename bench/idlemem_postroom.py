"""postroom for the idle-memory point (bench/idlemem.py): a data dir, mailboxes, `postroom serve`.

Used by bench/idlemem_bench.py (the `imap-idle-memory` group of `make bench`) and by the
10,000-connection test (tests/scale/). Mailboxes idle00001@bench.test.. share one argon2id hash
(made once: provisioning 10,000 of them must not cost 10,000 hashes), each holds --messages small
messages. IMAP4 listens with implicit TLS on the given certificate; its connection caps are set
for the run (an administrator's choice: the defaults stay as they are); the Default connector
takes the wake-up deliveries.
"""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

PASSWORD = "pw-idle"


def address(n: int) -> str:
    return f"idle{n:05d}@bench.test"


def cli(data: str, *args: str) -> str:
    cmd = [sys.executable, "-m", "postroom", *args, "--data", data]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {r.returncode}: {r.stderr.strip() or r.stdout.strip()}")
    return r.stdout


async def _mailboxes(data: str, count: int, messages: int) -> None:
    from postroom.auth import hash_password
    from postroom.storage import open_store

    store = open_store(data)
    await store.open()
    try:
        hashed = hash_password(PASSWORD)
        body = b"".join(b"line %02d of a small message in a mailbox that idles.\r\n" % i for i in range(20))
        for n in range(1, count + 1):
            box = await store.create_mailbox(address(n), "", hashed)
            if messages:
                await store.deliver_many(box.id, [b"From: seed@bench.test\r\nTo: %s\r\nSubject: seed %d\r\n"
                                                  b"Message-ID: <seed-%d-%d@bench.test>\r\n\r\n%s"
                                                  % (address(n).encode(), i, n, i, body) for i in range(messages)])
    finally:
        await store.close()


def provision(data: str, *, mailboxes: int, messages: int, cert: str, key: str, imap_port: int, tls_port: int,
              smtp_port: int, other_ports: list[int], connections: int) -> str:
    """A fresh data dir; returns the users file (lines user:password)."""
    if os.path.exists(data):
        shutil.rmtree(data)
    os.makedirs(data)
    client, pop, pops, web, webs = (f"127.0.0.1:{p}" for p in other_ports)
    cli(data, "init", "--server-name", "IDLEMEM", "--fqdn", "localhost")
    cli(data, "domain", "add", "bench.test")
    cli(data, "connector", "set", "Default IDLEMEM", "--bindings", f"127.0.0.1:{smtp_port}")
    cli(data, "connector", "set", "Client IDLEMEM", "--bindings", client)
    cli(data, "pop", "set", "--bindings", pop, "--ssl-bindings", pops)
    cli(data, "web", "set", "--http-bindings", web, "--bindings", webs)
    # The caps for this many connections from one address (loopback) to these mailboxes.
    per_user = -(-connections // mailboxes)
    cli(data, "imap", "set", "--bindings", f"127.0.0.1:{imap_port}", "--ssl-bindings", f"127.0.0.1:{tls_port}",
        "--certificate", cert, "--certificate-key", key, "--max-connections", str(connections + 100),
        "--max-connections-from-single-ip", str(connections + 100),
        "--max-connections-per-user", str(max(16, per_user)))
    cli(data, "service", "set", "imap4", "--startup", "automatic")
    asyncio.run(_mailboxes(data, mailboxes, messages))
    users = os.path.join(data, "idle-users.txt")
    with open(users, "w") as f:
        f.writelines(f"{address(n)}:{PASSWORD}\n" for n in range(1, mailboxes + 1))
    return users


def settings(data: str) -> dict:
    return json.loads(cli(data, "imap", "show", "--json"))


def wait_ports(ports: list[int], proc: subprocess.Popen | None = None, timeout: float = 60.0) -> None:
    """Until something listens on every port in `ports` (or `proc` exits)."""
    deadline = time.monotonic() + timeout
    for port in ports:
        while True:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"the server exited {proc.returncode} before listening on {port}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s")
                time.sleep(0.2)


def start(data: str, log_path: str, ports: list[int], env: dict | None = None) -> subprocess.Popen:
    """`postroom serve`, once it listens on every port in `ports`."""
    with open(log_path, "a") as logf:
        proc = subprocess.Popen([sys.executable, "-m", "postroom", "serve", "--data", data],
                                env=env, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        wait_ports(ports, proc)
    except RuntimeError as exc:
        stop(proc)
        raise RuntimeError(f"{exc} (see {log_path})") from None
    return proc


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
