#!/usr/bin/env python3
"""Tables for docs/performance.md from bench/results/raw.jsonl (medians per point and server).

  .venv/bin/python bench/report.py [bench/results/raw.jsonl] [docs/performance.md]
Rewrites the generated part of the doc; whatever follows the KEEP marker is kept as is.
"""
from __future__ import annotations

import json
import os
import statistics
import sys

KEEP = "<!-- Everything below this line is written by hand and kept by bench/run.py. -->"
CPU_TARGET = 0.5  # postroom CPU per op at most half of Dovecot's
THROUGHPUT_TARGET = 1.0  # postroom throughput at or above Dovecot's
MEM_TARGET_KB = {"none": 8.0, "implicit": 32.0}  # per idle connection
OTHER_LIMIT = 15.0  # % CPU used by processes other than client and server during a run


def load(path: str) -> dict:
    meta, end, runs = {}, {}, []
    with open(path) as f:
        for line in f:
            d = json.loads(line)
            if "meta" in d:
                meta = d["meta"]
            elif "meta_end" in d:
                end = d["meta_end"]
            else:
                runs.append(d)
    points: dict[str, dict] = {}
    for r in runs:
        p = points.setdefault(r["point"], {"id": r["point"], "group": r["group"], "metric": r["metric"],
                                           "unit": r["unit"], "tls": r.get("tls"), "info": r.get("info", False),
                                           "runs": {}})
        p["runs"].setdefault(r["server"], []).append(r)
    return {"meta": meta, "end": end, "points": list(points.values())}


def med(runs: list[dict], key: str, ok_only: bool = True):
    vals = [r.get(key) for r in runs if (r.get("ok") or not ok_only) and r.get(key) is not None]
    return statistics.median(vals) if vals else None


def cpu_ms_per_msg(r: dict):
    if r.get("server_cpu_s") is None or not r.get("messages"):
        return None
    return 1000.0 * r["server_cpu_s"] / r["messages"]


def summary(p: dict, server: str) -> dict:
    runs = p["runs"].get(server, [])
    for r in runs:
        r["cpu_ms_per_msg"] = cpu_ms_per_msg(r)
        if "other_cpu_pct" not in r and r.get("host_cpu_busy_pct") is not None:
            r["other_cpu_pct"] = r["host_cpu_busy_pct"] - (r.get("server_cpu_pct") or 0) - (r.get("client_cpu_pct") or 0)
    s = {"ok": sum(1 for r in runs if r.get("ok")), "reps": len(runs)}
    for k in ("ops_per_s", "messages_per_s", "mb_per_s", "server_cpu_ms_per_op", "cpu_ms_per_msg",
              "server_cpu_pct", "client_cpu_pct", "host_cpu_busy_pct", "server_rss_kb", "lat_ms_p50",
              "lat_ms_p99", "rss_kb_per_conn", "pss_kb_per_conn", "opened", "probe_login_ms",
              "server_rss_kb_before", "server_nprocs", "other_cpu_pct"):
        s[k] = med(runs, k)
    errs = [r.get("first_error") for r in runs if r.get("first_error")]
    s["first_error"] = errs[0] if errs else None
    return s


def fmt(v, nd=1) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        if abs(v) >= 100:
            return f"{v:.0f}"
        return f"{v:.{nd}f}"
    return str(v)


def ratio(a, b):
    if a is None or b in (None, 0):
        return None
    return a / b


def verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("**met**" if ok else "not met")


def target_rows(data: dict) -> list[list[str]]:
    rows = []
    for p in data["points"]:
        pr, dv = summary(p, "postroom"), summary(p, "dovecot")
        failed = " (failed runs: see below)" if pr["ok"] < pr["reps"] else ""
        if max(pr.get("other_cpu_pct") or 0, dv.get("other_cpu_pct") or 0) > OTHER_LIMIT:
            failed += " (machine shared: see below)"
        if p["group"] == "idle":
            a, b = pr["rss_kb_per_conn"], dv["rss_kb_per_conn"]
            limit = MEM_TARGET_KB[p["tls"]]
            rows.append([f"{p['id']}: RSS per idle connection, KB{failed}", fmt(a, 2), fmt(b, 2), fmt(ratio(a, b), 2),
                         f"<= {limit:.0f} KB", verdict(None if a is None else a <= limit)])
            a, b = pr["pss_kb_per_conn"], dv["pss_kb_per_conn"]
            rows.append([f"{p['id']}: PSS per idle connection, KB", fmt(a, 2), fmt(b, 2), fmt(ratio(a, b), 2),
                         "(info)", "-"])
            continue
        metric, unit = p["metric"], p["unit"]
        info = p.get("info")
        a, b = pr[metric], dv[metric]
        r = ratio(a, b)
        rows.append([f"{p['id']}: {unit}{failed}", fmt(a), fmt(b), fmt(r, 2),
                     "(info)" if info else f">= {THROUGHPUT_TARGET:.2f}x",
                     "-" if info else verdict(None if r is None else r >= THROUGHPUT_TARGET)])
        per = "login" if p["group"].startswith("login") else "session"
        a, b = pr["server_cpu_ms_per_op"], dv["server_cpu_ms_per_op"]
        r = ratio(a, b)
        rows.append([f"{p['id']}: server CPU ms/{per}", fmt(a, 2), fmt(b, 2), fmt(r, 2),
                     "(info)" if info else f"<= {CPU_TARGET:.2f}x",
                     "-" if info else verdict(None if r is None else r <= CPU_TARGET)])
    return rows


