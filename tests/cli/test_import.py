"""`postroom mailbox import ADDRESS PATH`: mbox (mboxrd), Maildir, a folder of .eml, one .eml."""
from __future__ import annotations

from pathlib import Path

import pytest

from postroom.service.mailboxes import IMPORT_BATCH

from .conftest import Admin, flat

MBOX = (
    b"From alice@example.com Mon Jan  1 00:00:00 2024\n"
    b"From: alice@example.com\n"
    b"Subject: one\n"
    b"\n"
    b"Hello\n"
    b">From the start, this line was escaped by the writer.\n"
    b">>From two levels of quoting.\n"
    b"\n"
    b"From bob@example.com Mon Jan  1 00:00:01 2024\n"
    b"Subject: two\n"
    b"\n"
    b"Body two\n"
    b"From here on: not a separator, the line before is not blank.\n"
    b"\n"
    b"From carol@example.com Mon Jan  1 00:00:02 2024\n"
    b"Subject: three\r\n"
    b"\r\n"
    b"CRLF already\r\n"
)
# What the store must hold: separators and their blank lines gone, one '>' removed, CRLF lines.
MBOX_WIRE = [
    b"From: alice@example.com\r\nSubject: one\r\n\r\nHello\r\n"
    b"From the start, this line was escaped by the writer.\r\n>From two levels of quoting.\r\n",
    b"Subject: two\r\n\r\nBody two\r\nFrom here on: not a separator, the line before is not blank.\r\n",
    b"Subject: three\r\n\r\nCRLF already\r\n",
]


def stored_messages(admin: Admin, address: str) -> list[bytes]:
    async def read(store) -> list[bytes]:
        mailbox = await store.get_mailbox(address)
        return [await store.read_message(mailbox.id, m.id) for m in await store.list_messages(mailbox.id)]
    return admin.peek(read)


@pytest.fixture
def alice(admin: Admin) -> Admin:
    admin.new_mailbox("alice@example.com")
    return admin


def assert_usage(admin: Admin, address: str, wire: list[bytes]) -> None:
    shown = admin.json("mailbox", "show", address)
    assert shown["messages"] == len(wire)
    assert shown["octets"] == sum(len(m) for m in wire)


def test_import_mbox_with_mboxrd_from_lines(alice: Admin, tmp_path: Path) -> None:
    mbox = tmp_path / "archive.mbox"
    mbox.write_bytes(MBOX)
    view = alice.json("mailbox", "import", "alice@example.com", str(mbox))
    assert view == {"address": "alice@example.com", "format": "mbox", "imported": 3}
    assert_usage(alice, "alice@example.com", MBOX_WIRE)
    assert sorted(stored_messages(alice, "alice@example.com")) == sorted(MBOX_WIRE)


def test_import_human_output(alice: Admin, tmp_path: Path) -> None:
    mbox = tmp_path / "archive.mbox"
    mbox.write_bytes(MBOX)
    out = flat(alice.ok("mailbox", "import", "alice@example.com", str(mbox)).stdout)
    assert "Imported 3 messages (mbox) into alice@example.com" in out


def test_import_maildir_new_and_cur_but_not_tmp(alice: Admin, tmp_path: Path) -> None:
    maildir = tmp_path / "Maildir"
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True)
    (maildir / "new" / "1700000000.M1P1.host").write_bytes(b"Subject: new one\n\nfresh\n")
    (maildir / "cur" / "1690000000.M2P1.host:2,S").write_bytes(b"Subject: seen\r\n\r\nold\r\n")
    (maildir / "cur" / "1695000000.M3P1.host:2,").write_bytes(b"Subject: no final newline\n\nlast line")
    (maildir / "tmp" / "1710000000.M4P1.host").write_bytes(b"Subject: still being delivered\n\n")
    (maildir / "cur" / ".hidden").write_bytes(b"Subject: hidden\n\n")
    wire = [b"Subject: new one\r\n\r\nfresh\r\n", b"Subject: seen\r\n\r\nold\r\n",
            b"Subject: no final newline\r\n\r\nlast line\r\n"]
    view = alice.json("mailbox", "import", "alice@example.com", str(maildir))
    assert view["format"] == "maildir" and view["imported"] == 3
    assert_usage(alice, "alice@example.com", wire)
    assert sorted(stored_messages(alice, "alice@example.com")) == sorted(wire)


