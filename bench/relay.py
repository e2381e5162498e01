"""The relay point of `make bench` (`bench/run.py --only relay`): postroom against Postfix,
relaying what an application submits, in the same run.

Both servers take mail without TLS from a relay-permitted address (Postfix: 127.0.0.1 is in
its mynetworks; postroom: an `anonymous-relay` receive connector for 127.0.0.1), queue it and
deliver it to the same accepting sink (Postfix's `smtp-sink` on 127.0.0.21:25). The peers come
from the shared relay lab (../shared/bench/relay-lab, `setup.sh`: a private Postfix 3.7 on
127.0.0.30:25 whose relayhost is [127.0.0.21]:25). postroom runs in its own data dir
(/tmp/bench-relay/var) with a send connector for `*` through the smart host 127.0.0.21:25.

Each run, for one server: wait until the host is near idle, read the server's CPU (its process
tree, reaped children included: Postfix's master and every smtpd/cleanup/qmgr/smtp process;
postroom's one process with its threads), submit N messages with Postfix's `smtp-source` (C;
one message per connection; -s connections in parallel) to `r<tag>@sink.example`, wait until
the server's queue is empty, read the CPU again, count the deliveries (Postfix: `status=sent`
lines for the recipient in its log; postroom: SEND tracking rows). Points: 2 KB and 100 KB,
c=1 and c=8; the servers alternate within every repetition (A B, then B A, ...).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
import uuid

import provision

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
# The shared kit: BENCH_KIT, else ../shared/bench next to the repository (a worktree one further down).
LAB_KIT = next((os.path.join(kit, "relay-lab") for kit in (
    os.environ.get("BENCH_KIT", ""), os.path.join(REPO, "..", "shared", "bench"),
    os.path.join(REPO, "..", "..", "shared", "bench")) if kit and os.path.isdir(os.path.join(kit, "relay-lab"))),
    os.path.join(REPO, "..", "shared", "bench", "relay-lab"))
LAB = "/tmp/relay-lab"
SPOOL = f"{LAB}/postfix/spool"
POSTFIX_LOG = f"{LAB}/run/postfix.log"
POSTFIX_ADDR = ("127.0.0.30", 25)
SINK = "127.0.0.21:25"
SERVER = "RELAY"
CLK = os.sysconf("SC_CLK_TCK")
SENDER = "bench@bench.example"
HELO = "client.bench.example"
FLOOR_PORT = 31139  # bench/relay_floor.py, when --relay-servers names it


def log(*a) -> None:
    print(*a, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ CPU and host load
def _proc_stat(pid: int) -> tuple[int, int, int]:
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    f_ = s[s.rindex(")") + 2:].split()
    return int(f_[1]), int(f_[11]) + int(f_[12]), int(f_[13]) + int(f_[14])  # ppid, own, reaped children


def tree_cpu_s(root: int) -> float:
    """CPU seconds (user+system) of `root` and its descendants, those already reaped included."""
    children: dict[int, list[int]] = {}
    own: dict[int, int] = {}
    reaped: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                ppid, o, r = _proc_stat(int(d))
            except (FileNotFoundError, ProcessLookupError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d))
            own[int(d)], reaped[int(d)] = o, r
    total, todo = 0, [root]
    while todo:
        p = todo.pop()
        total += own.get(p, 0) + reaped.get(p, 0)
        todo.extend(children.get(p, []))
    return total / CLK


def _host_busy() -> tuple[int, int]:
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v) - v[3] - v[4], sum(v)


def busy_pct(interval: float = 1.0) -> float:
    b0 = _host_busy()
    time.sleep(interval)
    b1 = _host_busy()
    return 100 * (os.cpu_count() or 1) * (b1[0] - b0[0]) / max(1, b1[1] - b0[1])


def wait_quiet(limit_pct: float = 25.0, max_wait: float = 20.0) -> float:
    """Start a run only when the host is near idle (other jobs share it), or after max_wait."""
    t0 = time.monotonic()
    while True:
        b = busy_pct()
        if b < limit_pct or time.monotonic() - t0 > max_wait:
            return round(b, 1)


# ------------------------------------------------------------------ the two servers
class PostfixRelay:
    name = "postfix"

    def __init__(self) -> None:
        self.addr = POSTFIX_ADDR
        self.version = subprocess.run(["postconf", "-c", f"{LAB}/postfix/conf", "-h", "mail_version"],
                                      capture_output=True, text=True).stdout.strip()

    @property
    def pid(self) -> int:
        with open(f"{SPOOL}/pid/master.pid") as f:
            return int(f.read().split()[0])

    def queued(self) -> int:
        n = 0
        for q in ("maildrop", "incoming", "active", "deferred", "hold"):
            for _, _, files in os.walk(f"{SPOOL}/{q}"):
                n += len(files)
        return n

    def mark(self) -> int:
        return os.path.getsize(POSTFIX_LOG)

    def delivered(self, mark: int, rcpt: str) -> int:
        time.sleep(0.3)  # postlogd writes the last lines
        with open(POSTFIX_LOG) as f:
            f.seek(mark)
            return sum(1 for line in f if f"to=<{rcpt}>" in line and "status=sent" in line)


class PostroomRelay:
    name = "postroom"

    def __init__(self, data: str, relay_port: int, ports: list[int]) -> None:
        self.data = data
        self.addr = ("127.0.0.1", relay_port)
        self.ports = ports  # Default/Client connectors, POP3, admin: out of the way on high ports
        self.cli_path = os.path.join(os.path.dirname(sys.executable), "postroom")
        self.proc: subprocess.Popen | None = None
        self.log_path = os.path.join(HERE, "results", "postroom-relay-serve.log")
        self.db = os.path.join(data, "postroom.db")

    def cli(self, *args: str) -> str:
        r = subprocess.run([self.cli_path, *args, "--data", self.data], capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            raise RuntimeError(f"postroom {' '.join(args)} exited {r.returncode}: {r.stderr.strip() or r.stdout}")
        return r.stdout

    def provision(self) -> None:
        if os.path.exists(self.data):
            shutil.rmtree(self.data)
        default, client, pop, pops, web, webs = self.ports
        log(f"== postroom: provisioning {self.data}")
        self.cli("init", "--server-name", SERVER, "--fqdn", "localhost")
        self.cli("connector", "set", f"Default {SERVER}", "--bindings", f"127.0.0.1:{default}")
        self.cli("connector", "set", f"Client {SERVER}", "--bindings", f"127.0.0.1:{client}")
        self.cli("pop", "set", "--bindings", f"127.0.0.1:{pop}", "--ssl-bindings", f"127.0.0.1:{pops}")
        self.cli("web", "set", "--http-bindings", f"127.0.0.1:{web}", "--bindings", f"127.0.0.1:{webs}")
        self.cli("send-connector", "new", "Outbound", "--address-spaces", "*", "--no-dns-routing",
                 "--smart-hosts", SINK)
        self.cli("connector", "new", f"Relay {SERVER}", "--bindings", f"{self.addr[0]}:{self.addr[1]}",
                 "--remote-ip-ranges", "127.0.0.1", "--permission-groups", "anonymous-relay", "--auth", "none")

    def start(self, profile: str | None = None) -> None:
        env = {k: v for k, v in os.environ.items() if k != "POSTROOM_AUTH_FAILURE_DELAY"}
        cmd = [self.cli_path, "serve", "--data", self.data]
        if profile:
            cmd = [sys.executable, "-m", "cProfile", "-o", profile, "-m", "postroom", "serve", "--data", self.data]
        with open(self.log_path, "a") as logf:
            self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=logf,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 30
        import socket
        while True:
            try:
                socket.create_connection(self.addr, timeout=0.5).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"postroom serve did not listen on {self.addr} (see {self.log_path})")
                time.sleep(0.1)
        log(f"  postroom serve pid {self.proc.pid}, relay connector on {self.addr[0]}:{self.addr[1]}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def _count(self, sql: str, *args) -> int:
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=5)
        try:
            return int(conn.execute(sql, args).fetchone()[0])
        finally:
            conn.close()

    def queued(self) -> int:
        return self._count("SELECT count(*) FROM queue_messages")

    def mark(self) -> int:
        return 0

    def delivered(self, mark: int, rcpt: str) -> int:
        # tracking rows are written in batches, shortly after the delivery is recorded
        deadline = time.monotonic() + 5
        while True:
            n = self._count("SELECT count(*) FROM message_tracking WHERE event_id = 'SEND' AND recipient = ?", rcpt)
            if time.monotonic() > deadline:
                return n
            time.sleep(0.5)
            if n == self._count("SELECT count(*) FROM message_tracking WHERE event_id = 'SEND' AND recipient = ?",
                                rcpt):
                return n

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


class FloorRelay:
    """bench/relay_floor.py: the least a Python relay spends per message (no store, no parser),
    measured beside the two servers when --relay-servers names `floor`."""
    name = "floor"

    def __init__(self, port: int) -> None:
        self.addr = ("127.0.0.1", port)
        self.root = "/tmp/relay-floor"
        self.spool = os.path.join(self.root, "spool")
        self.log_path = os.path.join(self.root, "delivered.log")
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        os.makedirs(self.spool)
        open(self.log_path, "wb").close()
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "relay_floor.py"), "--port", str(self.addr[1]),
                                      "--smart-host", SINK, "--spool", self.spool], stdout=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        assert self.proc.stdout is not None
        if not self.proc.stdout.readline().startswith(b"ready"):
            raise RuntimeError("relay_floor.py did not start")
        log(f"  floor relay pid {self.proc.pid} on {self.addr[0]}:{self.addr[1]}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def queued(self) -> int:
        return len(os.listdir(self.spool))

    def mark(self) -> int:
        return os.path.getsize(self.log_path)

    def delivered(self, mark: int, rcpt: str) -> int:
        with open(self.log_path, "rb") as f:
            f.seek(mark)
            return sum(1 for line in f if rcpt.encode() in line)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(30)
        self.proc = None


# ------------------------------------------------------------------ one run
def wait_empty(server, limit: float = 600.0) -> bool:
    t0 = time.monotonic()
    while server.queued():
        if time.monotonic() - t0 > limit:
            return False
        time.sleep(0.005)
    return True


def run_once(server, n: int, conc: int, size: int, quiet: bool = True) -> dict:
    tag = uuid.uuid4().hex[:10]
    rcpt = f"r{tag}@sink.example"
    if not wait_empty(server, 120):
        raise RuntimeError(f"{server.name}: queue not empty before the run")
    busy_before = wait_quiet() if quiet else None
    mark = server.mark()
    pid = server.pid
    b0, c0, r0 = _host_busy(), tree_cpu_s(pid), os.times()
    t0 = time.monotonic()
    host, port = server.addr
    source = subprocess.run(["smtp-source", "-s", str(conc), "-m", str(n), "-l", str(size), "-M", HELO,
                             "-f", SENDER, "-t", rcpt, f"{host}:{port}"], capture_output=True, text=True)
    t_acc = time.monotonic()
    drained = wait_empty(server)
    t1 = time.monotonic()
    c1, b1, r1 = tree_cpu_s(pid), _host_busy(), os.times()
    sent = server.delivered(mark, rcpt)
    wall = t1 - t0
    client = (r1[2] + r1[3]) - (r0[2] + r0[3])
    host_pct = 100 * (os.cpu_count() or 1) * (b1[0] - b0[0]) / max(1, b1[1] - b0[1])
    server_pct = 100 * (c1 - c0) / wall
    return {
        "server": server.name, "size": size, "conc": conc, "n": n,
        "ok": drained and sent == n and source.returncode == 0, "sent": sent,
        "error": (source.stderr.strip()[:300] or None) if source.returncode else None,
        "e2e_msgs_per_s": round(n / wall, 1), "accept_msgs_per_s": round(n / (t_acc - t0), 1),
        "drain_after_accept_s": round(t1 - t_acc, 3),
        "cpu_ms_per_msg": round(1000 * (c1 - c0) / n, 3), "server_cpu_pct": round(server_pct, 1),
        "client_cpu_ms_per_msg": round(1000 * client / n, 3), "host_busy_pct": round(host_pct, 1),
        "other_cpu_pct": round(host_pct - server_pct - 100 * client / wall, 1),
        "wall_s": round(wall, 3), "busy_before_pct": busy_before,
    }


def summarise(rows: list[dict]) -> list[dict]:
    out = []
    keys = sorted({(r["size"], r["conc"]) for r in rows})
    for size, conc in keys:
        point = {"size": size, "conc": conc}
        for name in ("postroom", "postfix", "floor"):
            runs = [r for r in rows if r["size"] == size and r["conc"] == conc and r["server"] == name]
            if not runs:
                continue
            good = [r for r in runs if r["ok"]] or runs
            cpu = [r["cpu_ms_per_msg"] for r in good]
            rate = [r["e2e_msgs_per_s"] for r in good]
            point[name] = {"reps": len(runs), "ok": sum(r["ok"] for r in runs), "n": runs[0]["n"],
                           "cpu_ms": statistics.median(cpu), "cpu_ms_range": [min(cpu), max(cpu)],
                           "rate": statistics.median(rate), "rate_range": [min(rate), max(rate)],
                           "accept": statistics.median(r["accept_msgs_per_s"] for r in good),
                           "other": statistics.median(r["other_cpu_pct"] for r in good)}
        out.append(point)
    return out


def run(*, reps: int, n_small: int, n_large: int, sizes: list[int], concs: list[int], data: str,
        relay_port: int, ports: list[int], raw_path: str, profile: str | None = None,
        servers: str = "postroom,postfix") -> list[dict]:
    if os.geteuid() != 0:
        sys.exit("the relay point must run as root: the relay lab starts Postfix and smtp-sink")
    if not shutil.which("smtp-source"):
        sys.exit("smtp-source is missing (Debian package postfix; the relay lab's setup.sh installs it)")
    log(f"== relay lab: bash {LAB_KIT}/setup.sh")
    r = subprocess.run(["bash", os.path.join(LAB_KIT, "setup.sh")], capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        raise RuntimeError(f"relay lab setup failed: {r.stderr[-2000:]}")
    os.makedirs(os.path.dirname(raw_path), exist_ok=True)
    wanted = servers.split(",")
    floor = FloorRelay(FLOOR_PORT)
    provision.refuse_busy_ports([relay_port, *ports] + ([FLOOR_PORT] if "floor" in wanted else []))
    postroom = PostroomRelay(data, relay_port, ports)
    postroom.provision()
    postroom.start(profile)
    if "floor" in wanted:
        floor.start()
    chosen = [s for s in (postroom, PostfixRelay(), floor) if s.name in wanted]
    rows: list[dict] = []
    try:
        with open(raw_path, "w") as raw:
            raw.write(json.dumps({"meta": {
                "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "reps": reps,
                "n_small": n_small, "n_large": n_large, "postfix": PostfixRelay().version,
                "python": sys.version.split()[0], "nproc": os.cpu_count(), "code": _code(),
                "command": "bench/run.py " + " ".join(sys.argv[1:])}}) + "\n")
            for size in sizes:
                n = n_small if size <= 10000 else n_large
                for conc in concs:
                    log(f"== relay {size // 1024} KB c={conc}: {n} messages per run")
                    for s in chosen:  # warm-up, not kept: connections, caches, Postfix's processes
                        run_once(s, min(200, n), conc, size, quiet=False)
                    for rep in range(reps):
                        for s in (chosen if rep % 2 == 0 else chosen[::-1]):
                            d = run_once(s, n, conc, size, quiet=not profile)  # a profile needs no quiet host
                            d["rep"] = rep
                            rows.append(d)
                            raw.write(json.dumps(d) + "\n")
                            raw.flush()
                            log(f"  {s.name:8} rep{rep} ok={d['ok']} e2e={d['e2e_msgs_per_s']} msg/s "
                                f"accept={d['accept_msgs_per_s']} cpu={d['cpu_ms_per_msg']} ms/msg "
                                f"({d['server_cpu_pct']}%) drain={d['drain_after_accept_s']}s "
                                f"other={d['other_cpu_pct']}% busy_before={d['busy_before_pct']}"
                                + (f" ERROR {d['error']}" if d["error"] else ""))
    finally:
        postroom.stop()
        floor.stop()
    return rows


def _code() -> dict:
    def git(*args: str) -> str:
        r = subprocess.run(["git", "-C", REPO, *args], capture_output=True, text=True)
        return r.stdout.strip() if r.returncode == 0 else ""
    return {"commit": git("rev-parse", "--short", "HEAD"), "src_dirty": bool(git("status", "--porcelain", "--", "src"))}


def load(raw_path: str) -> tuple[dict, list[dict]]:
    meta, rows = {}, []
    with open(raw_path) as f:
        for line in f:
            d = json.loads(line)
            if "meta" in d:
                meta = d["meta"]
            else:
                rows.append(d)
    return meta, rows
