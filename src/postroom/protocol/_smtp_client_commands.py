"""SMTP client: the commands it writes (MAIL and RCPT with their parameters), what it
remembers of each written command and transaction, and message content framing (CRLF, DATA's
dot-stuffing). Internal to `smtp_client`, which exports `dot_stuff`.
"""
from __future__ import annotations

import re
from enum import Enum

from ._smtp_client_replies import Capabilities, Reply
from ._smtp_client_types import Envelope, RecipientSpec

__all__ = ["ENDS_GROUP", "Cmd", "Command", "Transaction", "crlf", "dot_stuff", "envelope_commands", "xtext"]


class Cmd(Enum):
    """What a written command is; DISCARD (an empty end of data) and RESET (RSET) are the
    client's own, answered without an event."""

    GREETING = "the greeting"
    EHLO = "EHLO"
    HELO = "HELO"
    STARTTLS = "STARTTLS"
    AUTH = "AUTH"
    MAIL = "MAIL FROM"
    RCPT = "RCPT TO"
    DATA = "DATA"
    CHUNK = "BDAT"  # a BDAT chunk before the last: its answer only matters if it is a refusal
    CONTENT = "the end of data"
    DISCARD = "the empty end of data"
    RSET = "RSET"
    RESET = "the RSET after a refusal"
    QUIT = "QUIT"


# A command after which nothing more is sent before its answer (RFC 2920 3.1; the end of data too).
ENDS_GROUP = frozenset({Cmd.GREETING, Cmd.EHLO, Cmd.HELO, Cmd.STARTTLS, Cmd.AUTH, Cmd.DATA, Cmd.CONTENT,
                        Cmd.DISCARD, Cmd.QUIT})


class Transaction:
    """One message's envelope and the answers collected so far (internal)."""

    __slots__ = ("envelope", "bdat", "mail", "rcpts", "data", "open", "notes", "framer", "refused")

    def __init__(self, envelope: Envelope, bdat: bool, notes: tuple[str, ...]) -> None:
        self.envelope, self.bdat, self.notes = envelope, bdat, notes
        self.mail: Reply | None = None
        self.rcpts: list[Reply | None] = [None] * len(envelope.recipients)
        self.data: Reply | None = None
        self.open = 2 + len(self.rcpts) - bdat  # MAIL, RCPTs, DATA still unanswered
        self.framer = ContentFramer(bdat)
        self.refused: Reply | None = None  # the first refusal of a BDAT chunk before the last

    def accepted(self) -> bool:
        return self.mail is not None and self.mail.positive and any(r is not None and r.positive for r in self.rcpts)


class Command:
    __slots__ = ("kind", "line", "shown", "tx", "index", "steps")

    def __init__(self, kind: Cmd, line: bytes = b"", *, shown: str | None = None, tx: Transaction | None = None,
                 index: int = 0, steps: tuple[bytes, ...] = ()) -> None:
        self.kind, self.line, self.tx, self.index, self.steps = kind, line, tx, index, steps
        self.shown = line.decode("utf-8", "replace").rstrip("\r\n") if shown is None else shown


def envelope_commands(tx: Transaction, caps: Capabilities) -> list[Command]:
    """MAIL, one RCPT per recipient and (without BDAT) DATA, with the parameters `caps` allow:
    SIZE=, BODY=8BITMIME and SMTPUTF8 when offered (a message needing SMTPUTF8 is only begun
    when it is), the DSN parameters (RET, ENVID, NOTIFY, ORCPT) only when DSN is offered."""
    envelope, utf8 = tx.envelope, tx.envelope.needs_smtputf8
    params = []
    if caps.size is not None:
        params.append(f"SIZE={envelope.size}")
    if envelope.body_8bit and caps.eightbitmime:
        params.append("BODY=8BITMIME")
    if utf8:
        params.append("SMTPUTF8")
    if caps.dsn and envelope.ret:
        params.append(f"RET={envelope.ret}")
    if caps.dsn and envelope.envid:
        params.append(f"ENVID={xtext(envelope.envid)}")
    commands = [Command(Cmd.MAIL, _line(f"MAIL FROM:<{envelope.sender}>", params), tx=tx)]
    for index, recipient in enumerate(envelope.recipients):
        commands.append(Command(Cmd.RCPT, _line(f"RCPT TO:<{recipient.address}>", _dsn(recipient, caps)), tx=tx,
                                index=index))
    if not tx.bdat:
        commands.append(Command(Cmd.DATA, b"DATA\r\n", tx=tx))
    return commands


