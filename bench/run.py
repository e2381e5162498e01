#!/usr/bin/env python3
"""`make bench`: postroom against Dovecot (POP3) and Postfix (SMTP), on this machine, in one run.

  .venv/bin/python bench/run.py [--reps 3] [--duration 5] [--quick]
      [--only login,login-cold,retr-small,retr-large,idle,smtp-small,smtp-large]
  SMTP points only:  .venv/bin/python bench/run.py --only smtp-small,smtp-large
  Relay point only:  .venv/bin/python bench/run.py --only relay [--reps 3] [--relay-n 1000,300]
      (postroom against Postfix relaying to a sink: see bench/relay.py; its own section of
      docs/performance.md, kept by the other runs)
  IMAP4 points only: .venv/bin/python bench/run.py
      --only imap-login,imap-headers,imap-bodies,imap-search,imap-store,imap-mixed
      (postroom's imap4 service against Dovecot's imapd: see bench/imap_bench.py; its own section of
      docs/performance.md, kept by the other runs)
  Idle memory only: .venv/bin/python bench/run.py --only imap-idle-memory [--idlemem-n 10000,1000,10000]
      (memory per idle IMAP4 TLS connection, postroom against Dovecot with and without hibernation:
      see bench/idlemem_bench.py; its own part of docs/performance.md)

1. Starts the shared kit's peers (../shared/bench/setup_peers.sh, Dovecot in performance login
   mode, Postfix with real delivery into maildirs) and reads their master pids from
   /tmp/bench-peers/{dovecot,postfix}.pid.
2. Provisions postroom in its own data dir with the kit's users and the very Maildirs the kit
   seeded for Dovecot, the kit's RSA-2048 certificate (POP3, and SMTP through the connectors'
   default), loopback high ports for POP3 and both receive connectors, and starts
   `postroom serve` (its pid is postroom's --server-pid).
3. Measures with the kit's mailload.py, point by point: POP3 postroom against Dovecot, SMTP
   postroom against Postfix; the two servers alternate within each repetition; medians of
   --reps runs of --duration seconds.
4. Writes raw JSON lines to bench/results/raw.jsonl and the tables to docs/performance.md
   (--doc elsewhere, or --no-doc, for a partial run you do not want in the doc).
5. Stops postroom (SIGTERM) and the peers (stop_peers.sh), whatever happened.
Must run as root (the kit installs and starts Dovecot/Postfix). Loopback only.
"""
from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import platform
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import idlemem_bench  # noqa: E402
import imap_bench  # noqa: E402
import provision  # noqa: E402
import relay  # noqa: E402
import report  # noqa: E402

KIT = os.environ.get("BENCH_KIT", os.path.normpath(os.path.join(REPO, "..", "shared", "bench")))
ML = os.path.join(KIT, "mailload.py")
DV, PF, PEERS = "/tmp/bench-dovecot", "/tmp/bench-postfix", "/tmp/bench-peers"
SMALL, LARGE = 2048, 1048576
RESULTS = os.path.join(HERE, "results")
POP_GROUPS = ("login", "login-cold", "retr-small", "retr-large", "idle")
SMTP_GROUPS = ("smtp-small", "smtp-large")
RELAY_GROUPS = ("relay",)
IMAP_GROUPS = imap_bench.IMAP_GROUPS
IDLEMEM_GROUPS = (idlemem_bench.GROUP,)  # memory per idle TLS connection (bench/idlemem_bench.py)
# The kit's Postfix knows bench001..benchNUSERS@bench.test (its vmailbox map); postroom has the
# same addresses as mailboxes (the kit's small users).
RCPT_TEMPLATE = "bench{i:03d}@bench.test"
POSTFIX_SMTP_PORT = 22525  # the kit's smtpd: STARTTLS offered, AUTH PLAIN (Dovecot SASL), virtual(8) delivery


