"""The selected folder's writes (server/imap4_folder.py): STORE (with UNCHANGEDSINCE, RFC 7162
3.1.3), COPY and MOVE, EXPUNGE and UID EXPUNGE (and CLOSE's silent expunge). Each writes through
the store in one transaction (which reports the change to the node's notifier as it returns:
storage/changes.py), takes the result into the session's view and answers the client."""
from __future__ import annotations

from ..model.imap import Folder, FolderMessage
from ..protocol.imap4.types import Copy, Expunge, Store
from . import imap4_condstore as condstore
from .imap4_common import BadFlag, Outcome, clean_flags, uid_set
from .imap4_folder import SelectedFolder


async def store(folder: SelectedFolder, command: Store) -> Outcome:
    """STORE, UID STORE; with UNCHANGEDSINCE, the messages changed since are left as they are and
    named in [MODIFIED] (their state told when the view had another)."""
    uids = folder.resolve(command.sequence, command.uid)
    if uids is None:
        return Outcome("BAD", "The message sequence number is out of range.")
    if folder.readonly:
        return Outcome("NO", "The folder is selected read-only (EXAMINE).", "READ-ONLY")
    try:
        flags = clean_flags(command.flags)
    except BadFlag as exc:
        return Outcome("BAD", f"{exc} is not a system flag a client can set.")
    alive = [u for u in uids if u not in folder.gone]
    changed: list[FolderMessage] = []
    refused: list[FolderMessage] = []
    count = folder.mark_count()  # the node's count of the mailbox's changes as the write begins
    if alive and command.unchanged_since is not None:  # RFC 7162 3.1.3: tested and written at once
        changed, refused = await folder.store.store_flags_if_unchanged(folder.folder.id, alive, flags, command.mode,
                                                                     command.unchanged_since)
    elif alive:
        changed = await folder.store.store_flags(folder.folder.id, alive, flags, command.mode)
    out = [folder.announce([*changed, *refused])]
    newest = max((m.modseq for m in changed), default=0)
    for message in changed:
        before = folder.messages.get(message.uid)
        if before is not None:
            folder.messages[message.uid] = message
        # silent: MODSEQ still, for a conditional STORE's every message and another's changed ones (3.1.3)
        if not command.silent or (folder.enabled.condstore and (
                command.unchanged_since is not None or before is None or before.modseq != message.modseq)):
            out.append(condstore.fetch_line(folder, message, not command.silent, command.uid))
    out += condstore.refusals(folder, refused)
    if newest == folder.modseq + 1:
        folder.modseq = newest  # only our own change since we last looked
        folder.own_write(count, in_step=True)
    folder.emit(b"".join(out))
    # messages expunged by another session are passed over: the STORE did all it could, and
    # the EXPUNGE replies follow (RFC 2180 4.2.1; a NO would read as a failure to clients)
    if refused:
        return Outcome("OK", "Conditional STORE failed for some messages.",
                       condstore.modified(folder, refused, command.uid))
    return Outcome("OK", "STORE completed.")


async def copy(folder: SelectedFolder, command: Copy, target: Folder) -> Outcome:
    uids = folder.resolve(command.sequence, command.uid)
    if uids is None:
        return Outcome("BAD", "The message sequence number is out of range.")
    if command.move and folder.readonly:
        return Outcome("NO", "The folder is selected read-only (EXAMINE).", "READ-ONLY")
    alive = [u for u in uids if u not in folder.gone]
    pairs = await folder.store.copy_messages(folder.folder.id, alive, target.id, move=command.move) if alive else []
    verb = "MOVE" if command.move else "COPY"
    code = None
    if pairs:
        code = "COPYUID %d %s %s" % (target.uidvalidity, uid_set([p[0] for p in pairs]),
                                     uid_set([p[1] for p in pairs]))
    if command.move:
        if code is not None:
            folder.emit(b"* OK [%s] Moved.\r\n" % code.encode("ascii"))
        folder.emit(folder.remove([p[0] for p in pairs]))
        return Outcome("OK", f"{verb} completed.")
    if len(pairs) < len(uids) and uids:
        return Outcome("NO", "Some of the messages no longer exist.", "EXPUNGEISSUED")
    return Outcome("OK", f"{verb} completed.", code)


async def expunge(folder: SelectedFolder, command: Expunge | None) -> Outcome:
    """EXPUNGE, UID EXPUNGE; None for CLOSE (nothing sent)."""
    if folder.readonly:
        return Outcome("NO", "The folder is selected read-only (EXAMINE).", "READ-ONLY")
    only = None
    if command is not None and command.uids is not None:
        only = folder.resolve(command.uids, True) or []
        if not only:
            return Outcome("OK", "EXPUNGE completed.")
    removed = await folder.store.expunge(folder.folder.id, only)
    if command is not None:
        folder.emit(folder.remove(removed))
        if removed and folder.enabled.qresync:  # with the folder's modseq after it (3.2.7, 3.2.9)
            return Outcome("OK", "EXPUNGE completed.", condstore.HIGHEST_LATER)
    return Outcome("OK", "EXPUNGE completed.")
