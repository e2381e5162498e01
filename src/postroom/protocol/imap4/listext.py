"""LIST-EXTENDED (RFC 5258), LIST-STATUS (RFC 5819) and the STATUS items: the LIST grammar with
selection options, several patterns and return options, and the LIST and STATUS reply lines.

    LIST [SP "(" selection options ")"] SP reference SP (pattern / "(" pattern *(SP pattern) ")")
         [SP "RETURN" SP "(" return options ")"]

Selection options: SUBSCRIBED, REMOTE, RECURSIVEMATCH (only with a base option: SUBSCRIBED),
SPECIAL-USE (RFC 6154); return options: SUBSCRIBED, CHILDREN, SPECIAL-USE and STATUS (items).
An unknown option is BAD (RFC 5258 3: the client cannot know what it would have meant).
"""
from __future__ import annotations

from typing import Iterable, Mapping

from . import types as T
from . import wire
from ._tokens import Cursor, ParseError, shown

__all__ = ["STATUS_ITEMS", "list_command", "list_line", "status_items", "status_line"]

#: STATUS items (RFC 3501, 7162 HIGHESTMODSEQ, 8438 SIZE, 9051 DELETED), in the order errors name them.
STATUS_ITEMS = ("MESSAGES", "RECENT", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "HIGHESTMODSEQ", "SIZE", "DELETED")
_STATUS_NAMES = ", ".join(STATUS_ITEMS[:-1]) + " or " + STATUS_ITEMS[-1]
SELECTION_OPTIONS = frozenset({"SUBSCRIBED", "REMOTE", "RECURSIVEMATCH", "SPECIAL-USE"})
RETURN_OPTIONS = frozenset({"SUBSCRIBED", "CHILDREN", "SPECIAL-USE", "STATUS"})
_MAX_PATTERNS = 64


def status_items(cur: Cursor, what: str = "the status items in parentheses") -> tuple[str, ...]:
    """"(" status-att *(SP status-att) ")": the items in upper case, each once."""
    cur.expect(b"(", what)
    items: list[str] = []
    while True:
        item = cur.keyword("a status item")
        if item not in STATUS_ITEMS or (item == "RECENT" and cur.mode.rev2):  # IMAP4rev2 has no \Recent
            raise ParseError(f"Unknown status item {shown(item)}: "
                             f"{_STATUS_NAMES.replace('RECENT, ', '') if cur.mode.rev2 else _STATUS_NAMES}.")
        items.append(item)
        if cur.skip(b")"):
            return tuple(dict.fromkeys(items))
        cur.sp("a space or ) in the status items")


def list_command(tag: str, cur: Cursor) -> T.List:
    """LIST, from the cursor after the command name."""
    cur.sp("a reference name")
    selection: frozenset[str] = frozenset()
    extended = False
    if cur.peek() == 0x28:  # "(": selection options
        selection, extended = _options(cur, "selection option", SELECTION_OPTIONS), True
        if "RECURSIVEMATCH" in selection and "SUBSCRIBED" not in selection:
            raise ParseError("RECURSIVEMATCH needs the SUBSCRIBED selection option with it.")
        cur.sp("a reference name")
    reference = cur.list_mailbox()
    cur.sp("a mailbox pattern")
    if cur.peek() == 0x28:  # several patterns
        cur.pos += 1
        patterns = [cur.list_mailbox()]
        while not cur.skip(b")"):
            cur.sp("a space or ) in the mailbox patterns")
            patterns.append(cur.list_mailbox())
            if len(patterns) > _MAX_PATTERNS:
                raise ParseError(f"Too many mailbox patterns: at most {_MAX_PATTERNS}.")
        extended = True
    else:
        patterns = [cur.list_mailbox()]
    returns: frozenset[str] = frozenset()
    status = None
    if not cur.at_end():
        if cur.text[cur.pos:cur.pos + 8].upper() != b" RETURN ":
            raise ParseError("Unexpected characters after LIST's mailbox pattern (RETURN options?).")
        cur.pos += 8
        found: dict[str, tuple[str, ...]] = {}
        returns = _options(cur, "return option", RETURN_OPTIONS, found)
        status, extended = found.get("STATUS"), True
        cur.end("LIST")
    return T.List(tag, reference, patterns[0], False, tuple(patterns) if len(patterns) > 1 else (),
                  selection, returns, status, extended)


def _options(cur: Cursor, kind: str, known: frozenset[str],
             arguments: dict[str, tuple[str, ...]] | None = None) -> frozenset[str]:
    """"(" [option *(SP option)] ")": the names, upper case; STATUS's items go to `arguments`."""
    choices = ", ".join(sorted(known))
    cur.expect(b"(", f"the {kind}s in parentheses")
    names: set[str] = set()
    if cur.skip(b")"):
        return frozenset()
    while True:
        name = cur.keyword(f"a {kind} ({choices})")
        if name not in known:
            raise ParseError(f"Unknown LIST {kind} {shown(name)}: {choices}.")
        if name == "STATUS" and arguments is not None:
            cur.sp("the status items after STATUS")
            items = status_items(cur, "the status items in parentheses after STATUS")
            if arguments.setdefault(name, items) != items:
                raise ParseError("The STATUS return option is given twice with different items.")
        names.add(name)
        if cur.skip(b")"):
            return frozenset(names)
        cur.sp(f"a space or ) in the {kind}s")


def list_line(verb: bytes, attributes: Iterable[str], name: str, childinfo: bool = False, utf8: bool = False) -> bytes:
    """`* LIST (attributes) "/" name` [("CHILDINFO" ("SUBSCRIBED"))]; `utf8`: the name in UTF-8
    (UTF8=ACCEPT or IMAP4rev2 enabled), else modified UTF-7."""
    line = b"* %s (%s) \"/\" %s" % (verb, " ".join(attributes).encode("ascii"), wire.mailbox(name, utf8))
    return line + (b' ("CHILDINFO" ("SUBSCRIBED"))\r\n' if childinfo else b"\r\n")


def status_line(name: str, items: Iterable[str], values: Mapping[str, int], utf8: bool = False) -> bytes:
    """`* STATUS name (ITEM n ...)`, the items in the order asked; `utf8` as list_line's."""
    text = " ".join(f"{item} {values[item]}" for item in items if item in values)
    return b"* STATUS %s (%s)\r\n" % (wire.mailbox(name, utf8), text.encode("ascii"))