def log(*a) -> None:
    print(*a, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------
# the two servers
# ------------------------------------------------------------------------------------------
class Dovecot:
    name = "dovecot"

    def __init__(self, nusers: int, install: bool) -> None:
        self.nusers, self.install = nusers, install
        self.ports = {"plain": 21110, "tls": 21995}
        self.users = {"small": os.path.join(DV, "users-small.txt"), "large": os.path.join(DV, "users-large.txt"),
                      "crypt": os.path.join(DV, "users-crypt.txt")}
        self.started = False
        self.version = ""

    def start(self) -> None:
        env = dict(os.environ, DOVECOT_LOGIN_MODE="performance", NUSERS=str(self.nusers))
        if not self.install:
            env["NO_INSTALL"] = "1"
        log(f"== peers: setup_peers.sh (DOVECOT_LOGIN_MODE=performance NUSERS={self.nusers}"
            f"{'' if self.install else ' NO_INSTALL=1'})")
        self.started = True  # from here on, stop_peers.sh is due whatever happens
        r = subprocess.run(["bash", os.path.join(KIT, "setup_peers.sh")], env=env, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=1200)
        for line in r.stdout.splitlines():
            if not line.startswith("debconf") and "apt-utils" not in line:
                log("  " + line)
        if r.returncode != 0:
            raise RuntimeError(f"setup_peers.sh exited {r.returncode}")
        self.version = subprocess.run(["dovecot", "--version"], capture_output=True, text=True).stdout.strip()

    @property
    def pid(self) -> int:
        with open(os.path.join(PEERS, "dovecot.pid")) as f:
            return int(f.read().split()[0])

    def fresh(self) -> None:
        """New login processes (a reload), so an idle-memory run does not reuse freed memory."""
        subprocess.run(["doveadm", "-c", os.path.join(DV, "dovecot.conf"), "reload"], check=True,
                       capture_output=True, timeout=30)
        time.sleep(2.0)
        wait_port(self.ports["plain"])
        wait_port(self.ports["tls"])

    def fresh_for_point(self) -> None:
        """Nothing to do: no credential cache (auth_cache_size = 0 by default), PLAIN passwords."""

    def stop(self) -> None:
        if self.started:
            log("== peers: stop_peers.sh")
            r = subprocess.run(["bash", os.path.join(KIT, "stop_peers.sh")], capture_output=True, text=True,
                               timeout=120)
            for line in (r.stdout + r.stderr).splitlines():
                log("  " + line)
            self.started = False


class Postroom:
    name = "postroom"

    def __init__(self, data: str, users: dict, cert: str, key: str, plain_port: int, tls_port: int,
                 smtp_ports: tuple[int, int], smtp: bool) -> None:
        self.data = data
        self.kit_users = users  # {"small": [KitUser], "large": [KitUser]}
        self.cert, self.key = cert, key
        self.ports = {"plain": plain_port, "tls": tls_port,
                      "smtp-default": smtp_ports[0], "smtp-client": smtp_ports[1]}
        self.smtp = smtp  # SMTP points selected: wait for the connectors' listeners too
        self.seeded_max_id: int | None = None
        self.users = {
            kind: provision.write_postroom_users_file(users[kind], os.path.join(RESULTS, f"postroom-users-{kind}.txt"))
            for kind in users
        }
        bindir = os.path.dirname(sys.executable)
        self.cli = os.path.join(bindir, "postroom")
        if not os.path.exists(self.cli):
            raise RuntimeError(f"{self.cli} not found: run `make install` (make bench does)")
        self.proc: subprocess.Popen | None = None
        self.log_path = os.path.join(RESULTS, "postroom-serve.log")
        self.provisioned: dict = {}

    def provision(self, via_cli: bool, rcpts: list[str]) -> None:
        for port in self.ports.values():
            if port_open(port):
                raise RuntimeError(f"127.0.0.1:{port} is already in use: pick other ports "
                                   "(--postroom-ports, --postroom-smtp-ports)")
        log(f"== postroom: provisioning {self.data}")
        self.provisioned = provision.provision(
            postroom=self.cli, data=self.data, users=self.kit_users["small"] + self.kit_users["large"],
            cert=self.cert, key=self.key, bindings=f"127.0.0.1:{self.ports['plain']}",
            ssl_bindings=f"127.0.0.1:{self.ports['tls']}",
            smtp_bindings={"default": f"127.0.0.1:{self.ports['smtp-default']}",
                           "client": f"127.0.0.1:{self.ports['smtp-client']}"},
            rcpts=rcpts, log=log, via_cli=via_cli)
        self.seeded_max_id = self.provisioned["seeded_max_message_id"]

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if k != "POSTROOM_AUTH_FAILURE_DELAY"}
        logf = open(self.log_path, "a")
        logf.write(f"---- postroom serve started {dt.datetime.now().isoformat(timespec='seconds')}\n")
        logf.flush()
        self.proc = subprocess.Popen([self.cli, "serve", "--data", self.data], env=env, stdin=subprocess.DEVNULL,
                                     stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)
        logf.close()
        try:
            wait_port(self.ports["plain"], 30, self.proc)
            wait_port(self.ports["tls"], 30, self.proc)
            if self.smtp:
                wait_port(self.ports["smtp-default"], 30, self.proc)
                wait_port(self.ports["smtp-client"], 30, self.proc)
        except Exception:
            self.stop()
            raise
        log(f"  postroom serve pid {self.proc.pid} on 127.0.0.1:{self.ports['plain']} (plain/STLS), "
            f"127.0.0.1:{self.ports['tls']} (TLS)"
            + (f", SMTP 127.0.0.1:{self.ports['smtp-default']} ({provision.CONNECTORS['default']}), "
               f"127.0.0.1:{self.ports['smtp-client']} ({provision.CONNECTORS['client']})" if self.smtp else ""))

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def fresh(self) -> None:
        """A new process, so an idle-memory run measures new memory, not memory freed by earlier runs."""
        self.stop()
        self.start()

    def fresh_for_point(self) -> None:
        """A restart; while stopped, messages that SMTP points delivered are removed, so every
        point starts from the seeded mailboxes (POP3 expects them) and the store stays small."""
        self.stop()
        self.purge()
        self.start()

    def purge(self) -> None:
        if self.seeded_max_id is None or self.proc is not None:
            return
        removed, touched = provision.purge_delivered(self.data, self.seeded_max_id)
        if removed:
            log(f"  postroom: removed {removed} delivered messages from {touched} mailboxes")

    def message_count(self) -> int:
        return provision.count_messages(self.data)

    def wait_delivered(self) -> dict:
        """postroom answers 250 only once the message is committed: nothing left to wait for."""
        return {"drain_s": 0.0}

    def collect_delivered(self) -> dict:
        return {}

    @property
    def sasl_pid(self) -> int | None:
        return None  # AUTH is verified in postroom's own process

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                log(f"  postroom pid {self.proc.pid} ignored SIGTERM for 15 s: SIGKILL")
                self.proc.kill()
                self.proc.wait(5)
        rc = self.proc.returncode
        if rc not in (0, -signal.SIGTERM):
            log(f"  postroom serve exited {rc} (see {self.log_path})")
        self.proc = None


