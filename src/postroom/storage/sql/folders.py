"""IMAP4 folders (storage/folders.py): the checks, row conversions, statements and plans both
backends use (`?` placeholders; see storage/sql). No driver here: a backend fetches the rows,
these functions decide what changes, the backend writes it."""
from __future__ import annotations

import asyncio
import mmap
import os
import tempfile
import uuid
from typing import Any, Sequence

from ...errors import Conflict, NotFound, ValidationError
from ...model.imap import DELIMITER, INBOX, SPECIAL_FOLDERS, SYSTEM_FLAGS, Folder, FolderMessage, FolderStatus
from ...protocol.imap4.structure import describe, header_end
from ..notes import SpooledBody
from .values import read_spooled, utc_iso, wire

FOLDER_COLUMNS = "id, mailbox_id, name, uidvalidity, uidnext, special_use, first_recent_uid, highest_modseq"
MESSAGE_COLUMNS = "id, uid, size, received_at, flags, modseq"
ENTRY_COLUMNS = "mailbox_id, body_id, uidl, size, received_at, folder_id, uid, flags, modseq"
INSERT_ENTRY = f"INSERT INTO messages ({ENTRY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
INSERT_FOLDER = "INSERT INTO folders (mailbox_id, name, special_use, uidvalidity) VALUES (?, ?, ?, ?)"
SUBSCRIBE = "INSERT INTO subscriptions (mailbox_id, name) VALUES (?, ?) ON CONFLICT DO NOTHING"
SELECT_FOLDERS = f"SELECT {FOLDER_COLUMNS} FROM folders WHERE mailbox_id = ? ORDER BY name <> 'INBOX', name"
SELECT_FOLDER = f"SELECT {FOLDER_COLUMNS} FROM folders WHERE mailbox_id = ? AND name = ?"
SELECT_FOLDER_BY_ID = f"SELECT {FOLDER_COLUMNS} FROM folders WHERE id = ?"
SELECT_MESSAGES = f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE folder_id = ? ORDER BY uid"
# folder_changes: the folder's messages changed after a modseq, with the count of all of them (one
# statement, one snapshot; no row: the folder is gone).
SELECT_CHANGES = ("SELECT (SELECT count(*) FROM messages WHERE folder_id = f.id), "
                  + ", ".join(f"m.{column}" for column in MESSAGE_COLUMNS.split(", "))
                  + " FROM folders f LEFT JOIN messages m ON m.folder_id = f.id AND m.modseq > ? WHERE f.id = ?"
                  " ORDER BY m.uid")
# Take `n` UIDs of a folder (and one modseq): the backend reads the new uidnext and highest_modseq
# after it; the new UIDs are uidnext - n .. uidnext - 1.
TAKE_UIDS = "UPDATE folders SET uidnext = uidnext + ?, highest_modseq = highest_modseq + 1 WHERE id = ?"
BUMP_MODSEQ = "UPDATE folders SET highest_modseq = highest_modseq + 1 WHERE id = ?"
INBOX_ID = "SELECT id FROM folders WHERE mailbox_id = ? AND name = 'INBOX'"
# POP3 sees the INBOX only.
INBOX_WHERE = "folder_id = (SELECT id FROM folders WHERE mailbox_id = ? AND name = 'INBOX')"
DELETED = "(' ' || flags || ' ') LIKE '% \\Deleted %' ESCAPE '!'"  # a prefilter: backslash is literal here
STATUS = ("SELECT count(*), coalesce(sum(CASE WHEN (' ' || flags || ' ') LIKE '% \\Seen %' ESCAPE '!' THEN 0"
          " ELSE 1 END), 0), coalesce(sum(CASE WHEN uid >= ? THEN 1 ELSE 0 END), 0), coalesce(sum(size), 0),"
          f" coalesce(sum(CASE WHEN {DELETED} THEN 1 ELSE 0 END), 0) FROM messages WHERE folder_id = ?")

# Several messages' octets (read_messages), then "IN (?, ...)" (SQLite) or "= ANY(?::bigint[])".
SELECT_BODIES = ("SELECT m.id, b.data FROM messages m JOIN message_bodies b ON b.id = m.body_id"
                 " WHERE m.mailbox_id = ? AND m.id ")
