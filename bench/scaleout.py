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
USERS, MESSAGES, SIZE = 200, 10, 2048  # users well above the concurrency: a mailbox is locked per session
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


CGROUP_V1 = "/sys/fs/cgroup/cpu"


def limit_cpu(name: str, pid: int, cpus: float) -> None:
    """Put process `pid` (all its threads) in a cgroup of its own allowed `cpus` cores: a node
    the size of a small machine. cgroup v1's cpu controller, else v2's cpu.max."""
    period = 100_000
    quota = int(cpus * period)
    if os.path.isdir(CGROUP_V1):
        group = os.path.join(CGROUP_V1, f"postroom-bench-{name}")
        os.makedirs(group, exist_ok=True)
        with open(os.path.join(group, "cpu.cfs_period_us"), "w") as handle:
            handle.write(str(period))
        with open(os.path.join(group, "cpu.cfs_quota_us"), "w") as handle:
            handle.write(str(quota))
    else:
        group = os.path.join("/sys/fs/cgroup", f"postroom-bench-{name}")
        os.makedirs(group, exist_ok=True)
        with open(os.path.join(group, "cpu.max"), "w") as handle:
            handle.write(f"{quota} {period}")
    with open(os.path.join(group, "cgroup.procs"), "w") as handle:
        handle.write(str(pid))


class Node:
    cpus: float | None = None  # --node-cpu: each node limited to this many cores

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
        cli(self.data, "service", "set", "admin", "--startup", "manual")  # no console: nothing on port 443
        cli(self.data, "service", "stop", "admin")
        if with_mail:
            asyncio.run(fill(self.data, users))

    def start(self) -> int:
        self.log = os.path.join(self.data, "serve.log")
        with open(self.log, "ab") as log_file:
            self.process = subprocess.Popen([POSTROOM, "serve", "--data", self.data, "--log-level", "warning"],
                                            stdout=log_file, stderr=subprocess.STDOUT)
        if self.cpus:
            limit_cpu(self.name, self.process.pid, self.cpus)
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
        self.stop()
        raise RuntimeError(f"node {self.name} did not start: {open(self.log).read()[-2000:]}")

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
        for i in range(1, USERS + 1):  # SMTP delivers here, so the POP3 mailboxes keep their shape
            await store.create_mailbox(f"sink{i:03d}@bench.test", "sink", None)
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
                     "--rcpt-template", "sink{i:03d}@bench.test", "--rcpt-count", str(USERS), *common])


def warm_up(node: Node, users: str) -> None:
    count = sum(1 for _ in open(users))
    subprocess.run([sys.executable, ML, "--mode", "pop3-login", "--tls", "none", "--port", str(node.pop),
                    "--users-file", users, "-c", "8", "--duration", "120", "--max-ops", str(count),
                    "--max-errors", "1000"], capture_output=True, timeout=300)


def rate(result: dict, kind: str) -> float:
    for key in (("messages_per_s", "ops_per_s") if kind == "pop3" else ("ops_per_s", "messages_per_s")):
        if key in result:
            return float(result[key])
    raise KeyError(f"no rate in {sorted(result)}")


def postgres_cpu_seconds() -> float:
    """CPU seconds used so far by every PostgreSQL process (and the ones that exited: the
    postmaster's children's times), read from /proc."""
    total, tick = 0.0, os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/comm") as handle:
                name = handle.read().strip()
        except OSError:
            continue
        if name.startswith("postgres"):
            utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
            total += (utime + stime + cutime + cstime) / tick
    return total