class Postfix:
    """The kit's Postfix, started by setup_peers.sh with Dovecot (Dovecot.start)."""

    name = "postfix"

    def __init__(self, dovecot: Dovecot) -> None:
        self.dovecot = dovecot
        self.ports = {"smtp": POSTFIX_SMTP_PORT}
        self.users = {"small": dovecot.users["small"]}  # AUTH PLAIN names: Dovecot's passwd-file users
        self.version = ""

    def check(self) -> None:
        self.version = subprocess.run(["postconf", "-c", os.path.join(PF, "etc"), "-h", "mail_version"],
                                      capture_output=True, text=True).stdout.strip()
        os.kill(self.pid, 0)
        wait_port(self.ports["smtp"])
        log(f"  postfix {self.version} master pid {self.pid} on 127.0.0.1:{self.ports['smtp']}")

    @property
    def pid(self) -> int:
        """The master: smtpd, cleanup, qmgr, virtual, trivial-rewrite, postlogd ... are its children."""
        with open(os.path.join(PEERS, "postfix.pid")) as f:
            return int(f.read().split()[0])

    @property
    def sasl_pid(self) -> int:
        """Postfix hands AUTH PLAIN to Dovecot's auth service (smtpd_sasl_type = dovecot)."""
        return self.dovecot.pid

    def queue_len(self) -> int:
        n = 0
        for q in ("maildrop", "incoming", "active", "deferred", "hold"):
            for _, _, files in os.walk(os.path.join(PF, "queue", q)):
                n += len(files)
        return n

    def wait_delivered(self, limit: float = 300.0) -> dict:
        """Postfix answers 250 once the queue file is safe; delivery into the maildirs follows
        (qmgr, virtual). Wait until the queue is empty."""
        t0 = time.monotonic()
        while self.queue_len() and time.monotonic() - t0 < limit:
            time.sleep(0.05)
        return {"drain_s": round(time.monotonic() - t0, 2), "undelivered": self.queue_len()}

    def collect_delivered(self) -> dict:
        """Count and remove what virtual(8) delivered (as the kit's run_matrix does): 1 MiB points
        would otherwise leave gigabytes behind."""
        delivered = 0
        vmail = os.path.join(PF, "vmail")
        for user in os.listdir(vmail) if os.path.isdir(vmail) else ():
            for sub in ("new", "cur"):
                path = os.path.join(vmail, user, "Maildir", sub)
                if os.path.isdir(path):
                    for name in os.listdir(path):
                        os.unlink(os.path.join(path, name))
                        delivered += 1
        return {"delivered": delivered}

    def fresh_for_point(self) -> None:
        """Nothing to restart: an empty queue and empty maildirs."""
        self.wait_delivered()
        self.collect_delivered()

    def message_count(self) -> None:
        return None


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_port(port: int, timeout: float = 15.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"postroom serve exited {proc.returncode} before listening on {port}")
        if port_open(port):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s")


# ------------------------------------------------------------------------------------------
# the matrix
# ------------------------------------------------------------------------------------------
def points(concs: list[int], idle: int) -> list[dict]:
    """Every measured point; the same mailload arguments for both servers (SMTP: the port and the
    users file differ by server, see smtp_args)."""
    out = []
    for tls in ("none", "starttls", "implicit"):
        out.append({"id": f"login {tls} c8", "group": "login", "mode": "pop3-login", "tls": tls, "conc": 8,
                    "users": "small", "metric": "ops_per_s", "unit": "logins/s"})
    # Information, no target: logins that compute the password hash. postroom: the first login of
    # each mailbox after a restart (argon2id, then cached); Dovecot: the kit's SHA512-CRYPT users
    # (Dovecot's auth cache is off by default, so every login hashes).
    out.append({"id": "login none c8, hash computed", "group": "login-cold", "mode": "pop3-login", "tls": "none",
                "conc": 8, "users": "small", "metric": "ops_per_s", "unit": "logins/s", "info": True,
                "users_by_server": {"dovecot": "crypt"}, "cold": True})
    for kind, size, nmsg, metric, unit in (("small", SMALL, 10, "messages_per_s", "msgs/s"),
                                          ("large", LARGE, 3, "mb_per_s", "MB/s")):
        for tls in ("none", "implicit"):
            for c in concs:
                out.append({"id": f"retr {'2KB' if kind == 'small' else '1MiB'} {tls} c{c}", "group": f"retr-{kind}",
                            "mode": "pop3-retr", "tls": tls, "conc": c, "users": kind, "metric": metric,
                            "unit": unit, "args": ["--expect-messages", str(nmsg), "--expect-size", str(size),
                                                   "--max-ops", "100000"]})
    for tls in ("none", "implicit"):
        out.append({"id": f"idle {idle} {tls}", "group": "idle", "mode": "idle-connections", "tls": tls,
                    "conc": 50, "users": "small", "metric": "rss_kb_per_conn", "unit": "KB/conn",
                    "args": ["--idle", str(idle), "--hold", "1", "--settle", "1", "--io-timeout", "20"],
                    "duration": 30})
    # SMTP last: postroom's deliveries land in the POP3 mailboxes (removed again at each restart).
    for kind, size in (("small", SMALL), ("large", LARGE)):
        for variant, tls, auth, connector in (("plain", "none", False, "default"),
                                              ("starttls+auth", "starttls", True, "client")):
            for c in concs:
                out.append({"id": f"smtp {'2KB' if kind == 'small' else '1MiB'} {variant} c{c}",
                            "group": f"smtp-{kind}", "mode": "smtp-deliver", "tls": tls, "auth": auth,
                            "conc": c, "size": size, "users": "small", "metric": "messages_per_s",
                            "unit": "msgs/s", "connector": provision.CONNECTORS[connector],
                            "port_by_server": {"postroom": f"smtp-{connector}", "postfix": "smtp"}})
    return out


def mailload(args: list[str], timeout: float) -> dict:
    return provision.run_json_tool(ML, args, timeout, log)


def host_busy_pct(interval: float = 1.0) -> float:
    """Busy CPU over `interval`, in % of one CPU (so up to 100 x nproc), from /proc/stat."""
    def sample():
        with open("/proc/stat") as f:
            vals = [int(x) for x in f.readline().split()[1:9]]
        idle = vals[3] + vals[4]
        return sum(vals) - idle, sum(vals)
    b0, t0 = sample()
    time.sleep(interval)
    b1, t1 = sample()
    return 100.0 * (os.cpu_count() or 1) * (b1 - b0) / max(1, t1 - t0)


