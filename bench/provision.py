"""Give postroom the very users and messages the shared kit seeded for Dovecot.

Server-level settings go through the real CLI (`postroom init/domain/pop/service`), exactly
as an administrator would type them. The bulk part (one mailbox per kit user, then an import
of that user's kit Maildir) runs the same service-layer calls the CLI makes, in-process and
in parallel: a CLI call costs ~0.5 s each (interpreter start + argon2id), which for a few
hundred mailboxes is minutes. `--via-cli` in run.py forces the CLI for those too.
"""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass

DOMAIN = "bench.test"
# mailload's MAIL FROM and From for authenticated submission (its --mail-from default): each
# bench mailbox may send as it (an authenticated session may otherwise send only as itself).
BENCH_SENDER = "loadgen@bench.test"
SERVER = "BENCH"
# The two receive connectors `postroom init` creates, by the name the bench uses for each.
CONNECTORS = {"default": f"Default {SERVER}", "client": f"Client {SERVER}"}
# Postroom's default is 20 connections at once from one address; mailload runs up to 64 from 127.0.0.1.
SMTP_PER_SOURCE = 1000


@dataclass
class KitUser:
    name: str  # login name at Dovecot (the kit's users file)
    password: str
    maildir: str  # the Maildir the kit seeded for Dovecot

    @property
    def address(self) -> str:
        return f"{self.name}@{DOMAIN}"


def run_json_tool(script: str, args: list[str], timeout: float, log) -> dict:
    """Run a load tool (mailload, imapload) with this Python; its last stdout line is its JSON
    result. A failed run is {"ok": False, "first_error": ...}, logged with `log`."""
    r = subprocess.run([sys.executable, script] + args, capture_output=True, text=True, timeout=timeout)
    line = (r.stdout.strip().splitlines() or ["{}"])[-1]
    try:
        d = json.loads(line)
    except ValueError:
        d = {"ok": False}
    if r.returncode != 0:
        d["ok"] = False
        d.setdefault("first_error", r.stderr.strip()[-300:])
        log("    FAIL: " + r.stderr.strip()[-300:])
    return d


def read_users_file(path: str, mail_root: str) -> list[KitUser]:
    """Lines 'user:password' (the kit's format); each user's Maildir is <mail_root>/<user>/Maildir."""
    users = []
    with open(path) as handle:
        for line in handle:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            sep = ":" if ":" in line else " "
            name, _, password = line.partition(sep)
            users.append(KitUser(name, password, os.path.join(mail_root, name, "Maildir")))
    return users


