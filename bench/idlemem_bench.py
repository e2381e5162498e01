"""The idle-memory point of `make bench` (group imap-idle-memory): server memory per idle IMAP4
connection over TLS, postroom against Dovecot without and with hibernation, in one run.

  .venv/bin/python bench/run.py --only imap-idle-memory [--idlemem-n 10000,1000,10000]

For each server in turn (one at a time, alone on the machine): a fresh instance with the same
1,000 mailboxes (10 small messages each; Dovecot: Maildirs, postroom: its embedded store), then
bench/idlemem.py opens N implicit-TLS connections (LOGIN, SELECT INBOX, IDLE; users round-robin),
measures the server's processes (PSS and RSS over its whole process tree, minus the same before
the first connection) and checks that a delivery wakes every session idling on 20 sampled
mailboxes (postroom: over SMTP; Dovecot: into the Maildir, as its LDA does). N: postroom 10,000;
Dovecot without hibernation 1,000 (one imap process per connection: enough for a figure per
connection); Dovecot with hibernation (imap_hibernate_timeout = 2s: the IDLE moves to the
imap-hibernate process and the imap process exits) 10,000. Raw lines in bench/results/idlemem.jsonl;
the part of docs/performance.md between its markers, right after the IMAP4 IDLE wake-up part.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import idlemem_postroom
from report import fmt, replace_section

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = "/tmp/bench-imap/idlemem"
RESULTS = os.path.join(HERE, "results")
GROUP = "imap-idle-memory"
MAILBOXES, MESSAGES, SAMPLE = 1000, 10, 20
HIBERNATE_AFTER = 2  # seconds of IDLE before Dovecot hibernates a session
BEGIN = "<!-- IMAP4 idle memory: written by bench/run.py --only imap-idle-memory (bench/idlemem_bench.py) -->"
END = "<!-- IMAP4 idle memory: end -->"
IDLE_END = "<!-- IMAP4 IDLE wake-up: end -->"  # bench/imap_report.py's part, which this one follows
PORTS = {"postroom": 32993, "dovecot": 22993, "dovecot-hibernate": 22994}
POSTROOM_OTHER = [32143, 32025, 32587, 32110, 32995, 32080, 32443]  # IMAP, SMTP, then out of the way


def log(*a) -> None:
    print(*a, file=sys.stderr, flush=True)


def certificate() -> tuple[str, str]:
    cert, key = os.path.join(ROOT, "ssl", "cert.pem"), os.path.join(ROOT, "ssl", "key.pem")
    if not os.path.exists(cert):  # the kit's kind: RSA-2048, CN=localhost
        os.makedirs(os.path.dirname(cert), exist_ok=True)
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj",
                        "/CN=localhost", "-keyout", key, "-out", cert], check=True, capture_output=True)
        os.chmod(key, 0o600)
    return cert, key


def idlemem(args: list[str], timeout: float) -> dict:
    r = subprocess.run([sys.executable, os.path.join(HERE, "idlemem.py"), *args], capture_output=True, text=True,
                       timeout=timeout)
    if r.stderr.strip():
        log("    " + r.stderr.strip().replace("\n", "\n    ")[-2000:])
    try:
        return json.loads(r.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return {"ok": False, "first_error": f"idlemem.py exited {r.returncode} without a result"}


# ---- Dovecot ----------------------------------------------------------------------------------
class Dovecot:
    def __init__(self, hibernate: bool, clients: int, cert: str, key: str) -> None:
        self.hibernate = hibernate
        self.name = "dovecot-hibernate" if hibernate else "dovecot"
        self.root = os.path.join(ROOT, self.name)
        self.mail = os.path.join(ROOT, "dovecot-mail")
        self.port = PORTS[self.name]
        self.clients, self.cert, self.key = clients, cert, key
        self.users = os.path.join(self.root, "users.txt")

    def prepare(self) -> None:
        if not os.path.exists("/usr/lib/dovecot/imap"):
            log("== dovecot: apt-get install dovecot-core dovecot-imapd")
            subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", "dovecot-core",
                            "dovecot-imapd"], env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"), check=True,
                           capture_output=True, timeout=1200)
        if subprocess.run(["id", "benchmail"], capture_output=True).returncode != 0:
            subprocess.run(["useradd", "-r", "-M", "-d", "/nonexistent", "-s", "/usr/sbin/nologin", "benchmail"],
                           check=True)
        shutil.rmtree(self.root, ignore_errors=True)
        for sub in ("run", "state"):
            os.makedirs(os.path.join(self.root, sub))
        for path in (ROOT, self.root, os.path.join(self.root, "run")):
            os.chmod(path, 0o755)
        self._maildirs()
        with open(os.path.join(self.root, "passwd"), "w") as f:
            f.writelines(f"{idlemem_postroom.address(n)}:{{PLAIN}}{idlemem_postroom.PASSWORD}::::::\n"
                         for n in range(1, MAILBOXES + 1))
        shutil.chown(os.path.join(self.root, "passwd"), "root", "dovecot")
        os.chmod(os.path.join(self.root, "passwd"), 0o640)
        with open(self.users, "w") as f:
            f.writelines(f"{idlemem_postroom.address(n)}:{idlemem_postroom.PASSWORD}\n"
                         for n in range(1, MAILBOXES + 1))
        hibernate = ""
        if self.hibernate:  # as Dovecot's documentation sets it up (imap-master reachable by imap-hibernate)
            hibernate = (f"imap_hibernate_timeout = {HIBERNATE_AFTER}s\n"
                         "service imap {\n  unix_listener imap-master {\n    user = $default_internal_user\n  }\n"
                         "  extra_groups = $default_internal_group\n}\n"
                         "service imap-hibernate {\n  unix_listener imap-hibernate {\n    mode = 0660\n"
                         "    group = $default_internal_group\n  }\n"
                         f"  client_limit = {self.clients}\n}}\n")
        with open(os.path.join(HERE, "dovecot-idlemem.conf")) as f:
            conf = f.read()
        for marker, value in (("@VARIANT@", self.name), ("@ROOT@", self.root), ("@MAIL@", self.mail),
                              ("@CERT@", self.cert), ("@KEY@", self.key), ("@TLS@", str(self.port)),
                              ("@CLIENTS@", str(self.clients + 100)), ("@SERVICES@", str(2 * self.clients + 200)),
                              ("@HIBERNATE@", hibernate)):
            conf = conf.replace(marker, value)
        with open(os.path.join(self.root, "dovecot.conf"), "w") as f:
            f.write(conf)

    def _maildirs(self) -> None:
        """The same mailboxes as postroom's: written once, shared by both Dovecot variants."""
        if os.path.exists(os.path.join(self.mail, ".complete")):
            return
        shutil.rmtree(self.mail, ignore_errors=True)
        entry = subprocess.run(["id", "-u", "benchmail"], capture_output=True, text=True).stdout.strip()
        uid = int(entry)
        gid = int(subprocess.run(["id", "-g", "benchmail"], capture_output=True, text=True).stdout.strip())
        body = "".join(f"line {i:02d} of a small message in a mailbox that idles.\r\n" for i in range(20))
        for n in range(1, MAILBOXES + 1):
            user = idlemem_postroom.address(n)
            maildir = os.path.join(self.mail, user, "Maildir")
            for sub in ("cur", "new", "tmp"):
                os.makedirs(os.path.join(maildir, sub))
            for i in range(MESSAGES):
                text = (f"From: seed@bench.test\r\nTo: {user}\r\nSubject: seed {i}\r\n"
                        f"Message-ID: <seed-{n}-{i}@bench.test>\r\n\r\n{body}")
                with open(os.path.join(maildir, "cur", f"{1700000000 + i}.M{i}P{n}.seed,S={len(text)}:2,"), "w") as f:
                    f.write(text)
        for folder, dirs, files in os.walk(self.mail):
            os.chown(folder, uid, gid)
            for name in files:
                os.chown(os.path.join(folder, name), uid, gid)
        open(os.path.join(self.mail, ".complete"), "w").close()

    def start(self) -> None:
        self.stop()
        err_path = os.path.join(self.root, "start.err")
        with open(err_path, "w") as err:  # not a pipe: the daemon's children would hold it open
            r = subprocess.run(["dovecot", "-c", os.path.join(self.root, "dovecot.conf")], stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=err, timeout=60)
        if r.returncode != 0:
            with open(err_path) as err:
                raise RuntimeError(f"dovecot exited {r.returncode}: {err.read().strip()}")
        idlemem_postroom.wait_ports([self.port])
        time.sleep(2.0)  # its login processes (process_min_avail) started

    @property
    def pid(self) -> int:
        with open(os.path.join(self.root, "run", "master.pid")) as f:
            return int(f.read().split()[0])

    def deliver_args(self) -> list[str]:
        return ["--deliver", "maildir", "--maildir-root", self.mail, "--maildir-owner", "benchmail"]

    def stop(self) -> None:
        try:
            pid = self.pid
            os.kill(pid, signal.SIGTERM)
        except (OSError, ValueError):
            return
        for _ in range(300):
            try:
                os.kill(pid, 0)
            except OSError:
                return
            time.sleep(0.1)