QUIET_WAIT = [180.0]  # --quiet-wait


def wait_quiet(limit: float = 20.0, max_wait: float | None = None) -> float:
    """Other people's jobs (a test suite, a build) share these CPUs: wait until the machine is
    idle apart from our idle servers before a measured run, or give up after max_wait."""
    max_wait = QUIET_WAIT[0] if max_wait is None else max_wait
    t0 = time.monotonic()
    busy = host_busy_pct()
    while busy > limit and time.monotonic() - t0 < max_wait:
        log(f"    machine busy ({busy:.0f}% CPU from other processes): waiting")
        time.sleep(4.0)
        busy = host_busy_pct()
    return round(busy, 1)


def port_for(server, tls: str) -> int:
    return server.ports["tls"] if tls == "implicit" else server.ports["plain"]


def warm(server, kinds=("small", "large"), login_only=False) -> None:
    """Not measured. Dovecot indexes each Maildir on first access; postroom's credential cache
    (TTL 300 s) gets every user, as it has in steady state for applications that poll."""
    for kind in kinds:
        n = sum(1 for _ in open(server.users[kind]))
        mode = "pop3-login" if login_only else "pop3-session"
        d = mailload(["--mode", mode, "--port", str(server.ports["plain"]), "--users-file", server.users[kind],
                      "-c", "8", "--duration", "60", "--max-ops", str(n), "--max-errors", "1000",
                      "--label", "warm-up"], 150)
        if d.get("errors"):
            log(f"    warm-up {server.name} {kind}: {d.get('errors')} errors ({d.get('first_error')})")


def run_point(p: dict, servers: list, reps: int, duration: float, raw) -> None:
    log(f"== {p['id']}")
    if p["group"] not in ("idle", "login-cold"):
        for s in servers:
            # postroom's credential cache keeps an entry 300 s from its verification (a hit does not
            # extend it): a restart, then the point's own workload once per user (unmeasured), makes
            # sure no entry expires inside this point and each point starts from the same state.
            s.fresh_for_point()
            n = sum(1 for _ in open(s.users[p["users"]]))
            # first every credential at c=8 (a cold postroom login runs argon2id on a 2-thread pool:
            # 64 at once would queue past mailload's 10-s I/O timeout), then the workload itself
            warm(s, kinds=(p["users"],), login_only=True)
            d = mailload(["--mode", p["mode"], "--port", str(port_for(s, p["tls"])), "--tls", p["tls"],
                          "--users-file", s.users[p["users"]], "-c", str(p["conc"]), "--duration", "30",
                          "--label", "warm-up"] + p.get("args", []) + ["--max-ops", str(n), "--max-errors", "1000"],
                         150)
            if d.get("errors"):
                log(f"    warm-up {s.name}: {d.get('errors')} errors ({d.get('first_error')})")
    for rep in range(reps):
        order = servers if rep % 2 == 0 else servers[::-1]
        for s in order:
            kind = p.get("users_by_server", {}).get(s.name, p["users"])
            extra = []
            if p.get("cold"):
                s.fresh_for_point()
                if s.name == "postroom":  # each mailbox once: every login verifies argon2id
                    extra = ["--max-ops", str(sum(1 for _ in open(s.users[kind])))]
            if p["group"] == "idle":
                s.fresh()
                # one login of each kind first: one-time lazy set-up is not per-connection memory
                for tls in ("none", "implicit"):
                    mailload(["--mode", "pop3-login", "--port", str(port_for(s, tls)), "--tls", tls,
                              "--users-file", s.users["small"], "-c", "1", "--max-ops", "2", "--duration", "5"], 60)
            dur = p.get("duration", duration)
            if p.get("cold") and s.name == "postroom":
                dur = max(dur, 60)  # bounded by --max-ops: one login per mailbox
            args = ["--mode", p["mode"], "--port", str(port_for(s, p["tls"])), "--tls", p["tls"],
                    "--users-file", s.users[kind], "-c", str(p["conc"]), "--duration", str(dur),
                    "--server-pid", str(s.pid), "--label", f"{s.name} {p['id']}"] + p.get("args", []) + extra
            quiet = wait_quiet()
            d = mailload(args, dur + 120)
            d["busy_before_pct"] = quiet
            if d.get("host_cpu_busy_pct") is not None:
                d["other_cpu_pct"] = round(d["host_cpu_busy_pct"] - (d.get("server_cpu_pct") or 0)
                                           - (d.get("client_cpu_pct") or 0), 1)
            d.update(point=p["id"], group=p["group"], server=s.name, rep=rep, metric=p["metric"], unit=p["unit"],
                     users=kind, info=bool(p.get("info")))
            raw.write(json.dumps(d) + "\n")
            raw.flush()
            if p["group"] == "idle":
                log(f"  {s.name:8} rep{rep} ok={d.get('ok')} opened={d.get('opened')} "
                    f"rss/conn={d.get('rss_kb_per_conn')} KB pss/conn={d.get('pss_kb_per_conn')} KB "
                    f"probe={d.get('probe_login_ms')} ms")
            else:
                log(f"  {s.name:8} rep{rep} ok={d.get('ok')} {p['unit']}={d.get(p['metric'])} "
                    f"cpu={d.get('server_cpu_pct')}% ms/op={d.get('server_cpu_ms_per_op')} "
                    f"rss={round((d.get('server_rss_kb') or 0) / 1024, 1)}MB client={d.get('client_cpu_pct')}%"
                    + (f" other={d.get('other_cpu_pct')}%" if (d.get("other_cpu_pct") or 0) > 15 else "")
                    + (f" errors={d.get('errors')} ({d.get('first_error')})" if d.get("errors") else ""))


