"""POP3 reply values, reply texts and message-body encoding (dot-stuffing, TOP).

Kept apart from the state machine in `pop3.py`; everything here is public through that module.
Response codes in brackets are RFC 2449 (extended codes) and RFC 3206 (AUTH, SYS/TEMP, ...).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

__all__ = ["AuthFailure", "RemoteProtocolError", "Reply", "dot_stuff", "top_of_message"]

MAX_FIRST_LINE = 512  # RFC 2449: a response's first line, CRLF included


@dataclass(frozen=True)
class Reply:
    """A positive (`+OK`) or negative (`-ERR`) reply, optionally multi-line.

    A negative reply is an ordinary value; `lines`, when given, makes it a multi-line reply
    (each line dot-stuffed, terminated by `.`).
    """

    ok: bool
    text: str = ""
    lines: tuple[str, ...] | None = None

    def to_bytes(self) -> bytes:
        status = b"+OK" if self.ok else b"-ERR"
        first = status + b" " + self.text.encode("utf-8") if self.text else status
        if len(first) > MAX_FIRST_LINE - 2:
            first = first[: MAX_FIRST_LINE - 2].decode("utf-8", "ignore").encode("utf-8")
        if self.lines is None:
            return first + b"\r\n"
        body = "".join(f".{line}\r\n" if line.startswith(".") else f"{line}\r\n" for line in self.lines)
        return first + b"\r\n" + body.encode("utf-8") + b".\r\n"


def ok(text: str = "", lines: tuple[str, ...] | None = None) -> Reply:
    return Reply(True, text, lines)


def err(text: str) -> Reply:
    return Reply(False, text)


class RemoteProtocolError(Exception):
    """The peer broke the protocol; `reply` is what to send. Never escapes `next_event()`."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.text)
        self.reply = reply


class AuthFailure(Enum):
    """The adapter's reasons for refusing a logon; each maps to one reply."""

    BAD_CREDENTIALS = "bad-credentials"
    POP_DISABLED = "pop-disabled"
    MAILBOX_DISABLED = "mailbox-disabled"
    IN_USE = "in-use"
    TOO_MANY_CONNECTIONS = "too-many-connections"
    TEMPORARY = "temporary"


AUTH_FAILURE_REPLIES: dict[AuthFailure, Reply] = {
    AuthFailure.BAD_CREDENTIALS: err("[AUTH] Logon failure: unknown user name or bad password."),
    AuthFailure.POP_DISABLED: err("[AUTH] POP3 access is disabled for this mailbox."),
    AuthFailure.MAILBOX_DISABLED: err("[AUTH] This mailbox is disabled."),
    AuthFailure.IN_USE: err("[IN-USE] The mailbox is locked by another session; try again later."),
    AuthFailure.TOO_MANY_CONNECTIONS: err(
        "[SYS/TEMP] Too many connections for this user; close another session and try again."
    ),
    AuthFailure.TEMPORARY: err("[SYS/TEMP] The mailbox is temporarily unavailable; try again later."),
}

# Protocol errors (each counts towards max_errors).
UNKNOWN_COMMAND = err("Unknown command.")
NOT_VALID_IN_STATE = err("Command is not valid in this state.")
LINE_TOO_LONG = err("Command line too long.")
BAD_UTF8 = err("Command is not valid UTF-8.")
SYNTAX_ERROR = err("Syntax error in command arguments.")
BAD_MESSAGE_NUMBER = err("Invalid message number.")
BAD_LINE_COUNT = err("Invalid number of lines.")
NO_USER_GIVEN = err("No user name given; send USER first.")
UNSUPPORTED_MECHANISM = err("Unrecognized authentication type.")
TOO_MANY_ERRORS = err("Too many errors, closing connection.")
TOO_MANY_AUTH_FAILURES = err("[AUTH] Too many failed logon attempts, closing connection.")

# Login policy.
TLS_REQUIRED_STLS = err(
    "[AUTH] Logon is not permitted over an unencrypted connection. "
    "Issue STLS first, or connect to the POP3 SSL port."
)
TLS_REQUIRED_NO_STLS = err(
    "[AUTH] Logon is not permitted over an unencrypted connection. Connect to the POP3 SSL port."
)

