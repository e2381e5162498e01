#!/usr/bin/env python3
"""Scale-out benchmark: postroom on the embedded store, on PostgreSQL with one node, and on
PostgreSQL with two nodes, in one run, with the shared kit's mailload.py.

  .venv/bin/python bench/scaleout.py [--reps 3] [--duration 5] [--pg postgresql://postgres@127.0.0.1:5432/postgres]
      [--doc docs/performance.md | --no-doc]

Points (throughput, the figure scale-out is about; medians of --reps runs):
- POP3: pop3-retr (USER/PASS, STAT, UIDL, RETR of 10 messages of 2 KB, QUIT), plain, c=8;
- SMTP: smtp-deliver of 2 KB messages on the Default connector, plain, c=8.
Two nodes: the load is split in two (c=4 on each node, at the same time, each node's POP3
users its own half so that no session waits for the other node's mailbox lock), and the
figure is the sum. Targets (issue 7): two nodes >= 1.6 x one PostgreSQL node; one PostgreSQL
node >= 0.5 x the embedded store. Client, servers and PostgreSQL share this machine's cores:
the report says how many.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit, urlunsplit

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
KIT = os.environ.get("BENCH_KIT", os.path.normpath(os.path.join(REPO, "..", "shared", "bench")))
ML = os.path.join(KIT, "mailload.py")
POSTROOM = os.path.join(REPO, ".venv", "bin", "postroom")
PYTHON = os.path.join(REPO, ".venv", "bin", "python")
USERS, MESSAGES, SIZE = 40, 10, 2048
DATABASE = "postroom_bench_scaleout"


def log(*a: object) -> None:
    print(*a, file=sys.stderr, flush=True)


def cli(data: str, *args: str, stdin: str | None = None) -> str:
    result = subprocess.run([POSTROOM, *args, "--data", data], input=stdin, capture_output=True, text=True, timeout=300)
    if result.returncode:
        raise RuntimeError(f"postroom {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def message(n: int) -> bytes:
    head = f"Subject: bench {n}\r\n\r\n".encode()
    line = b"x" * 78 + b"\r\n"
    return head + line * ((SIZE - len(head)) // len(line)) + b"\r\n"


class Node:
    def __init__(self, root: str, name: str, base_port: int, store: str | None) -> None:
        self.data = os.path.join(root, name)
        self.name, self.store = name, store
        self.pop, self.smtp = base_port, base_port + 1
        self.process: subprocess.Popen[bytes] | None = None

    def init(self, users: list[tuple[str, str]], with_mail: bool) -> None:
        store = ["--store", self.store] if self.store else []
        cli(self.data, "init", "--server-name", self.name, *store)
        cli(self.data, "service", "set", "pop3", "--startup", "automatic")
        cli(self.data, "service", "start", "pop3")
        cli(self.data, "pop", "set", "--bindings", f"127.0.0.1:{self.pop}", "--ssl-bindings", "",
            "--login-type", "plain-text-login", "--max-connections-from-single-ip", "1000",
            "--max-connections-per-user", "1000")
        cli(self.data, "connector", "set", f"Default {self.name}", "--bindings", f"127.0.0.1:{self.smtp}",
            "--max-inbound-connections-per-source", "1000")
        cli(self.data, "connector", "set", f"Client {self.name}", "--disabled")
        cli(self.data, "web", "set", "--bindings", "", "--http-bindings", "")
        if with_mail:
            asyncio.run(fill(self.data, users))

    def start(self) -> int:
        self.process = subprocess.Popen([POSTROOM, "serve", "--data", self.data, "--log-level", "warning"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if "running" in cli(self.data, "service", "list"):
                import socket
                try:
                    socket.create_connection(("127.0.0.1", self.pop), 1).close()
                    socket.create_connection(("127.0.0.1", self.smtp), 1).close()
                    return self.process.pid
                except OSError:
                    pass
            time.sleep(0.3)
        raise RuntimeError(f"node {self.name} did not start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)


async def fill(data: str, users: list[tuple[str, str]]) -> None:
    """Mailboxes with 10 messages each, through the store (the CLI would cost minutes)."""
    sys.path.insert(0, os.path.join(REPO, "src"))
    from postroom.auth import hash_password
    from postroom.storage import open_store

    store = open_store(data)
    await store.open()
    try:
        if "bench.test" not in await store.list_domains():
            await store.add_domain("bench.test")
        for address, password in users:
            box = await store.create_mailbox(address, address, hash_password(password))
            await store.deliver_many(box.id, [message(n) for n in range(MESSAGES)])
    finally:
        await store.close()


def users_file(root: str, name: str, users: list[tuple[str, str]]) -> str:
    path = os.path.join(root, f"users-{name}.txt")
    with open(path, "w") as handle:
        handle.writelines(f"{a}:{p}\n" for a, p in users)
    return path


def mailload(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, ML, *args], capture_output=True, text=True, timeout=600)
    line = (out.stdout.strip().splitlines() or ["{}"])[-1]
    result = json.loads(line)
    if not result.get("ok", False):
        raise RuntimeError(f"mailload failed: {out.stderr.strip()[-500:]}")
    return result


def load(kind: str, port: int, users: str, conc: int, duration: float, pid: int) -> dict:
    common = ["--port", str(port), "-c", str(conc), "--duration", str(duration), "--server-pid", str(pid)]
    if kind == "pop3":
        return mailload(["--mode", "pop3-retr", "--tls", "none", "--users-file", users,
                         "--expect-messages", str(MESSAGES), *common])
    return mailload(["--mode", "smtp-deliver", "--tls", "none", "--size", str(SIZE), "--users-file", users,
                     "--rcpt-template", "bench{i:03d}@bench.test", "--rcpt-count", str(USERS), *common])


def rate(result: dict, kind: str) -> float:
    for key in (("messages_per_s", "ops_per_s") if kind == "pop3" else ("ops_per_s", "messages_per_s")):
        if key in result:
            return float(result[key])
    raise KeyError(f"no rate in {sorted(result)}")


def measure(kind: str, nodes: list[tuple[Node, str, int]], duration: float, reps: int) -> float:
    """Median over reps of the summed rate of every node's load, run at the same time."""
    conc = 8 // len(nodes)
    rates = []
    for _ in range(reps):
        with ThreadPoolExecutor(len(nodes)) as pool:
            futures = [pool.submit(load, kind, node.pop if kind == "pop3" else node.smtp, users, conc, duration, pid)
                       for node, users, pid in nodes]
            rates.append(sum(rate(f.result(), kind) for f in futures))
    return statistics.median(rates)