_KIT_MAILLOAD = None


def kit_mailload():
    """The kit's mailload module, for the very process-tree CPU accounting it uses (--server-pid)."""
    global _KIT_MAILLOAD
    if _KIT_MAILLOAD is None:
        spec = importlib.util.spec_from_file_location("kit_mailload", ML)
        _KIT_MAILLOAD = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(_KIT_MAILLOAD)
    return _KIT_MAILLOAD


def tree_cpu_s(pid: int | None) -> float | None:
    if not pid:
        return None
    ml = kit_mailload()
    return ml.tree_cpu_ticks(pid) / ml.CLK_TCK


def smtp_args(p: dict, s, conc: int, duration: float, nrcpt: int, msgs_per_conn: int) -> list[str]:
    """mailload smtp-deliver for one server: its port for the point, its users file (AUTH PLAIN
    names: the kit's for Postfix/Dovecot SASL, full addresses for postroom), the same recipients."""
    args = ["--mode", "smtp-deliver", "--port", str(s.ports[p["port_by_server"][s.name]]), "--tls", p["tls"],
            "--size", str(p["size"]), "--users-file", s.users[p["users"]], "-c", str(conc),
            "--duration", str(duration), "--msgs-per-conn", str(msgs_per_conn),
            "--rcpt-template", RCPT_TEMPLATE, "--rcpt-count", str(nrcpt)]
    return args + (["--auth"] if p["auth"] else [])


def run_smtp_point(p: dict, servers: list, reps: int, duration: float, raw, nrcpt: int, msgs_per_conn: int) -> None:
    """One SMTP point. Server CPU per message is measured from just before the load to the
    moment every accepted message is delivered (Postfix delivers after its 250, postroom before
    it), over the server's whole process tree; mailload's own figure (load window only) is kept
    as server_cpu_s."""
    log(f"== {p['id']}")
    for s in servers:
        # postroom: restart (its credential cache and recipient cache start empty) and remove
        # earlier deliveries; Postfix: empty queue and maildirs. Then the point's own workload once
        # per user, unmeasured: credentials verified (first at c=8: a cold postroom AUTH runs
        # argon2id on a 2-thread pool), recipients looked up, Postfix's maildirs created.
        s.fresh_for_point()
        n = sum(1 for _ in open(s.users[p["users"]]))
        warm_runs = ([8] if p["auth"] else []) + [p["conc"]]
        for conc in warm_runs:
            d = mailload(smtp_args(p, s, conc, 60, nrcpt, msgs_per_conn)
                         + ["--max-ops", str(max(n, nrcpt)), "--max-errors", "1000", "--label", "warm-up"], 400)
            if d.get("errors"):
                log(f"    warm-up {s.name}: {d.get('errors')} errors ({d.get('first_error')})")
        s.wait_delivered()
        s.collect_delivered()
    for rep in range(reps):
        order = servers if rep % 2 == 0 else servers[::-1]
        for s in order:
            s.wait_delivered()  # nothing of the other server's run still in flight
            s.collect_delivered()
            stored_before = s.message_count()
            quiet = wait_quiet()
            cpu0, sasl0 = tree_cpu_s(s.pid), tree_cpu_s(s.sasl_pid if p["auth"] else None)
            args = smtp_args(p, s, p["conc"], duration, nrcpt, msgs_per_conn) + [
                "--max-ops", "1000000", "--server-pid", str(s.pid), "--label", f"{s.name} {p['id']}"]
            d = mailload(args, duration + 120)
            drained = s.wait_delivered()
            cpu1, sasl1 = tree_cpu_s(s.pid), tree_cpu_s(s.sasl_pid if p["auth"] else None)
            drained.update(s.collect_delivered())
            stored_after = s.message_count()
            d.update(drained)
            msgs = d.get("messages") or 0
            d["server_cpu_drained_s"] = round(cpu1 - cpu0, 3)
            d["cpu_ms_per_msg_drained"] = round(1000.0 * (cpu1 - cpu0) / msgs, 4) if msgs else None
            if sasl0 is not None:
                d["sasl_cpu_s"] = round(sasl1 - sasl0, 3)
                d["sasl_cpu_ms_per_msg"] = round(1000.0 * (sasl1 - sasl0) / msgs, 4) if msgs else None
            if stored_before is not None and stored_after is not None:
                d["delivered"] = stored_after - stored_before
            if d.get("undelivered"):
                d["ok"] = False
                d.setdefault("first_error", f"{d['undelivered']} messages still queued {d['drain_s']} s after the run")
            elif d.get("delivered") is not None and d["delivered"] != msgs:
                log(f"    WARNING: {s.name} accepted {msgs} messages, {d['delivered']} arrived in mailboxes")
            if msgs and d.get("elapsed_s"):
                d["delivered_per_s"] = round(msgs / (d["elapsed_s"] + d.get("drain_s", 0.0)), 2)
            d["busy_before_pct"] = quiet
            if d.get("host_cpu_busy_pct") is not None:
                d["other_cpu_pct"] = round(d["host_cpu_busy_pct"] - (d.get("server_cpu_pct") or 0)
                                           - (d.get("client_cpu_pct") or 0), 1)
            d.update(point=p["id"], group=p["group"], server=s.name, rep=rep, metric=p["metric"], unit=p["unit"],
                     users=p["users"], info=False, size=p["size"], auth=p["auth"], conc=p["conc"],
                     connector=p["connector"] if s.name == "postroom" else f"postfix smtpd :{s.ports['smtp']}")
            raw.write(json.dumps(d) + "\n")
            raw.flush()
            log(f"  {s.name:8} rep{rep} ok={d.get('ok')} msgs/s={d.get('messages_per_s')} "
                f"MB/s={d.get('mb_per_s')} cpu={d.get('server_cpu_pct')}% "
                f"ms/msg={d.get('cpu_ms_per_msg_drained')} (window {d.get('server_cpu_ms_per_op')}) "
                f"drain={d.get('drain_s')}s delivered={d.get('delivered')}"
                + (f" sasl ms/msg={d.get('sasl_cpu_ms_per_msg')}" if d.get("sasl_cpu_s") is not None else "")
                + f" client={d.get('client_cpu_pct')}%"
                + (f" other={d.get('other_cpu_pct')}%" if (d.get("other_cpu_pct") or 0) > 15 else "")
                + (f" errors={d.get('errors')} ({d.get('first_error')})" if d.get("errors") else ""))


