"""`postroom backup DEST` and `postroom restore SRC --data DIR`: a round trip gives back every
message byte for byte and every setting; a backup never overwrites, a restore never replaces
an install, and a damaged or foreign archive is refused with the reason."""
from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

from .conftest import Admin

BIG = b"Subject: big\r\n\r\n" + b"".join(b"line %06d \x80\xff of an 8-bit message\r\n" % n for n in range(40000))


def everything(admin: Admin) -> dict[str, Any]:
    """What a restore must give back, read straight from the store."""
    async def read(store: Any) -> dict[str, Any]:
        boxes = await store.list_mailboxes()
        messages = {}
        for box in boxes:
            messages[box.address] = [(m.uidl, await store.read_message(box.id, m.id))
                                     for m in await store.list_messages(box.id)]
        return {"mailboxes": boxes, "messages": messages, "pop": await store.get_pop_settings("EX01"),
                "connectors": await store.list_connectors(None), "admins": await store.list_admins(),
                "web": await store.get_web_settings("EX01"), "services": await store.list_services("EX01")}
    return admin.peek(read)


def test_backup_and_restore_round_trip_byte_exact(admin: Admin, runner, tmp_path: Path) -> None:
    admin.new_mailbox("alice@example.com", "pw-alice")
    mail = tmp_path / "mail"
    mail.mkdir()
    (mail / "1.eml").write_bytes(BIG)
    (mail / "2.eml").write_bytes(b"Subject: small\r\n\r\nhello\r\n")
    admin.ok("mailbox", "import", "alice@example.com", str(mail))
    admin.ok("pop", "set", "--login-type", "plain-text-authentication", "--banner", "restored?")
    before = everything(admin)

    archive = tmp_path / "backup.tar.gz"
    view = admin.json("backup", str(archive))
    assert view["backup"] == str(archive) and archive.stat().st_mode & 0o777 == 0o600
    restored = Admin(runner, tmp_path / "restored")
    result = restored.json("restore", str(archive))
    assert result["server"] == "EX01"
    assert everything(restored) == before
    assert (restored.data / "tls" / "postroom.pem").read_bytes() == (admin.data / "tls" / "postroom.pem").read_bytes()
    assert restored.audit(1)[0]["action"] == "restore"
    assert admin.audit(1)[0]["action"] == "backup"


def test_a_backup_never_overwrites_and_a_restore_never_replaces(admin: Admin, runner, tmp_path: Path) -> None:
    archive = tmp_path / "backup.tar.gz"
    archive.write_bytes(b"precious")
    assert "already exists" in admin.fails(4, "backup", str(archive)).stderr
    assert archive.read_bytes() == b"precious"
    archive.unlink()
    admin.ok("backup", str(archive))
    result = admin.fails(4, "restore", str(archive))  # into admin's own, non-empty data dir
    assert "not empty" in result.stderr


def test_damaged_or_foreign_archives_are_refused(admin: Admin, runner, tmp_path: Path) -> None:
    archive = tmp_path / "backup.tar.gz"
    admin.ok("backup", str(archive))
    with tarfile.open(archive) as original:
        members = {m.name: original.extractfile(m).read() for m in original.getmembers()}

    def write(name: str, files: dict[str, bytes], extra: tarfile.TarInfo | None = None) -> Path:
        path = tmp_path / name
        with tarfile.open(path, "w:gz") as out:
            for member, data in files.items():
                info = tarfile.TarInfo(member)
                info.size = len(data)
                out.addfile(info, io.BytesIO(data))
            if extra is not None:
                out.addfile(extra)
        return path

    damaged = dict(members)
    damaged["node.json"] = json.dumps({"server": "EVIL"}).encode()
    target = Admin(runner, tmp_path / "r1")
    assert "checksum" in target.fails(2, "restore", str(write("damaged.tar.gz", damaged))).stderr
    link = tarfile.TarInfo("tls/evil")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    assert "does not belong" in target.fails(2, "restore", str(write("link.tar.gz", members, link))).stderr
    escape = dict(members)
    escape["../outside"] = b"x"
    assert "does not belong" in target.fails(2, "restore", str(write("escape.tar.gz", escape))).stderr
    assert not (tmp_path / "outside").exists() and not target.data.exists()
    (tmp_path / "junk.tar.gz").write_bytes(b"not a tar")
    assert "not a readable postroom backup" in target.fails(2, "restore", str(tmp_path / "junk.tar.gz")).stderr


def test_restore_writes_secrets_for_the_owner_only_as_init_does(admin: Admin, runner, tmp_path: Path) -> None:
    archive = tmp_path / "backup.tar.gz"
    admin.ok("backup", str(archive))
    restored = Admin(runner, tmp_path / "restored")
    restored.ok("restore", str(archive))
    assert (admin.data / "node.json").stat().st_mode & 0o777 == 0o600  # what init writes
    assert (restored.data / "node.json").stat().st_mode & 0o777 == 0o600  # node.json may hold the store password
    assert (restored.data / "tls" / "postroom.key").stat().st_mode & 0o777 == 0o600
    restored.ok("mailbox", "list")  # and the node can still read it