def test_import_folder_of_eml_files(alice: Admin, tmp_path: Path) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "a.eml").write_bytes(b"Subject: a\n\nA\n")
    (folder / "B.EML").write_bytes(b"Subject: b\r\n\r\nB with 8-bit \xe9\xff bytes\r\n")
    (folder / "c.eml").write_bytes(b"Subject: c\r\r\n\r\r\nold double conversion\r\r\n")
    (folder / "notes.txt").write_bytes(b"Subject: not mail\n\n")
    (folder / ".d.eml").write_bytes(b"Subject: hidden\n\n")
    wire = [b"Subject: a\r\n\r\nA\r\n", b"Subject: b\r\n\r\nB with 8-bit \xe9\xff bytes\r\n",
            b"Subject: c\r\n\r\nold double conversion\r\n"]
    view = alice.json("mailbox", "import", "alice@example.com", str(folder))
    assert view["format"] == "eml-dir" and view["imported"] == 3
    assert_usage(alice, "alice@example.com", wire)
    assert sorted(stored_messages(alice, "alice@example.com")) == sorted(wire)


def test_import_a_single_eml_file(alice: Admin, tmp_path: Path) -> None:
    eml = tmp_path / "one.eml"
    eml.write_bytes(b"Subject: single\n\nbody\n")
    view = alice.json("mailbox", "import", "alice@example.com", str(eml))
    assert view["format"] == "eml" and view["imported"] == 1
    assert_usage(alice, "alice@example.com", [b"Subject: single\r\n\r\nbody\r\n"])


def test_imports_add_up(alice: Admin, tmp_path: Path) -> None:
    mbox = tmp_path / "archive.mbox"
    mbox.write_bytes(MBOX)
    alice.ok("mailbox", "import", "alice@example.com", str(mbox))
    alice.ok("mailbox", "import", "Alice@Example.com", str(mbox))
    assert_usage(alice, "alice@example.com", MBOX_WIRE * 2)


def test_import_an_empty_mbox_imports_nothing(alice: Admin, tmp_path: Path) -> None:
    empty = tmp_path / "empty.mbox"
    empty.write_bytes(b"")
    assert alice.json("mailbox", "import", "alice@example.com", str(empty))["imported"] == 0
    assert_usage(alice, "alice@example.com", [])


@pytest.mark.parametrize("make", ["missing", "empty-dir", "binary-file", "plain-dir"])
def test_import_bad_path_is_refused(alice: Admin, tmp_path: Path, make: str) -> None:
    path = tmp_path / "source"
    if make == "empty-dir":
        path.mkdir()
    elif make == "binary-file":
        path.write_bytes(b"\x00\x01\x02 not mail at all")
    elif make == "plain-dir":
        path.mkdir()
        (path / "readme.txt").write_text("hello")
    result = alice.fails(2, "mailbox", "import", "alice@example.com", str(path))
    assert result.stderr.startswith("error: path:")
    assert str(path) in result.stderr
    assert "mbox" in result.stderr and "Maildir" in result.stderr and ".eml" in result.stderr
    assert_usage(alice, "alice@example.com", [])


def test_import_into_an_unknown_mailbox_is_not_found(admin: Admin, tmp_path: Path) -> None:
    mbox = tmp_path / "archive.mbox"
    mbox.write_bytes(MBOX)
    result = admin.fails(3, "mailbox", "import", "nobody@example.com", str(mbox))
    assert "nobody@example.com" in result.stderr


SHADOW_LIKE = (b"root:$y$j9T$Qm1bS2lrZXk$C5x0Jk5oQp8y2f1v3Tq7e9Rw4uXy6zA1bC3dE5fG7h.:19000:0:99999:7:::\n"
               b"daemon:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n")


@pytest.mark.parametrize("name, content, line", [
    ("shadow", SHADOW_LIKE, 1),
    ("photo.eml", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00", 1),
])
def test_import_of_what_is_not_mail_is_refused_naming_file_and_line(alice: Admin, tmp_path: Path, name: str,
                                                                     content: bytes, line: int) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    result = alice.fails(2, "mailbox", "import", "alice@example.com", str(path))
    assert f"error: path: {path}: line {line}: " in flat(result.stderr)
    assert "nothing was imported" in flat(result.stderr)
    assert_usage(alice, "alice@example.com", [])
    assert not [entry for entry in alice.audit() if entry["action"] == "mailbox.import"]


def test_one_bad_file_in_a_maildir_imports_nothing(alice: Admin, tmp_path: Path) -> None:
    maildir = tmp_path / "Maildir"
    (maildir / "cur").mkdir(parents=True)
    for n in range(IMPORT_BATCH + 1):  # good messages first: more than one stored batch's worth
        (maildir / "cur" / f"1700{n:06d}.M{n}.host:2,S").write_bytes(b"Subject: good %d\n\nok\n" % n)
    bad = maildir / "cur" / "1800000000.M9.host:2,S"
    bad.write_bytes(b"Subject: fine so far\nthis line is no header\n\nbody\n")
    result = alice.fails(2, "mailbox", "import", "alice@example.com", str(maildir))
    assert f"{bad}: line 2: " in flat(result.stderr)
    assert_usage(alice, "alice@example.com", [])
