"""LIST, LSUB and STATUS for the IMAP4 engine (server/imap4_mailbox.py), with LIST-EXTENDED
(RFC 5258), LIST-STATUS (RFC 5819) and SPECIAL-USE's selection option (RFC 6154).

One way of listing serves every form: the candidates are the names the selection picks (the
folders and the levels above them; or the subscriptions, for SUBSCRIBED and LSUB), each listed
once when any pattern matches it. A plain LIST shows a level that is no folder as \\Noselect; the
extended form says \\NonExistent (RFC 5258 3.4), \\Subscribed when the client asked for
subscriptions, and with RECURSIVEMATCH lists a name whose descendants are subscribed with
("CHILDINFO" ("SUBSCRIBED")) whether or not it is subscribed itself. RETURN (STATUS ...) follows
each selectable folder's LIST line with its STATUS line, from one store read per folder.
"""
from __future__ import annotations

import re
from typing import Callable, Iterable

from ..errors import NotFound
from ..model.imap import DELIMITER, INBOX, Folder, FolderStatus
from ..protocol.imap4 import listext, types
from .imap4_common import ImapStore, Outcome

__all__ = ["list_folders", "pattern_matcher", "status_values"]


def pattern_matcher(reference: str, pattern: str) -> Callable[[str], bool]:
    """LIST's wildcards: "*" matches anything, "%" anything but the delimiter. INBOX (and the
    names under it) match in any case."""
    full = reference + pattern if not (pattern.startswith(DELIMITER) and reference) else pattern
    body = "".join(".*" if c == "*" else "[^/]*" if c == "%" else re.escape(c) for c in full) + r"\Z"
    exact, any_case = re.compile(body, re.DOTALL), re.compile(body, re.DOTALL | re.IGNORECASE)
    return lambda name: bool(exact.match(name) or (name.partition(DELIMITER)[0] == INBOX and any_case.match(name)))


def status_values(status: FolderStatus) -> dict[str, int]:
    """STATUS's items (protocol/imap4/listext.py STATUS_ITEMS) and their values."""
    return {"MESSAGES": status.messages, "RECENT": status.recent, "UIDNEXT": status.uidnext,
            "UIDVALIDITY": status.uidvalidity, "UNSEEN": status.unseen, "HIGHESTMODSEQ": status.highest_modseq,
            "SIZE": status.size, "DELETED": status.deleted}


def _ancestors(names: Iterable[str]) -> set[str]:
    """Every level above these names (a/b/c: a and a/b)."""
    found = set()
    for name in names:
        while DELIMITER in name:
            name = name.rsplit(DELIMITER, 1)[0]
            found.add(name)
    return found


async def list_folders(store: ImapStore, mailbox_id: int, command: types.List,
                       emit: Callable[[bytes], None], utf8: bool = False) -> Outcome:
    verb = b"LSUB" if command.lsub else b"LIST"
    patterns = [p for p in command.all_patterns if p]
    if not patterns and not command.lsub:  # the hierarchy delimiter and root (RFC 3501 6.3.8)
        emit(b'* LIST (\\Noselect) "/" ""\r\n')
        return Outcome("OK", "LIST completed.")
    folders = {f.name: f for f in await store.list_folders(mailbox_id)}
    extended, selection = command.extended, command.selection
    wants_subscriptions = command.lsub or "SUBSCRIBED" in selection or "SUBSCRIBED" in command.returns
    subscribed = set(await store.list_subscriptions(mailbox_id)) if wants_subscriptions else set()
    if command.lsub or "SUBSCRIBED" in selection:
        chosen = set(subscribed)
    else:
        chosen = set(folders)
    if "SPECIAL-USE" in selection:  # RFC 6154 5.1: only the folders of a special use
        chosen = {name for name in chosen if name in folders and folders[name].special_use}
    parents = _ancestors(folders)
    candidates = set(chosen)
    if command.lsub:  # the levels above a subscription, for a "%" that stops at them (RFC 3501 6.3.9)
        if any("%" in p for p in patterns):
            candidates |= _ancestors(chosen)
    elif "SUBSCRIBED" not in selection and "SPECIAL-USE" not in selection:
        candidates |= _ancestors(chosen)
    # RECURSIVEMATCH: the names above a chosen one, told of with CHILDINFO (RFC 5258 3.5)
    with_children = _ancestors(chosen) if "RECURSIVEMATCH" in selection else set()
    candidates |= with_children
    matchers = [pattern_matcher(command.reference, p) for p in patterns]
    for name in sorted(candidates, key=lambda n: (n != INBOX, n)):
        if not any(matches(name) for matches in matchers):
            continue
        folder = folders.get(name)
        attributes = _attributes(command, name, folder, chosen, subscribed, parents)
        emit(listext.list_line(verb, attributes, name, extended and name in with_children, utf8))
        if command.status is not None and folder is not None:
            await _status_after(store, folder, command.status, emit, utf8)
    return Outcome("OK", f"{verb.decode()} completed.")


def _attributes(command: types.List, name: str, folder: Folder | None, chosen: set[str], subscribed: set[str],
                parents: set[str]) -> list[str]:
    if command.lsub:  # a level above a subscription that is not subscribed itself is \Noselect (6.3.9)
        attributes = [] if folder is not None and name in chosen else ["\\Noselect"]
    elif folder is None:
        attributes = ["\\NonExistent"] if command.extended else ["\\Noselect"]
    else:
        attributes = []
    if command.extended and name in subscribed:
        attributes.append("\\Subscribed")
    attributes.append("\\HasChildren" if name in parents else "\\HasNoChildren")
    if folder is not None and folder.special_use:
        attributes.append(folder.special_use)
    return attributes


async def _status_after(store: ImapStore, folder: Folder, items: tuple[str, ...],
                        emit: Callable[[bytes], None], utf8: bool) -> None:
    """LIST-STATUS: the folder's STATUS line after its LIST line; none when it is gone meanwhile."""
    try:
        status = await store.folder_status(folder.id)
    except NotFound:
        return
    emit(listext.status_line(folder.name, items, status_values(status), utf8))