# ---- the run ----------------------------------------------------------------------------------
def run(a, *, code_state, machine: dict, wait_quiet) -> int:
    n_postroom, n_dovecot, n_hibernate = (int(x) for x in a.idlemem_n.split(","))
    os.makedirs(RESULTS, exist_ok=True)
    os.makedirs(ROOT, exist_ok=True)
    raw_path = os.path.join(RESULTS, "idlemem.jsonl")
    cert, key = certificate()
    meta = {"started_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "mailboxes": MAILBOXES,
            "messages": MESSAGES, "sample": SAMPLE, "hibernate_after_s": HIBERNATE_AFTER,
            "n": {"postroom": n_postroom, "dovecot": n_dovecot, "dovecot-hibernate": n_hibernate},
            "machine": dict(machine, dovecot=dovecot_version()), "code": code_state(),
            "command": "make bench  # run.py " + " ".join(sys.argv[1:]) if sys.argv[1:] else "make bench"}
    rows = []
    with open(raw_path, "w") as raw:
        raw.write(json.dumps({"meta": meta}) + "\n")
        rows.append(measure_postroom(n_postroom, cert, key, wait_quiet))
        raw.write(json.dumps(rows[-1]) + "\n")
        raw.flush()
        for hibernate, n in ((False, n_dovecot), (True, n_hibernate)):
            rows.append(measure_dovecot(Dovecot(hibernate, max(n_postroom, n), cert, key), n, wait_quiet))
            raw.write(json.dumps(rows[-1]) + "\n")
            raw.flush()
    if not a.no_doc:
        text = section(meta, rows)
        replace_section(a.doc, BEGIN, END, text, lambda old: placed(old, text))
        log(f"== wrote the IMAP4 idle memory part of {a.doc}")
    print(table(rows))
    return 0 if all(r.get("ok") for r in rows) else 1


