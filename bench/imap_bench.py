"""The IMAP4 points of `make bench`: postroom's imap4 service against Dovecot's imapd, one run.

Called by bench/run.py for the groups in IMAP_GROUPS (`--only imap-login,imap-headers,...`).
1. Dovecot: Debian's dovecot-imapd (apt-get installed if missing), its own instance from
   bench/dovecot-imap.conf on 127.0.0.1:21143 (STARTTLS offered) and 21993 (implicit TLS), users
   imap001..imapNNN in a passwd-file with {PLAIN} passwords like the kit's bench users, and
   Maildirs written by the kit's seed_mailboxes.py: 120 messages of 2 KB each (the 100-header
   point needs 100+), all unseen as written.
2. postroom: its own data dir, `postroom init`, the same users as mailboxes (argon2id, as
   always) and `mailbox import` of the very same Maildirs; `imap set` on 127.0.0.1:31143/31993
   with the same RSA-2048 certificate as Dovecot, `--login-type plain-text-login` (so LOGIN
   without TLS can be measured like Dovecot's), `service set imap4 --startup automatic`.
3. The same flags on both: over IMAP, messages 1:90 of every mailbox get \\Seen (30 unseen).
4. Every point runs bench/imapload.py against both servers, alternating within each repetition
   (the IDLE wake-up point, last, bench/imapidle.py: deliveries to idling sessions' mailboxes,
   over SMTP to postroom, into the Maildir for Dovecot); raw lines in bench/results/imap.jsonl,
   the IMAP4 section of docs/performance.md replaced (bench/imap_report.py; the POP3/SMTP tables
   above it and the relay section are kept; a run of imap-idle alone replaces only its part).
"""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from argparse import Namespace

import imap_report
import imapload
import provision

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = "/tmp/bench-imap"
DV = os.path.join(ROOT, "dovecot")
RESULTS = os.path.join(HERE, "results")
IMAPLOAD = os.path.join(HERE, "imapload.py")
IMAPIDLE = os.path.join(HERE, "imapidle.py")
IMAP_GROUPS = ("imap-login", "imap-headers", "imap-bodies", "imap-search", "imap-store", "imap-mixed", "imap-idle")
IDLE_SESSIONS, IDLE_DELIVERIES = 100, 200  # the IDLE wake-up point: sessions idling, deliveries per run
MESSAGES, SEEN, SIZE = 120, 90, 2048
HEADERS, BODIES = 100, 10
# Points that log in inside the measured window: postroom is restarted before each, so its
# credential cache (an entry lives 300 s from its verification) is warm for the whole point.
LOGIN_GROUPS = ("imap-login", "imap-mixed")
WHAT = {  # group: (what one op is, unit of ops)
    "imap-login": ("connect, [STARTTLS,] LOGIN, LOGOUT", "logins/s"),
    "imap-headers": (f"SELECT INBOX + FETCH 1:{HEADERS} (UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (...)])",
                     "SELECT+FETCH/s"),
    "imap-bodies": (f"FETCH of {BODIES} messages' BODY.PEEK[] (2 KB each)", "FETCH/s"),
    "imap-search": ("SEARCH UNSEEN (30 of 120)", "SEARCH/s"),
    "imap-store": ("STORE n +FLAGS (\\Flagged) or -FLAGS (\\Flagged), alternating", "STORE/s"),
    "imap-mixed": (f"a session: connect, LOGIN, SELECT, FETCH {HEADERS} headers, SEARCH UNSEEN, FETCH 3 bodies, "
                   "STORE +FLAGS, STORE -FLAGS, LOGOUT", "sessions/s"),
    "imap-idle": (f"IDLE wake-up: {IDLE_SESSIONS} sessions idle over TLS (users round-robin), one message at a time "
                  "is delivered to their mailboxes in turn (postroom: over SMTP; Dovecot: written into the Maildir "
                  "and renamed into new/, as its LDA does); a sample is the time from the delivery's end (the 250 "
                  "after DATA; the rename) to the untagged EXISTS, on each session of that mailbox", "ms"),
}


