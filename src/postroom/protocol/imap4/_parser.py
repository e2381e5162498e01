"""Parsers of the authenticated- and selected-state commands (RFC 3501 6.3, 6.4 and the
extensions), each from the cursor right after the command name to a types.py command.

`PARSERS` maps a command name to its parser; "UID" dispatches to FETCH, SEARCH, STORE, COPY,
MOVE and EXPUNGE with `uid=True`. Each raises ParseError for a malformed command.
"""
from __future__ import annotations

import functools
from typing import Callable

from . import types as T
from ._items import append_data, fetch_attributes, search_program
from ._modseq import fetch_modifiers, select_parameters, store_modifiers
from ._tokens import Cursor, ParseError, shown
from .esearch import return_options
from .listext import list_command, status_items

__all__ = ["PARSERS", "UID_COMMANDS", "parse_id"]

Parser = Callable[[str, Cursor], T.Command]
CHARSETS = ("US-ASCII", "UTF-8")
_MAX_ID_PAIRS = 30


def _no_arguments(kind: type[T.Command]) -> Parser:
    name = kind.__name__.upper()

    def parse(tag: str, cur: Cursor) -> T.Command:
        cur.end(name)
        return kind(tag)
    return parse


def _select(readonly: bool) -> Parser:
    def parse(tag: str, cur: Cursor) -> T.Command:
        cur.sp("a mailbox name")
        mailbox = cur.mailbox()
        if not cur.space_then():
            return T.Select(tag, mailbox, readonly)
        condstore, qresync = select_parameters(cur)
        cur.end("SELECT" if not readonly else "EXAMINE")
        return T.Select(tag, mailbox, readonly, condstore, qresync)
    return parse


def _one_mailbox(kind: Callable[[str, str], T.Command], name: str) -> Parser:
    def parse(tag: str, cur: Cursor) -> T.Command:
        cur.sp("a mailbox name")
        mailbox = cur.mailbox()
        cur.end(name)
        return kind(tag, mailbox)
    return parse


def _rename(tag: str, cur: Cursor) -> T.Command:
    cur.sp("the mailbox to rename")
    old = cur.mailbox("the mailbox to rename")
    cur.sp("the new mailbox name")
    new = cur.mailbox("the new mailbox name")
    cur.end("RENAME")
    return T.Rename(tag, old, new)


def _subscribe(subscribe: bool) -> Parser:
    def parse(tag: str, cur: Cursor) -> T.Command:
        cur.sp("a mailbox name")
        mailbox = cur.mailbox()
        cur.end("SUBSCRIBE" if subscribe else "UNSUBSCRIBE")
        return T.Subscribe(tag, mailbox, subscribe)
    return parse


def _lsub(tag: str, cur: Cursor) -> T.Command:
    cur.sp("a reference name")
    reference = cur.list_mailbox()
    cur.sp("a mailbox pattern")
    pattern = cur.list_mailbox()
    cur.end("LSUB")
    return T.List(tag, reference, pattern, lsub=True)


def _status(tag: str, cur: Cursor) -> T.Command:
    cur.sp("a mailbox name")
    mailbox = cur.mailbox()
    cur.sp("the status items in parentheses")
    items = status_items(cur)
    cur.end("STATUS")
    return T.Status(tag, mailbox, items)


def _append(tag: str, cur: Cursor) -> T.Command:
    cur.sp("a mailbox name")
    mailbox = cur.mailbox()
    cur.sp("the message literal")
    flags: tuple[str, ...] = ()
    if cur.peek() == 0x28:
        flags = cur.flag_list()
        cur.sp("the message literal")
    when = None
    if cur.peek() == 0x22:
        when = cur.date_time()
        cur.sp("the message literal")
    message = append_data(cur)
    if not cur.at_end():
        raise ParseError("Appending several messages (MULTIAPPEND) is not supported." if cur.peek() == 0x20
                         else "Unexpected characters after the message literal.")
    return T.Append(tag, mailbox, flags, when, message)


