#!/usr/bin/env python3
"""Tables for docs/performance.md from bench/results/raw.jsonl (medians per point and server):
POP3 postroom against Dovecot, SMTP postroom against Postfix.

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
# SMTP, against Postfix: the same two targets.
SMTP_CPU_TARGET = 0.5  # postroom server CPU per message at most half of Postfix's
SMTP_THROUGHPUT_TARGET = 1.0  # postroom messages/s at or above Postfix's


def is_smtp(p: dict) -> bool:
    return p["group"].startswith("smtp")


def pop_points(data: dict) -> list[dict]:
    return [p for p in data["points"] if not is_smtp(p)]


def smtp_points(data: dict) -> list[dict]:
    return [p for p in data["points"] if is_smtp(p)]


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
            r["other_cpu_pct"] = (r["host_cpu_busy_pct"] - (r.get("server_cpu_pct") or 0)
                                  - (r.get("client_cpu_pct") or 0))
    s = {"ok": sum(1 for r in runs if r.get("ok")), "reps": len(runs)}
    for k in ("ops_per_s", "messages_per_s", "mb_per_s", "server_cpu_ms_per_op", "cpu_ms_per_msg",
              "server_cpu_pct", "client_cpu_pct", "host_cpu_busy_pct", "server_rss_kb", "lat_ms_p50",
              "lat_ms_p99", "rss_kb_per_conn", "pss_kb_per_conn", "opened", "probe_login_ms",
              "server_rss_kb_before", "server_nprocs", "other_cpu_pct",
              # SMTP (run_smtp_point)
              "cpu_ms_per_msg_drained", "drain_s", "delivered", "delivered_per_s", "sasl_cpu_ms_per_msg",
              "lat_ms_p90", "server_pss_kb"):
        s[k] = med(runs, k)
    errs = [r.get("first_error") for r in runs if r.get("first_error")]
    s["first_error"] = errs[0] if errs else None
    # How far the runs of one point spread: a ratio near its target can land on either side.
    each = [smtp_cpu(r) for r in runs if r.get("ok") and smtp_cpu(r) is not None]
    s["cpu_range"] = (min(each), max(each)) if each else None
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
    for p in pop_points(data):
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
    for p in pop_points(data):
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
    idle = [p for p in pop_points(data) if p["group"] == "idle"]
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
    for p in pop_points(data):
        for server in ("postroom", "dovecot"):
            s = summary(p, server)
            if s["ok"] < s["reps"]:
                fails.append(f"- {p['id']} / {server}: {s['reps'] - s['ok']} of {s['reps']} runs failed: "
                             f"`{(s['first_error'] or 'no ops').strip()[:200]}`")
    if fails:
        out += ["", "Failed runs (excluded from the medians):", ""] + fails
    shared = []
    for p in pop_points(data):
        for server in ("postroom", "dovecot"):
            s = summary(p, server)
            if (s.get("other_cpu_pct") or 0) > OTHER_LIMIT:
                shared.append(f"- {p['id']} / {server}: other processes used {fmt(s['other_cpu_pct'], 0)} % CPU "
                              "(median) during the runs: its throughput may be understated.")
    if shared:
        out += ["", "Runs on a shared machine (`other CPU %` = host busy - server - client):", ""] + shared
    return "\n".join(out)


# ------------------------------------------------------------------------------------------
# SMTP: postroom against Postfix
# ------------------------------------------------------------------------------------------
def smtp_cpu(s: dict):
    """Server CPU ms per message up to full delivery; mailload's load-window figure if absent."""
    return s["cpu_ms_per_msg_drained"] if s.get("cpu_ms_per_msg_drained") is not None else s.get("cpu_ms_per_msg")