def _dsn(recipient: RecipientSpec, caps: Capabilities) -> list[str]:
    params = []
    if caps.dsn and recipient.notify:
        params.append(f"NOTIFY={recipient.notify}")
    if caps.dsn and recipient.orcpt:
        kind, _, address = recipient.orcpt.partition(";")
        if not address.isascii():  # RFC 6533 utf-8-addr-xtext
            kind, address = "utf-8", "".join(c if c.isascii() else f"\\x{{{ord(c):X}}}" for c in address)
        params.append(f"ORCPT={kind};{xtext(address)}")
    return params


def _line(command: str, params: list[str]) -> bytes:
    return " ".join([command, *params]).encode("utf-8") + b"\r\n"


def xtext(text: str) -> str:
    """RFC 3461 4 xtext: "!".."~" but "+" and "=" as they are, every other octet (of the
    UTF-8 form) as "+XX"."""
    return "".join(
        chr(octet) if 0x21 <= octet <= 0x7E and octet not in (0x2B, 0x3D) else f"+{octet:02X}"
        for octet in text.encode("utf-8")
    )


_BARE = re.compile(rb"\r(?!\n)|(?<!\r)\n")


def crlf(message: bytes) -> bytes:
    """`message` with every bare CR or LF made a CRLF (unchanged, no copy, when there is none)."""
    crs = message.count(b"\r")
    if crs == message.count(b"\n") == message.count(b"\r\n"):
        return message
    return _BARE.sub(b"\r\n", message)


class ContentFramer:
    """Frames one message's content on the wire, given whole or in pieces: bare CR and LF made
    CRLF (a CR ending a piece waits for the next, which may start with its LF), a CRLF added
    at the end if the last line lacks one, then DATA's dot-stuffing and end of data (RFC 5321
    4.5.2) or BDAT chunks (RFC 3030). A clean piece goes out as the very object given."""

    __slots__ = ("bdat", "_carry", "_line_start", "_empty")

    def __init__(self, bdat: bool) -> None:
        self.bdat = bdat
        self._carry = b""  # a CR held back from the end of the previous piece
        self._line_start = True  # the next octet starts a line
        self._empty = True  # nothing written yet

    def frame(self, piece: bytes, last: bool) -> tuple[list[bytes], int]:
        """(what to write, octets of content in it); nothing for an empty piece before the last."""
        data = self._carry + piece if self._carry else piece
        self._carry = b""
        if not last and data.endswith(b"\r"):
            data, self._carry = data[:-1], b"\r"
        data = crlf(data)
        starts_line = self._line_start
        ends_line = data.endswith(b"\n") if data else starts_line
        if last and not ends_line and (data or not self._empty):
            data += b"\r\n"
        if data:
            self._empty, self._line_start = False, data.endswith(b"\n")
        elif not last:
            return [], 0
        if self.bdat:
            head = f"BDAT {len(data)}{' LAST' if last else ''}\r\n".encode("ascii")
            return ([head, data] if data else [head]), len(data)
        parts = [_stuffed(data, starts_line)] if data else []
        return (parts + [b".\r\n"] if last else parts), len(data)


def _stuffed(data: bytes, starts_line: bool) -> bytes:
    """`data` (CRLF lines) with a dot doubled at the start of each line; its first octet starts
    a line only when `starts_line`."""
    if not ((starts_line and data.startswith(b".")) or b"\r\n." in data):
        return data
    stuffed = data.replace(b"\r\n.", b"\r\n..")
    return b"." + stuffed if starts_line and stuffed.startswith(b".") else stuffed


def dot_stuff(message: bytes) -> list[bytes]:
    """A whole message as DATA content on the wire (RFC 5321 4.5.2): CRLF lines, a dot doubled
    at the start of each line, a CRLF ending the last line, then the end of data."""
    return ContentFramer(bdat=False).frame(message, last=True)[0]
