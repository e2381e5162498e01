"""The ENVELOPE of a message (RFC 3501 7.4.2): its header fields as IMAP reply data, address
lists parsed into (name adl mailbox host) structures (RFC 5322 3.4, with groups and obsolete
routes). Values stay as written (RFC 2047 encoded words are the client's to decode), unfolded;
the header text is latin-1 str, one character per octet, so 8-bit octets reach the client as
they are."""
from __future__ import annotations

import re

from . import wire
from ._mime import Entity

__all__ = ["envelope", "addresses"]

_LEXER = re.compile(r"""
    (?P<ws>[ \t\r\n]+)
  | (?P<quoted>"(?:[^"\\]+|\\.)*"?)
  | (?P<literal>\[(?:[^\]\\]|\\.)*\]?)
  | (?P<special>[<>,:;@.])
  | (?P<atom>[^ \t\r\n"\[<>,:;@.()]+)
""", re.X | re.S)
_UNQUOTE = re.compile(r"\\(.)", re.S)
_ATEXT = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")

_DOT_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_COMMON = re.compile(r"""[ \t]*(?:
    (?:(?P<name>[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:[ \t]+[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*)
      |"(?P<quoted>[^"\\]*)")?
    [ \t]*<(?P<local>DOT_ATOM)@(?P<domain>DOT_ATOM)>
  | (?P<local2>DOT_ATOM)@(?P<domain2>DOT_ATOM)
)[ \t]*(?:,[ \t]*(?=[^ \t,])|$)""".replace("DOT_ATOM", _DOT_ATOM), re.X)

# Bounds for hostile input: the characters of one address field read by the common-case
# regex (some 2,500 addresses) and by the full parser (its cost is per character).
MAX_COMMON = 64 * 1024
MAX_FULL = 16 * 1024

Address = tuple[str | None, str | None, str | None, str | None]  # name, adl, mailbox, host
Token = tuple[str, str]  # kind ("atom", "quoted", "literal", "special", "comment"), text


def _nstring(value: str | None) -> bytes:
    return wire.NIL if value is None else string(value)


_UNQUOTABLE = re.compile(r"[^\x01-\x09\x0b\x0c\x0e-\x7f]")


def string(value: str) -> bytes:
    """wire.string of a latin-1 str, with a C-speed test for the common quotable case."""
    if len(value) < 1024 and not _UNQUOTABLE.search(value):
        return b'"' + value.replace("\\", "\\\\").replace('"', '\\"').encode("ascii") + b'"'
    return wire.literal(value.replace("\x00", "").encode("latin-1"))  # a literal holds no NUL (CHAR8)


def envelope(entity: Entity) -> bytes:
    """("date" "subject" (from) (sender) (reply-to) (to) (cc) (bcc) "in-reply-to" "message-id")."""
    field = entity.field
    from_ = _address_field(entity, "from")
    sender = _address_field(entity, "sender")
    reply_to = _address_field(entity, "reply-to")
    items = (
        _nstring(field("date")), _nstring(field("subject")), from_,
        from_ if sender == wire.NIL else sender,  # RFC 3501: absent or empty -> From
        from_ if reply_to == wire.NIL else reply_to,
        _address_field(entity, "to"), _address_field(entity, "cc"), _address_field(entity, "bcc"),
        _nstring(field("in-reply-to")), _nstring(field("message-id")),
    )
    return b"(" + b" ".join(items) + b")"


def _address_field(entity: Entity, name: str) -> bytes:
    value = entity.field(name)  # the first field of that name, as for every envelope member
    if not value:
        return wire.NIL
    parsed = addresses(value)
    if not parsed:
        return wire.NIL
    return b"(" + b"".join(b"(" + b" ".join(_nstring(v) for v in a) + b")" for a in parsed) + b")"


def _tokens(text: str) -> list[Token]:
    out: list[Token] = []
    pos, size = 0, len(text)
    while pos < size:
        if text[pos] == "(":  # a comment, possibly nested
            depth, start = 0, pos
            while pos < size:
                c = text[pos]
                if c == "\\":
                    pos += 1
                elif c == "(":
                    depth += 1
                elif c == ")":
                    depth -= 1
                    if depth == 0:
                        break
                pos += 1
            out.append(("comment", text[start + 1:pos].strip()))
            pos += 1
            continue
        m = _LEXER.match(text, pos)
        if m is None:  # a lone ")" or "\\": skip it
            pos += 1
            continue
        kind = m.lastgroup or "atom"
        if kind == "quoted":
            raw = m.group()[1:]
            out.append(("quoted", _UNQUOTE.sub(r"\1", raw[:-1] if raw.endswith('"') else raw)))
        elif kind != "ws":
            out.append((kind, m.group()))
        pos = m.end()
    return out