def smtp_results(data: dict) -> list[dict]:
    """Per SMTP point: both summaries, the two ratios and whether each target is met (None: no data)."""
    out = []
    for p in smtp_points(data):
        pr, pf = summary(p, "postroom"), summary(p, "postfix")
        tput = ratio(pr["messages_per_s"], pf["messages_per_s"])
        cpu = ratio(smtp_cpu(pr), smtp_cpu(pf))
        notes = ""
        if pr["ok"] < pr["reps"] or pf["ok"] < pf["reps"]:
            notes += " (failed runs: see below)"
        if max(pr.get("other_cpu_pct") or 0, pf.get("other_cpu_pct") or 0) > OTHER_LIMIT:
            notes += " (machine shared: see below)"
        out.append({"point": p, "postroom": pr, "postfix": pf, "tput_ratio": tput, "cpu_ratio": cpu,
                    "tput_met": None if tput is None else tput >= SMTP_THROUGHPUT_TARGET,
                    "cpu_met": None if cpu is None else cpu <= SMTP_CPU_TARGET, "notes": notes})
    return out


def smtp_table(data: dict) -> str:
    """Columns: point, msgs/s both, throughput ratio, CPU ms/msg both, CPU ratio; then one line
    with the targets and, point by point, whether they are met."""
    out = ["| point | postroom msgs/s | Postfix msgs/s | throughput ratio | postroom CPU ms/msg | "
           "Postfix CPU ms/msg | CPU ratio |",
           "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    results = smtp_results(data)
    for r in results:
        pr, pf = r["postroom"], r["postfix"]
        out.append("| " + " | ".join([
            r["point"]["id"] + r["notes"], fmt(pr["messages_per_s"]), fmt(pf["messages_per_s"]),
            fmt(r["tput_ratio"], 2), fmt(smtp_cpu(pr), 2), fmt(smtp_cpu(pf), 2), fmt(r["cpu_ratio"], 2)]) + " |")
    return "\n".join(out + ["", smtp_target_line(results)])


def smtp_target_line(results: list[dict]) -> str:
    def why(r: dict) -> str:
        checks = (("CPU", r["cpu_met"]), ("throughput", r["tput_met"]))
        return ", ".join([name for name, met in checks if met is False]
                         + [f"{name} not measured" for name, met in checks if met is None])

    met = [r["point"]["id"] for r in results if r["cpu_met"] and r["tput_met"]]
    not_met = [f"{r['point']['id']} ({why(r)})" for r in results if not (r["cpu_met"] and r["tput_met"])]
    text = (f"**Targets:** postroom CPU ms/msg at most half of Postfix's (CPU ratio <= {SMTP_CPU_TARGET:.2f}) and "
            f"throughput at or above Postfix's (throughput ratio >= {SMTP_THROUGHPUT_TARGET:.2f}); "
            f"**{len(met)} of {len(results)} points meet both.**")
    if met:
        text += " Met: " + ", ".join(met) + "."
    if not_met:
        text += " Not met: " + "; ".join(not_met) + "."
    return text


def smtp_scorecard(data: dict) -> str:
    results = smtp_results(data)
    both = sum(1 for r in results if r["cpu_met"] and r["tput_met"])
    return f"{both} of {len(results)} SMTP points meet both targets"


def smtp_detail_table(data: dict) -> str:
    out = ["| point | server | ok/reps | msgs/s | MB/s | CPU ms/msg (to delivery) | CPU ms/msg, runs min-max | "
           "CPU ms/msg (load window) | Dovecot SASL CPU ms/msg | drain s | delivered/s | server CPU % | "
           "server PSS MB | p50 ms | p99 ms | client CPU % | host busy % | other CPU % |",
           "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | "
           "---: | ---: | ---: |"]
    for p in smtp_points(data):
        for server in ("postroom", "postfix"):
            s = summary(p, server)
            out.append("| " + " | ".join([
                p["id"], server, f"{s['ok']}/{s['reps']}", fmt(s["messages_per_s"]), fmt(s["mb_per_s"]),
                fmt(s["cpu_ms_per_msg_drained"], 2),
                "-" if s["cpu_range"] is None else f"{fmt(s['cpu_range'][0], 2)}-{fmt(s['cpu_range'][1], 2)}",
                fmt(s["cpu_ms_per_msg"], 2), fmt(s["sasl_cpu_ms_per_msg"], 2),
                fmt(s["drain_s"], 2), fmt(s["delivered_per_s"]), fmt(s["server_cpu_pct"], 0),
                fmt(None if s["server_pss_kb"] is None else s["server_pss_kb"] / 1024),
                fmt(s["lat_ms_p50"]), fmt(s["lat_ms_p99"]), fmt(s["client_cpu_pct"], 0),
                fmt(s["host_cpu_busy_pct"], 0), fmt(s["other_cpu_pct"], 0)]) + " |")
    fails, shared = [], []
    for p in smtp_points(data):
        for server in ("postroom", "postfix"):
            s = summary(p, server)
            if s["ok"] < s["reps"]:
                fails.append(f"- {p['id']} / {server}: {s['reps'] - s['ok']} of {s['reps']} runs failed: "
                             f"`{(s['first_error'] or 'no messages').strip()[:200]}`")
            if (s.get("other_cpu_pct") or 0) > OTHER_LIMIT:
                shared.append(f"- {p['id']} / {server}: other processes used {fmt(s['other_cpu_pct'], 0)} % CPU "
                              "(median) during the runs: its throughput may be understated.")
    if fails:
        out += ["", "Failed runs (excluded from the medians):", ""] + fails
    if shared:
        out += ["", "Runs on a shared machine (`other CPU %` = host busy - server - client):", ""] + shared
    return "\n".join(out)


def smtp_section(data: dict) -> list[str]:
    """The SMTP part of the doc; empty when the run measured no SMTP point."""
    if not smtp_points(data):
        return []
    smtp = data["meta"].get("smtp") or {}
    ports = smtp.get("ports", {})
    tls_text = "; ".join(f"{name}: {c.get('tls')} {c.get('cipher')}" for name, c in smtp.get("tls", {}).items())
    return [
        "## SMTP: postroom against Postfix",
        "",
        "Each point delivers messages of one size over SMTP at one concurrency, "
        f"{smtp.get('msgs_per_conn', 1)} message(s) per connection, each to one of "
        f"{smtp.get('rcpt_count', '?')} local mailboxes (`{smtp.get('rcpt_template', 'bench{i:03d}@bench.test')}`, "
        "round-robin). `plain` is postroom's `Default BENCH` receive connector "
        f"(127.0.0.1:{ports.get('postroom-default', '?')}; anonymous sender, no STARTTLS, no AUTH) against "
        f"Postfix's smtpd on 127.0.0.1:{ports.get('postfix', '?')} used the same way; `starttls+auth` is "
        f"postroom's `Client BENCH` connector (127.0.0.1:{ports.get('postroom-client', '?')}) against the same "
        "Postfix port, both with EHLO, STARTTLS, EHLO, AUTH PLAIN, then MAIL/RCPT/DATA. msgs/s counts messages "
        "accepted (the 250 after the end of data, once each server has made the message durable: postroom's "
        "SQLite commit, Postfix's queue file). CPU ms/msg is the server's whole process tree (postroom's one "
        "process; Postfix's master and every child: smtpd, cleanup, trivial-rewrite, qmgr, virtual, "
        "postlogd ...) from just before the load until every accepted message is in its mailbox, divided "
        "by the messages accepted: Postfix delivers after its 250, so the bench waits for its queue to empty "
        "before reading the CPU. Postfix's AUTH PLAIN is checked by Dovecot's auth service, outside Postfix's "
        "process tree: that CPU is shown apart (`Dovecot SASL CPU ms/msg`) and is not in Postfix's figure.",
        "",
        smtp_table(data),
        "",
        f"STARTTLS (the kit's RSA-2048 certificate on every port, checked at the start): {tls_text or 'not recorded'}.",
        "",
        "### All SMTP figures (medians)",
        "",
        "`CPU ms/msg, runs min-max` is the lowest and highest run of the point (the median is the one "
        "compared); `CPU ms/msg (load window)` is mailload's own `--server-pid` figure, which stops with the load; "
        "`drain s` is how long the queue took to empty after the load (0 for postroom, which stores before "
        "answering), and `delivered/s` divides the messages by load time plus drain time. Server PSS (not RSS: "
        "Postfix runs up to a hundred processes sharing their libraries) is summed over the process tree at "
        "the end of the load.",
        "",
        smtp_detail_table(data),
        "",
    ]


def result_line(data: dict) -> str:
    parts = []
    if pop_points(data):
        text = scorecard(data)
        parts.append(text.replace(" targets met", " POP3 targets met") if smtp_points(data) else text)
    if smtp_points(data):
        parts.append(smtp_scorecard(data))
    return "; ".join(parts) or "no points measured"


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


def smtp_runs(data: dict) -> list[str]:
    """'What exactly runs' for SMTP: Postfix and postroom's connectors."""
    if not smtp_points(data):
        return []
    m = data["meta"]
    ports = (m.get("smtp") or {}).get("ports", {})
    return [
        f"- **Postfix** {m.get('machine', {}).get('postfix')} from Debian, the kit's instance (`/tmp/bench-postfix`): "
        "smtpd on 127.0.0.1:22525 with STARTTLS offered (`smtpd_tls_security_level = may`, the same certificate "
        "files), AUTH PLAIN through Dovecot's auth service, 127.0.0.0/8 in `mynetworks`, real `virtual(8)` "
        "delivery into one Maildir per `benchNNN@bench.test`, default logging to its maillog. Between runs the "
        "bench waits for its queue to empty and removes what was delivered.",
        "- **postroom SMTP:** the two receive connectors `postroom init` creates, moved with `postroom connector "
        f"set \"Default BENCH\" --bindings 127.0.0.1:{ports.get('postroom-default', '?')}` and `postroom connector "
        f"set \"Client BENCH\" --bindings 127.0.0.1:{ports.get('postroom-client', '?')}`, both with "
        "`--max-inbound-connections-per-source 1000` (the default 20 would refuse c=64 from 127.0.0.1); every "
        "other property is the default: Default offers STARTTLS and takes anonymous mail for local "
        "mailboxes, Client takes users only, AUTH PLAIN/LOGIN only after STARTTLS; neither has a certificate "
        "of its own, so both present the POP3 one (the kit's). The recipients are the POP3 mailboxes "
        "`benchNNN@bench.test`; AUTH uses their addresses and the kit's passwords. postroom is restarted before "
        "each SMTP point and, while it is stopped, the messages SMTP delivered are removed, so mailboxes are "
        "as seeded again. Before each point both servers run its workload once per user, unmeasured (for "
        "`starttls+auth` first at c=8), so credentials are verified and cached (postroom) and maildirs exist "
        "(Postfix).",
    ]


def pop_section(data: dict) -> list[str]:
    """The POP3 part of the doc (targets, then every figure); empty when no POP3 point ran."""
    if not pop_points(data):
        return []
    return [
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
    ]


def render(data: dict) -> str:
    m, e = data["meta"], data["end"]
    mach = m.get("machine", {})
    prov = m.get("provision", {})
    reps, dur = m.get("reps"), m.get("duration_s")
    lines = [
        "# Performance: postroom against Dovecot (POP3) and Postfix (SMTP), measured in one run" if smtp_points(data)
        else "# Performance: postroom against Dovecot, measured in one run",
        "",
        "Generated by `bench/run.py`; do not edit above the marker at the end (rerun instead).",
        "",
        f"- **Reproduce:** `{m.get('command', 'make bench')}` (as root; about "
        f"{fmt((e.get('elapsed_s') or 0) / 60)} min; raw JSON lines in `bench/results/raw.jsonl`). `make bench` "
        "also runs the IMAP4 points and the relay point, each kept in its own section below (`--only imap-...`, "
        "`--only relay` rewrite only that section).",
        f"- **Date:** {m.get('started_at', '?')} (UTC); "
        f"{'QUICK SMOKE RUN, not for quoting; ' if m.get('quick') else ''}"
        f"medians of {reps} run(s) x {fmt(dur)} s per point and server"
        f" (idle points: {m.get('idle')} connections, {reps} run(s) each).",
        f"- **Machine:** {mach.get('nproc')} CPUs ({mach.get('cpu')}), {mach.get('mem_gb')} GiB, Linux "
        f"{mach.get('kernel')}; Python {mach.get('python')}, uvloop {mach.get('uvloop')} (server and load "
        f"generator), {mach.get('openssl')}; Dovecot {mach.get('dovecot')}"
        + (f"; Postfix {mach.get('postfix')}." if mach.get("postfix") else "."),
        f"- **Code measured:** {code_line(m.get('code'), e.get('code'))}",
        f"- **Result:** {result_line(data)}.",
        "",
        *pop_section(data),
        *smtp_section(data),
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
        *smtp_runs(data),
        "- **Load:** the kit's `mailload.py` (Python, uvloop) on the same machine; users files list the same "
        "users in the same order (full addresses for postroom). The two servers alternate within every "
        "repetition. Before each point postroom is restarted and both servers run the point's own workload "
        "once per user, unmeasured, so postroom's cache of verified credentials (TTL 300 s) is warm for the "
        "whole point, as it is for applications that poll (see the `hash computed` row for the cold cost), "
        "and every point starts from the same state whatever ran before it. Retrieval never deletes "
        "(mailload's `pop3-retr` sends "
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
        "parameters in `postroom/auth.py`; afterwards the cached credential serves it for 300 s), "
        "for Dovecot the kit's "
        "`crypt001..010` users (SHA512-CRYPT, 5000 rounds; Dovecot's auth cache is off by default, so every "
        "login hashes). The other login and retrieval points are measured with postroom's credential cache "
        "warm: postroom is restarted and each user runs the point's workload once before every point, "
        "because a cache entry "
        "expires 300 s after its verification and a hit does not extend it (without that, re-verifications "
        "land at random inside 5-s windows).",
        *([
            "- SMTP: Postfix spreads a message over several processes (smtpd, cleanup, qmgr, virtual) and so over "
            "both CPUs; postroom does all of it on one event-loop thread plus its SQLite writer thread. Throughput "
            "again measures client and servers together when the machine is saturated: compare CPU ms/msg first. "
            "Postfix's figure leaves out the SASL work it hands to Dovecot (shown apart), which favours Postfix "
            "on `starttls+auth`.",
        ] if smtp_points(data) else []),
        "- c=64 needs more users than 64: postroom locks a mailbox for the whole session "
        "(`-ERR [IN-USE]` for a second one), Dovecot by default does not (`pop3_lock_session = no`), and "
        "mailload reuses users round-robin. Hence `NUSERS` above.",
        "",
        KEEP,
        "",
    ]
    return "\n".join(lines)


RELAY_BEGIN = "<!-- relay point: written by bench/run.py --only relay (bench/report.py write_relay) -->"
RELAY_END = "<!-- relay point: end -->"
RELAY_CPU_TARGET = 0.5  # postroom CPU per relayed message at most half of Postfix's
RELAY_THROUGHPUT_TARGET = 1.0  # end-to-end messages/s at or above Postfix's


def relay_table(points: list[dict]) -> str:
    """The relay point's table: medians with min-max of the repetitions, and the verdicts."""
    rows = ["| size | c | N | postroom CPU ms/msg (min-max) | Postfix CPU ms/msg (min-max) | CPU ratio | "
            "postroom msgs/s (min-max) | Postfix msgs/s (min-max) | rate ratio | targets | ok runs |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |"]
    for p in points:
        a, b = p.get("postroom"), p.get("postfix")
        if not a or not b:
            continue
        cpu_r, rate_r = ratio(a["cpu_ms"], b["cpu_ms"]), ratio(a["rate"], b["rate"])
        met = (cpu_r is not None and cpu_r <= RELAY_CPU_TARGET,
               rate_r is not None and rate_r >= RELAY_THROUGHPUT_TARGET)
        verdicts = ", ".join(f"{what} {'met' if ok else '**not met**'}" for what, ok in zip(("CPU", "rate"), met))

        def spread(s: dict, key: str, nd: int = 1) -> str:
            low, high = s[key + "_range"]
            return f"{fmt(s[key], nd)} ({fmt(low, nd)}-{fmt(high, nd)})"
        rows.append(
            f"| {p['size'] // 1024} KB | {p['conc']} | {a['n']} | {spread(a, 'cpu_ms', 2)} | {spread(b, 'cpu_ms', 2)} "
            f"| {fmt(cpu_r, 2)} | {spread(a, 'rate')} | {spread(b, 'rate')} | {fmt(rate_r, 2)} | {verdicts} | "
            f"{a['ok']}/{a['reps']}, {b['ok']}/{b['reps']} |")
    return "\n".join(rows)


def relay_section(meta: dict, points: list[dict]) -> str:
    code = meta.get("code") or {}
    lines = [
        RELAY_BEGIN,
        "## Relay: postroom against Postfix, submission through the queue to a sink",
        "",
        f"- **Reproduce:** `{meta.get('command', 'bench/run.py --only relay')}` (as root; raw JSON lines in "
        "`bench/results/relay.jsonl`). **Date:** " + str(meta.get("started_at", "?")) + f"; {meta.get('reps')} "
        f"interleaved repetitions per point and server (medians, min-max in brackets); Postfix {meta.get('postfix')}, "
        f"Python {meta.get('python')}, {meta.get('nproc')} CPUs; code `{code.get('commit', '?')}`"
        + (" (src/ modified)" if code.get("src_dirty") else "") + ".",
        "- **What runs:** `smtp-source` (Postfix's C load generator, one message per connection, -s connections "
        "in parallel) submits N messages without TLS from 127.0.0.1, a relay-permitted address, to "
        "`r<tag>@sink.example`: for Postfix its private relay-lab instance (127.0.0.30:25, mynetworks 127.0.0.0/8, "
        "relayhost [127.0.0.21]:25); for postroom an `anonymous-relay` receive connector, the queue, and a send "
        "connector for `*` through the smart host 127.0.0.21:25. Both deliver to the same `smtp-sink`.",
        "- **Measured:** server CPU (user+system of the whole process tree, reaped children included: Postfix's "
        "master, smtpd, cleanup, qmgr, smtp...; postroom's one process with its threads) from the first "
        "connection until the server's queue is empty, divided by N; msgs/s = N / that time (end to end). "
        "Every run checks that N messages were sent (Postfix's log; postroom's SEND tracking rows). Targets from "
        "issue 21: postroom's CPU per message at most half of Postfix's, its msgs/s at least Postfix's.",
        "",
        relay_table(points),
        "",
        RELAY_END,
    ]
    return "\n".join(lines)


def replace_section(doc_path: str, begin: str, end: str, section: str, place=None) -> None:
    """Replace the doc's part from marker `begin` to marker `end` with `section` (which carries
    both markers). Without them, `place(old text)` gives the new text; by default the section
    goes right below the kept-by-hand marker (a full `make bench` rewrites only what is above it)."""
    old = ""
    if os.path.exists(doc_path):
        with open(doc_path) as f:
            old = f.read()
    if begin in old and end in old:
        head, rest = old.split(begin, 1)
        text = head + section + rest.split(end, 1)[1]
    elif place is not None:
        text = place(old)
    elif KEEP in old:
        head, rest = old.split(KEEP, 1)
        text = head + KEEP + "\n\n" + section + "\n" + rest
    else:
        text = old.rstrip("\n") + "\n\n" + KEEP + "\n\n" + section + "\n"
    with open(doc_path + ".tmp", "w") as f:
        f.write(text)
    os.replace(doc_path + ".tmp", doc_path)


def write_relay(section: str, doc_path: str) -> None:
    """Put the relay section into the doc below the kept-by-hand marker, replacing the previous one."""
    replace_section(doc_path, RELAY_BEGIN, RELAY_END, section)


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
    data = load(raw)
    if pop_points(data):
        print(markdown_table(data))
    if smtp_points(data):
        print(smtp_table(data))
