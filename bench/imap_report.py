"""The IMAP4 section of docs/performance.md, from bench/results/imap.jsonl (medians per point
and server): postroom's imap4 service against Dovecot's imapd.

  .venv/bin/python bench/imap_report.py [bench/results/imap.jsonl] [docs/performance.md]
The section sits between its two markers below the kept-by-hand marker, like the relay one: a
POP3/SMTP run rewrites only what is above that marker, and an IMAP run only this section. The
IDLE wake-up point (group imap-idle) has a part of its own right after it, between its own
markers: a run rewrites the throughput section when it ran throughput points, the IDLE part
when it ran the IDLE point, so `--only imap-idle` keeps the other figures.
"""
from __future__ import annotations

import json
import os
import statistics
import sys

from report import fmt, ratio, replace_section

BEGIN = "<!-- IMAP4 points: written by bench/run.py --only imap-... (bench/imap_report.py) -->"
END = "<!-- IMAP4 points: end -->"
IDLE_BEGIN = "<!-- IMAP4 IDLE wake-up: written by bench/run.py --only imap-idle (bench/imap_report.py) -->"
IDLE_END = "<!-- IMAP4 IDLE wake-up: end -->"
IDLE_GROUP = "imap-idle"
IDLE_KEYS = ("ops", "wakes", "lat_ms_p50", "lat_ms_p90", "lat_ms_p99", "wake_ms_max", "server_cpu_pct",
             "server_rss_kb", "server_nprocs", "host_cpu_busy_pct")
CPU_TARGET = 0.5  # postroom server CPU per op at most half of Dovecot's
THROUGHPUT_TARGET = 1.0  # postroom ops/s at or above Dovecot's
OTHER_LIMIT = 15.0
KEYS = ("ops_per_s", "messages_per_s", "mb_per_s", "server_cpu_ms_per_op", "server_cpu_pct", "client_cpu_pct",
        "host_cpu_busy_pct", "other_cpu_pct", "lat_ms_p50", "lat_ms_p99", "server_rss_kb", "server_nprocs")


def load(path: str) -> dict:
    meta, end, points = {}, {}, {}
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                d = json.loads(line)
                if "meta" in d:
                    meta = d["meta"]
                elif "meta_end" in d:
                    end = d["meta_end"]
                else:
                    p = points.setdefault(d["point"], {"id": d["point"], "group": d["group"], "runs": {}})
                    p["runs"].setdefault(d["server"], []).append(d)
    return {"meta": meta, "end": end, "points": list(points.values())}


def throughput_points(data: dict) -> dict:
    return dict(data, points=[p for p in data["points"] if p["group"] != IDLE_GROUP])


def idle_points(data: dict) -> dict:
    return dict(data, points=[p for p in data["points"] if p["group"] == IDLE_GROUP])


def summary(p: dict, server: str, keys: tuple[str, ...] = KEYS) -> dict:
    runs = p["runs"].get(server, [])
    good = [r for r in runs if r.get("ok")]
    s = {"ok": len(good), "reps": len(runs)}
    for k in keys:
        vals = [r[k] for r in good if r.get(k) is not None]
        s[k] = statistics.median(vals) if vals else None
    cpu = [r["server_cpu_ms_per_op"] for r in good if r.get("server_cpu_ms_per_op") is not None]
    s["cpu_range"] = (min(cpu), max(cpu)) if cpu else None
    errs = [r.get("first_error") for r in runs if r.get("first_error")]
    s["first_error"] = errs[0] if errs else None
    s["errors"] = sum(r.get("errors") or 0 for r in runs)
    return s


def results(data: dict) -> list[dict]:
    out = []
    for p in throughput_points(data)["points"]:
        pr, dv = summary(p, "postroom"), summary(p, "dovecot")
        tput = ratio(pr["ops_per_s"], dv["ops_per_s"])
        cpu = ratio(pr["server_cpu_ms_per_op"], dv["server_cpu_ms_per_op"])
        out.append({"point": p, "postroom": pr, "dovecot": dv, "tput": tput, "cpu": cpu,
                    "tput_met": None if tput is None else tput >= THROUGHPUT_TARGET,
                    "cpu_met": None if cpu is None else cpu <= CPU_TARGET})
    return out