def parse_id(tag: str, cur: Cursor) -> T.Id:
    cur.sp("NIL or a parameter list")
    if cur.peek() != 0x28:
        if cur.keyword("NIL or a parameter list") != "NIL":
            raise ParseError("Expected NIL or a parameter list.")
        cur.end("ID")
        return T.Id(tag, None)
    cur.pos += 1
    pairs: list[tuple[str, str | None]] = []
    while not cur.skip(b")"):
        if pairs:
            cur.sp("a space or ) in the ID parameter list")
        field = cur.string("an ID field name").decode("utf-8", "replace")
        cur.sp("the value of the ID field")
        if cur.peek() in (0x22, 0x7B):
            value: str | None = cur.string("an ID value").decode("utf-8", "replace")
        elif cur.keyword("an ID value") == "NIL":
            value = None
        else:
            raise ParseError("Expected an ID value: a string or NIL.")
        if len(pairs) == _MAX_ID_PAIRS or len(field) > 30 or (value is not None and len(value) > 1024):
            raise ParseError("Too many or too long ID parameters (RFC 2971: 30 pairs, 30 and 1024 octets).")
        pairs.append((field, value))
    cur.end("ID")
    return T.Id(tag, tuple(pairs))


def _enable(tag: str, cur: Cursor) -> T.Command:
    names: list[str] = []
    while cur.space_then():
        names.append(cur.keyword("a capability name"))
    if not names:
        raise ParseError("ENABLE needs at least one capability name.")
    return T.Enable(tag, tuple(names))


# --------------------------------------------------------------------- message commands
def _expunge(tag: str, cur: Cursor, uid: bool = False) -> T.Command:
    if not uid:
        cur.end("EXPUNGE")
        return T.Expunge(tag)
    cur.sp("a UID set")
    uids = cur.sequence_set("a UID set")
    cur.end("UID EXPUNGE")
    return T.Expunge(tag, uids)


def _search(tag: str, cur: Cursor, uid: bool = False) -> T.Command:
    cur.sp("a search key")
    returns = None
    if cur.text[cur.pos:cur.pos + 7].upper() == b"RETURN ":  # ESEARCH (RFC 4731), before CHARSET
        cur.pos += 7
        returns = return_options(cur)
        cur.sp("a search key after the RETURN options")
    elif cur.mode.rev2:  # RFC 9051 6.4.4: IMAP4rev2 answers every SEARCH with ESEARCH, ALL by default
        returns = ("ALL",)
    try:
        charset = None
        if cur.text[cur.pos:cur.pos + 8].upper() == b"CHARSET ":
            cur.pos += 8
            charset = cur.astring("a charset name").decode("latin-1").upper()
            if cur.mode.utf8:  # RFC 6855 3: a UTF8=ACCEPT client searches in UTF-8, naming no charset
                raise ParseError("SEARCH takes no CHARSET once UTF8=ACCEPT is enabled: strings are UTF-8.")
            if charset not in CHARSETS:
                raise ParseError(f"Unsupported charset {shown(charset)}.", "NO", "BADCHARSET (US-ASCII UTF-8)")
            cur.sp("a search key after the charset")
        return T.Search(tag, search_program(cur, "utf-8"), charset, uid, returns)
    except ParseError as error:
        error.saving = returns is not None and "SAVE" in returns
        raise


def _fetch(tag: str, cur: Cursor, uid: bool = False) -> T.Command:
    cur.sp("a sequence set")
    sequence = cur.sequence_set()
    cur.sp("the FETCH items")
    if cur.index == len(cur.parts) - 1:  # no literal in the items: the common case, cached
        attributes, changed_since, vanished = _fetch_items(cur.text[cur.pos:], uid)
    else:
        attributes, changed_since, vanished = _fetch_items_at(cur, uid)
    return T.Fetch(tag, sequence, attributes, uid, changed_since, vanished)


FetchItems = tuple[tuple[T.FetchAttribute, ...], int | None, bool]


@functools.lru_cache(maxsize=256)
def _fetch_items(text: bytes, uid: bool) -> FetchItems:
    """The FETCH items and modifiers of `text`; clients repeat the same few lists, so each is
    parsed once (the attributes are frozen values, safe to share)."""
    return _fetch_items_at(Cursor([text]), uid)


