"""The support bundle (`doctor pop ADDRESS --bundle FILE.tar.gz`): what support needs to see,
and no secret.

Only views made for administrators go in (they never hold password hashes, token hashes,
session ids or keys); the protocol logs already mask credentials. As a second line of defence
every file is scrubbed before it is packed: argon2 hashes, SHA-256 hex digests, PEM private
keys, API tokens, sealed secrets (a smart host's password) and any secret the caller names
(the password the doctor was given).
"""
from __future__ import annotations

import asyncio
import csv
import importlib.metadata
import io
import json
import os
import platform
import re
import sqlite3
import ssl
import sys
import tarfile
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable

from .. import __version__

WINDOW = timedelta(hours=1)
MAX_LOG_READ = 32 * 1024 * 1024  # of each day's log file, its end: the last hour is there
REMOVED = "[removed]"
_PATTERNS = [
    re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?-----END [A-Z0-9 ]*PRIVATE KEY-----", re.S),
    re.compile(r"\$argon2(?:id|i|d)\$[^\s\"',]+"),
    re.compile(r"postroom_[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+"),
    re.compile(r"(?<![0-9A-Fa-f])[0-9A-Fa-f]{64}(?![0-9A-Fa-f])"),
    re.compile(r"aesgcm:v1:[A-Za-z0-9_=-]+"),  # a sealed secret (sealing.py): a smart host's password
]
PACKAGES = ("cryptography", "typer", "rich", "argon2-cffi", "uvloop", "fastapi", "uvicorn", "jinja2")
README = """postroom support bundle for {address} on server {server}, made {made}.

doctor.json          the doctor's checks (name, status, detail, fix)
server.json          the server, its POP3 and admin-service settings
services.json        services: desired state and what the node reports
connectors.json      receive connectors and their state on the node
send-connectors.json send connectors (a smart-host password shows as ********)
transport.json       the server's transport settings
mailbox.json         the mailbox's features (no password hash)
certificate.json     public facts of the POP3 certificate (never its key)
login-failures.json  refused logins for the mailbox in the last hour
ended-sessions.json  the server's POP3 and IMAP4 sessions that ended without a login in the last hour
audit.json           admin changes of the last day
versions.json        postroom, Python, OpenSSL, SQLite, packages, platform
logs/                protocol-log sessions of the last hour that name the mailbox

Left out: passwords (smart-host passwords included), password hashes, API tokens and their
hashes, console sessions, private keys. Anything that looked like one was replaced by "{removed}".
"""


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:  # shorter ones would mangle ordinary text
            text = text.replace(secret, REMOVED)
    for pattern in _PATTERNS:
        text = pattern.sub(REMOVED, text)
    return text


def versions(schema_version: int) -> dict[str, Any]:
    found: dict[str, str | None] = {}
    for package in PACKAGES:
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = None
    return {"postroom": __version__, "schema_version": schema_version, "python": sys.version.split()[0],
            "openssl": ssl.OPENSSL_VERSION, "sqlite": sqlite3.sqlite_version, "platform": platform.platform(),
            "machine": platform.machine(), "packages": found}


def _log_files(data_dir: str, since: float) -> list[str]:
    """The protocol-log files written to since `since` (epoch seconds): whatever their roll-over
    period (hourly, daily, weekly, monthly) and size suffix (-1, -2, ...)."""
    found = []
    root = os.path.join(data_dir, "logs")
    for folder, _, files in os.walk(root):
        for name in sorted(files):
            path = os.path.join(folder, name)
            try:
                if name.endswith(".log") and os.path.getmtime(path) >= since:
                    found.append(path)
            except OSError:
                continue
    return sorted(found)


def _read_tail(path: str) -> str:
    with open(path, "rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(0, size - MAX_LOG_READ))
        data = handle.read()
    if size > MAX_LOG_READ:
        data = data.split(b"\n", 1)[-1]  # the first line was cut
    return data.decode("utf-8", "replace")


def log_excerpt(path: str, address: str, since: str) -> str:
    """The lines, from `since` on, of every session in which `address` appears."""
    sessions: dict[str, list[str]] = {}
    named: set[str] = set()
    wanted = address.lower()
    for line in _read_tail(path).splitlines():
        if line.startswith("#") or not line:
            continue
        try:
            fields = next(csv.reader([line]))
        except (csv.Error, StopIteration):
            continue
        if len(fields) < 7 or fields[0] < since:
            continue
        if len(fields) >= 9:  # Exchange's fields: connector-id second, context last
            session, text = fields[2], f"{fields[7]} {fields[8]}"
        else:  # the seven fields of older postroom logs
            session, text = fields[1], fields[6]
        sessions.setdefault(session, []).append(line)
        if wanted in text.lower():
            named.add(session)
    kept = [line for session, lines in sessions.items() if session in named for line in lines]
    return "\n".join(kept) + ("\n" if kept else "")


def protocol_logs(data_dir: str, address: str, now: datetime) -> dict[str, str]:
    """Bundle path -> excerpt, for the log files written to in the last hour."""
    since = now - WINDOW
    # As the log writes its times (…T10:00:00.000Z): text order is time order.
    stamp = since.strftime("%Y-%m-%dT%H:%M:%S.") + f"{since.microsecond // 1000:03d}Z"
    excerpts = {}
    for path in _log_files(data_dir, since.timestamp()):
        try:
            text = log_excerpt(path, address, stamp)
        except OSError:
            continue
        if text:
            excerpts["logs/" + os.path.relpath(path, os.path.join(data_dir, "logs")).replace(os.sep, "/")] = text
    return excerpts


def pack(files: dict[str, str], root: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode("utf-8")
            info = tarfile.TarInfo(f"{root}/{name}")
            info.size, info.mtime, info.mode = len(data), int(time.time()), 0o600
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, default=str) + "\n"


async def build(views: dict[str, Any], *, data_dir: str, address: str, server: str,
                secrets: Iterable[str] = ()) -> bytes:
    """`views`: member name (without .json) -> the administrator view to put in it."""
    now = datetime.now(timezone.utc)
    files = {"README.txt": README.format(address=address, server=server, made=now.isoformat(timespec="seconds"),
                                         removed=REMOVED)}
    files.update({f"{name}.json": _json(value) for name, value in views.items()})
    files.update(await asyncio.to_thread(protocol_logs, data_dir, address, now))
    hidden = list(secrets)
    files = {name: scrub(text, hidden) for name, text in files.items()}
    root = f"postroom-bundle-{server}-{now.strftime('%Y%m%dT%H%M%SZ')}"
    return await asyncio.to_thread(pack, files, root)


def write_private(path: str, data: bytes) -> None:
    """Readable by its owner only, from the first byte (it names addresses and IPs)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