def table(data: dict) -> str:
    rows = ["| point | postroom ops/s | Dovecot ops/s | throughput ratio | postroom CPU ms/op | Dovecot CPU ms/op | "
            "CPU ratio | targets |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in results(data):
        pr, dv = r["postroom"], r["dovecot"]
        notes = " (failed runs)" if pr["ok"] < pr["reps"] or dv["ok"] < dv["reps"] else ""
        if max(pr["other_cpu_pct"] or 0, dv["other_cpu_pct"] or 0) > OTHER_LIMIT:
            notes += " (machine shared)"
        verdicts = ", ".join(f"{what} {'-' if met is None else ('met' if met else '**not met**')}"
                             for what, met in (("CPU", r["cpu_met"]), ("throughput", r["tput_met"])))
        rows.append("| " + " | ".join([
            r["point"]["id"] + notes, fmt(pr["ops_per_s"]), fmt(dv["ops_per_s"]), fmt(r["tput"], 2),
            fmt(pr["server_cpu_ms_per_op"], 2), fmt(dv["server_cpu_ms_per_op"], 2), fmt(r["cpu"], 2),
            verdicts]) + " |")
    both = sum(1 for r in results(data) if r["cpu_met"] and r["tput_met"])
    return "\n".join(rows + ["", f"**Targets** (postroom CPU ms/op at most half of Dovecot's, ops/s at least "
                                 f"Dovecot's): **{both} of {len(results(data))} points meet both.**"])


def failure_note(p: dict, server: str, s: dict, nothing: str) -> list[str]:
    """The line saying a point's failed runs and errors, if it had any."""
    if s["ok"] == s["reps"] and not s["errors"]:
        return []
    return [f"- {p['id']} / {server}: {s['reps'] - s['ok']} of {s['reps']} runs failed, "
            f"{s['errors']} errors: `{(s['first_error'] or nothing).strip()[:200]}`"]


def with_notes(rows: list[str], notes: list[str]) -> str:
    return "\n".join(rows + (["", "Failed runs and errors (failed runs are excluded from the medians):", ""] + notes
                             if notes else []))


def detail(data: dict) -> str:
    rows = ["| point | server | ok/reps | ops/s | msgs/s | MB/s | CPU ms/op (runs min-max) | server CPU % | "
            "server RSS MB | processes | p50 ms | p99 ms | client CPU % | host busy % | other CPU % |",
            "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    notes = []
    for p in throughput_points(data)["points"]:
        for server in ("postroom", "dovecot"):
            s = summary(p, server)
            spread = "" if s["cpu_range"] is None else f" ({fmt(s['cpu_range'][0], 2)}-{fmt(s['cpu_range'][1], 2)})"
            rows.append("| " + " | ".join([
                p["id"], server, f"{s['ok']}/{s['reps']}", fmt(s["ops_per_s"]), fmt(s["messages_per_s"]),
                fmt(s["mb_per_s"], 2), fmt(s["server_cpu_ms_per_op"], 2) + spread, fmt(s["server_cpu_pct"], 0),
                fmt(None if s["server_rss_kb"] is None else s["server_rss_kb"] / 1024), fmt(s["server_nprocs"]),
                fmt(s["lat_ms_p50"]), fmt(s["lat_ms_p99"]), fmt(s["client_cpu_pct"], 0),
                fmt(s["host_cpu_busy_pct"], 0), fmt(s["other_cpu_pct"], 0)]) + " |")
            notes += failure_note(p, server, s, "no ops")
    return with_notes(rows, notes)


def section(data: dict) -> str:
    data = throughput_points(data)
    m, e = data["meta"], data["end"]
    mach, code = m.get("machine", {}), m.get("code") or {}
    what = m.get("what", {})
    ports = m.get("ports", {})
    dirty = " plus uncommitted changes in src/" if code.get("src_dirty") else ""
    changed = ""
    if (e.get("code") or {}).get("src_sha256") not in (None, code.get("src_sha256")):
        changed = " **Warning: src/ changed while the bench ran.**"
    lines = [
        BEGIN,
        "## IMAP4: postroom against Dovecot's imapd",
        "",
        f"- **Reproduce:** `{m.get('command', 'make bench')}` (as root; about {fmt((e.get('elapsed_s') or 0) / 60)} "
        "min; raw JSON lines in `bench/results/imap.jsonl`; `make bench` runs these points after the POP3 and "
        "SMTP ones and rewrites only this section). IMAP points only: `.venv/bin/python bench/run.py --only "
        "imap-login,imap-headers,imap-bodies,imap-search,imap-store,imap-mixed`.",
        f"- **Date:** {m.get('started_at', '?')} (UTC); medians of {m.get('reps')} run(s) x "
        f"{fmt(m.get('duration_s'))} s per point and server, the two servers alternating within each "
        "repetition. **Machine:** "
        f"{mach.get('nproc')} CPUs ({mach.get('cpu')}); Python {mach.get('python')}, {mach.get('openssl')}; "
        f"Dovecot {mach.get('dovecot')}. **Code:** commit `{code.get('commit')}`{dirty} (src/ digest "
        f"{code.get('src_sha256')}).{changed}",
        f"- **Mailboxes:** {m.get('nusers')} users `imap001..` with `{{PLAIN}}` passwords in Dovecot's passwd-file "
        "and the same passwords as postroom mailboxes (argon2id); each has the same "
        f"{m.get('messages')} messages of {m.get('size')} bytes, written by the kit's `seed_mailboxes.py` into "
        "Maildirs that Dovecot serves and postroom imports (`mailbox import`); then over IMAP, on both, messages "
        f"1:{m.get('seen')} get `\\Seen` ({(m.get('messages') or 0) - (m.get('seen') or 0)} unseen).",
        f"- **Servers:** Dovecot's own instance (`bench/dovecot-imap.conf`: the kit's POP3 settings for IMAP, "
        "login service in performance mode `service_count = 0`, default info logging) on 127.0.0.1:"
        f"{ports.get('dovecot', {}).get('plain')} (STARTTLS) and {ports.get('dovecot', {}).get('tls')} (implicit "
        f"TLS); postroom `serve` with `imap set --bindings 127.0.0.1:{ports.get('postroom', {}).get('plain')} "
        f"--ssl-bindings 127.0.0.1:{ports.get('postroom', {}).get('tls')} --login-type plain-text-login "
        "--max-connections-per-user 100000` and `service set imap4 --startup automatic`; both present the same "
        "RSA-2048 certificate.",
        "- **Load:** `bench/imapload.py` (asyncio + uvloop, one command at a time per connection, every tagged "
        "reply checked for OK and every count checked: EXISTS, FETCH replies, literal sizes, SEARCH hits, FLAGS "
        "after STORE). CPU ms/op is server CPU (user+system over the process tree: Dovecot's master and every "
        "child, postroom's one process) per operation, with the kit's mailload accounting. Session points "
        "(headers, bodies, search, store) log in and SELECT before the measured window, one session per "
        "connection; login and mixed points log in inside it (postroom restarted and every user logged in once "
        "before each such point, so its credential cache is warm, as it is for clients that poll). One operation:",
        "",
        *[f"  - `{g}`: {w[0]}" for g, w in what.items() if g != IDLE_GROUP],
        "",
        table(data),
        "",
        "### All IMAP4 figures (medians)",
        "",
        detail(data),
        "",
        END,
    ]
    return "\n".join(lines)


def idle_table(data: dict) -> str:
    rows = ["| point | server | ok/reps | deliveries | wake-ups | p50 ms | p90 ms | p99 ms | max ms | server CPU % | "
            "server RSS MB | processes | host busy % |",
            "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    notes = []
    for p in idle_points(data)["points"]:
        for server in ("postroom", "dovecot"):
            s = summary(p, server, IDLE_KEYS)
            rows.append("| " + " | ".join([
                p["id"], server, f"{s['ok']}/{s['reps']}", fmt(s["ops"]), fmt(s["wakes"]), fmt(s["lat_ms_p50"], 1),
                fmt(s["lat_ms_p90"], 1), fmt(s["lat_ms_p99"], 1), fmt(s["wake_ms_max"], 1),
                fmt(s["server_cpu_pct"], 0), fmt(None if s["server_rss_kb"] is None else s["server_rss_kb"] / 1024),
                fmt(s["server_nprocs"]), fmt(s["host_cpu_busy_pct"], 0)]) + " |")
            notes += failure_note(p, server, s, "no wake-ups")
    return with_notes(rows, notes)


def idle_section(data: dict) -> str:
    m = data["meta"]
    mach, code = m.get("machine", {}), m.get("code") or {}
    dirty = " plus uncommitted changes in src/" if code.get("src_dirty") else ""
    what = (m.get("what") or {}).get(IDLE_GROUP, ["?"])[0]
    return "\n".join([
        IDLE_BEGIN,
        "### IMAP4 IDLE wake-up latency: postroom against Dovecot's imapd",
        "",
        f"- **Reproduce:** `{m.get('command', 'make bench')}` (as root; raw JSON lines in `bench/results/imap.jsonl`); "
        "this point alone: `.venv/bin/python bench/run.py --only imap-idle` (`bench/imapidle.py` against both "
        "servers, set up as for the points above).",
        f"- **Date:** {m.get('started_at', '?')} (UTC); medians over {m.get('reps')} run(s) per server of each "
        f"run's percentiles. **Machine:** {mach.get('nproc')} CPUs ({mach.get('cpu')}); Dovecot "
        f"{mach.get('dovecot')}. **Code:** commit `{code.get('commit')}`{dirty}.",
        f"- **What:** {what}. postroom runs on its embedded store (one node); its sessions wait on the node's "
        "notifier, which the store's feed of mailbox changes sets (no per-session polling). Dovecot's imap "
        "processes learn of new mail through inotify on the Maildir and look 0.5 s later (its lib-storage "
        "waits NOTIFY_DELAY_MSECS = 500 after a change notification, to take several changes in one sync): "
        "that wait, not its work, is most of its figure. Host busy % is the whole machine's CPU during a run "
        "(of 100 % per core): other sessions' jobs may have shared it.",
        "",
        idle_table(data),
        "",
        IDLE_END,
    ])


def write_idle(text: str, doc_path: str) -> None:
    """Replace the IDLE wake-up part (or add it right after the IMAP4 section)."""
    def place(old: str) -> str:
        if END not in old:
            return old.rstrip("\n") + "\n\n" + text + "\n"
        head, rest = old.split(END, 1)
        return head + END + "\n\n" + text + rest
    replace_section(doc_path, IDLE_BEGIN, IDLE_END, text, place)


def write_report(data: dict, doc_path: str) -> None:
    """The parts this run measured: the throughput section, the IDLE part, or both."""
    if throughput_points(data)["points"]:
        write(section(data), doc_path)
    if idle_points(data)["points"]:
        write_idle(idle_section(data), doc_path)


def write(text: str, doc_path: str) -> None:
    """Replace the IMAP4 section below the kept-by-hand marker (or add it there)."""
    replace_section(doc_path, BEGIN, END, text)


if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    raw = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "results", "imap.jsonl")
    doc = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(here), "docs", "performance.md")
    data = load(raw)
    write_report(data, doc)
    print(table(throughput_points(data)))
    print(idle_table(data))