def smtp_tls_check(port: int, cert: str) -> dict:
    """STARTTLS on a port: the certificate it presents (the kit's?), the TLS version and cipher."""
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    with open(cert) as f:
        want = ssl.PEM_cert_to_DER_cert(f.read())
    with smtplib.SMTP("127.0.0.1", port, local_hostname="bench.check", timeout=15) as smtp:
        smtp.starttls(context=ctx)
        sock = smtp.sock
        out = {"same_certificate_as_kit": sock.getpeercert(binary_form=True) == want, "tls": sock.version(),
               "cipher": (sock.cipher() or ("?",))[0]}
        smtp.ehlo("bench.check")
        out["auth"] = smtp.esmtp_features.get("auth", "").strip()
    return out


def code_state() -> dict:
    """Which postroom was measured: others may be editing src/ while the bench runs."""
    import hashlib

    def git(*args: str) -> str:
        r = subprocess.run(["git", "-C", REPO, *args], capture_output=True, text=True)
        return r.stdout.rstrip() if r.returncode == 0 else ""  # porcelain lines start with a space

    digest = hashlib.sha256()
    src = os.path.join(REPO, "src")
    for root, dirs, files in os.walk(src):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.endswith(".egg-info"))
        for name in sorted(files):
            if name.endswith((".py", ".sql")):
                path = os.path.join(root, name)
                digest.update(os.path.relpath(path, src).encode() + b"\0")
                with open(path, "rb") as f:
                    digest.update(f.read())
    dirty = [line[3:] for line in git("status", "--porcelain", "--", "src").splitlines()]
    return {"commit": git("rev-parse", "--short", "HEAD"), "src_dirty": dirty, "src_sha256": digest.hexdigest()[:16]}