def addresses(text: str) -> list[Address]:
    """An address list: mailboxes, and groups as (NIL NIL name NIL) ... (NIL NIL NIL NIL).
    A list longer than real mail has is read up to the last address that fits the bound."""
    if len(text) > MAX_COMMON:
        text = _cut(text, MAX_COMMON)
    common = _common_addresses(text)
    return common if common is not None else _addresses(_cut(text, MAX_FULL) if len(text) > MAX_FULL else text)


def _cut(text: str, limit: int) -> str:
    comma = text.rfind(",", 0, limit)
    return text[:comma] if comma > 0 else text[:limit]


def _common_addresses(text: str) -> list[Address] | None:
    """The usual lists ("Name <a@b>", "a@b", '"Name" <a@b>') by one regex per address, as
    the full parser reads them; None for anything else (comments, groups, routes, escapes)."""
    out: list[Address] = []
    pos, size = 0, len(text)
    while pos < size:
        m = _COMMON.match(text, pos)
        if m is None:
            return None
        if m.group("local") is not None:
            name = m.group("quoted") if m.group("quoted") is not None else " ".join((m.group("name") or "").split())
            out.append((name or None, None, m.group("local"), m.group("domain")))
        else:
            out.append((None, None, m.group("local2"), m.group("domain2")))
        pos = m.end()
    return out


def _addresses(text: str) -> list[Address]:
    out: list[Address] = []
    current: list[Token] = []
    in_angle = in_group = False
    for token in _tokens(text):
        kind, value = token
        if kind == "special" and not in_angle:
            if value == ",":
                _flush(current, out)
                continue
            if value == ":" and not in_group and not any(t == ("special", "@") for t in current):
                out.append((None, None, _phrase(current) or "", None))
                current = []
                in_group = True
                continue
            if value == ";":
                _flush(current, out)
                if in_group:
                    out.append((None, None, None, None))
                    in_group = False
                continue
        if kind == "special" and value in "<>":
            in_angle = value == "<"
        current.append(token)
    _flush(current, out)
    if in_group:
        out.append((None, None, None, None))
    return out


def _flush(tokens: list[Token], out: list[Address]) -> None:
    if any(kind != "comment" for kind, _ in tokens):
        out.append(_mailbox(tokens))
    tokens.clear()


def _mailbox(tokens: list[Token]) -> Address:
    if ("special", "<") in tokens:
        open_ = tokens.index(("special", "<"))
        close = tokens.index(("special", ">"), open_) if ("special", ">") in tokens[open_:] else len(tokens)
        inner = [t for t in tokens[open_ + 1:close] if t[0] != "comment"]
        adl = None
        if inner and inner[0] == ("special", "@") and ("special", ":") in inner:
            colon = inner.index(("special", ":"))
            adl = "".join(v for _, v in inner[:colon])
            inner = inner[colon + 1:]
        name = _phrase(tokens[:open_]) or None
        mailbox, host = _addr_spec(inner)
        return name, adl, mailbox, host
    comments = [v for kind, v in tokens if kind == "comment" and v]
    mailbox, host = _addr_spec([t for t in tokens if t[0] != "comment"])
    return (comments[-1] if comments else None), None, mailbox, host


def _phrase(tokens: list[Token]) -> str:
    """A display name: its words joined by single spaces, quoted strings unquoted; an
    obsolete "." joins without a space ("John Q. Public")."""
    out = ""
    for kind, value in tokens:
        if kind == "comment":
            continue
        if value == "." and kind == "special":
            out += "."
        else:
            out = out + " " + value if out else value
    return out


def _addr_spec(tokens: list[Token]) -> tuple[str, str]:
    """(mailbox, host) of local-part "@" domain; a missing domain is "" (NIL would mean a group)."""
    at = max((i for i, t in enumerate(tokens) if t == ("special", "@")), default=-1)
    local = tokens[:at] if at >= 0 else tokens
    domain = tokens[at + 1:] if at >= 0 else []
    parts = []
    for kind, value in local:
        if kind == "quoted" and not _ATEXT.fullmatch(value):
            value = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        parts.append(value)
    return "".join(parts), "".join(v for _, v in domain)