def log(*a) -> None:
    print(*a, file=sys.stderr, flush=True)


def wait_port(port: int, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    import socket
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s")


def kit_users(nusers: int) -> list[provision.KitUser]:
    return [provision.KitUser(f"imap{i:03d}", f"pw-imap{i:03d}", os.path.join(DV, "mail", f"imap{i:03d}", "Maildir"))
            for i in range(1, nusers + 1)]


class DovecotImap:
    name = "dovecot"

    def __init__(self, users: list[provision.KitUser], ports: tuple[int, int], install: str, kit: str) -> None:
        self.kit_users, self.kit = users, kit
        self.ports = {"plain": ports[0], "tls": ports[1]}
        self.install = install
        self.users = os.path.join(DV, "users.txt")
        self.cert, self.key = os.path.join(ROOT, "ssl", "cert.pem"), os.path.join(ROOT, "ssl", "key.pem")
        self.version = ""
        self.started = False

    def prepare(self) -> None:
        """Install if missing, write users, Maildirs, certificate and configuration."""
        if self.install == "yes" or (self.install == "auto" and not os.path.exists("/usr/lib/dovecot/imap")):
            log("== dovecot: apt-get install dovecot-core dovecot-imapd")
            env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
            subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", "dovecot-core",
                            "dovecot-imapd", "openssl"], env=env, check=True, capture_output=True, timeout=1200)
        self.version = subprocess.run(["dovecot", "--version"], capture_output=True, text=True).stdout.strip()
        if subprocess.run(["id", "benchmail"], capture_output=True).returncode != 0:
            subprocess.run(["useradd", "-r", "-M", "-d", "/nonexistent", "-s", "/usr/sbin/nologin", "benchmail"],
                           check=True)
        self.stop_stale()
        shutil.rmtree(DV, ignore_errors=True)
        for sub in ("run", "state", "mail"):
            os.makedirs(os.path.join(DV, sub))
        os.chmod(ROOT, 0o755)
        os.chmod(DV, 0o755)
        os.chmod(os.path.join(DV, "run"), 0o755)
        os.makedirs(os.path.dirname(self.cert), exist_ok=True)
        if not os.path.exists(self.cert):  # the kit's kind of certificate: RSA-2048, CN=localhost
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj",
                            "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                            "-keyout", self.key, "-out", self.cert], check=True, capture_output=True)
            os.chmod(self.key, 0o600)
        with open(os.path.join(DV, "passwd"), "w") as f:
            f.writelines(f"{u.name}:{{PLAIN}}{u.password}::::::\n" for u in self.kit_users)
        shutil.chown(os.path.join(DV, "passwd"), "root", "dovecot")
        os.chmod(os.path.join(DV, "passwd"), 0o640)
        with open(self.users, "w") as f:
            f.writelines(f"{u.name}:{u.password}\n" for u in self.kit_users)
        r = subprocess.run([sys.executable, os.path.join(self.kit, "seed_mailboxes.py"), "maildir",
                            "--users-file", self.users, "--root", os.path.join(DV, "mail"), "--messages",
                            str(MESSAGES), "--size", str(SIZE), "--owner", "benchmail", "--clean"],
                           capture_output=True, text=True, check=True)
        log("  " + r.stdout.strip())
        for u in self.kit_users:  # the kit writes every message seen (":2,S"): start from all unseen
            cur = os.path.join(u.maildir, "cur")
            for name in os.listdir(cur):
                if name.endswith(":2,S"):
                    os.rename(os.path.join(cur, name), os.path.join(cur, name[:-1]))
        shutil.chown(os.path.join(DV, "mail"), "benchmail", "benchmail")
        with open(os.path.join(HERE, "dovecot-imap.conf")) as f:
            conf = f.read()
        for key, value in (("@ROOT@", DV), ("@CERT@", self.cert), ("@KEY@", self.key),
                           ("@PLAIN@", str(self.ports["plain"])), ("@TLS@", str(self.ports["tls"]))):
            conf = conf.replace(key, value)
        with open(os.path.join(DV, "dovecot.conf"), "w") as f:
            f.write(conf)

    def stop_stale(self) -> None:
        try:
            with open(os.path.join(DV, "run", "master.pid")) as f:
                pid = int(f.read().split()[0])
            os.kill(pid, signal.SIGTERM)
            log(f"  stopped a stale bench Dovecot IMAP instance (pid {pid})")
            time.sleep(1.0)
        except (OSError, ValueError, IndexError):
            pass

    def start(self) -> None:
        self.started = True
        with open(os.path.join(DV, "start.err"), "w") as err:  # dovecot forks: no pipes it would keep open
            r = subprocess.run(["dovecot", "-c", os.path.join(DV, "dovecot.conf")], stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=err, timeout=60)
        if r.returncode != 0:
            with open(os.path.join(DV, "start.err")) as err:
                raise RuntimeError(f"dovecot exited {r.returncode}: {err.read().strip()}")
        wait_port(self.ports["plain"])
        wait_port(self.ports["tls"])
        log(f"  dovecot {self.version} imap master pid {self.pid} on 127.0.0.1:{self.ports['plain']} (STARTTLS), "
            f"127.0.0.1:{self.ports['tls']} (TLS)")

    @property
    def pid(self) -> int:
        with open(os.path.join(DV, "run", "master.pid")) as f:
            return int(f.read().split()[0])

    def fresh_for_point(self) -> None:
        """Nothing: no credential cache (auth_cache_size = 0 by default), PLAIN passwords."""

    def deliver_args(self) -> list[str]:
        """imapidle.py: mail as Dovecot's LDA writes it, into the user's Maildir."""
        return ["--deliver", "maildir", "--maildir-root", os.path.join(DV, "mail"), "--maildir-owner", "benchmail"]

    def stop(self) -> None:
        if not self.started:
            return
        self.started = False
        try:
            pid = self.pid
            os.kill(pid, signal.SIGTERM)
            for _ in range(100):
                os.kill(pid, 0)
                time.sleep(0.1)
            log(f"  dovecot pid {pid} still running 10 s after SIGTERM")
        except (OSError, ValueError):
            pass


