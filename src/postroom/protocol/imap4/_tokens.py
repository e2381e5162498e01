"""The IMAP4 command tokenizer (RFC 3501 section 9): a cursor over one command's text and its
literals, reading atoms, strings, numbers, sequence sets, flags, dates and mailbox names.

A command arrives as `parts`: text, literal, text, literal, ..., text (the framing splits it
after each `{n}`). Everything malformed raises `ParseError` with a readable text; the core turns
it into a tagged BAD (or NO, for a `status` of "NO").
"""
from __future__ import annotations

import datetime
import re

from . import wire
from .modes import Mode
from .types import SAVED, SequenceSet

__all__ = ["Cursor", "ParseError", "SYSTEM_FLAGS", "shown"]

PLAIN = Mode()
MAX_NUMBER = 0xFFFFFFFF  # number: unsigned 32 bits
MAX_MODSEQ = 2**63 - 1  # mod-sequence-value: unsigned 63 bits (RFC 7162)
SYSTEM_FLAGS = {f.upper(): f for f in ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft")}
MONTHS = {m: i + 1 for i, m in enumerate(
    ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"))}

# Atoms: anything but atom-specials; 8-bit octets are let through (UTF-8 mailbox names and
# search strings sent raw by some clients). ASTRING-CHAR adds "]"; list-char adds "%" and "*".
_ATOM = re.compile(rb'[^(){ %*"\\\]\x00-\x1f\x7f]+')
_ASTRING = re.compile(rb'[^(){ %*"\\\x00-\x1f\x7f]+')
_LIST = re.compile(rb'[^(){ "\\\x00-\x1f\x7f]+')
_NUMBER = re.compile(rb"\d+")
_SEQUENCE = re.compile(rb"[0-9*:,]+")
_SEQUENCE_CHARS = frozenset(b"0123456789*:,$")
_SAVED_ALONE = '"$" (the saved search result) stands alone: it is not combined with other numbers.'
_LITERAL = re.compile(rb"\{(\d{1,20})(\+?)\}")
_DATE = re.compile(rb"(\d{1,2})-([A-Za-z]{3})-(\d{4})")
_DATE_TIME = re.compile(rb'"([ \d]?\d)-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)"')


def shown(text: str) -> str:
    """Client text echoed in a reply: at most 40 characters, printable ASCII ("?" for the rest)."""
    return "".join(c if " " <= c < "\x7f" else "?" for c in text[:40])


class ParseError(Exception):
    """The command is malformed (`status` BAD) or refused as such (NO, with a response code)."""

    def __init__(self, text: str, status: str = "BAD", code: str | None = None) -> None:
        super().__init__(text)
        self.text, self.status, self.code = text, status, code
        self.saving = False  # a SEARCH RETURN (SAVE) refused: with NO, "$" becomes empty


class Cursor:
    """Reading position in one command: `parts[index]` is the text being read at `pos`."""

    __slots__ = ("parts", "index", "text", "pos", "mode")

    def __init__(self, parts: list[bytes], pos: int = 0, mode: Mode = PLAIN) -> None:
        self.parts, self.index, self.text, self.pos = parts, 0, parts[0], pos
        self.mode = mode  # what the session enabled: UTF-8 mailbox names, IMAP4rev2's grammar

    # ------------------------------------------------------------------------- basics
    def at_end(self) -> bool:
        return self.pos >= len(self.text) and self.index >= len(self.parts) - 1

    def peek(self) -> int:
        """The next octet, -1 at the end of a text part."""
        return self.text[self.pos] if self.pos < len(self.text) else -1

    def skip(self, token: bytes) -> bool:
        if self.text.startswith(token, self.pos):
            self.pos += len(token)
            return True
        return False

    def expect(self, token: bytes, what: str) -> None:
        if not self.skip(token):
            raise ParseError(f"Expected {what}.")

    def sp(self, what: str = "a space") -> None:
        if not self.skip(b" "):
            raise ParseError(f"Expected {what}.")

    def space_then(self) -> bool:
        """True when another argument follows (a space), False at the end; anything else is BAD."""
        if self.at_end():
            return False
        self.sp()
        return True

    def end(self, command: str) -> None:
        if not self.at_end():
            raise ParseError(f"Unexpected characters at the end of {command}.")

    def match(self, pattern: re.Pattern[bytes]) -> bytes | None:
        match = pattern.match(self.text, self.pos)
        if match is None:
            return None
        self.pos = match.end()
        return match.group()

    # ------------------------------------------------------------------------- tokens
    def atom(self, what: str) -> bytes:
        token = self.match(_ATOM)
        if token is None:
            raise ParseError(f"Expected {what}.")
        return token

    def keyword(self, what: str) -> str:
        """An atom in upper case (a command, item or key name)."""
        return self.atom(what).decode("latin-1").upper()

    def number(self, what: str, nonzero: bool = False) -> int:
        token = self.match(_NUMBER)
        if token is None:
            raise ParseError(f"Expected {what} (a number).")
        value = int(token) if len(token) <= 20 else MAX_NUMBER + 1
        if value > MAX_NUMBER or (nonzero and value == 0):
            raise ParseError(f"{shown(token.decode())} is out of range for {what}: {int(nonzero)} to {MAX_NUMBER}.")
        return value

    def mod_sequence(self, what: str, zero: bool = True) -> int:
        """A mod-sequence (RFC 7162): 1 to 2**63 - 1, or 0 too when `zero` (mod-sequence-valzer)."""
        token = self.match(_NUMBER)
        if token is None:
            raise ParseError(f"Expected {what} (a mod-sequence: a number).")
        value = int(token) if len(token) <= 20 else MAX_MODSEQ + 1  # int() refuses very long runs
        if value > MAX_MODSEQ or (not zero and value == 0):
            raise ParseError(f"{shown(token.decode())} is out of range for {what}: {int(not zero)} to {MAX_MODSEQ}.")
        return value

    def quoted(self) -> bytes:
        """A quoted string starting at the cursor (the opening quote)."""
        text, i = self.text, self.pos + 1
        out = bytearray()
        while i < len(text):
            c = text[i]
            if c == 0x22:
                self.pos = i + 1
                return bytes(out)
            if c == 0x5C:
                i += 1
                if i >= len(text) or text[i] not in b'"\\':
                    raise ParseError('Invalid escape in a quoted string (only \\" and \\\\ are allowed).')
                c = text[i]
            out.append(c)
            i += 1
        raise ParseError("Unterminated quoted string.")

    def literal(self, literal8: bool = False) -> bytes:
        """A literal: its `{n}` must end this text part; the next part is its octets. `literal8`:
        a literal8 (`~{n}`, RFC 3516) is taken too."""
        if literal8 and self.peek() == 0x7E:  # "~"
            self.pos += 1
        match = _LITERAL.match(self.text, self.pos)
        if match is None or match.end() != len(self.text) or self.index + 2 >= len(self.parts):
            raise ParseError("Invalid literal.")
        data = self.parts[self.index + 1]
        self.index += 2
        self.text, self.pos = self.parts[self.index], 0
        return data

    def string(self, what: str) -> bytes:
        c = self.peek()
        if c == 0x22:
            return self.quoted()
        if c == 0x7B:
            return self.literal()
        raise ParseError(f"Expected {what} (a quoted string or a literal).")

    def astring(self, what: str) -> bytes:
        c = self.peek()
        if c == 0x22 or c == 0x7B:
            return self.string(what)
        token = self.match(_ASTRING)
        if token is None:
            raise ParseError(f"Expected {what}.")
        return token

    def text_arg(self, what: str, charset: str = "utf-8", search: bool = False) -> str:
        """An astring decoded as text (UTF-8: US-ASCII is a subset). A search string (quoted or
        a literal: well-formed) that is not UTF-8 is a NO [BADCHARSET], not a syntax error."""
        quoted = self.peek() in (0x22, 0x7B)
        data = self.astring(what)
        try:
            return data.decode(charset)
        except UnicodeDecodeError:
            if search and quoted:
                raise ParseError(f"{_capital(what)} is not valid UTF-8.", "NO", "BADCHARSET (US-ASCII UTF-8)") from None
            raise ParseError(f"{_capital(what)} is not valid UTF-8.") from None

    # ---------------------------------------------------------------------- mailboxes
    def mailbox(self, what: str = "a mailbox name") -> str:
        return _mailbox_name(self.astring(what), what, utf8=self.mode.utf8_names)

    def list_mailbox(self) -> str:
        """LIST's pattern: a string, or 1*list-char (wildcards allowed bare)."""
        c = self.peek()
        data = self.string("a mailbox pattern") if c in (0x22, 0x7B) else self.match(_LIST)
        if data is None:
            raise ParseError("Expected a mailbox pattern.")
        return _mailbox_name(data, "the mailbox pattern", inbox=False, utf8=self.mode.utf8_names)

    # ----------------------------------------------------------------------- numbers
    def sequence_set(self, what: str = "a sequence set") -> SequenceSet:
        """A sequence set, or "$" alone: the saved search result (SEARCHRES, RFC 5182)."""
        if self.skip(b"$"):
            if self.peek() in _SEQUENCE_CHARS:
                raise ParseError(_SAVED_ALONE)
            return SAVED
        token = self.match(_SEQUENCE)
        if self.peek() == 0x24:
            raise ParseError(_SAVED_ALONE)
        if token is None:
            raise ParseError(f"Expected {what} (like 1:5,7, 2:* or $).")
        ranges: list[tuple[int | None, int | None]] = []
        for item in token.split(b","):
            ends = item.split(b":")
            if len(ends) > 2:
                raise ParseError(f"Invalid sequence set {shown(token.decode())}.")
            low = _seq_number(ends[0], token)
            ranges.append((low, _seq_number(ends[1], token) if len(ends) == 2 else low))
        return SequenceSet(tuple(ranges))

    # ------------------------------------------------------------------------- flags
    def flag(self, stored: bool = True) -> str:
        """A flag: a system flag (case normalised), \\extension or a keyword atom. `stored`:
        \\Recent cannot be set by a client (STORE, APPEND)."""
        if self.skip(b"\\"):
            name = "\\" + self.atom("a flag name after \\").decode("latin-1")
            system = SYSTEM_FLAGS.get(name.upper())
            if system is not None:
                return system
            if stored and name.upper() == "\\RECENT":
                raise ParseError("\\Recent cannot be set by a client.")
            if name.upper() == "\\RECENT":
                return "\\Recent"
            return name
        atom = self.atom("a flag")
        if not atom.isascii():
            raise ParseError("A keyword must be ASCII.")
        return atom.decode("ascii")

    def flag_list(self) -> tuple[str, ...]:
        self.expect(b"(", "a flag list in parentheses")
        flags: list[str] = []
        if not self.skip(b")"):
            while True:
                flags.append(self.flag())
                if self.skip(b")"):
                    break
                self.sp("a space or ) in the flag list")
        return tuple(dict.fromkeys(flags))

    # ------------------------------------------------------------------------- dates
    def date(self) -> datetime.date:
        """A SEARCH date: 1-Feb-1994, quoted or not."""
        quoted = self.skip(b'"')
        match = _DATE.match(self.text, self.pos)
        if match is None or (quoted and not self.text.startswith(b'"', match.end())):
            raise ParseError("Expected a date like 1-Feb-1994.")
        self.pos = match.end() + quoted
        day, month, year = match.groups()
        try:
            return datetime.date(int(year), _month(month), int(day))
        except ValueError:
            raise ParseError(f"Invalid date {match.group().decode()}.") from None

    def date_time(self) -> datetime.datetime:
        """APPEND's date-time: "17-Jul-1996 02:44:25 -0700" (timezone-aware)."""
        match = _DATE_TIME.match(self.text, self.pos)
        if match is None:
            raise ParseError('Expected a date-time like "17-Jul-1996 02:44:25 -0700".')
        day, month, year, hour, minute, second, sign, zh, zm = match.groups()
        offset = datetime.timedelta(hours=int(zh), minutes=int(zm)) * (-1 if sign == b"-" else 1)
        try:
            when = datetime.datetime(int(year), _month(month), int(day), int(hour), int(minute), int(second),
                                     tzinfo=datetime.timezone(offset))
        except ValueError:
            raise ParseError(f"Invalid date-time {match.group().decode()}.") from None
        self.pos = match.end()
        return when


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _month(name: bytes) -> int:
    month = MONTHS.get(name.decode("ascii").upper())
    if month is None:
        raise ParseError(f"Invalid month {name.decode('ascii')!r}.")
    return month


def _seq_number(text: bytes, token: bytes) -> int | None:
    if text == b"*":
        return None
    if not text.isdigit() or text.startswith(b"0") or len(text) > 10 or int(text) > MAX_NUMBER:
        raise ParseError(f"Invalid sequence set {shown(token.decode())}: numbers are 1 to 4294967295 or *.")
    return int(text)


def _mailbox_name(data: bytes, what: str, inbox: bool = True, utf8: bool = False) -> str:
    """A mailbox name as the client sent it: modified UTF-7 (or raw UTF-8) by default, UTF-8
    only once the session enabled UTF8=ACCEPT or IMAP4rev2 ("&" is then just a character)."""
    try:
        name = data.decode("utf-8") if utf8 else wire.decode_mailbox(data)
    except ValueError:
        raise ParseError(f"{_capital(what)} is not valid UTF-8." if utf8 else
                         f"{_capital(what)} is not valid modified UTF-7 (or UTF-8).") from None
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        raise ParseError(f"{_capital(what)} must not contain control characters.")
    if inbox and name.upper() == "INBOX":
        return "INBOX"
    return name