def machine_facts(dovecot: Dovecot, postfix: Postfix | None = None) -> dict:
    try:
        import uvloop
        uv = uvloop.__version__
    except ImportError:
        uv = None
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gb = None
    try:
        with open("/proc/meminfo") as f:
            mem_gb = round(int(f.readline().split()[1]) / 1024 / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    import ssl
    return {"nproc": os.cpu_count(), "cpu": model, "mem_gb": mem_gb, "kernel": platform.release(),
            "python": platform.python_version(), "uvloop": uv, "openssl": ssl.OPENSSL_VERSION,
            "dovecot": dovecot.version, "postfix": postfix.version if postfix else None}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=3, help="runs per point and server (median reported)")
    ap.add_argument("--duration", type=float, default=5.0, help="seconds per load run")
    ap.add_argument("--quick", action="store_true", help="smoke run: 1 rep x 2 s, 200 idle connections")
    ap.add_argument("--only", default=",".join(POP_GROUPS + SMTP_GROUPS + IMAP_GROUPS + IDLEMEM_GROUPS
                                               + RELAY_GROUPS),
                    help="groups to run: POP3 " + ",".join(POP_GROUPS) + "; SMTP " + ",".join(SMTP_GROUPS)
                    + " (2 KB / 1 MiB messages); IMAP4 " + ",".join(IMAP_GROUPS + IDLEMEM_GROUPS)
                    + "; relay (submission -> queue -> sink, against Postfix)")
    ap.add_argument("--idlemem-n", default="10000,1000,10000",
                    help="imap-idle-memory: idle TLS connections to postroom, Dovecot, Dovecot with hibernation")
    ap.add_argument("--imap-conc", default="1,8", help="IMAP4 points: concurrencies")
    ap.add_argument("--imap-nusers", type=int, default=16, help="IMAP4 points: mailboxes (imap001..)")
    ap.add_argument("--imap-ports", default="21143,21993,31143,31993,31225,31287,31210,31295,31280,31243",
                    help="IMAP4 points: Dovecot's IMAP and IMAPS, postroom's IMAP and IMAPS, then postroom's "
                         "Default and Client connectors, POP3, POP3S, HTTP and HTTPS (out of the way)")
    ap.add_argument("--relay-n", default="1000,300", help="relay point: messages per run at 2 KB, at 100 KB")
    ap.add_argument("--relay-sizes", default="2048,102400", help="relay point: message sizes")
    ap.add_argument("--relay-concs", default="1,8", help="relay point: concurrent connections")
    ap.add_argument("--relay-servers", default="postroom,postfix",
                    help="relay point: servers (profiling: postroom; floor: bench/relay_floor.py, the least a "
                         "Python relay spends)")
    ap.add_argument("--relay-profile", default=None, metavar="FILE",
                    help="relay point: run postroom serve under cProfile, stats to FILE")
    ap.add_argument("--relay-ports", default="31125,31126,31127,31128,31129,31130,31131",
                    help="relay point: postroom's relay connector, then Default, Client, POP3, POP3S, HTTP, HTTPS")
    ap.add_argument("--conc", default="1,8,64", help="concurrencies of the retrieval and SMTP points")
    ap.add_argument("--idle", type=int, default=1000, help="idle connections for the memory points")
    ap.add_argument("--nusers", type=int, default=int(os.environ.get("BENCH_NUSERS", "200")),
                    help="kit NUSERS: users of each kind; must exceed the highest concurrency, because "
                         "postroom locks a mailbox per session (-ERR [IN-USE]) and mailload reuses users round-robin")
    ap.add_argument("--data", default="/tmp/bench-postroom/var", help="postroom data dir (recreated)")
    ap.add_argument("--postroom-ports", default="31110,31995", help="plain/STLS and implicit-TLS ports")
    ap.add_argument("--postroom-smtp-ports", default="31025,31587",
                    help="ports of the receive connectors Default BENCH and Client BENCH")
    ap.add_argument("--smtp-msgs-per-conn", type=int, default=1,
                    help="SMTP messages per connection (1: every message pays connect, EHLO, TLS, AUTH)")
    ap.add_argument("--install", choices=["auto", "yes", "no"], default="auto",
                    help="let setup_peers.sh apt-get install Dovecot/Postfix (auto: only if missing)")
    ap.add_argument("--via-cli", action="store_true", help="create mailboxes with the CLI (slow) instead of in-process")
    ap.add_argument("--doc", default=os.path.join(REPO, "docs", "performance.md"))
    ap.add_argument("--no-doc", action="store_true", help="do not rewrite docs/performance.md")
    ap.add_argument("--quiet-wait", type=float, default=180.0,
                    help="seconds to wait before each measured run for other processes to go quiet (0: no wait, "
                         "smoke runs on a shared machine)")
    ap.add_argument("--keep-running", action="store_true", help="leave both servers running at the end (debugging)")
    a = ap.parse_args()
    if a.quick:
        a.reps, a.duration, a.idle = 1, 2.0, 200
    QUIET_WAIT[0] = a.quiet_wait
    if os.geteuid() != 0:
        sys.exit("bench/run.py must run as root: the shared kit installs and starts Dovecot and Postfix")
    concs = [int(c) for c in a.conc.split(",")]
    if a.nusers <= max(concs):
        log(f"warning: --nusers {a.nusers} <= concurrency {max(concs)}: postroom will answer -ERR [IN-USE]")
    groups = set(g for g in a.only.split(",") if g)
    unknown = groups - set(POP_GROUPS + SMTP_GROUPS + IMAP_GROUPS + IDLEMEM_GROUPS + RELAY_GROUPS)
    if unknown:
        sys.exit(f"unknown --only group(s) {', '.join(sorted(unknown))}: choose from "
                 f"{','.join(POP_GROUPS + SMTP_GROUPS + IMAP_GROUPS + IDLEMEM_GROUPS + RELAY_GROUPS)}")
    if groups <= set(IMAP_GROUPS + IDLEMEM_GROUPS + RELAY_GROUPS):
        status = run_imap(a, groups & set(IMAP_GROUPS)) if groups & set(IMAP_GROUPS) else 0
        if status == 0 and groups & set(IDLEMEM_GROUPS):
            status = run_idlemem(a)
        if status == 0 and "relay" in groups:
            status = run_relay(a)
        return status
    if not os.path.exists(ML):
        sys.exit(f"the shared bench kit is not at {KIT} (set BENCH_KIT)")
    want_pop, want_smtp = bool(groups & set(POP_GROUPS)), bool(groups & set(SMTP_GROUPS))
    install = a.install == "yes" or (a.install == "auto" and not all(
        shutil.which(b) for b in ("dovecot", "doveadm", "postfix", "smtp-sink")))
    os.makedirs(RESULTS, exist_ok=True)
    raw_path = os.path.join(RESULTS, "raw.jsonl")
    if os.path.exists(raw_path):
        os.replace(raw_path, os.path.join(RESULTS, "raw.prev.jsonl"))
    for stale in ("postroom-serve.log",):
        if os.path.exists(os.path.join(RESULTS, stale)):
            os.remove(os.path.join(RESULTS, stale))

    t_start = time.monotonic()
    started_at = dt.datetime.now(dt.timezone.utc)
    code_at_start = code_state()
    dovecot = Dovecot(a.nusers, install)
    postfix = Postfix(dovecot)
    postroom = None
    plain_port, tls_port = (int(x) for x in a.postroom_ports.split(","))
    smtp_ports = tuple(int(x) for x in a.postroom_smtp_ports.split(","))
    status = 1
    try:
        dovecot.start()
        small = provision.read_users_file(dovecot.users["small"], os.path.join(DV, "mail"))
        large = provision.read_users_file(dovecot.users["large"], os.path.join(DV, "mail"))
        nrcpt = len(small)  # every kit small user is a recipient (Postfix's vmailbox lists them all)
        rcpts = [RCPT_TEMPLATE.format(i=i) for i in range(1, nrcpt + 1)] if want_smtp else []
        cert, key = os.path.join(DV, "ssl", "cert.pem"), os.path.join(DV, "ssl", "key.pem")
        postroom = Postroom(a.data, {"small": small, "large": large}, cert, key, plain_port, tls_port,
                            smtp_ports, want_smtp)
        postroom.provision(a.via_cli, rcpts)
        postroom.start()
        smtp_meta = None
        if want_smtp:
            postfix.check()
            tls_checks = {name: smtp_tls_check(port, cert) for name, port in (
                ("postroom " + provision.CONNECTORS["default"], postroom.ports["smtp-default"]),
                ("postroom " + provision.CONNECTORS["client"], postroom.ports["smtp-client"]),
                ("postfix", postfix.ports["smtp"]))}
            for name, check in tls_checks.items():
                log(f"  STARTTLS {name}: {check}")
                if not check["same_certificate_as_kit"]:
                    raise RuntimeError(f"{name} does not present the kit's certificate {cert}")
            smtp_meta = {"ports": {"postroom-default": postroom.ports["smtp-default"],
                                   "postroom-client": postroom.ports["smtp-client"], "postfix": postfix.ports["smtp"]},
                         "msgs_per_conn": a.smtp_msgs_per_conn, "rcpt_template": RCPT_TEMPLATE,
                         "rcpt_count": nrcpt, "tls": tls_checks}
        pop_servers, smtp_servers = [dovecot, postroom], [postfix, postroom]
        if want_pop:
            log("== warm-up (not measured)")
            for s in pop_servers:
                warm(s)
        meta = {"started_at": started_at.isoformat(timespec="seconds"), "reps": a.reps, "duration_s": a.duration,
                "quick": a.quick, "nusers": a.nusers, "idle": a.idle, "concs": concs, "groups": sorted(groups),
                "machine": machine_facts(dovecot, postfix if want_smtp else None), "provision": postroom.provisioned,
                "smtp": smtp_meta, "code": code_at_start,
                "command": "make bench" if not sys.argv[1:] else "make bench  # run.py " + " ".join(sys.argv[1:])}
        with open(raw_path, "w") as raw:
            raw.write(json.dumps({"meta": meta}) + "\n")
            for p in points(concs, a.idle):
                if p["group"] not in groups:
                    continue
                if p["group"] in SMTP_GROUPS:
                    run_smtp_point(p, smtp_servers, a.reps, a.duration, raw, nrcpt, a.smtp_msgs_per_conn)
                else:
                    run_point(p, pop_servers, a.reps, a.duration, raw)
        elapsed = time.monotonic() - t_start
        with open(raw_path, "a") as raw:
            code_at_end = code_state()
            if code_at_end["src_sha256"] != code_at_start["src_sha256"]:
                log("WARNING: src/ changed while the bench ran: points may have measured different code")
            raw.write(json.dumps({"meta_end": {"elapsed_s": round(elapsed, 1), "code": code_at_end}}) + "\n")
        status = 0
    finally:
        if not a.keep_running:
            if postroom is not None:
                postroom.stop()
                if want_smtp:  # the 1 MiB points leave gigabytes in the store otherwise
                    try:
                        postroom.purge()
                    except Exception as exc:  # noqa: BLE001 - best effort, the data dir is recreated next run
                        log(f"  postroom: could not remove delivered messages: {exc}")
            if want_smtp and dovecot.started:
                try:
                    postfix.wait_delivered(60)
                    postfix.collect_delivered()
                except OSError as exc:
                    log(f"  postfix: could not empty the maildirs: {exc}")
            dovecot.stop()
    if not a.no_doc:
        report.write(raw_path, a.doc)
        log(f"== wrote {a.doc}")
    log(f"== done in {(time.monotonic() - t_start) / 60:.1f} min; raw: {raw_path}")
    data = report.load(raw_path)
    if want_pop:
        print(report.markdown_table(data))
    if want_smtp:
        print(report.smtp_table(data))
    if status == 0 and groups & set(IMAP_GROUPS):
        status = run_imap(a, groups & set(IMAP_GROUPS))
    if status == 0 and groups & set(IDLEMEM_GROUPS):
        status = run_idlemem(a)
    if status == 0 and "relay" in groups:
        status = run_relay(a)
    return status