# Ordinary replies.
NO_SUCH_MESSAGE = err("No such message.")
BEGIN_TLS = ok("Begin TLS negotiation now.")
USER_ACCEPTED = ok("Send your password.")
AUTH_CANCELLED = err("Authentication cancelled.")
MESSAGE_FAILED = err("[SYS/TEMP] The message could not be read; try again later.")
MESSAGE_GONE = err("[SYS/PERM] The message no longer exists (removed by an administrator).")
UPDATE_FAILED = err("[SYS/TEMP] Some deleted messages were not removed.")
SIGNING_OFF = ok("POP3 server signing off.")
SHUTTING_DOWN = err("[SYS/TEMP] server shutting down")
ENDED_BY_ADMIN = err("[SYS/TEMP] session ended by an administrator")
NOOP = ok()
TOP_FOLLOWS = ok("Top of message follows.")
UIDL_FOLLOWS = "Unique-ID listing follows."
CAPA_FOLLOWS = "Capability list follows."
MECHANISMS_FOLLOW = "Supported authentication mechanisms follow."


def message_deleted(number: int) -> Reply:
    return err(f"Message {number} is deleted.")


def logged_on(count: int, octets: int) -> Reply:
    return ok(f"Logged on; maildrop has {count} messages ({octets} octets).")


def signing_off(left: int) -> Reply:
    return ok(f"POP3 server signing off ({left} messages left).")


_DOT_AFTER_LF = re.compile(rb"\n\.")


def _needs_stuffing(data: bytes) -> bool:
    """Whether a line starts with a dot, found fast. Encoded bodies (base64, binary) have few
    dots, so checking each dot found by memchr is cheapest; text has many, so after a few the
    regex takes over (bytes.find of a two-byte needle costs ~1-3 ms per MiB, the regex ~0.3)."""
    if data[:1] == b".":
        return True
    pos = data.find(b".")
    for _ in range(32):
        if pos < 0:
            return False
        if data[pos - 1] == 0x0A:
            return True
        pos = data.find(b".", pos + 1)
    return pos >= 0 and _DOT_AFTER_LF.search(data, pos - 1) is not None


def dot_stuff(data: bytes) -> tuple[bytes, bytes, bytes]:
    """Encode a message for a multi-line reply: (prefix, body, terminator).

    The caller sends `prefix` (b"." when the message starts with a dot, else b""), `body`
    (the message itself when no line needed stuffing: no copy) and `terminator` (".\\r\\n",
    preceded by CRLF when the message does not end with one). A bare LF counts as a line end
    too, so no client can ever see a lone "." line inside a message.
    """
    body = data.replace(b"\n.", b"\n..") if _needs_stuffing(data) else data
    prefix = b"." if data[:1] == b"." else b""
    if not data or data.endswith(b"\r\n"):
        return prefix, body, b".\r\n"
    return prefix, body, b"\r\n.\r\n"


def top_of_message(data: bytes, body_lines: int) -> bytes:
    """The header section, the blank line and the first `body_lines` lines of the body.

    A message without a blank line is all header: it is returned whole.
    """
    if data.startswith(b"\r\n"):
        pos = 2
    else:
        blank = data.find(b"\r\n\r\n")
        if blank < 0:
            return data
        pos = blank + 4
    size = len(data)
    for _ in range(body_lines):
        if pos >= size:
            break
        end = data.find(b"\n", pos)
        pos = size if end < 0 else end + 1
    return data[:pos]


# Command arguments: a syntax error is a peer protocol violation carrying its reply.
def command_args(arg: str | None, low: int, high: int) -> list[str]:
    """Arguments separated by single spaces, between `low` and `high` of them."""
    args = [] if arg is None else arg.split(" ")
    if not low <= len(args) <= high or "" in args:
        raise RemoteProtocolError(SYNTAX_ERROR)
    return args


def decimal_arg(text: str, bad: Reply) -> int:
    """A positive decimal argument (message number or line count); `bad` is the reply otherwise."""
    if not (text.isascii() and text.isdigit()):
        raise RemoteProtocolError(bad)
    return int(text)