# A message's header block (read_headers): data[:n], n being where the stored structure says its
# body starts (protocol/imap4/structure.py: "parts"[1]), read without loading the structure;
# NULL when the body has no structure of that form (stored before them): cut from its octets.
SQLITE_HEADER_SIZES = ("SELECT m.id, m.body_id, CASE WHEN json_valid(s.structure) THEN"
                       " json_extract(s.structure, '$.parts[1]') END FROM messages m"
                       " LEFT JOIN message_structures s ON s.body_id = m.body_id"
                       " WHERE m.mailbox_id = ? AND m.id IN ")
POSTGRES_HEADERS = ("SELECT m.id, m.body_id, CASE WHEN h.size >= 0 THEN substring(b.data FROM 1 FOR h.size) END"
                    " FROM messages m JOIN message_bodies b ON b.id = m.body_id,"
                    " LATERAL (SELECT CASE WHEN json_typeof(b.structure::json -> 'parts' -> 1) = 'number'"
                    " THEN (b.structure::json -> 'parts' ->> 1)::integer END AS size) h"
                    " WHERE m.mailbox_id = ? AND m.id = ANY(?::bigint[])")


def changes(rows: Sequence[Any], folder_id: int) -> tuple[list[FolderMessage], int]:
    """folder_changes from SELECT_CHANGES's rows (none: the folder is gone)."""
    if not rows:
        raise folder_missing(folder_id)
    return [message_row(row[1:]) for row in rows if row[1] is not None], int(rows[0][0])


def header_block(data: bytes) -> bytes:
    """The header block of a body whose structure does not say where it ends."""
    return data[:header_end(data)]


MAX_NAME = 1000  # characters of a folder's full name
SPECIAL_USES = ("", *(use for _, use in SPECIAL_FOLDERS), "\\Archive")
STORE_MODES = ("add", "remove", "replace")
_SYSTEM = {flag.lower(): flag for flag in SYSTEM_FLAGS}
_ATOM_SPECIALS = set('(){ %*"\\]')
IN_THREAD_FROM = 256 * 1024  # a body this big is described off the event loop


# values ------------------------------------------------------------------------------------

def folder_name(name: Any, field: str = "name") -> str:
    """A full folder name, checked; "INBOX" in any case (also as the first level) is "INBOX"."""
    if not isinstance(name, str) or not name:
        raise ValidationError(field, f"{name!r} is not a folder name")
    if len(name) > MAX_NAME:
        raise ValidationError(field, f"is longer than {MAX_NAME} characters")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name) or "*" in name or "%" in name:
        raise ValidationError(field, f"{name!r} holds a control character, * or %")
    levels = name.split(DELIMITER)
    if "" in levels:
        raise ValidationError(field, f"{name!r} has an empty level (a leading, trailing or doubled {DELIMITER})")
    if levels[0].upper() == INBOX:
        levels[0] = INBOX
    return DELIMITER.join(levels)


def special_use(value: Any) -> str:
    if value not in SPECIAL_USES:
        raise ValidationError("special_use", f"{value!r} is not a special-use attribute",
                              [use or '""' for use in SPECIAL_USES])
    return str(value)


def flag_list(flags: Any) -> tuple[str, ...]:
    """Flags, checked: system flags in their own spelling, keywords as atoms; sorted, each once.
    \\Recent is the server's: never stored, ignored here."""
    if isinstance(flags, str) or not isinstance(flags, (list, tuple, set, frozenset)):
        raise ValidationError("flags", f"{flags!r} is not a list of flags")
    found = set()
    for flag in flags:
        if not isinstance(flag, str) or not flag:
            raise ValidationError("flags", f"{flag!r} is not a flag")
        if flag.startswith("\\"):
            if flag.lower() == "\\recent":
                continue
            if flag.lower() not in _SYSTEM:
                raise ValidationError("flags", f"{flag!r} is not a system flag", list(SYSTEM_FLAGS))
            found.add(_SYSTEM[flag.lower()])
        elif len(flag) > 200 or any(ord(c) <= 0x20 or ord(c) >= 0x7F or c in _ATOM_SPECIALS for c in flag):
            raise ValidationError("flags", f"{flag!r} is not a keyword (an atom of at most 200 characters)")
        else:
            found.add(flag)
    return tuple(sorted(found))


def flags_text(flags: Sequence[str]) -> str:
    return " ".join(flags)


def changed_flags(current: tuple[str, ...], change: tuple[str, ...], mode: str) -> tuple[str, ...]:
    if mode == "replace":
        return change
    if mode == "add":
        return tuple(sorted(set(current) | set(change)))
    return tuple(flag for flag in current if flag not in change)


