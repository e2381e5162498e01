"""Reading mail to import: an mbox file, a Maildir, a directory of .eml files, or one .eml.

Pure parsing and file reading; the caller stores what it yields. Messages come out in wire
form (CRLF line ends) because that is how the store keeps them. Bytes are never decoded:
8-bit and broken-charset mail must import byte for byte.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import BinaryIO, Iterator

from .errors import ValidationError

ACCEPTED_FORMS = ["mbox file", "Maildir (directory with cur/ or new/)", "directory of .eml files", ".eml file"]

# A run of CRs before an LF is one line end: "\r\r\n" is what a CRLF file becomes after a
# second LF->CRLF conversion, and must not turn into an extra blank line. A lone CR (old Mac)
# is a line end of its own.
_LINE_END = re.compile(rb"\r*\n|\r")
# A header field name (RFC 5322: printable ASCII except colon), then a colon.
_HEADER_LINE = re.compile(rb"[!-9;-~]+:")
_MBOXRD_FROM = re.compile(rb">+From ")
_BLANK = (b"\n", b"\r\n")


def to_wire(raw: bytes) -> bytes:
    """`raw` with every line end CRLF and a final CRLF; all other bytes unchanged."""
    wire = _LINE_END.sub(b"\r\n", raw)
    if wire and not wire.endswith(b"\r\n"):
        wire += b"\r\n"
    return wire


def _bad_path(path: Path, why: str) -> ValidationError:
    return ValidationError("path", f"{path}: {why}", ACCEPTED_FORMS)


def _is_eml(entry: os.DirEntry[str] | Path) -> bool:
    return entry.name.lower().endswith(".eml") and not entry.name.startswith(".") and entry.is_file()


def detect(path: str | os.PathLike[str]) -> str:
    """"mbox", "maildir", "eml-dir" or "eml"; ValidationError("path") for anything else."""
    p = Path(path)
    try:
        if p.is_dir():
            if (p / "cur").is_dir() or (p / "new").is_dir():
                return "maildir"
            with os.scandir(p) as entries:
                if any(_is_eml(e) for e in entries):
                    return "eml-dir"
            raise _bad_path(p, "directory is neither a Maildir nor holds .eml files")
        if p.is_file():
            with open(p, "rb") as f:
                head = f.read(1000)
            # An empty file is an empty mbox: importing it is a no-op, not an error.
            if head.startswith(b"From ") or head == b"":
                return "mbox"
            if p.name.lower().endswith(".eml") or _HEADER_LINE.match(head):
                return "eml"
            raise _bad_path(p, "file is neither an mbox (first line 'From ...') nor a message")
    except PermissionError:
        raise _bad_path(p, "permission denied") from None
    except OSError as exc:
        raise _bad_path(p, exc.strerror or "cannot be read") from None
    raise _bad_path(p, "does not exist")


def _maildir_files(p: Path) -> list[Path]:
    # Only the Maildir's own inbox (new/ and cur/); tmp/ holds deliveries in progress.
    # Sorted by file name across both: Maildir names start with the delivery time.
    found: list[tuple[str, str, Path]] = []
    for sub in ("new", "cur"):
        d = p / sub
        if not d.is_dir():
            continue
        with os.scandir(d) as entries:
            for e in entries:
                if not e.name.startswith(".") and e.is_file():
                    found.append((e.name, sub, Path(e.path)))
    found.sort()
    return [f[2] for f in found]


def _eml_files(p: Path) -> list[Path]:
    with os.scandir(p) as entries:
        return sorted((Path(e.path) for e in entries if _is_eml(e)), key=lambda q: q.name)


def _mbox_messages(f: BinaryIO) -> Iterator[list[bytes]]:
    """Each message of an mbox as its lines, separator dropped, mboxrd unescaping applied.

    Streams: only the current message is held in memory.
    """
    lines: list[bytes] | None = None  # None until the first "From " separator
    previous_blank = True  # the start of the file counts as "after a blank line"
    for line in f:
        if previous_blank and line.startswith(b"From "):
            if lines is not None:
                yield _drop_separator_blank(lines)
            lines = []
            previous_blank = False
            continue
        previous_blank = line in _BLANK
        if lines is None:
            continue  # junk before the first separator
        if _MBOXRD_FROM.match(line):
            line = line[1:]  # mboxrd: writers added one '>' to every ^>*From line
        lines.append(line)
    if lines is not None:
        yield _drop_separator_blank(lines)


def _drop_separator_blank(lines: list[bytes]) -> list[bytes]:
    # The blank line before the next "From " (or at the end of the file) belongs to the mbox,
    # not to the message.
    if lines and lines[-1] in _BLANK:
        lines.pop()
    return lines


def _count_mbox(f: BinaryIO) -> int:
    count = 0
    previous_blank = True
    for line in f:
        if previous_blank and line.startswith(b"From "):
            count += 1
            previous_blank = False
        else:
            previous_blank = line in _BLANK
    return count


def _read_file(p: Path) -> bytes:
    try:
        return p.read_bytes()
    except OSError as exc:
        raise _bad_path(p, exc.strerror or "cannot be read") from None


def count_messages(path: str | os.PathLike[str]) -> int:
    """How many messages iter_messages(path) will yield (for a progress bar)."""
    kind = detect(path)
    p = Path(path)
    if kind == "mbox":
        with open(p, "rb") as f:
            return _count_mbox(f)
    if kind == "maildir":
        return len(_maildir_files(p))
    if kind == "eml-dir":
        return len(_eml_files(p))
    return 1


def iter_messages(path: str | os.PathLike[str]) -> Iterator[bytes]:
    """Every message at `path` in wire form, in a stable order."""
    kind = detect(path)
    p = Path(path)
    if kind == "mbox":
        with open(p, "rb") as f:
            for lines in _mbox_messages(f):
                yield to_wire(b"".join(lines))
    elif kind == "eml":
        yield to_wire(_read_file(p))
    else:
        files = _maildir_files(p) if kind == "maildir" else _eml_files(p)
        for file in files:
            yield to_wire(_read_file(file))