def measure(kind: str, nodes: list[tuple[Node, str, int]], duration: float, reps: int) -> dict[str, float]:
    """Medians over reps: the summed rate of every node's load (run at the same time), the
    nodes' CPU milliseconds per message and PostgreSQL's."""
    conc = 8 // len(nodes)
    rates, node_cpu, pg_cpu = [], [], []
    for _ in range(reps):
        pg_before = postgres_cpu_seconds()
        with ThreadPoolExecutor(len(nodes)) as pool:
            futures = [pool.submit(load, kind, node.pop if kind == "pop3" else node.smtp, users, conc, duration, pid)
                       for node, users, pid in nodes]
            results = [f.result() for f in futures]
        messages = sum(r["messages"] if kind == "pop3" else r["ops"] for r in results)
        rates.append(sum(rate(r, kind) for r in results))
        node_cpu.append(1000 * sum(r["server_cpu_ms_per_op"] * r["ops"] / 1000 for r in results) / messages)
        pg_cpu.append(1000 * (postgres_cpu_seconds() - pg_before) / messages)
    return {"rate": statistics.median(rates), "node_cpu": statistics.median(node_cpu),
            "pg_cpu": statistics.median(pg_cpu)}


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
    parser.add_argument("--node-cpu", type=float, default=0.0,
                        help="limit each node to this many cores (a cgroup per node, as if each were a machine of "
                             "that size); 0: no limit, every process shares the machine's cores")
    args = parser.parse_args()
    Node.cpus = args.node_cpu or None
    root = tempfile.mkdtemp(prefix="postroom-scaleout-")
    users = [(f"bench{i:03d}@bench.test", f"pw-{i:03d}-bench") for i in range(1, USERS + 1)]
    all_users = users_file(root, "all", users)
    halves = [users_file(root, "a", users[:USERS // 2]), users_file(root, "b", users[USERS // 2:])]
    url = reset_database(args.pg)
    embedded = Node(root, "EMB", 27110, None)  # below the ephemeral range (32768+)
    node_a, node_b = Node(root, "PGA", 28110, url), Node(root, "PGB", 29110, url)
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
                for node, users_path, _ in placed:  # every login once: the credential cache is warm, as in
                    warm_up(node, users_path)      # steady polling (argon2id costs tens of ms per cold login)
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
        write_doc(args.doc, table, bool(args.node_cpu))
    return 0


def render(results: dict[str, dict[str, dict[str, float]]], args: argparse.Namespace) -> str:
    emb, one, two = (results[k] for k in ("embedded, 1 node", "PostgreSQL, 1 node", "PostgreSQL, 2 nodes"))
    rows = ["| point | embedded, 1 node | PostgreSQL, 1 node | PostgreSQL, 2 nodes "
            "| 1 PG node / embedded (target >= 0.5) | 2 PG nodes / 1 (target >= 1.6) |",
            "| --- | --- | --- | --- | --- | --- |"]
    for kind, label in (("pop3", "POP3 retrieve 2 KB messages/s, plain, c=8"),
                        ("smtp", "SMTP 2 KB messages/s, Default connector, plain, c=8")):
        rows.append(f"| {label} | {emb[kind]['rate']:.0f} | {one[kind]['rate']:.0f} | {two[kind]['rate']:.0f} | "
                    f"{one[kind]['rate'] / emb[kind]['rate']:.2f} | {two[kind]['rate'] / one[kind]['rate']:.2f} |")
    rows += ["", "CPU milliseconds per message (nodes summed; PostgreSQL: all its processes):", "",
             "| point | embedded: node | PG 1 node: node + PostgreSQL | PG 2 nodes: nodes + PostgreSQL |",
             "| --- | --- | --- | --- |"]
    for kind, label in (("pop3", "POP3 retrieve 2 KB"), ("smtp", "SMTP 2 KB")):
        rows.append(f"| {label} | {emb[kind]['node_cpu']:.3f} | {one[kind]['node_cpu']:.3f} + {one[kind]['pg_cpu']:.3f}"
                    f" | {two[kind]['node_cpu']:.3f} + {two[kind]['pg_cpu']:.3f} |")
    cores = os.cpu_count()
    used = {kind: one[kind]["rate"] * (one[kind]["node_cpu"] + one[kind]["pg_cpu"]) / 1000 for kind in ("pop3", "smtp")}
    rows += [] if args.node_cpu else [
             "", f"With one PostgreSQL node the node and PostgreSQL already use {used['pop3']:.2f} (POP3) and "
             f"{used['smtp']:.2f} (SMTP) of this machine's {cores} cores; the load generator takes the rest. A "
             "second node can only add throughput where there are cores to run it on: here it shares the same "
             "two, so the 2-node figure measures contention, not scale-out. Scale-out needs a message to cost "
             "about as much CPU with two nodes as with one (the CPU table), so that with a core per node "
             "the rates add up: `--node-cpu` measures that, each node in a cgroup of its own."]
    limit = (f" --node-cpu {args.node_cpu:g}` (each node in a cgroup of {args.node_cpu:g} core, as if it were a "
             f"machine of its own; the load generator and PostgreSQL share the rest of the" if args.node_cpu else
             "` (the load generator, the postroom nodes and PostgreSQL sharing the")
    return (f"Measured {time.strftime('%Y-%m-%d')} with `bench/scaleout.py --reps {args.reps} --duration "
            f"{args.duration:g}{limit} machine's {cores} cores; medians).\n\n" + "\n".join(rows) + "\n")


def write_doc(path: str, table: str, limited: bool) -> None:
    """One section per mode (nodes sharing the machine, or each node in a cgroup), replaced in place."""
    key = "scaleout-node-cpu" if limited else "scaleout"
    start, end = f"<!-- {key}:start -->", f"<!-- {key}:end -->"
    text = open(path, encoding="utf-8").read() if os.path.exists(path) else ""
    title = ("Scale-out with one small machine per node (cgroups)" if limited
             else "Scale-out: PostgreSQL and several nodes on one machine")
    block = f"{start}\n## {title}\n\n{table}{end}"
    if start in text and end in text:
        text = text[:text.index(start)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


if __name__ == "__main__":
    sys.exit(main())