def reset_database(admin_url: str) -> str:
    async def main() -> None:
        import asyncpg

        conn = await asyncpg.connect(admin_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}"')
            await conn.execute(f'CREATE DATABASE "{DATABASE}"')
        finally:
            await conn.close()
    asyncio.run(main())
    parts = urlsplit(admin_url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{DATABASE}", "", ""))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--doc", default=os.path.join(REPO, "docs", "performance.md"))
    parser.add_argument("--no-doc", action="store_true")
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="postroom-scaleout-")
    users = [(f"bench{i:03d}@bench.test", f"pw-{i:03d}-bench") for i in range(1, USERS + 1)]
    all_users = users_file(root, "all", users)
    halves = [users_file(root, "a", users[:USERS // 2]), users_file(root, "b", users[USERS // 2:])]
    url = reset_database(args.pg)
    embedded = Node(root, "EMB", 31110, None)
    node_a, node_b = Node(root, "PGA", 32110, url), Node(root, "PGB", 33110, url)
    results: dict[str, dict[str, float]] = {}
    try:
        log("provisioning ...")
        embedded.init(users, with_mail=True)
        node_a.init(users, with_mail=True)
        node_b.init(users, with_mail=False)  # joins the shared store: same mailboxes
        for label, setup in (("embedded, 1 node", [embedded]), ("PostgreSQL, 1 node", [node_a]),
                             ("PostgreSQL, 2 nodes", [node_a, node_b])):
            pids = [node.start() for node in setup]
            try:
                files = [all_users] if len(setup) == 1 else halves
                placed = [(node, files[i], pids[i]) for i, node in enumerate(setup)]
                results[label] = {kind: measure(kind, placed, args.duration, args.reps) for kind in ("pop3", "smtp")}
                log(label, results[label])
            finally:
                for node in setup:
                    node.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    table = render(results, args)
    print(table)
    if not args.no_doc:
        write_doc(args.doc, table)
    return 0


def render(results: dict[str, dict[str, float]], args: argparse.Namespace) -> str:
    emb, one, two = (results[k] for k in ("embedded, 1 node", "PostgreSQL, 1 node", "PostgreSQL, 2 nodes"))
    rows = ["| point | embedded, 1 node | PostgreSQL, 1 node | PostgreSQL, 2 nodes | 1 PG node / embedded (target >= 0.5) | 2 PG nodes / 1 (target >= 1.6) |",
            "| --- | --- | --- | --- | --- | --- |"]
    for kind, label in (("pop3", "POP3 retrieve 2 KB messages/s, plain, c=8"),
                        ("smtp", "SMTP 2 KB messages/s, Default connector, plain, c=8")):
        rows.append(f"| {label} | {emb[kind]:.0f} | {one[kind]:.0f} | {two[kind]:.0f} | "
                    f"{one[kind] / emb[kind]:.2f} | {two[kind] / one[kind]:.2f} |")
    cores = os.cpu_count()
    return (f"Measured {time.strftime('%Y-%m-%d')} with `bench/scaleout.py --reps {args.reps} --duration "
            f"{args.duration:g}` on {cores} cores shared by the load generator, the postroom nodes and "
            f"PostgreSQL (medians).\n\n" + "\n".join(rows) + "\n")


def write_doc(path: str, table: str) -> None:
    start, end = "<!-- scaleout:start -->", "<!-- scaleout:end -->"
    text = open(path, encoding="utf-8").read() if os.path.exists(path) else ""
    block = f"{start}\n## Scale-out: PostgreSQL and several nodes\n\n{table}{end}"
    if start in text and end in text:
        text = text[:text.index(start)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


if __name__ == "__main__":
    sys.exit(main())