class PostroomImap:
    name = "postroom"

    def __init__(self, users: list[provision.KitUser], ports: list[int], cert: str, key: str) -> None:
        self.kit_users, self.cert, self.key = users, cert, key
        self.data = os.path.join(ROOT, "postroom", "var")
        self.ports = {"plain": ports[0], "tls": ports[1]}
        self.other_ports = ports[2:]  # connectors, POP3, web: out of the way
        self.users = provision.write_postroom_users_file(users, os.path.join(RESULTS, "postroom-users-imap.txt"))
        self.cli_path = os.path.join(os.path.dirname(sys.executable), "postroom")
        self.log_path = os.path.join(RESULTS, "postroom-imap-serve.log")
        self.proc: subprocess.Popen | None = None
        self.provisioned: dict = {}

    def provision(self) -> None:
        t0 = time.monotonic()
        if os.path.exists(self.data):
            shutil.rmtree(self.data)
        cli = provision.Cli(self.cli_path, self.data, log)
        default, client, pop, pops, web, webs = (f"127.0.0.1:{p}" for p in self.other_ports)
        cli("init", "--server-name", provision.SERVER, "--fqdn", "localhost")
        cli("domain", "add", provision.DOMAIN)
        cli("connector", "set", provision.CONNECTORS["default"], "--bindings", default)
        cli("connector", "set", provision.CONNECTORS["client"], "--bindings", client)
        cli("pop", "set", "--bindings", pop, "--ssl-bindings", pops)
        cli("web", "set", "--http-bindings", web, "--bindings", webs)
        cli("imap", "set", "--bindings", f"127.0.0.1:{self.ports['plain']}",
            "--ssl-bindings", f"127.0.0.1:{self.ports['tls']}", "--certificate", self.cert,
            "--certificate-key", self.key, "--login-type", "plain-text-login",
            "--max-connections-per-user", "100000")
        cli("service", "set", "imap4", "--startup", "automatic")
        self.settings = json.loads(cli("imap", "show", "--json"))
        t1 = time.monotonic()
        asyncio.run(provision._mailboxes_in_process(self.data, self.kit_users, log))
        t2 = time.monotonic()
        log(f"  postroom provisioned: settings {t1 - t0:.1f}s, {len(self.kit_users)} mailboxes + import {t2 - t1:.1f}s")
        self.provisioned = {"settings_s": round(t1 - t0, 2), "mailboxes_s": round(t2 - t1, 2),
                            "mailboxes": len(self.kit_users)}

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if k != "POSTROOM_AUTH_FAILURE_DELAY"}
        with open(self.log_path, "a") as logf:
            logf.write(f"---- postroom serve started {dt.datetime.now().isoformat(timespec='seconds')}\n")
            logf.flush()
            self.proc = subprocess.Popen([self.cli_path, "serve", "--data", self.data], env=env,
                                         stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        try:
            wait_port(self.ports["plain"], 30, self.proc)
            wait_port(self.ports["tls"], 30, self.proc)
        except Exception:
            self.stop()
            raise

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def fresh_for_point(self) -> None:
        self.stop()
        self.start()

    def deliver_args(self) -> list[str]:
        """imapidle.py: mail over SMTP, to the Default connector (anonymous, accepted domains)."""
        return ["--deliver", "smtp", "--smtp-port", str(self.other_ports[0])]

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
        if self.proc.returncode not in (0, -signal.SIGTERM):
            log(f"  postroom serve exited {self.proc.returncode} (see {self.log_path})")
        self.proc = None


async def mark_seen(port: int, users_file: str) -> None:
    """The same flags on both servers, set over IMAP: 1:SEEN \\Seen, the rest unseen."""
    args = Namespace(host="127.0.0.1", port=port, tls="none", io_timeout=30.0, tls_servername="localhost",
                     expect_messages=MESSAGES, expect_unseen=MESSAGES - SEEN)
    with open(users_file) as f:
        users = [line.strip().split(":", 1) for line in f if line.strip()]
    for user, pw in users:
        s = await imapload.connect(args, None, user, pw)
        try:
            await imapload.select(s, args)
            await s.command(b"STORE 1:%d +FLAGS.SILENT (\\Seen)" % SEEN)
            await s.command(b"STORE 1:%d -FLAGS.SILENT (\\Flagged)" % MESSAGES)
            await imapload.search_unseen(s, args)
            await imapload.logout(s)
        finally:
            s.close()


def points(concs: list[int]) -> list[dict]:
    common = ["--expect-messages", str(MESSAGES), "--expect-unseen", str(MESSAGES - SEEN),
              "--expect-size", str(SIZE), "--headers", str(HEADERS), "--bodies", str(BODIES)]
    out = []
    for tls, c in [("none", c) for c in concs] + [("starttls", max(concs))] + [("implicit", c) for c in concs]:
        out.append({"id": f"imap login {tls} c{c}", "group": "imap-login", "tls": tls, "conc": c, "args": common})
    for group, short in (("imap-headers", "select+fetch 100 headers"), ("imap-bodies", f"fetch {BODIES} bodies"),
                         ("imap-search", "search unseen"), ("imap-store", "store flags"),
                         ("imap-mixed", "mixed session")):
        for tls in ("none", "implicit"):
            for c in concs:
                out.append({"id": f"imap {short} {tls} c{c}", "group": group, "tls": tls, "conc": c,
                            "args": common})
    # last: it delivers (and then expunges) messages
    out.append({"id": f"imap idle wake-up implicit c{IDLE_SESSIONS}", "group": "imap-idle", "tls": "implicit",
                "conc": IDLE_SESSIONS, "args": ["--expect-messages", str(MESSAGES)]})
    return out


def imapload_run(args: list[str], timeout: float, tool: str = IMAPLOAD) -> dict:
    return provision.run_json_tool(tool, args, timeout, log)


def port_for(server, tls: str) -> int:
    return server.ports["tls"] if tls == "implicit" else server.ports["plain"]


def run_idle_point(p: dict, servers: list, reps: int, raw, wait_quiet) -> None:
    """The IDLE wake-up point (bench/imapidle.py): no warm-up beyond its own logins and SELECTs."""
    log(f"== {p['id']}")
    for rep in range(reps):
        for s in servers if rep % 2 == 0 else servers[::-1]:
            quiet = wait_quiet()
            args = ["--port", str(port_for(s, p["tls"])), "--tls", p["tls"], "--users-file", s.users,
                    "-c", str(p["conc"]), "--max-ops", str(IDLE_DELIVERIES), "--duration", "120",
                    "--server-pid", str(s.pid), "--label", f"{s.name} {p['id']}"] + s.deliver_args() + p["args"]
            d = imapload_run(args, 300, IMAPIDLE)
            d["busy_before_pct"] = quiet
            d.update(point=p["id"], group=p["group"], server=s.name, rep=rep, conc=p["conc"], point_tls=p["tls"])
            raw.write(json.dumps(d) + "\n")
            raw.flush()
            log(f"  {s.name:8} rep{rep} ok={d.get('ok')} wake-ups={d.get('wakes')} p50={d.get('lat_ms_p50')} ms "
                f"p99={d.get('lat_ms_p99')} ms max={d.get('wake_ms_max')} ms cpu={d.get('server_cpu_pct')}%"
                + (f" errors={d.get('errors')} ({d.get('first_error')})" if d.get("errors") else ""))


def run_point(p: dict, servers: list, reps: int, duration: float, raw, wait_quiet, nusers: int) -> None:
    if p["group"] == "imap-idle":
        return run_idle_point(p, servers, reps, raw, wait_quiet)
    log(f"== {p['id']}")
    for s in servers:
        if p["group"] in LOGIN_GROUPS:
            s.fresh_for_point()
        # the point's own workload once per user, unmeasured (credentials verified and cached by
        # postroom; Dovecot's indexes read), first at c=8: a cold postroom login runs argon2id
        for conc in sorted({min(8, p["conc"]), p["conc"]}):
            d = imapload_run(["--mode", p["group"], "--port", str(port_for(s, p["tls"])), "--tls", p["tls"],
                              "--users-file", s.users, "-c", str(conc), "--duration", "30", "--max-ops", str(nusers),
                              "--max-errors", "1000", "--label", "warm-up"] + p["args"], 150)
            if d.get("errors"):
                log(f"    warm-up {s.name}: {d.get('errors')} errors ({d.get('first_error')})")
    for rep in range(reps):
        for s in servers if rep % 2 == 0 else servers[::-1]:
            quiet = wait_quiet()
            d = imapload_run(["--mode", p["group"], "--port", str(port_for(s, p["tls"])), "--tls", p["tls"],
                              "--users-file", s.users, "-c", str(p["conc"]), "--duration", str(duration),
                              "--server-pid", str(s.pid), "--label", f"{s.name} {p['id']}"] + p["args"],
                             duration + 120)
            d["busy_before_pct"] = quiet
            if d.get("host_cpu_busy_pct") is not None:
                d["other_cpu_pct"] = round(d["host_cpu_busy_pct"] - (d.get("server_cpu_pct") or 0)
                                           - (d.get("client_cpu_pct") or 0), 1)
            d.update(point=p["id"], group=p["group"], server=s.name, rep=rep, conc=p["conc"], point_tls=p["tls"])
            raw.write(json.dumps(d) + "\n")
            raw.flush()
            log(f"  {s.name:8} rep{rep} ok={d.get('ok')} ops/s={d.get('ops_per_s')} "
                f"msgs/s={d.get('messages_per_s')} cpu={d.get('server_cpu_pct')}% "
                f"ms/op={d.get('server_cpu_ms_per_op')} client={d.get('client_cpu_pct')}%"
                + (f" other={d.get('other_cpu_pct')}%" if (d.get("other_cpu_pct") or 0) > 15 else "")
                + (f" errors={d.get('errors')} ({d.get('first_error')})" if d.get("errors") else ""))


def run(a, groups: set[str], *, kit: str, wait_quiet, code_state, machine: dict) -> int:
    """The IMAP points of one `bench/run.py` invocation; returns the exit status."""
    ports = [int(x) for x in a.imap_ports.split(",")]
    provision.refuse_busy_ports(ports)
    concs = [int(c) for c in a.imap_conc.split(",")]
    os.makedirs(RESULTS, exist_ok=True)
    raw_path = os.path.join(RESULTS, "imap.jsonl")
    if os.path.exists(raw_path):
        os.replace(raw_path, os.path.join(RESULTS, "imap.prev.jsonl"))
    if os.path.exists(os.path.join(RESULTS, "postroom-imap-serve.log")):
        os.remove(os.path.join(RESULTS, "postroom-imap-serve.log"))
    t_start = time.monotonic()
    started_at = dt.datetime.now(dt.timezone.utc)
    users = kit_users(a.imap_nusers)
    dovecot = DovecotImap(users, (ports[0], ports[1]), a.install, kit)
    postroom = None
    status = 1
    try:
        log(f"== IMAP4: Dovecot imapd and postroom imap4, {len(users)} users x {MESSAGES} messages of {SIZE} bytes")
        dovecot.prepare()
        postroom = PostroomImap(users, ports[2:], dovecot.cert, dovecot.key)
        postroom.provision()  # imports the Maildirs before Dovecot first reads (and renames) them
        dovecot.start()
        postroom.start()
        for s in (dovecot, postroom):
            asyncio.run(mark_seen(s.ports["plain"], s.users))
        log(f"  both: {SEEN} of {MESSAGES} messages \\Seen in every mailbox")
        meta = {"started_at": started_at.isoformat(timespec="seconds"), "reps": a.reps, "duration_s": a.duration,
                "nusers": len(users), "messages": MESSAGES, "seen": SEEN, "size": SIZE, "headers": HEADERS,
                "bodies": BODIES, "concs": concs, "groups": sorted(groups), "what": WHAT,
                "ports": {"dovecot": dovecot.ports, "postroom": postroom.ports},
                "machine": dict(machine, dovecot=dovecot.version), "provision": postroom.provisioned,
                "postroom_imap_settings": {k: postroom.settings.get(k) for k in (
                    "login_type", "max_connections_per_user", "protocol_log", "certificate")},
                "code": code_state(),
                "command": "make bench  # run.py " + " ".join(sys.argv[1:]) if sys.argv[1:] else "make bench"}
        with open(raw_path, "w") as raw:
            raw.write(json.dumps({"meta": meta}) + "\n")
            for p in points(concs):
                if p["group"] in groups:
                    run_point(p, [dovecot, postroom], a.reps, a.duration, raw, wait_quiet, len(users))
            raw.write(json.dumps({"meta_end": {"elapsed_s": round(time.monotonic() - t_start, 1),
                                               "code": code_state()}}) + "\n")
        status = 0
    finally:
        if not a.keep_running:
            if postroom is not None:
                postroom.stop()
            dovecot.stop()
    data = imap_report.load(raw_path)
    if not a.no_doc:
        imap_report.write_report(data, a.doc)
        log(f"== wrote the IMAP4 section of {a.doc}")
    if imap_report.throughput_points(data)["points"]:
        print(imap_report.table(data))
    if imap_report.idle_points(data)["points"]:
        print(imap_report.idle_table(data))
    fails = [r for p in data["points"] for runs in p["runs"].values() for r in runs if not r.get("ok")]
    return status if not fails else 1