def write_postroom_users_file(users: list[KitUser], path: str) -> str:
    """mailload logs in with the name in the file: postroom needs the full address."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        for user in users:
            handle.write(f"{user.address}:{user.password}\n")
    return path


class Cli:
    def __init__(self, postroom: str, data: str, log) -> None:
        self.postroom, self.data, self.log = postroom, data, log

    def __call__(self, *args: str, stdin: str | None = None) -> str:
        cmd = [self.postroom, *args, "--data", self.data]
        self.log("  $ " + " ".join(cmd))
        r = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} exited {r.returncode}: {r.stderr.strip() or r.stdout.strip()}")
        return r.stdout


def provision(*, postroom: str, data: str, users: list[KitUser], cert: str, key: str,
              bindings: str, ssl_bindings: str, smtp_bindings: dict[str, str], log,
              rcpts: list[str] = (), via_cli: bool = False) -> dict:
    """A fresh data dir with every kit user and message; returns timing facts for the report.

    smtp_bindings: {"default": "127.0.0.1:PORT", "client": "127.0.0.1:PORT"}, always applied: the
    smtp service starts with `serve`, and `init` (without --dev) binds its connectors to 25/587.
    The connectors keep their certificate unset, so they use the POP3 one: the kit's.
    rcpts: addresses the SMTP points deliver to; checked to be mailboxes here."""
    t0 = time.monotonic()
    if os.path.exists(data):
        shutil.rmtree(data)
    cli = Cli(postroom, data, log)
    cli("init", "--server-name", SERVER, "--fqdn", "localhost")
    cli("domain", "add", DOMAIN)
    cli("pop", "set", "--bindings", bindings, "--ssl-bindings", ssl_bindings,
        "--certificate", cert, "--certificate-key", key,
        "--login-type", "plain-text-login",
        "--max-connections-per-user", "100000")
    cli("service", "set", "pop3", "--startup", "automatic")
    # The load generator submits far past a mailbox's default rates (30 messages a minute):
    # like Postfix's smtpd in the same run, postroom measures with no submission rate limits.
    cli("transport", "set", "--message-rate-limit-per-minute", "0", "--message-rate-limit-per-day", "0",
        "--recipient-rate-limit-per-minute", "0", "--recipient-rate-limit-per-day", "0")
    connectors = {}
    for kind, binding in smtp_bindings.items():
        cli("connector", "set", CONNECTORS[kind], "--bindings", binding,
            "--max-inbound-connections-per-source", str(SMTP_PER_SOURCE))
        view = json.loads(cli("connector", "show", CONNECTORS[kind], "--json"))
        connectors[kind] = {k: view.get(k) for k in (
            "name", "bindings", "auth", "permission_groups", "require_tls", "max_message_size",
            "max_recipients_per_message", "max_inbound_connections", "max_inbound_connections_per_source",
            "certificate", "protocol_log")}
        if view.get("certificate"):
            raise RuntimeError(f"{CONNECTORS[kind]} has its own certificate {view['certificate']!r}: the bench "
                               "expects it unset (the POP3 one, the kit's)")
    t1 = time.monotonic()
    if via_cli:
        for user in users:
            cli("mailbox", "new", user.address, "--password-stdin", stdin=user.password + "\n")
            cli("mailbox", "set", user.address, "--send-as", BENCH_SENDER)
            cli("mailbox", "import", user.address, user.maildir)
    else:
        asyncio.run(_mailboxes_in_process(data, users, log))
    t2 = time.monotonic()
    seeded_max_id = asyncio.run(_check_and_last_id(data, list(rcpts)))
    log(f"  postroom provisioned: settings {t1 - t0:.1f}s, {len(users)} mailboxes + import {t2 - t1:.1f}s; "
        f"{len(rcpts)} SMTP recipients checked")
    return {"settings_s": round(t1 - t0, 2), "mailboxes_s": round(t2 - t1, 2), "mailboxes": len(users),
            "via": "cli" if via_cli else "service layer in-process", "connectors": connectors,
            "smtp_rcpts": len(rcpts), "seeded_max_message_id": seeded_max_id}


async def _check_and_last_id(data: str, rcpts: list[str]) -> int:
    """Every SMTP recipient is a mailbox; returns the highest message id after seeding (ids only
    grow), so that purge_delivered() can tell seeded messages from delivered ones."""
    from postroom.storage import open_store

    store = open_store(data)
    await store.open()
    try:
        missing = [a for a in rcpts if await store.find_mailbox(a) is None]
        if missing:
            raise RuntimeError(f"{len(missing)} SMTP recipients are not postroom mailboxes, e.g. {missing[:3]}")
        last = 0
        for mailbox in await store.list_mailboxes():
            for info in await store.list_messages(mailbox.id):
                last = max(last, info.id)
        return last
    finally:
        await store.close()


def count_messages(data: str) -> int:
    """Messages in the store, through the store (postroom may be running: SQLite WAL readers)."""
    return asyncio.run(_count(data))


async def _count(data: str) -> int:
    from postroom.storage import open_store

    store = open_store(data)
    await store.open()
    try:
        return sum([(await store.mailbox_usage(m.id))[0] for m in await store.list_mailboxes()])
    finally:
        await store.close()


def purge_delivered(data: str, seeded_max_id: int) -> tuple[int, int]:
    """Remove every message delivered after seeding (postroom must be stopped), so mailboxes are
    as seeded again and the data dir does not grow by gigabytes over the 1 MiB SMTP points.
    Returns (messages removed, mailboxes touched)."""
    return asyncio.run(_purge(data, seeded_max_id))


async def _purge(data: str, seeded_max_id: int) -> tuple[int, int]:
    from postroom.storage import open_store

    store = open_store(data)
    await store.open()
    try:
        removed = touched = 0
        for mailbox in await store.list_mailboxes():
            extra = [info.id for info in await store.list_messages(mailbox.id) if info.id > seeded_max_id]
            if extra:
                removed += await store.delete_messages(mailbox.id, extra)
                touched += 1
        return removed, touched
    finally:
        await store.close()


async def _mailboxes_in_process(data: str, users: list[KitUser], log) -> None:
    # The same calls `postroom mailbox new --password-stdin` and `postroom mailbox import` make.
    from postroom.datadir import read_local_server
    from postroom.service import LOCAL_OPERATOR, Context
    from postroom.model import MailboxFeatures
    from postroom.service import mailboxes as mailbox_ops
    from postroom.storage import open_store

    store = open_store(data)
    await store.open()
    try:
        ctx = Context(store, LOCAL_OPERATOR, read_local_server(data), data)
        sem = asyncio.Semaphore(os.cpu_count() or 2)  # argon2id runs in threads: one per core

        async def one(user: KitUser) -> None:
            async with sem:
                await mailbox_ops.new_mailbox(ctx, user.address, user.password)
            await mailbox_ops.set_mailbox(ctx, user.address, MailboxFeatures.changes(send_as=BENCH_SENDER))
            await mailbox_ops.import_messages(ctx, user.address, user.maildir)

        await asyncio.gather(*(one(u) for u in users))
        # Check: every mailbox holds as many messages as its kit Maildir.
        for user in users:
            view = await mailbox_ops.show_mailbox(ctx, user.address)
            expected = sum(len(os.listdir(os.path.join(user.maildir, sub)))
                           for sub in ("cur", "new") if os.path.isdir(os.path.join(user.maildir, sub)))
            if view["messages"] != expected:
                raise RuntimeError(f"{user.address}: {view['messages']} messages imported, Maildir has {expected}")
    finally:
        await store.close()


def refuse_busy_ports(ports: list[int]) -> None:
    """Stop before starting anything if a port already answers: a server left running (by
    --keep-running, say) would share it (postroom listens with SO_REUSEPORT) and take load
    whose CPU is then read from the wrong process."""
    import socket
    for port in ports:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                pass
        except OSError:
            continue
        sys.exit(f"127.0.0.1:{port} already answers: stop the server left on it (pgrep -af 'postroom serve|dovecot')"
                 " before measuring")


if __name__ == "__main__":  # pragma: no cover - manual use
    sys.exit("use bench/run.py")