def markdown_table(data: dict) -> str:
    out = ["| point | postroom | Dovecot | ratio (postroom/Dovecot) | target | status |",
           "| --- | ---: | ---: | ---: | --- | --- |"]
    out += ["| " + " | ".join(r) + " |" for r in target_rows(data)]
    return "\n".join(out)


def detail_table(data: dict) -> str:
    out = ["| point | server | ok/reps | ops/s | msgs/s | MB/s | CPU ms/op | CPU ms/msg | server CPU % | "
           "server RSS MB | p50 ms | p99 ms | client CPU % | host busy % | other CPU % |",
           "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for p in data["points"]:
        if p["group"] == "idle":
            continue
        login = p["group"].startswith("login")
        for server in ("postroom", "dovecot"):
            s = summary(p, server)
            out.append("| " + " | ".join([
                p["id"], server, f"{s['ok']}/{s['reps']}", fmt(s["ops_per_s"]),
                fmt(s["messages_per_s"] if not login else None), fmt(s["mb_per_s"] if not login else None),
                fmt(s["server_cpu_ms_per_op"], 2), fmt(s["cpu_ms_per_msg"], 2),
                fmt(s["server_cpu_pct"], 0), fmt(None if s["server_rss_kb"] is None else s["server_rss_kb"] / 1024),
                fmt(s["lat_ms_p50"]), fmt(s["lat_ms_p99"]), fmt(s["client_cpu_pct"], 0),
                fmt(s["host_cpu_busy_pct"], 0), fmt(s["other_cpu_pct"], 0)]) + " |")
    idle = [p for p in data["points"] if p["group"] == "idle"]
    if idle:
        out += ["", "| point | server | ok/reps | opened | RSS before MB | RSS with idle conns MB | RSS KB/conn | "
                "PSS KB/conn | processes | fresh login while idle, ms |",
                "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for p in idle:
            for server in ("postroom", "dovecot"):
                s = summary(p, server)
                out.append("| " + " | ".join([
                    p["id"], server, f"{s['ok']}/{s['reps']}", fmt(s["opened"]),
                    fmt(None if s["server_rss_kb_before"] is None else s["server_rss_kb_before"] / 1024),
                    fmt(None if s["server_rss_kb"] is None else s["server_rss_kb"] / 1024),
                    fmt(s["rss_kb_per_conn"], 2), fmt(s["pss_kb_per_conn"], 2), fmt(s["server_nprocs"]),
                    fmt(s["probe_login_ms"])]) + " |")
    fails = []
    for p in data["points"]:
        for server in ("postroom", "dovecot"):
            s = summary(p, server)
            if s["ok"] < s["reps"]:
                fails.append(f"- {p['id']} / {server}: {s['reps'] - s['ok']} of {s['reps']} runs failed: "
                             f"`{(s['first_error'] or 'no ops').strip()[:200]}`")
    if fails:
        out += ["", "Failed runs (excluded from the medians):", ""] + fails
    shared = []
    for p in data["points"]:
        for server in ("postroom", "dovecot"):
            s = summary(p, server)
            if (s.get("other_cpu_pct") or 0) > OTHER_LIMIT:
                shared.append(f"- {p['id']} / {server}: other processes used {fmt(s['other_cpu_pct'], 0)} % CPU "
                              "(median) during the runs: its throughput may be understated.")
    if shared:
        out += ["", "Runs on a shared machine (`other CPU %` = host busy - server - client):", ""] + shared
    return "\n".join(out)


def scorecard(data: dict) -> str:
    rows = target_rows(data)
    met = sum(1 for r in rows if r[-1] == "**met**")
    judged = sum(1 for r in rows if r[-1] in ("**met**", "not met"))
    return f"{met} of {judged} targets met"


def code_line(start: dict | None, end: dict | None) -> str:
    if not start:
        return "not recorded."
    text = f"commit `{start.get('commit')}`"
    if start.get("src_dirty"):
        text += " plus uncommitted changes in " + ", ".join(f"`{f}`" for f in start["src_dirty"])
    text += f" (src/ digest {start.get('src_sha256')})."
    if end and end.get("src_sha256") != start.get("src_sha256"):
        text += (f" **Warning: src/ changed while the bench ran (digest at the end {end.get('src_sha256')}, "
                 f"commit `{end.get('commit')}`): points measured after the change ran different code.**")
    return text


def render(data: dict) -> str:
    m, e = data["meta"], data["end"]
    mach = m.get("machine", {})
    prov = m.get("provision", {})
    reps, dur = m.get("reps"), m.get("duration_s")
    lines = [
        "# Performance: postroom against Dovecot, measured in one run",
        "",
        "Generated by `bench/run.py`; do not edit above the marker at the end (rerun instead).",
        "",
        f"- **Reproduce:** `{m.get('command', 'make bench')}` (as root; about "
        f"{fmt((e.get('elapsed_s') or 0) / 60)} min; raw JSON lines in `bench/results/raw.jsonl`).",
        f"- **Date:** {m.get('started_at', '?')} (UTC); {'QUICK SMOKE RUN, not for quoting; ' if m.get('quick') else ''}"
        f"medians of {reps} run(s) x {fmt(dur)} s per point and server"
        f" (idle points: {m.get('idle')} connections, {reps} run(s) each).",
        f"- **Machine:** {mach.get('nproc')} CPUs ({mach.get('cpu')}), {mach.get('mem_gb')} GiB, Linux "
        f"{mach.get('kernel')}; Python {mach.get('python')}, uvloop {mach.get('uvloop')} (server and load "
        f"generator), {mach.get('openssl')}; Dovecot {mach.get('dovecot')}.",
        f"- **Code measured:** {code_line(m.get('code'), e.get('code'))}",
        f"- **Result:** {scorecard(data)}.",
        "",
        "## Targets",
        "",
        "From the issue: server CPU per operation at most half of Dovecot's (ratio <= 0.50); throughput at or "
        "above Dovecot's (ratio >= 1.00); memory per idle connection at most 8 KB plain and 32 KB with TLS. "
        "Ratios are postroom/Dovecot for both CPU and throughput.",
        "",
        markdown_table(data),
        "",
        "## All figures (medians)",
        "",
        "CPU ms/op is mailload's `server_cpu_ms_per_op`: server CPU (user+system, summed over the server's "
        "process tree: Dovecot's master and every child; postroom's single process with its threads) divided "
        "by completed operations. An operation is one login (login points) or one whole session (retrieval "
        "points: connect, USER/PASS, STAT, UIDL, RETR of every message, QUIT; 10 x 2 KB or 3 x 1 MiB). "
        "CPU ms/msg divides the same CPU by messages retrieved. Server RSS counts file pages a server has "
        "memory-mapped too (postroom maps its SQLite database), so it grows with the mail read; the idle "
        "points below measure what each connection adds.",
        "",
        detail_table(data),
        "",
        "## What exactly runs",
        "",
        f"- **Dovecot** {mach.get('dovecot')} from Debian, configured and seeded by the shared kit "
        "(`../shared/bench/setup_peers.sh`) with `DOVECOT_LOGIN_MODE=performance` (one long-lived "
        "pop3-login process, `service_count=0`; the fair comparison for a single-process server), "
        f"`NUSERS={m.get('nusers')}`. Ports 21110 (plain, STLS offered) and 21995 (implicit TLS). Passwords "
        "are `{PLAIN}` in a passwd-file (no hashing cost); default info logging (a line per login and logout).",
        "- **postroom** (this tree) in its own data dir `/tmp/bench-postroom/var`: `postroom init --server-name "
        "BENCH`, `domain add bench.test`, one mailbox `benchNNN@bench.test` / `bigNNN@bench.test` per kit user "
        "with the kit's password (argon2id hashes, as always), and `mailbox import` of the very Maildir the kit "
        f"seeded for that Dovecot user ({prov.get('mailboxes')} mailboxes, {prov.get('via')}, "
        f"{fmt(prov.get('mailboxes_s'))} s). `pop set --bindings 127.0.0.1:31110 --ssl-bindings 127.0.0.1:31995 "
        "--certificate /tmp/bench-dovecot/ssl/cert.pem --certificate-key /tmp/bench-dovecot/ssl/key.pem` (the "
        "kit's RSA-2048 certificate, so TLS costs compare like for like; postroom's own default would be EC "
        "P-256), `--login-type plain-text-login` (so plain USER/PASS can be measured like Dovecot's plain port; "
        "the production default `secure-login` refuses it), `--max-connections-per-user 100000`, "
        "`service set pop3 --startup automatic`, then `postroom serve` with `POSTROOM_AUTH_FAILURE_DELAY` unset "
        "and default (info) logging to `bench/results/postroom-serve.log`.",
        "- **Load:** the kit's `mailload.py` (Python, uvloop) on the same machine; users files list the same "
        "users in the same order (full addresses for postroom). The two servers alternate within every "
        "repetition. Before each point postroom is restarted and both servers run the point's own workload "
        "once per user, unmeasured, so postroom's cache of verified credentials (TTL 300 s) is warm for the "
        "whole point, as it is for applications that poll (see the `hash computed` row for the cold cost), "
        "and every point starts from the same state whatever ran before it. Retrieval never deletes (mailload's `pop3-retr` sends "
        "no DELE), so mailboxes stay as seeded.",
        "- **Idle memory:** `mailload --mode idle-connections` opens the connections (greeting read; TLS "
        "handshake done for implicit TLS; not logged in), waits 1 s, reads the server's process-tree RSS and PSS "
        "from /proc, checks that a fresh login still completes, holds, closes. Per-connection figures are "
        "(RSS with the connections - RSS before) / connections. Each run starts on fresh server processes "
        "(postroom restarted, Dovecot reloaded) plus one login per port, so it counts new memory, not memory "
        "freed by earlier points. Idle sessions are pre-authentication: postroom allows one session per mailbox, "
        "so 1000 logged-in idle sessions would need 1000 mailboxes.",
        "",
        "## How to read it",
        "",
        f"- The load generator and the server share the machine's {mach.get('nproc')} CPUs. `host busy %` "
        f"near {100 * (mach.get('nproc') or 1)} means the machine is saturated; `server CPU %` near 100 for "
        "postroom means its event-loop thread is (postroom is one process; Dovecot spreads over processes); "
        "`client CPU %` is the load generator's share. Where the machine is saturated, throughput measures "
        "client and server together: compare server CPU per operation first, throughput second, and only "
        "figures from the same run.",
        "- Other people's jobs may share the machine (a test suite run by another session). Before every "
        "measured run the bench waits (up to 3 min) until the machine is idle apart from the two idle servers, "
        "and `other CPU %` (host busy - server - client) shows what still ran beside a measurement; rows where "
        "it exceeded 15 % are marked.",
        "- `login none c8, hash computed` (information, no target) is the cost of a login whose password hash "
        "is really computed: for postroom the first login of each mailbox after a restart (argon2id with the "
        "parameters in `postroom/auth.py`; afterwards the cached credential serves it for 300 s), for Dovecot the kit's "
        "`crypt001..010` users (SHA512-CRYPT, 5000 rounds; Dovecot's auth cache is off by default, so every "
        "login hashes). The other login and retrieval points are measured with postroom's credential cache "
        "warm: postroom is restarted and each user runs the point's workload once before every point, because a cache entry "
        "expires 300 s after its verification and a hit does not extend it (without that, re-verifications "
        "land at random inside 5-s windows).",
        "- c=64 needs more users than 64: postroom locks a mailbox for the whole session "
        "(`-ERR [IN-USE]` for a second one), Dovecot by default does not (`pop3_lock_session = no`), and "
        "mailload reuses users round-robin. Hence `NUSERS` above.",
        "",
        KEEP,
        "",
    ]
    return "\n".join(lines)


def write(raw_path: str, doc_path: str) -> None:
    data = load(raw_path)
    text = render(data)
    kept = ""
    if os.path.exists(doc_path):
        with open(doc_path) as f:
            old = f.read()
        if KEEP in old:
            kept = old.split(KEEP, 1)[1].lstrip("\n")
    with open(doc_path + ".tmp", "w") as f:
        f.write(text + kept)
    os.replace(doc_path + ".tmp", doc_path)


if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    raw = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "results", "raw.jsonl")
    doc = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(here), "docs", "performance.md")
    write(raw, doc)
    print(markdown_table(load(raw)))