def store_mode(mode: Any) -> str:
    if mode not in STORE_MODES:
        raise ValidationError("mode", f"{mode!r} is not a STORE mode", list(STORE_MODES))
    return str(mode)


def uid_list(uids: Any) -> list[int]:
    """UIDs, checked: each a whole number >= 1; ascending, each once."""
    if isinstance(uids, (str, bytes)):
        raise ValidationError("uids", f"{uids!r} is not a list of UIDs")
    found = set()
    for uid in uids:
        if isinstance(uid, bool) or not isinstance(uid, int) or not 1 <= uid < 2**63:
            raise ValidationError("uids", f"{uid!r} is not a UID")
        found.add(uid)
    return sorted(found)


def chunks(values: Sequence[int], size: int = 500) -> list[Sequence[int]]:
    return [values[start:start + size] for start in range(0, len(values), size)]


def in_list(count: int) -> str:
    return f"({', '.join('?' * count)})"


# rows --------------------------------------------------------------------------------------

def folder_row(row: Sequence[Any]) -> Folder:
    return Folder(int(row[0]), int(row[1]), row[2], int(row[3]), int(row[4]), row[5], int(row[6]), int(row[7]))


def message_row(row: Sequence[Any]) -> FolderMessage:
    return FolderMessage(int(row[0]), int(row[1]), int(row[2]), row[3], tuple(row[4].split()), int(row[5]))


def folder_missing(key: Any) -> NotFound:
    return NotFound("folder", str(key))


def status(folder: Folder, row: Sequence[Any]) -> FolderStatus:
    """FolderStatus from the folder and STATUS's row (count, unseen, recent, octets, \\Deleted)."""
    return FolderStatus(int(row[0]), int(row[1]), int(row[2]), folder.uidnext, folder.uidvalidity, int(row[3]),
                        folder.highest_modseq, int(row[4]))


def flag_changes(rows: Sequence[Sequence[Any]], change: tuple[str, ...], mode: str,
                 modseq: int) -> tuple[list[FolderMessage], list[tuple[str, int, int]]]:
    """STORE on message rows (MESSAGE_COLUMNS, by UID): the messages after it, and the
    (flags, modseq, id) updates of those that changed (all with `modseq`, the folder's next)."""
    result, updates = [], []
    for row in rows:
        message = message_row(row)
        after = changed_flags(message.flags, change, mode)
        if after != message.flags:
            message = FolderMessage(message.id, message.uid, message.size, message.internal_date, after, modseq)
            updates.append((flags_text(after), modseq, message.id))
        result.append(message)
    return result, updates


def new_folders(name: str, existing: set[str]) -> list[str]:
    """The names CREATE makes for `name`: its missing superiors ("a", "a/b" for "a/b/c",
    RFC 3501 6.3.3), then itself. Conflict if it exists."""
    if name in existing:
        raise Conflict(f"folder {name!r} already exists")
    levels = name.split(DELIMITER)
    wanted = [DELIMITER.join(levels[:n]) for n in range(1, len(levels) + 1)]
    return [each for each in wanted if each not in existing]


def no_children(name: str, existing: Any) -> None:
    """DELETE of a folder with folders under it is refused (as Dovecot does): delete those first."""
    under = sorted(each for each in existing if each.startswith(name + DELIMITER))
    if under:
        raise Conflict(f"folder {name!r} has folders under it ({', '.join(repr(u) for u in under[:5])});"
                       " delete them first")


def missing_superiors(name: str, existing: Any) -> list[str]:
    """The superiors of `name` that do not exist yet, outermost first (RFC 3501 6.3.3, 6.3.5)."""
    levels = name.split(DELIMITER)
    return [each for each in (DELIMITER.join(levels[:n]) for n in range(1, len(levels))) if each not in existing]


def renames(old: str, new: str, existing: set[str]) -> list[tuple[str, str]]:
    """(old, new) names RENAME changes: the folder and every folder under it. Conflict if a
    new name is taken; ValidationError for a folder moved under itself."""
    if new == old or new.startswith(old + DELIMITER):
        raise ValidationError("new", f"{new!r} is {old!r} itself or under it")
    pairs = [(name, new + name[len(old):]) for name in sorted(existing)
             if name == old or name.startswith(old + DELIMITER)]
    taken = [after for _, after in pairs if after in existing]
    if taken:
        raise Conflict(f"folder {taken[0]!r} already exists")
    return pairs


