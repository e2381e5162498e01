"""ESEARCH (RFC 4731) and SEARCHRES (RFC 5182) in an IMAP4 session, for the selected folder.

A SEARCH with RETURN options answers `* ESEARCH` (protocol/imap4/esearch.py renders it), with the
highest MODSEQ of the messages it reports when the program has a MODSEQ key (RFC 4731 3.2,
RFC 7162 3.1.5). RETURN (SAVE) keeps the result in the SelectedFolder (`saved`, as UIDs: a message
expunged meanwhile drops out of it by itself, since UIDs are not reused) and "$" in a later command
stands for it: as message numbers in FETCH, STORE, COPY, MOVE and a SEARCH key, as UIDs in their UID
forms and UID EXPUNGE. A new SELECT or EXAMINE starts with nothing saved (a new SelectedFolder), so
"$" before any SAVE names no message, and FETCH $ answers OK with nothing (RFC 5182 2.1).
"""
from __future__ import annotations

import dataclasses
import functools
from typing import TYPE_CHECKING, Sequence

from ..protocol.imap4 import esearch, search, types

if TYPE_CHECKING:
    from .imap4_folder import SelectedFolder

__all__ = ["reply", "with_saved"]


def with_saved(folder: SelectedFolder, command: types.Command) -> types.Command:
    """The command with "$" replaced by the saved result (as message numbers or UIDs, as the
    command reads its set); the command itself when it has no "$"."""
    if isinstance(command, (types.Fetch, types.Store, types.Copy)) and command.sequence.saved:
        return dataclasses.replace(command, sequence=_saved_set(folder, command.uid))
    if isinstance(command, types.Expunge) and command.uids is not None and command.uids.saved:
        return dataclasses.replace(command, uids=_saved_set(folder, True))
    if isinstance(command, types.Search) and _names_saved(command.key):
        key = _key(folder, command.key)
        if key is not command.key:
            return dataclasses.replace(command, key=key)
    return command


def _saved_set(folder: SelectedFolder, uid: bool) -> types.SequenceSet:
    uids = [u for u in folder.saved if u in folder.messages]
    return _ranges(uids if uid else [folder.msn(u) for u in uids])


def _ranges(numbers: Sequence[int]) -> types.SequenceSet:
    """Ascending numbers as a SequenceSet of runs (an empty one names nothing)."""
    runs: list[tuple[int | None, int | None]] = []
    for number in numbers:
        if runs and runs[-1][1] == number - 1:
            runs[-1] = (runs[-1][0], number)
        else:
            runs.append((number, number))
    return types.SequenceSet(tuple(runs))


def _is_saved(key: types.SearchKey) -> bool:
    """Whether the key is "$" itself (a sequence set key, or UID $)."""
    return key.op in ("SEQ", "UID") and bool(key.args) and isinstance(key.args[0], types.SequenceSet) \
        and key.args[0].saved


@functools.lru_cache(maxsize=1024)
def _names_saved(key: types.SearchKey) -> bool:
    """Whether the program has a "$" anywhere (asked once per program: most have none)."""
    return _is_saved(key) or any(isinstance(arg, types.SearchKey) and _names_saved(arg) for arg in key.args)


def _key(folder: SelectedFolder, key: types.SearchKey) -> types.SearchKey:
    """The search key with each "$" as the saved messages' UIDs."""
    if _is_saved(key):
        return types.SearchKey("UID", (_saved_set(folder, True),))
    if not any(isinstance(arg, types.SearchKey) for arg in key.args):
        return key
    args = tuple(_key(folder, arg) if isinstance(arg, types.SearchKey) else arg for arg in key.args)
    if all(new is old for new, old in zip(args, key.args)):
        return key
    return types.SearchKey(key.op, args)


def reply(folder: SelectedFolder, command: types.Search, found: Sequence[int]) -> bytes:
    """The `* ESEARCH` line for a SEARCH with RETURN options (b"" for RETURN (SAVE) alone); SAVE
    keeps what the options speak of (RFC 5182 2.4)."""
    returns = command.returns or ("ALL",)
    reported = esearch.reported(returns, found)
    uids = reported if command.uid else [folder.uids[n - 1] for n in reported]
    if "SAVE" in returns:
        folder.saved = list(uids)
    modseq = None
    if uids and "modseq" in search.reads(command.key):
        modseq = max(folder.messages[uid].modseq for uid in uids)
    return esearch.esearch_line(command.tag, command.uid, returns, found, modseq)
