"""SMTP client: the server's replies (parsing, classification) and its EHLO capabilities.

Public through `postroom.protocol.smtp_client`. A reply is read line by line (`ReplyReader`)
from the lines `LineBuffer` frames (CRLF or bare LF). RFC 5321 4.2: each line is a three-digit
code, then "-" (more lines follow), " " or nothing (the last line), then text; every line of a
reply carries the same code. Enhanced status codes (RFC 2034/3463) are taken from the start of
the text when their class matches the code's first digit, and removed from each line's text.
Text is decoded as UTF-8 (invalid octets replaced) with unprintable characters (controls, bidi
overrides) turned into spaces, so a reply can be logged, put in a tracking row or quoted in a
bounce as it is.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["BadReply", "Capabilities", "Reply", "ReplyReader", "local_reply", "parse_capabilities"]

MAX_REPLY_LINE = 4096  # RFC 5321 says 512; real servers send longer banners: be lenient, but bounded
MAX_REPLY_LINES = 256  # one reply; an EHLO answer has about twenty
_ENHANCED = re.compile(r"([245])\.(\d{1,3})\.(\d{1,3})(?: +|$)")


@dataclass(frozen=True)
class Reply:
    """One reply: `code`, the enhanced status code (None when the server gave none, or one
    of another class than the code), and each line's text without code or enhanced code.

    `local` marks a reply this client made up rather than received: a connection lost with a
    command unanswered, a refusal by `begin()`. Such replies read like received ones
    (`text`), so an adapter handles both alike."""

    code: int
    enhanced: str | None
    lines: tuple[str, ...]
    local: bool = False

    @property
    def positive(self) -> bool:
        """2xx: the command succeeded."""
        return 200 <= self.code < 300

    @property
    def intermediate(self) -> bool:
        """3xx: go on (354 after DATA, 334 during AUTH)."""
        return 300 <= self.code < 400

    @property
    def transient(self) -> bool:
        """4xx: try again later."""
        return 400 <= self.code < 500

    @property
    def permanent(self) -> bool:
        """5xx: do not try this again."""
        return self.code >= 500

    @property
    def text(self) -> str:
        """The reply on one line, e.g. "550 5.1.1 User unknown" (lines joined by spaces)."""
        parts = [str(self.code), *([self.enhanced] if self.enhanced else []), *(line for line in self.lines if line)]
        return " ".join(parts)

    def __str__(self) -> str:
        return self.text


def local_reply(code: int, enhanced: str, text: str) -> Reply:
    """A reply made by this client (`local=True`)."""
    return Reply(code, enhanced, (text,), local=True)


class BadReply(Exception):
    """The server sent something that is not an SMTP reply; the text says what."""


class ReplyReader:
    """Assembles replies from lines; `line()` answers the Reply a last line completes."""

    __slots__ = ("_code", "_enhanced", "_lines")

    def __init__(self) -> None:
        self._code = 0
        self._enhanced: str | None = None
        self._lines: list[str] = []

    def line(self, raw: bytes) -> Reply | None:
        """Take one line (terminator removed): the finished Reply, or None (more lines to come).
        Raises BadReply for a line that is not part of a well-formed reply."""
        if len(raw) < 3 or not raw[:3].isdigit() or raw[0] not in b"2345" or raw[3:4] not in (b"", b" ", b"-"):
            raise BadReply(f"malformed reply line {_shown(raw)}")
        code = int(raw[:3])
        if self._lines and code != self._code:
            raise BadReply(f"reply code {code} within a {self._code} reply")
        if len(self._lines) >= MAX_REPLY_LINES:
            raise BadReply(f"reply longer than {MAX_REPLY_LINES} lines")
        text = raw[4:].decode("utf-8", "replace")
        if not text.isprintable():  # control and format characters (C0, C1, bidi overrides...)
            text = "".join(c if c.isprintable() else " " for c in text)
        match = _ENHANCED.match(text)
        if match is not None and match.group(1) == str(code)[0]:
            if not self._lines:
                self._enhanced = ".".join(match.group(1, 2, 3))
            text = text[match.end():]
        self._code = code
        self._lines.append(text.rstrip(" "))
        if raw[3:4] == b"-":
            return None
        reply = Reply(code, self._enhanced, tuple(self._lines))
        self._lines, self._enhanced = [], None
        return reply


def _shown(raw: bytes) -> str:
    """A received line, shortened and made printable, for an error text."""
    return repr(raw[:60].decode("ascii", "backslashreplace")) + ("..." if len(raw) > 60 else "")


@dataclass(frozen=True)
class Capabilities:
    """What the server's EHLO answer offered (all off for a HELO session). `size`: None when
    SIZE was not offered, 0 when offered without a limit (RFC 1870), else the limit in octets.
    `extensions`: the EHLO lines as received (for diagnostics)."""

    esmtp: bool = False
    pipelining: bool = False
    size: int | None = None
    eightbitmime: bool = False
    smtputf8: bool = False
    dsn: bool = False
    starttls: bool = False
    chunking: bool = False
    enhancedstatuscodes: bool = False
    auth_mechs: frozenset[str] = frozenset()
    extensions: tuple[str, ...] = ()


_FLAGS = {
    "PIPELINING": "pipelining", "8BITMIME": "eightbitmime", "SMTPUTF8": "smtputf8", "DSN": "dsn",
    "STARTTLS": "starttls", "CHUNKING": "chunking", "ENHANCEDSTATUSCODES": "enhancedstatuscodes",
}


def parse_capabilities(reply: Reply) -> Capabilities:
    """The extensions of a positive EHLO reply (its lines after the first). Keywords are
    case-insensitive; "AUTH=..." (the pre-RFC 4954 form some servers still send) counts too."""
    flags: dict[str, bool] = {}
    size: int | None = None
    mechs: set[str] = set()
    for line in reply.lines[1:]:
        words = line.split()
        if not words:
            continue
        keyword = words[0].upper()
        if keyword in _FLAGS:
            flags[_FLAGS[keyword]] = True
        elif keyword == "SIZE":
            size = int(words[1]) if len(words) > 1 and words[1].isascii() and words[1].isdigit() else 0
        elif keyword == "AUTH" or keyword.startswith("AUTH="):
            mechs.update(word.upper() for word in [keyword[5:], *words[1:]] if word)
    return Capabilities(esmtp=True, size=size, auth_mechs=frozenset(mechs), extensions=reply.lines[1:], **flags)