# the record of expunged UIDs (QRESYNC, RFC 7162) ---------------------------------------------
# Every removal from a folder takes the folder's next modseq and records each removed UID with
# it, in the removal's transaction. A folder keeps its newest EXPUNGE_RECORD entries (read when
# a removal writes, so a test may lower it): older ones are pruned whole, by modseq, and the
# folder's expunged_floor rises to the highest modseq pruned. Above expunged_floor the record is
# complete. docs/operations.md (IMAP4) documents the bound.
EXPUNGE_RECORD = 10_000
INSERT_EXPUNGED = "INSERT INTO expunged_uids (folder_id, modseq, uid) VALUES (?, ?, ?)"
# The modseq of the newest entry past the EXPUNGE_RECORD newest: it and everything older goes.
PRUNE_POINT = "SELECT modseq FROM expunged_uids WHERE folder_id = ? ORDER BY modseq DESC, uid DESC LIMIT 1 OFFSET ?"
PRUNE = "DELETE FROM expunged_uids WHERE folder_id = ? AND modseq <= ?"
RAISE_FLOOR = "UPDATE folders SET expunged_floor = ? WHERE id = ? AND expunged_floor < ?"
# expunged_since: the floor and the UIDs expunged above a modseq (one statement, one snapshot;
# no row: the folder is gone).
SELECT_EXPUNGED = ("SELECT f.expunged_floor, e.uid FROM folders f LEFT JOIN expunged_uids e"
                   " ON e.folder_id = f.id AND e.modseq > ? WHERE f.id = ? ORDER BY e.uid")
# A restored folder's record: none of its expunges came along (restore_folders).
RESTORED_RECORDS = ("DELETE FROM expunged_uids WHERE folder_id IN (SELECT id FROM folders WHERE mailbox_id = ?)",
                    "UPDATE folders SET expunged_floor = highest_modseq WHERE mailbox_id = ?")


def modseq_argument(value: Any, field: str = "modseq") -> int:
    """A mod-sequence a caller gives: a whole number 0 .. 2**63 - 1."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise ValidationError(field, f"{value!r} is not a mod-sequence (a whole number 0 to 2**63 - 1)")
    return value


def expunged(rows: Sequence[Sequence[Any]], folder_id: int, modseq: int) -> tuple[list[int], bool]:
    """expunged_since from SELECT_EXPUNGED's rows: the UIDs, and whether the record reaches
    back to `modseq` (nothing pruned above it)."""
    if not rows:
        raise folder_missing(folder_id)
    return [int(row[1]) for row in rows if row[1] is not None], modseq >= int(rows[0][0])


def expunged_rows(folder_id: int, modseq: int, uids: Sequence[int]) -> list[tuple[int, int, int]]:
    return [(folder_id, modseq, uid) for uid in uids]


def conditional_changes(rows: Sequence[Sequence[Any]], change: tuple[str, ...], mode: str, modseq: int,
                        unchanged_since: int) -> tuple[list[FolderMessage], list[tuple[str, int, int]],
                                                       list[FolderMessage]]:
    """STORE (UNCHANGEDSINCE n) on message rows (MESSAGE_COLUMNS, by UID): flag_changes for the
    messages whose modseq is at most n, and the others as they are (refused: RFC 7162 3.1.3)."""
    kept = [row for row in rows if int(row[5]) <= unchanged_since]
    stored, updates = flag_changes(kept, change, mode, modseq)
    return stored, updates, [message_row(row) for row in rows if int(row[5]) > unchanged_since]


# moving a store: folders and messages as they were -------------------------------------

def _whole(value: Any, field: str, low: int, high: int = 2**63 - 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationError(field, f"{value!r} is not a whole number in {low}..{high}")
    return value


def restored_folders(folders: Sequence[Folder], subscriptions: Sequence[str]) -> tuple[list[Folder], list[str]]:
    """restore_folders' arguments, checked: INBOX among them, no name twice."""
    checked, names = [], set()
    for folder in folders:
        if not isinstance(folder, Folder):
            raise ValidationError("folders", f"{folder!r} is not a Folder")
        name = folder_name(folder.name)
        if name in names:
            raise ValidationError("folders", f"{name!r} is listed twice")
        names.add(name)
        checked.append(Folder(0, 0, name, _whole(folder.uidvalidity, "uidvalidity", 1, 2**32 - 1),
                              _whole(folder.uidnext, "uidnext", 1), special_use(folder.special_use),
                              _whole(folder.first_recent_uid, "first_recent_uid", 1),
                              _whole(folder.highest_modseq, "highest_modseq", 0)))
    if INBOX not in names:
        raise ValidationError("folders", "INBOX is missing")
    return checked, sorted({folder_name(name, "subscriptions") for name in subscriptions})