def measure_postroom(n: int, cert: str, key: str, wait_quiet) -> dict:
    data = os.path.join(ROOT, "postroom", "var")
    imap, smtp = POSTROOM_OTHER[0], POSTROOM_OTHER[1]
    log(f"== postroom: {MAILBOXES} mailboxes, then {n} idle TLS connections")
    users = idlemem_postroom.provision(data, mailboxes=MAILBOXES, messages=MESSAGES, cert=cert, key=key,
                                       imap_port=imap, tls_port=PORTS["postroom"], smtp_port=smtp,
                                       other_ports=POSTROOM_OTHER[2:], connections=n)
    proc = idlemem_postroom.start(data, os.path.join(RESULTS, "postroom-idlemem-serve.log"),
                                  [PORTS["postroom"], smtp])
    try:
        busy = wait_quiet()
        row = idlemem(["--port", str(PORTS["postroom"]), "--users-file", users, "-c", str(n), "--server-pid",
                       str(proc.pid), "--sample", str(SAMPLE), "--deliver", "smtp", "--smtp-port", str(smtp),
                       "--label", f"postroom c{n}"], 1800)
    finally:
        idlemem_postroom.stop(proc)
    return finish("postroom", n, row, busy)


INOTIFY_INSTANCES = "/proc/sys/fs/inotify/max_user_instances"


def inotify_instances(wanted: int | None) -> int:
    """Each imap process of the mail user takes an inotify instance; past the kernel's limit (128 by
    default) Dovecot warns and falls back to looking every 30 s, as its log tells the admin to fix.
    Raised for the run as that warning asks, and put back after; returns the value before."""
    with open(INOTIFY_INSTANCES) as f:
        before = int(f.read())
    if wanted is not None and wanted != before:
        with open(INOTIFY_INSTANCES, "w") as f:
            f.write(str(wanted))
    return before


def measure_dovecot(dovecot: Dovecot, n: int, wait_quiet) -> dict:
    log(f"== {dovecot.name}: {MAILBOXES} Maildirs, then {n} idle TLS connections")
    dovecot.prepare()
    inotify_before = inotify_instances(None)
    inotify_instances(max(inotify_before, n + 1000))
    try:
        dovecot.start()
    except BaseException:
        inotify_instances(inotify_before)
        raise
    try:
        busy = wait_quiet()
        # Dovecot looks 0.5 s after inotify tells it of new mail (more once hibernated): its
        # wake-ups are reported, with a limit that does not fail the memory figure.
        settle = HIBERNATE_AFTER + 8 if dovecot.hibernate else 5
        row = idlemem(["--port", str(dovecot.port), "--users-file", dovecot.users, "-c", str(n), "--server-pid",
                       str(dovecot.pid), "--sample", str(SAMPLE), "--settle", str(settle), "--wake-limit", "30",
                       "--label", f"{dovecot.name} c{n}"] + dovecot.deliver_args(), 1800)
    finally:
        dovecot.stop()
        inotify_instances(inotify_before)
    row["inotify_max_user_instances"] = max(inotify_before, n + 1000)
    return finish(dovecot.name, n, row, busy)