def run_imap(a, groups: set[str]) -> int:
    """The IMAP4 points (bench/imap_bench.py): own peers, raw lines in bench/results/imap.jsonl,
    their own section of docs/performance.md replaced, the table printed."""
    if not a.no_doc and not os.path.exists(a.doc):
        sys.exit(f"{a.doc} does not exist: the IMAP4 points replace their section of an existing document "
                 "(copy docs/performance.md there, or pass --no-doc)")
    return imap_bench.run(a, groups, kit=KIT, wait_quiet=wait_quiet, code_state=code_state,
                          machine=machine_facts(Dovecot(0, False)))


def run_idlemem(a) -> int:
    """The idle-memory point (bench/idlemem_bench.py): raw lines in bench/results/idlemem.jsonl, its
    part of docs/performance.md replaced, the table printed."""
    if not a.no_doc and not os.path.exists(a.doc):
        sys.exit(f"{a.doc} does not exist: the idle-memory point replaces its part of an existing document "
                 "(copy docs/performance.md there, or pass --no-doc)")
    return idlemem_bench.run(a, code_state=code_state, machine=machine_facts(Dovecot(0, False)),
                             wait_quiet=wait_quiet)


def run_relay(a) -> int:
    """The relay point (bench/relay.py): its raw lines in bench/results/relay.jsonl, its section
    of docs/performance.md replaced, the table printed."""
    if not a.no_doc and not os.path.exists(a.doc):  # found out only after the whole run, otherwise
        sys.exit(f"{a.doc} does not exist: the relay point replaces its section of an existing document "
                 "(copy docs/performance.md there, or pass --no-doc)")
    ports = [int(x) for x in a.relay_ports.split(",")]
    n_small, n_large = (int(x) for x in a.relay_n.split(","))
    raw_path = os.path.join(RESULTS, "relay.jsonl")
    rows = relay.run(reps=a.reps, n_small=n_small, n_large=n_large,
                     sizes=[int(x) for x in a.relay_sizes.split(",")], concs=[int(x) for x in a.relay_concs.split(",")],
                     data="/tmp/bench-relay/var", relay_port=ports[0], ports=ports[1:], raw_path=raw_path,
                     profile=a.relay_profile, servers=a.relay_servers)
    meta, _ = relay.load(raw_path)
    points = relay.summarise(rows)
    if not a.no_doc and {"postroom", "postfix"} <= {r["server"] for r in rows}:
        report.write_relay(report.relay_section(meta, points), a.doc)
        log(f"== wrote the relay section of {a.doc}")
    print(report.relay_table(points))
    return 0 if rows and all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