def _fetch_items_at(cur: Cursor, uid: bool) -> FetchItems:
    attributes = fetch_attributes(cur)
    changed_since, vanished = None, False
    if not cur.at_end():
        if not cur.text.startswith(b" (", cur.pos):
            raise ParseError("Unexpected characters after the FETCH items.")
        changed_since, vanished = fetch_modifiers(cur, uid)
        cur.end("FETCH")
    if uid and not any(a.name == "UID" for a in attributes):
        attributes = (T.FetchAttribute("UID"), *attributes)  # UID FETCH always answers the UID
    if changed_since is not None and not any(a.name == "MODSEQ" for a in attributes):
        attributes = (*attributes, T.FetchAttribute("MODSEQ"))  # CHANGEDSINCE implies it (RFC 7162 3.1.4.1)
    return attributes, changed_since, vanished


_STORE_MODES = {"FLAGS": "replace", "+FLAGS": "add", "-FLAGS": "remove"}


def _store(tag: str, cur: Cursor, uid: bool = False) -> T.Command:
    cur.sp("a sequence set")
    sequence = cur.sequence_set()
    cur.sp("FLAGS, +FLAGS or -FLAGS")
    unchanged_since = None
    if cur.peek() == 0x28:  # "(": STORE modifiers
        unchanged_since = store_modifiers(cur)
        cur.sp("FLAGS, +FLAGS or -FLAGS after the STORE modifiers")
    sign = "+" if cur.skip(b"+") else "-" if cur.skip(b"-") else ""
    item = sign + cur.keyword("FLAGS, +FLAGS or -FLAGS")
    silent = item.endswith(".SILENT")
    mode = _STORE_MODES.get(item.removesuffix(".SILENT"))
    if mode is None:
        raise ParseError(f"Unknown STORE item {shown(item)}: FLAGS, +FLAGS or -FLAGS (with .SILENT).")
    cur.sp("the flags")
    if cur.peek() == 0x28:
        flags = cur.flag_list()
    else:
        found = [cur.flag()]
        while cur.space_then():
            found.append(cur.flag())
        flags = tuple(dict.fromkeys(found))
    cur.end("STORE")
    return T.Store(tag, sequence, mode, flags, silent, uid, unchanged_since)


def _copy(move: bool) -> Callable[..., T.Command]:
    def parse(tag: str, cur: Cursor, uid: bool = False) -> T.Command:
        cur.sp("a sequence set")
        sequence = cur.sequence_set()
        cur.sp("the destination mailbox")
        mailbox = cur.mailbox("the destination mailbox")
        cur.end("MOVE" if move else "COPY")
        return T.Copy(tag, sequence, mailbox, uid, move)
    return parse


UID_COMMANDS: dict[str, Callable[..., T.Command]] = {
    "FETCH": _fetch, "SEARCH": _search, "STORE": _store, "COPY": _copy(False), "MOVE": _copy(True),
    "EXPUNGE": _expunge,
}


def _uid(tag: str, cur: Cursor) -> T.Command:
    cur.sp("a command after UID")
    name = cur.keyword("a command after UID")
    parser = UID_COMMANDS.get(name)
    if parser is None:
        raise ParseError(f"UID {shown(name)} is not a command: UID FETCH, SEARCH, STORE, COPY, MOVE or EXPUNGE.")
    return parser(tag, cur, uid=True)


PARSERS: dict[str, Parser] = {
    "NOOP": _no_arguments(T.Noop), "CHECK": _no_arguments(T.Check), "CLOSE": _no_arguments(T.Close),
    "UNSELECT": _no_arguments(T.Unselect), "NAMESPACE": _no_arguments(T.Namespace),
    "SELECT": _select(False), "EXAMINE": _select(True),
    "CREATE": _one_mailbox(T.Create, "CREATE"), "DELETE": _one_mailbox(T.Delete, "DELETE"),
    "RENAME": _rename, "SUBSCRIBE": _subscribe(True), "UNSUBSCRIBE": _subscribe(False),
    "LIST": list_command, "LSUB": _lsub, "STATUS": _status, "APPEND": _append, "ID": parse_id,
    "ENABLE": _enable, "EXPUNGE": _expunge, "SEARCH": _search, "FETCH": _fetch, "STORE": _store,
    "COPY": UID_COMMANDS["COPY"], "MOVE": UID_COMMANDS["MOVE"], "UID": _uid,
}
