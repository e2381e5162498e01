r"""SEARCH of the selected folder (RFC 3501 6.4.4), for SelectedFolder.search.

The program is compiled once (protocol.imap4.search.compile). A program that reads no header
or text (UNSEEN, FLAGGED, DELETED, ALL, UID and sequence sets, sizes, dates, keywords, and
NOT/OR/AND of them) is answered from the session's folder listing alone: no store access, one
reused view whose fields are set for each message in turn; one that reads only flags and
\Recent (SEARCH UNSEEN) is evaluated once per distinct (flags, \Recent). Text keys read the
messages' octets in batches, as FETCH does.
"""
from __future__ import annotations

import datetime
import functools
import itertools
import operator
from typing import TYPE_CHECKING

from ..protocol.imap4 import search
from ..protocol.imap4.types import Search
from . import imap4_fetch

if TYPE_CHECKING:
    from .imap4_folder import SelectedFolder

_FLAGS = operator.attrgetter("flags")


@functools.lru_cache(maxsize=4096)
def _day(when: str) -> datetime.date:
    """The day of an internal date as the listing holds it (ISO-8601 text)."""
    return imap4_fetch.internal_date_of(when).date()


class ListedView:
    """A search.MessageView over what the folder listing knows of a message: no content (the
    program needs none, so the content methods are never called)."""

    __slots__ = ("msn", "uid", "flags", "size", "recent", "when", "modseq")

    def __init__(self) -> None:
        self.msn = self.uid = self.size = self.modseq = 0
        self.flags: tuple[str, ...] = ()
        self.recent = False
        self.when = ""

    @property
    def internal_date(self) -> datetime.date:
        return _day(self.when)

    def header(self, name: str) -> list[str]:
        return []

    def sent_date(self) -> datetime.date | None:
        return None

    def text(self) -> str:
        return ""

    def headers_text(self) -> str:
        return ""


class _Verdicts(dict[tuple[tuple[str, ...], bool], bool]):
    """(flags, \\Recent) -> whether a program that reads nothing else matches: judged once each."""

    def __init__(self, matches: search.Predicate) -> None:
        super().__init__()
        self.matches, self.view = matches, ListedView()

    def __missing__(self, key: tuple[tuple[str, ...], bool]) -> bool:
        self.view.flags, self.view.recent = key
        verdict = self[key] = self.matches(self.view)
        return verdict


class _FlagVerdicts(dict[tuple[str, ...], bool]):
    """flags -> the verdict of a program that reads flags alone (no \\Recent)."""

    def __init__(self, verdicts: _Verdicts) -> None:
        super().__init__()
        self.verdicts = verdicts

    def __missing__(self, flags: tuple[str, ...]) -> bool:
        verdict = self[flags] = self.verdicts[flags, False]
        return verdict


async def run(folder: SelectedFolder, command: Search, mailbox_id: int) -> tuple[list[int], bool]:
    """The numbers (UIDs for UID SEARCH) of the matching messages, ascending, and whether some
    message's content could not be read (expunged elsewhere)."""
    uids, messages, recent = folder.uids, folder.messages, folder.recent
    matches = search.compile(command.key, len(uids), uids[-1] if uids else 0)
    found = []
    reads = search.reads(command.key)
    if reads <= {"flags", "recent"}:  # one verdict per distinct (flags, \Recent): a few for a folder
        verdicts = _Verdicts(matches)
        if "recent" in reads:
            return [uid if command.uid else msn for msn, uid in enumerate(uids, 1)
                    if verdicts[messages[uid].flags, uid in recent]], False
        # flags alone (SEARCH UNSEEN, the poll of many an application): looped over in C
        by_flags = _FlagVerdicts(verdicts)
        hits = map(by_flags.__getitem__, map(_FLAGS, map(messages.__getitem__, uids)))
        return list(itertools.compress(uids if command.uid else range(1, len(uids) + 1), hits)), False
    if "content" not in reads:
        view = ListedView()
        for msn, uid in enumerate(uids, 1):
            message = messages[uid]
            view.msn, view.uid, view.flags, view.size = msn, uid, message.flags, message.size
            view.recent, view.when, view.modseq = uid in recent, message.internal_date, message.modseq
            if matches(view):
                found.append(uid if command.uid else msn)
        return found, False
    unreadable = False
    msns = {uid: index + 1 for index, uid in enumerate(uids)}
    for batch in folder.batches(list(uids), True):
        # read together, as FETCH does (a message gone elsewhere matches no text key)
        read = await folder.contents(mailbox_id, [uid for uid in batch if uid not in folder.gone], kept=False)
        for uid in batch:
            data = read.get(uid)
            unreadable = unreadable or data is None
            message = messages[uid]
            content = search.ContentView(msns[uid], uid, message.flags, message.size, _day(message.internal_date),
                                         uid in recent, data, message.modseq)
            if matches(content):
                found.append(uid if command.uid else msns[uid])
    return found, unreadable
