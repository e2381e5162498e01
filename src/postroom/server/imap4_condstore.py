"""CONDSTORE and QRESYNC (RFC 7162) in an IMAP4 session: the replies they add to the selected
folder's (server/imap4_folder.py) and which commands turn CONDSTORE on.

Once CONDSTORE is on (any CONDSTORE enabling command, 3.1), every untagged FETCH the server sends
of its own (another session's change, a STORE's result, a FETCH that set \\Seen) carries UID and
MODSEQ (3.2.4), SELECT and EXAMINE say HIGHESTMODSEQ, and a reply that gives MODSEQ values while an
expunge waits (no EXPUNGE during FETCH, STORE, SEARCH) ends with a HIGHESTMODSEQ below that expunge
(3.2), so that a client that drops then resyncs from before it. Once QRESYNC is on, expunges are
told as VANISHED (3.2.10), SELECT (QRESYNC ...) and UID FETCH (CHANGEDSINCE n VANISHED) tell the
UIDs expunged since n as VANISHED (EARLIER) from the store's record of expunged UIDs (or, past its
bound, from the UIDs that still exist: server/imap4_resync.py).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Sequence

from ..model.imap import FolderMessage
from ..protocol.imap4 import search, types
from . import imap4_fetch
from . import imap4_resync as resync
from .imap4_common import uid_set

if TYPE_CHECKING:
    from .imap4_folder import SelectedFolder

#: An Outcome code the engine fills in with the folder's mod-sequence once the command's untagged
#: replies are out (EXPUNGE and UID EXPUNGE with QRESYNC on, 3.2.7).
HIGHEST_LATER = "HIGHESTMODSEQ"


def enables(command: types.Command, qresync: bool) -> bool:
    """Whether the command is a CONDSTORE enabling command (3.1) other than ENABLE (one that
    needs QRESYNC on, `qresync`, and will be refused without it is not)."""
    if isinstance(command, types.Select):
        return command.condstore or (command.qresync is not None and qresync)
    if isinstance(command, types.Status):
        return "HIGHESTMODSEQ" in command.items
    if isinstance(command, types.Fetch):
        if command.vanished and not qresync:
            return False
        return command.changed_since is not None or any(a.name == "MODSEQ" for a in command.attributes)
    if isinstance(command, types.Search):
        return "modseq" in search.reads(command.key)
    return isinstance(command, types.Store) and command.unchanged_since is not None


def highest_line(modseq: int) -> bytes:
    return b"* OK [HIGHESTMODSEQ %d] Highest modseq.\r\n" % max(modseq, 0)


def fetch_line(folder: SelectedFolder, message: FolderMessage, flags: bool = True, uid: bool = False) -> bytes:
    """An untagged FETCH of the server's own: FLAGS (unless a .SILENT STORE's), UID for a UID
    command and for an IMAP4rev2 client (RFC 9051 7.5.2), and UID and MODSEQ for a CONDSTORE client."""
    condstore = folder.enabled.condstore
    items = [b"UID %d" % message.uid] if uid or condstore or folder.rev2 else []
    if flags:
        items.append(imap4_fetch.flags_item(message.flags, message.uid in folder.recent))
    if condstore:
        items.append(b"MODSEQ (%d)" % message.modseq)
    return b"* %d FETCH (%s)\r\n" % (folder.msn(message.uid), b" ".join(items))


def vanished_line(uids: Sequence[int]) -> bytes:
    """`* VANISHED uids` (without EARLIER: the client takes them out of its numbering)."""
    return b"* VANISHED %s\r\n" % uid_set(sorted(uids)).encode("ascii") if uids else b""


def refusals(folder: SelectedFolder, refused: Sequence[FolderMessage]) -> list[bytes]:
    """STORE (UNCHANGEDSINCE): the messages that failed the test as they are now, for those the
    client knows otherwise (RFC 7162 example 10: it need not ask); the view takes them."""
    out = []
    for message in refused:
        known = folder.messages.get(message.uid)
        if known is not None and (known.flags, known.modseq) != (message.flags, message.modseq):
            folder.messages[message.uid] = message
            out.append(fetch_line(folder, message))
    return out


def modified(folder: SelectedFolder, refused: Sequence[FolderMessage], uid: bool) -> str:
    """The MODIFIED response code: message numbers (STORE) or UIDs (UID STORE)."""
    return "MODIFIED " + uid_set(sorted(m.uid if uid else folder.msn(m.uid) for m in refused))


def search_tail(folder: SelectedFolder, command: types.Search, found: Sequence[int]) -> bytes:
    """A SEARCH with a MODSEQ criterion that found messages ends with the highest modseq of
    those (3.1.5)."""
    if not found or "modseq" not in search.reads(command.key):
        return b""
    uids = found if command.uid else [folder.uids[n - 1] for n in found]
    return b" (MODSEQ %d)" % max(folder.messages[uid].modseq for uid in uids)


async def vanished_earlier(folder: SelectedFolder, wanted: resync.Ranges, modseq: int,
                           matched: Callable[[], int]) -> bytes:
    """`* VANISHED (EARLIER) uids`: the UIDs of `wanted` expunged since `modseq`, from the record
    when it reaches back that far; else those of `wanted` that do not exist, above the UID the
    client's sequence match data (`matched`) shows it knows about (3.2.5.2, 3.2.6)."""
    record, complete = await folder.store.expunged_since(folder.folder.id, modseq)
    ceiling = max(folder.folder.uidnext, folder.last_uid + 1) - 1
    wanted = resync.clip(wanted, 0 if complete else matched(), ceiling)
    found = resync.vanished(wanted, folder.uids, record if complete else None)
    return b"* VANISHED (EARLIER) %s\r\n" % resync.text(found) if found else b""


async def fetch_vanished(folder: SelectedFolder, command: types.Fetch) -> None:
    """UID FETCH (CHANGEDSINCE n VANISHED): the expunged UIDs of its set, before any FETCH."""
    assert command.changed_since is not None
    largest = folder.uids[-1] if folder.uids else 0
    folder.emit(await vanished_earlier(folder, resync.ranges(command.sequence, largest), command.changed_since,
                                       lambda: 0))


async def resync_select(folder: SelectedFolder, qresync: types.QResync) -> None:
    """After SELECT's replies (3.2.5.1): for a matching UIDVALIDITY, the known UIDs expunged since
    the client's modseq (VANISHED (EARLIER)), then a FETCH (UID FLAGS MODSEQ) of each known
    message changed since."""
    if qresync.uidvalidity != folder.folder.uidvalidity:
        return  # the rest is ignored: the client sees the new UIDVALIDITY (3.2.5)
    wanted = resync.resync_set(qresync, max(folder.folder.uidnext, folder.last_uid + 1))
    out = [await vanished_earlier(folder, wanted, qresync.modseq, lambda: resync.matched_up_to(qresync, folder.uids))]
    for uid in folder.uids:
        message = folder.messages[uid]
        if message.modseq > qresync.modseq and resync.contains(wanted, uid):
            out.append(fetch_line(folder, message))
    folder.emit(b"".join(out))
