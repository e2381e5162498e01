"""Give postroom the very users and messages the shared kit seeded for Dovecot.

Server-level settings go through the real CLI (`postroom init/domain/pop/service`), exactly
as an administrator would type them. The bulk part (one mailbox per kit user, then an import
of that user's kit Maildir) runs the same service-layer calls the CLI makes, in-process and
in parallel: a CLI call costs ~0.5 s each (interpreter start + argon2id), which for a few
hundred mailboxes is minutes. `--via-cli` in run.py forces the CLI for those too.
"""
from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass

DOMAIN = "bench.test"


@dataclass
class KitUser:
    name: str  # login name at Dovecot (the kit's users file)
    password: str
    maildir: str  # the Maildir the kit seeded for Dovecot

    @property
    def address(self) -> str:
        return f"{self.name}@{DOMAIN}"


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
              bindings: str, ssl_bindings: str, log, via_cli: bool = False) -> dict:
    """A fresh data dir with every kit user and message; returns timing facts for the report."""
    t0 = time.monotonic()
    if os.path.exists(data):
        shutil.rmtree(data)
    cli = Cli(postroom, data, log)
    cli("init", "--server-name", "BENCH", "--fqdn", "localhost")
    cli("domain", "add", DOMAIN)
    cli("pop", "set", "--bindings", bindings, "--ssl-bindings", ssl_bindings,
        "--certificate", cert, "--certificate-key", key,
        "--login-type", "plain-text-login",
        "--max-connections-per-user", "100000")
    cli("service", "set", "pop3", "--startup", "automatic")
    t1 = time.monotonic()
    if via_cli:
        for user in users:
            cli("mailbox", "new", user.address, "--password-stdin", stdin=user.password + "\n")
            cli("mailbox", "import", user.address, user.maildir)
    else:
        asyncio.run(_mailboxes_in_process(data, users, log))
    t2 = time.monotonic()
    log(f"  postroom provisioned: settings {t1 - t0:.1f}s, {len(users)} mailboxes + import {t2 - t1:.1f}s")
    return {"settings_s": round(t1 - t0, 2), "mailboxes_s": round(t2 - t1, 2), "mailboxes": len(users),
            "via": "cli" if via_cli else "service layer in-process"}


async def _mailboxes_in_process(data: str, users: list[KitUser], log) -> None:
    # The same calls `postroom mailbox new --password-stdin` and `postroom mailbox import` make.
    from postroom.datadir import read_local_server
    from postroom.service import LOCAL_OPERATOR, Context
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


if __name__ == "__main__":  # pragma: no cover - manual use
    sys.exit("use bench/run.py")