def folder_values(folder: Folder) -> tuple[str, int, int, int, int]:
    """(special_use, uidvalidity, uidnext, first_recent_uid, highest_modseq) of a restored folder."""
    return folder.special_use, folder.uidvalidity, folder.uidnext, folder.first_recent_uid, folder.highest_modseq


RESTORE_FOLDER = ("UPDATE folders SET special_use = ?, uidvalidity = ?, uidnext = ?, first_recent_uid = ?,"
                  " highest_modseq = ? WHERE id = ?")
RESTORE_NEW_FOLDER = ("INSERT INTO folders (special_use, uidvalidity, uidnext, first_recent_uid, highest_modseq,"
                      " mailbox_id, name) VALUES (?, ?, ?, ?, ?, ?, ?)")


def uidnext_fits(folder: Folder, highest_uid: int) -> None:
    if folder.uidnext <= highest_uid:
        raise Conflict(f"folder {folder.name!r} holds UID {highest_uid}, not below uidnext {folder.uidnext}")


def restored_messages(messages: Sequence[tuple[FolderMessage, str, bytes]]) -> list[tuple[FolderMessage, str, bytes]]:
    """restore_folder_messages' argument, checked: UIDs ascending, wire-form bodies; an empty
    UIDL gets a new one."""
    checked: list[tuple[FolderMessage, str, bytes]] = []
    for message, uidl, data in messages:
        if not isinstance(message, FolderMessage) or not isinstance(uidl, str):
            raise ValidationError("messages", f"{message!r} is not a FolderMessage with a UIDL")
        uid = _whole(message.uid, "uid", 1)
        if checked and uid <= checked[-1][0].uid:
            raise ValidationError("messages", f"UID {uid} does not ascend")
        data = wire(data)
        checked.append((FolderMessage(0, uid, len(data), utc_iso(message.internal_date, "internal_date"),
                                      flag_list(message.flags), _whole(message.modseq, "modseq", 0)),
                        uidl or uuid.uuid4().hex, data))
    return checked


def restore_fits(checked: Sequence[tuple[FolderMessage, str, bytes]], folder: Folder, highest_uid: int) -> None:
    """Restored messages go above the folder's messages and below its uidnext."""
    if checked and (checked[0][0].uid <= highest_uid or checked[-1][0].uid >= folder.uidnext):
        raise Conflict(f"UIDs {checked[0][0].uid}..{checked[-1][0].uid} do not fit folder {folder.name!r}"
                       f" (its messages end at UID {highest_uid}, its uidnext is {folder.uidnext})")


# structure: computed once, when a body is stored -------------------------------------------

async def structure(data: bytes | memoryview) -> str:
    if len(data) < IN_THREAD_FROM:
        return describe(data)
    return await asyncio.to_thread(describe, data)


async def delivered_structure(head: bytes, data: bytes | memoryview, spooled: SpooledBody | None) -> str:
    """The structure of the body `head` + (`spooled`'s file) + `data`. A spooled body is put
    together in a file next to the spool file and described through mmap: page cache, not
    the node's memory."""
    if spooled is None:
        return await structure(head + bytes(data) if head else data)
    return await asyncio.to_thread(_spooled_structure, head, spooled, data)


def _spooled_structure(head: bytes, spooled: SpooledBody, data: bytes | memoryview) -> str:
    size = len(head) + spooled.size + len(data)
    with tempfile.TemporaryFile(dir=os.path.dirname(os.path.abspath(spooled.path))) as whole:
        whole.write(head)
        for piece in read_spooled(spooled):
            whole.write(piece)
        whole.write(data)
        whole.flush()
        if not size:
            return describe(b"")
        with mmap.mmap(whole.fileno(), size, access=mmap.ACCESS_READ) as mapped:
            view = memoryview(mapped)
            try:
                return describe(view)
            finally:
                view.release()
