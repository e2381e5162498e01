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
_FIELD = re.compile(rb"([!-9;-~]+):")
_MBOXRD_FROM = re.compile(rb">+From ")
_BLANK = (b"\n", b"\r\n")
# What makes a file a message (see check_header): every line of its header section a field
# (RFC 5322 name, colon) or the folded continuation of one, and at least one of the fields
# below among them. Fields alone are not enough: /etc/shadow's "root:$y$...:19000:0:..." lines
# are each a syntactically valid field named "root".
MESSAGE_FIELDS = frozenset({
    "from", "sender", "reply-to", "to", "cc", "bcc", "subject", "date", "message-id", "in-reply-to",
    "references", "comments", "keywords", "received", "return-path", "delivered-to", "mime-version",
    "content-type", "resent-date", "resent-from", "resent-sender", "resent-to", "resent-cc", "resent-bcc",
    "resent-message-id",
})
_SHOWN_FIELDS = "From, To, Subject, Date, Message-ID, Received, MIME-Version, ..."
MAX_HEADER_BYTES = 1 << 20  # a header section longer than this (with no empty line) is not mail


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
            if p.name.lower().endswith(".eml") or _FIELD.match(head):
                return "eml"
            raise _bad_path(p, "line 1: neither an mbox's 'From ...' line nor a message's first header field")
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


def _mbox_messages(f: BinaryIO) -> Iterator[tuple[int, list[bytes]]]:
    """Each message of an mbox as (its first line's number in the file, its lines), separator
    dropped, mboxrd unescaping applied.

    Streams: only the current message is held in memory.
    """
    lines: list[bytes] | None = None  # None until the first "From " separator
    first = 0
    previous_blank = True  # the start of the file counts as "after a blank line"
    for number, line in enumerate(f, start=1):
        if previous_blank and line.startswith(b"From "):
            if lines is not None:
                yield first, _drop_separator_blank(lines)
            lines, first = [], number + 1
            previous_blank = False
            continue
        previous_blank = line in _BLANK
        if lines is None:
            continue  # junk before the first separator
        if _MBOXRD_FROM.match(line):
            line = line[1:]  # mboxrd: writers added one '>' to every ^>*From line
        lines.append(line)
    if lines is not None:
        yield first, _drop_separator_blank(lines)


def _drop_separator_blank(lines: list[bytes]) -> list[bytes]:
    # The blank line before the next "From " (or at the end of the file) belongs to the mbox,
    # not to the message.
    if lines and lines[-1] in _BLANK:
        lines.pop()
    return lines


def _refuse(where: Path, line: int, why: str) -> ValidationError:
    return _bad_path(where, f"line {line}: {why}; nothing was imported")


def check_header(raw: bytes, where: Path, first_line: int = 1, *, whole: bool = True,
                 envelope: bool = False) -> None:
    """Refuse `raw` (a message, or its start when not `whole`) unless it opens with an RFC 5322
    header section: lines that are each a field ("Name: value", the name printable ASCII without
    colon) or the folded continuation of one, up to an empty line or the end, among them at
    least one of MESSAGE_FIELDS. `envelope`: a first line "From ..." (an mbox envelope line
    left on a single message) is allowed. ValidationError names the file and the line."""
    lines = _LINE_END.split(raw)
    if not whole or lines[-1] == b"":
        lines.pop()  # a line cut off, or nothing: the last line end ends a line, it starts none
    try:
        end = lines.index(b"")
    except ValueError:
        end = len(lines)
        if not whole:
            raise _refuse(where, first_line, f"no empty line ends a header section within {MAX_HEADER_BYTES // 1024}"
                                             " KiB: not a message") from None
    names: set[str] = set()
    if end == 0:
        raise _refuse(where, first_line, "an empty message" if not lines else
                      "an empty line where the header fields of a message start")
    for number, line in enumerate(lines[:end], start=first_line):
        if b"\0" in line:
            raise _refuse(where, number, "a NUL byte: binary data, not a message")
        if line[:1] in (b" ", b"\t"):
            if not names:
                raise _refuse(where, number, "a folded continuation line before any header field")
            continue
        field = _FIELD.match(line)
        if field is None:
            if envelope and number == first_line and line.startswith(b"From "):
                continue
            raise _refuse(where, number, "neither a header field (Name: value) nor the empty line that ends"
                                         " the header section: not a message")
        names.add(field.group(1).decode("ascii").lower())
    if not names & MESSAGE_FIELDS:
        raise _refuse(where, first_line, f"not a message: its header section (lines {first_line}-"
                                         f"{first_line + end - 1}) has none of the fields {_SHOWN_FIELDS}")


def _head(p: Path) -> tuple[bytes, bool]:
    """The start of the file `p`, through the empty line that ends its header section if one
    comes within MAX_HEADER_BYTES; and whether that is the whole file."""
    data = b""
    try:
        with open(p, "rb") as f:
            while len(data) <= MAX_HEADER_BYTES:
                chunk = f.read(1 << 16)
                if not chunk:
                    return data, True
                data += chunk
                wire = to_wire(data.rstrip(b"\r"))  # a CR at the end may be half of a "\r\n"
                if wire.startswith(b"\r\n") or b"\r\n\r\n" in wire:
                    break
    except OSError as exc:
        raise _bad_path(p, exc.strerror or "cannot be read") from None
    return data, False


def _read_file(p: Path) -> bytes:
    try:
        return p.read_bytes()
    except OSError as exc:
        raise _bad_path(p, exc.strerror or "cannot be read") from None


def _check_files(files: list[Path]) -> None:
    for file in files:
        head, whole = _head(file)
        check_header(head, file, whole=whole, envelope=True)


def count_messages(path: str | os.PathLike[str]) -> int:
    """How many messages iter_messages(path) will yield, each checked to be a message first
    (check_header): the import runs this before it stores anything, so a source holding
    anything else imports nothing."""
    kind = detect(path)
    p = Path(path)
    if kind == "mbox":
        count = 0
        with open(p, "rb") as f:
            for first, lines in _mbox_messages(f):
                check_header(b"".join(_through_blank(lines)), p, first)
                count += 1
        return count
    files = [p] if kind == "eml" else _maildir_files(p) if kind == "maildir" else _eml_files(p)
    _check_files(files)
    return len(files)


def _through_blank(lines: list[bytes]) -> list[bytes]:
    """The lines of a message's header section and the empty line after it (if any)."""
    for index, line in enumerate(lines):
        if not line.strip(b"\r\n"):
            return lines[:index + 1]
    return lines


def iter_messages(path: str | os.PathLike[str]) -> Iterator[bytes]:
    """Every message at `path` in wire form, in a stable order."""
    kind = detect(path)
    p = Path(path)
    if kind == "mbox":
        with open(p, "rb") as f:
            for _, lines in _mbox_messages(f):
                yield to_wire(b"".join(lines))
    elif kind == "eml":
        yield to_wire(_read_file(p))
    else:
        files = _maildir_files(p) if kind == "maildir" else _eml_files(p)
        for file in files:
            yield to_wire(_read_file(file))