def finish(server: str, n: int, row: dict, busy: float) -> dict:
    row.update(server=server, n=n, busy_before_pct=busy)
    log(f"  {server:18} ok={row.get('ok')} connections={row.get('connections')} "
        f"PSS {row.get('kb_per_connection_pss')} KB/conn, RSS {row.get('kb_per_connection_rss')} KB/conn, "
        f"total PSS {row.get('server_pss_mb')} MB, wake max {row.get('wake_ms_max')} ms"
        + (f" ({row.get('first_error')})" if row.get("first_error") else ""))
    return row


# ---- the report -------------------------------------------------------------------------------
def table(rows: list[dict]) -> str:
    base = next((r.get("kb_per_connection_pss") for r in rows if r["server"] == "postroom"), None)
    lines = ["| server | ok | idle TLS connections | PSS KB per connection | RSS KB per connection | "
             "x postroom (PSS) | server PSS MB in all | RSS MB in all | processes | wake-ups | wake p50 ms | "
             "wake max ms |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        per = r.get("kb_per_connection_pss")
        times = f"{per / base:.1f}" if per and base else "-"
        after = r.get("after") or {}
        lines.append("| " + " | ".join([
            r["server"], "yes" if r.get("ok") else "NO", fmt(r.get("connections")), fmt(per, 1),
            fmt(r.get("kb_per_connection_rss"), 1), times, fmt(r.get("server_pss_mb")), fmt(r.get("server_rss_mb")),
            fmt(after.get("processes")), f"{fmt(r.get('wakes'))}/{fmt(r.get('wakes_expected'))}",
            fmt(r.get("wake_ms_p50"), 1), fmt(r.get("wake_ms_max"), 1)]) + " |")
    return "\n".join(lines)


def section(meta: dict, rows: list[dict]) -> str:
    mach, code = meta.get("machine", {}), meta.get("code") or {}
    dirty = " plus uncommitted changes in src/" if code.get("src_dirty") else ""
    n = meta["n"]
    return "\n".join([
        BEGIN,
        "### IMAP4 idle memory: server memory per idle TLS connection, postroom against Dovecot",
        "",
        f"- **Reproduce:** `{meta['command']}` (as root; raw JSON lines in `bench/results/idlemem.jsonl`); this "
        "point alone: `.venv/bin/python bench/run.py --only imap-idle-memory` (`bench/idlemem.py` against each "
        "server in turn; `--idlemem-n` sets the connections).",
        f"- **Date:** {meta['started_at']} (UTC). **Machine:** {mach.get('nproc')} CPUs ({mach.get('cpu')}); "
        f"Dovecot {mach.get('dovecot') or dovecot_version()}; {mach.get('openssl')}. **Code:** commit "
        f"`{code.get('commit')}`"
        f"{dirty}.",
        f"- **What:** {meta['mailboxes']} mailboxes of {meta['messages']} small messages on each server; N "
        "connections over implicit TLS (RSA-2048, TLS 1.3), each LOGIN, SELECT INBOX and IDLE, held open by one "
        "client process. Memory is the server's whole process tree from /proc/PID/smaps_rollup (PSS: shared "
        "pages counted once; RSS: as `ps` shows it), after the connections minus before them, divided by N. "
        f"N: postroom {n['postroom']} (one process); Dovecot without hibernation {n['dovecot']} (an imap process "
        "per connection; the TLS in its imap-login processes); Dovecot with hibernation "
        f"{n['dovecot-hibernate']} (`imap_hibernate_timeout = {meta['hibernate_after_s']}s`: the IDLE moves to "
        "the imap-hibernate process, the imap process exits; imap-login keeps the TLS). Then one message to each "
        f"of {meta['sample']} sampled mailboxes must wake every session idling on it (postroom: within 1 s, "
        "after an SMTP delivery; Dovecot: written into the Maildir, it looks 0.5 s after inotify tells it; "
        "the kernel's fs.inotify.max_user_instances is raised for its runs, as Dovecot's own warning asks: "
        "past 128 imap processes it otherwise falls back to looking every 30 s).",
        "",
        table(rows),
        "",
        END,
    ])


def dovecot_version() -> str:
    try:
        return subprocess.run(["dovecot", "--version"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "?"


def placed(old: str, text: str) -> str:
    """Where the part goes the first time: right after the IDLE wake-up part (or at the end)."""
    if IDLE_END in old:
        head, rest = old.split(IDLE_END, 1)
        return head + IDLE_END + "\n\n" + text + rest
    return old.rstrip("\n") + "\n\n" + text + "\n"


if __name__ == "__main__":  # the part of the doc again from the raw lines: idlemem_bench.py [RAW] [DOC]
    raw_path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(RESULTS, "idlemem.jsonl")
    doc = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(HERE), "docs", "performance.md")
    with open(raw_path) as f:
        lines = [json.loads(line) for line in f if line.strip()]
    meta, rows = lines[0]["meta"], lines[1:]
    text = section(meta, rows)
    replace_section(doc, BEGIN, END, text, lambda old: placed(old, text))
    print(table(rows))
