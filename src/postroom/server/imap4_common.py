"""What the IMAP4 engine's modules share: the store a session needs, how a command completes,
flag lists as clients send them, and UID sets as replies write them."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

from ..model.imap import SYSTEM_FLAGS
from ..storage.folders import FolderStore

_SYSTEM = {flag.lower(): flag for flag in SYSTEM_FLAGS}


class ImapStore(FolderStore, Protocol):
    """What an IMAP session needs of the store: its folders, and a message's octets."""

    async def read_message(self, mailbox_id: int, message_id: int, size: int | None = None) -> bytes: ...


@dataclass(frozen=True)
class Outcome:
    """How a command completes: the tagged reply's status, text and response code."""

    status: str  # "OK", "NO" or "BAD"
    text: str
    code: str | None = None


class BadFlag(ValueError):
    pass


def clean_flags(flags: Sequence[str]) -> tuple[str, ...]:
    """System flags in their canonical case, keywords as given; \\Recent is the server's and
    is dropped (RFC 3501 2.3.2). BadFlag for an unknown system flag."""
    out: set[str] = set()
    for flag in flags:
        if flag.startswith("\\"):
            canonical = _SYSTEM.get(flag.lower())
            if canonical is None:
                if flag.lower() == "\\recent":
                    continue
                raise BadFlag(flag)
            out.add(canonical)
        else:
            out.add(flag)
    return tuple(sorted(out))


def uid_set(uids: Sequence[int]) -> str:
    """1,3:5 for [1, 3, 4, 5]: runs of consecutive numbers (the order given is kept)."""
    runs: list[list[int]] = []
    for uid in uids:
        if runs and uid == runs[-1][1] + 1:
            runs[-1][1] = uid
        else:
            runs.append([uid, uid])
    return ",".join(str(a) if a == b else f"{a}:{b}" for a, b in runs)
