"""`postroom backup DEST` and `postroom restore SRC --data DIR` for the embedded store.

A backup is one tar.gz: a consistent snapshot of the database (SQLite's online backup, taken
while the node serves), node.json, the TLS files, and a manifest with each file's SHA-256.
Restore refuses to overwrite anything: it fills a new (or empty) data directory, checks every
checksum and the database's integrity first, and only then moves the result into place.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
from datetime import datetime, timezone
from typing import Any

from .. import __version__
from ..datadir import NODE_FILE, create_private, read_local_server
from ..errors import Conflict, ValidationError
from ..storage import embedded_damage, open_store
from .context import ADMINS, Context

DB_FILE = "postroom.db"
MANIFEST = "manifest.json"
TLS_DIR = "tls"


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


async def backup(ctx: Context, dest: str) -> dict[str, Any]:
    """Everything needed to rebuild this install, in one new file `dest` (never overwritten)."""
    await ctx.require(ADMINS, "backup", f"backup/{dest}")  # it holds every password hash
    dest = os.path.abspath(dest)
    if os.path.exists(dest):
        raise Conflict(f"{dest} already exists; choose a new file name (a backup never overwrites)")
    if not os.path.isdir(os.path.dirname(dest)):
        raise ValidationError("dest", f"{os.path.dirname(dest)} is not a directory")
    with tempfile.TemporaryDirectory(dir=os.path.dirname(dest), prefix=".postroom-backup-") as work:
        await ctx.store.snapshot(os.path.join(work, DB_FILE))
        files = {DB_FILE: os.path.join(work, DB_FILE), NODE_FILE: os.path.join(ctx.data_dir, NODE_FILE)}
        tls = os.path.join(ctx.data_dir, TLS_DIR)
        for name in sorted(os.listdir(tls)) if os.path.isdir(tls) else []:
            if os.path.isfile(os.path.join(tls, name)):
                files[f"{TLS_DIR}/{name}"] = os.path.join(tls, name)
        manifest: dict[str, Any] = {"postroom": __version__, "server": ctx.local_server,
                    "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "schema_version": await ctx.store.schema_version(),
                    "files": {name: {"sha256": _sha256(path), "size": os.path.getsize(path)}
                              for name, path in files.items()}}
        partial = os.path.join(work, "backup.tar.gz")
        with tarfile.open(partial, "w:gz") as archive:
            data = json.dumps(manifest, indent=2).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mode = len(data), 0o600
            archive.addfile(info, io.BytesIO(data))
            for name, path in files.items():
                archive.add(path, arcname=name, recursive=False)
        with open(partial, "rb+") as handle:
            os.fsync(handle.fileno())
        os.link(partial, dest)  # appears whole or not at all, and never replaces a file
        os.chmod(dest, 0o600)
        _fsync_dir(os.path.dirname(dest))
    view = {"backup": dest, "size": os.path.getsize(dest), "server": ctx.local_server,
            "schema_version": manifest["schema_version"], "files": sorted(manifest["files"])}
    await ctx.audit("backup", f"backup/{dest}", None, view)
    return view


def _safe_members(archive: tarfile.TarFile) -> list[tarfile.TarInfo]:
    """Only the names a backup holds, as regular files: no links, paths or devices."""
    members = []
    for member in archive.getmembers():
        name = member.name
        top, _, rest = name.partition("/")
        allowed = name in (MANIFEST, DB_FILE, NODE_FILE) or (top == TLS_DIR and rest and "/" not in rest
                                                             and rest not in (".", ".."))
        if not member.isfile() or not allowed:
            raise ValidationError("src", f"{name!r} does not belong in a postroom backup")
        members.append(member)
    return members


def _extract(archive: tarfile.TarFile, member: tarfile.TarInfo, target: str) -> None:
    """Secrets (node.json, private keys) readable by the owner only, as `init` writes them."""
    private = member.name == NODE_FILE or member.name.endswith(".key")
    source = archive.extractfile(member)
    assert source is not None  # _safe_members admits regular files only
    with source, create_private(target) if private else open(target, "wb") as out:
        shutil.copyfileobj(source, out)
    if not private:
        os.chmod(target, 0o640)


async def restore(src: str, data_dir: str) -> dict[str, Any]:
    """Rebuild an install from `src` into `data_dir`, which must not exist or be empty."""
    data_dir = os.path.abspath(data_dir)
    if os.path.exists(data_dir) and (not os.path.isdir(data_dir) or os.listdir(data_dir)):
        raise Conflict(f"{data_dir} is not empty; restore into a new directory (it never overwrites an install)")
    parent = os.path.dirname(data_dir)
    os.makedirs(parent, exist_ok=True)
    work = tempfile.mkdtemp(dir=parent, prefix=".postroom-restore-")
    try:
        try:
            with tarfile.open(src, "r:gz") as archive:
                members = _safe_members(archive)
                for member in members:
                    target = os.path.join(work, member.name)
                    os.makedirs(os.path.dirname(target), mode=0o750, exist_ok=True)
                    _extract(archive, member, target)
        except (OSError, tarfile.TarError, EOFError) as error:
            raise ValidationError("src", f"{src} is not a readable postroom backup ({error.__class__.__name__})"
                                  ) from None
        manifest = _manifest(work)
        for name, expected in manifest["files"].items():
            path = os.path.join(work, name)
            if not os.path.isfile(path) or _sha256(path) != expected["sha256"]:
                raise ValidationError("src", f"{name} in {src} does not match its checksum: the backup is damaged")
        _check_database(os.path.join(work, DB_FILE))
        server = read_local_server(work)
        if os.path.isdir(data_dir):
            os.rmdir(data_dir)  # empty, checked above
        os.rename(work, data_dir)
        _fsync_dir(parent)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    store = open_store(data_dir)
    await store.open()
    try:
        view = {"data": data_dir, "server": server, "backup": os.path.abspath(src),
                "created_at": manifest["created_at"], "schema_version": manifest["schema_version"]}
        await store.append_audit("local-operator", "restore", f"server/{server}", None, view)
    finally:
        await store.close()
    return view


def _manifest(work: str) -> dict[str, Any]:
    try:
        with open(os.path.join(work, MANIFEST), encoding="utf-8") as handle:
            manifest: dict[str, Any] = json.load(handle)
        files = manifest["files"]
        if not {DB_FILE, NODE_FILE} <= set(files):
            raise KeyError("files")
        return manifest
    except (OSError, ValueError, KeyError, TypeError):
        raise ValidationError("src", "the backup has no readable manifest (not a postroom backup?)") from None


def _check_database(path: str) -> None:
    damage = embedded_damage(path)
    if damage:
        raise ValidationError("src", f"the database in the backup is damaged ({damage})")
