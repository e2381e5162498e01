"""The embedded store's IMAP4 folders (the FolderStore role, storage/folders.py); SqliteStore
inherits them. The checks and plans are shared with PostgreSQL (storage/sql/folders.py).

One writer: every write below runs alone on the writer thread, so a UID taken in a write is
committed before the next write takes one (commit order = UID order) without a lock.
"""
from __future__ import annotations

import dataclasses
import sqlite3
import time
import uuid
from typing import Sequence

from ...errors import Conflict, NotFound, ValidationError
from ...model.imap import INBOX, SPECIAL_FOLDERS, Folder, FolderMessage, FolderStatus
from ..sql import folders as sql
from ..sql import schema as schema_sql
from ..sql.values import utc_iso, wire
from . import mail
from .schema import inserted_id
from .workers import SqliteWorkers

# A store-wide counter: each folder ever made gets a new uidvalidity, never below the Unix time
# (so a store made again never repeats its old values).
_TAKE_UIDVALIDITY = "UPDATE uidvalidity_counter SET last = CASE WHEN last + ? > ? THEN last + ? ELSE ? END WHERE id = 1"
_RAISE_UIDVALIDITY = "UPDATE uidvalidity_counter SET last = ? WHERE id = 1 AND last < ?"


# helpers run inside other writes (create_mailbox, deliveries) ------------------------------

def take_uidvalidity(conn: sqlite3.Connection, count: int) -> list[int]:
    floor = int(time.time()) + count - 1
    conn.execute(_TAKE_UIDVALIDITY, (count, floor, count, floor))
    last = conn.execute("SELECT last FROM uidvalidity_counter WHERE id = 1").fetchone()[0]
    return list(range(last - count + 1, last + 1))


def make_folders(conn: sqlite3.Connection, mailbox_id: int, folders: Sequence[tuple[str, str]],
                 subscribe: bool = False) -> list[int]:
    """New folders (name, special use), each with a new uidvalidity; their ids."""
    ids = []
    for (name, use), validity in zip(folders, take_uidvalidity(conn, len(folders))):
        ids.append(inserted_id(conn.execute(sql.INSERT_FOLDER, (mailbox_id, name, use, validity))))
        if subscribe:
            conn.execute(sql.SUBSCRIBE, (mailbox_id, name))
    return ids


def default_folders(conn: sqlite3.Connection, mailbox_id: int) -> None:
    """A new mailbox's INBOX and special-use folders, subscribed."""
    make_folders(conn, mailbox_id, [(INBOX, ""), *SPECIAL_FOLDERS], subscribe=True)


def _folder(conn: sqlite3.Connection, folder_id: int) -> Folder:
    row = conn.execute(sql.SELECT_FOLDER_BY_ID, (folder_id,)).fetchone()
    if row is None:
        raise sql.folder_missing(folder_id)
    return sql.folder_row(row)


def _names(conn: sqlite3.Connection, mailbox_id: int) -> dict[str, int]:
    rows = conn.execute("SELECT name, id FROM folders WHERE mailbox_id = ?", (mailbox_id,)).fetchall()
    if not rows:
        raise NotFound("mailbox", str(mailbox_id))
    return dict(rows)


def _selected(conn: sqlite3.Connection, folder_id: int, uids: Sequence[int], columns: str) -> list[tuple]:
    rows = []
    for chunk in sql.chunks(uids):
        rows += conn.execute(f"SELECT {columns} FROM messages WHERE folder_id = ? AND uid IN {sql.in_list(len(chunk))}",
                             (folder_id, *chunk)).fetchall()
    return sorted(rows, key=lambda row: row[1])


class SqliteFolders(SqliteWorkers):
    async def list_folders(self, mailbox_id: int) -> list[Folder]:
        rows = await self._read(lambda conn: conn.execute(sql.SELECT_FOLDERS, (mailbox_id,)).fetchall())
        if not rows:
            raise NotFound("mailbox", str(mailbox_id))
        return [sql.folder_row(row) for row in rows]

    async def get_folder(self, mailbox_id: int, name: str) -> Folder:
        name = sql.folder_name(name)
        row = await self._read(lambda conn: conn.execute(sql.SELECT_FOLDER, (mailbox_id, name)).fetchone())
        if row is None:
            raise sql.folder_missing(name)
        return sql.folder_row(row)

    async def create_folder(self, mailbox_id: int, name: str, special_use: str = "") -> Folder:
        name, use = sql.folder_name(name), sql.special_use(special_use)

        def write(conn: sqlite3.Connection) -> Folder:
            names = sql.new_folders(name, set(_names(conn, mailbox_id)))
            ids = make_folders(conn, mailbox_id, [(each, use if each == name else "") for each in names])
            return _folder(conn, ids[-1])
        return await self._write(write, changes={mailbox_id})

    async def delete_folder(self, mailbox_id: int, name: str) -> None:
        name = sql.folder_name(name)
        if name == INBOX:
            raise ValidationError("name", "INBOX cannot be deleted")

        def write(conn: sqlite3.Connection) -> None:
            names = _names(conn, mailbox_id)
            if name not in names:
                raise sql.folder_missing(name)
            sql.no_children(name, names)
            conn.execute("DELETE FROM messages WHERE folder_id = ?", (names[name],))
            conn.execute("DELETE FROM folders WHERE id = ?", (names[name],))
        await self._write(write, changes={mailbox_id})

    async def rename_folder(self, mailbox_id: int, old: str, new: str) -> None:
        old, new = sql.folder_name(old, "old"), sql.folder_name(new, "new")

        def write(conn: sqlite3.Connection) -> None:
            names = _names(conn, mailbox_id)
            if old not in names:
                raise sql.folder_missing(old)
            if old == INBOX:
                return self._rename_inbox(conn, mailbox_id, names, new)
            pairs = sql.renames(old, new, set(names))
            make_folders(conn, mailbox_id, [(each, "") for each in sql.missing_superiors(new, names)])
            for before, after in pairs:
                conn.execute("UPDATE folders SET name = ? WHERE id = ?", (after, names[before]))
                if conn.execute("DELETE FROM subscriptions WHERE mailbox_id = ? AND name = ?",
                                (mailbox_id, before)).rowcount:
                    conn.execute(sql.SUBSCRIBE, (mailbox_id, after))
        await self._write(write, changes={mailbox_id})

    @staticmethod
    def _rename_inbox(conn: sqlite3.Connection, mailbox_id: int, names: dict[str, int], new: str) -> None:
        """RFC 3501 6.3.5: INBOX's messages move to a new folder `new`; INBOX stays, empty."""
        created = sql.new_folders(new, set(names))
        target = make_folders(conn, mailbox_id, [(each, "") for each in created])[-1]
        rows = conn.execute("SELECT id, uid FROM messages WHERE folder_id = ? ORDER BY uid", (names[INBOX],)).fetchall()
        if not rows:
            return
        first, modseq = mail.take_uids(conn, target, len(rows))
        conn.executemany("UPDATE messages SET folder_id = ?, uid = ?, modseq = ? WHERE id = ?",
                         [(target, first + n, modseq, id_) for n, (id_, _) in enumerate(rows)])
        mail.record_expunged(conn, names[INBOX], [uid for _, uid in rows])  # gone from INBOX

    async def list_subscriptions(self, mailbox_id: int) -> list[str]:
        rows = await self._read(lambda conn: conn.execute(
            "SELECT name FROM subscriptions WHERE mailbox_id = ? ORDER BY name", (mailbox_id,)).fetchall())
        return [row[0] for row in rows]

    async def set_subscription(self, mailbox_id: int, name: str, subscribed: bool) -> None:
        name = sql.folder_name(name)

        def write(conn: sqlite3.Connection) -> None:
            if conn.execute("SELECT 1 FROM mailboxes WHERE id = ?", (mailbox_id,)).fetchone() is None:
                raise NotFound("mailbox", str(mailbox_id))
            if subscribed:
                conn.execute(sql.SUBSCRIBE, (mailbox_id, name))
            else:
                conn.execute("DELETE FROM subscriptions WHERE mailbox_id = ? AND name = ?", (mailbox_id, name))
        await self._write(write)

    # the messages of a folder ----------------------------------------------------------
    async def folder_messages(self, folder_id: int) -> list[FolderMessage]:
        def read(conn: sqlite3.Connection) -> list[FolderMessage]:
            conn.execute("BEGIN")  # one snapshot: the folder and its messages
            try:
                _folder(conn, folder_id)
                return [sql.message_row(row) for row in conn.execute(sql.SELECT_MESSAGES, (folder_id,))]
            finally:
                conn.execute("COMMIT")
        return await self._read(read)

    async def folder_changes(self, folder_id: int, modseq: int) -> tuple[list[FolderMessage], int]:
        rows = await self._read(lambda conn: conn.execute(sql.SELECT_CHANGES, (modseq, folder_id)).fetchall())
        return sql.changes(rows, folder_id)

    async def folder_status(self, folder_id: int) -> FolderStatus:
        def read(conn: sqlite3.Connection) -> FolderStatus:
            conn.execute("BEGIN")
            try:
                folder = _folder(conn, folder_id)
                row = conn.execute(sql.STATUS, (folder.first_recent_uid, folder_id)).fetchone()
            finally:
                conn.execute("COMMIT")
            return sql.status(folder, row)
        return await self._read(read)

    async def take_recent(self, folder_id: int) -> tuple[Folder, int]:
        def write(conn: sqlite3.Connection) -> tuple[Folder, int]:
            before = _folder(conn, folder_id)
            conn.execute("UPDATE folders SET first_recent_uid = uidnext WHERE id = ?", (folder_id,))
            return _folder(conn, folder_id), before.first_recent_uid
        return await self._write(write)

    async def store_flags(self, folder_id: int, uids: Sequence[int], flags: Sequence[str],
                          mode: str) -> list[FolderMessage]:
        wanted, change, mode = sql.uid_list(uids), sql.flag_list(flags), sql.store_mode(mode)
        changes: set[int] = set()

        def write(conn: sqlite3.Connection) -> list[FolderMessage]:
            folder = _folder(conn, folder_id)
            rows = _selected(conn, folder_id, wanted, sql.MESSAGE_COLUMNS)
            result, updates = sql.flag_changes(rows, change, mode, folder.highest_modseq + 1)
            if updates:
                conn.execute(sql.BUMP_MODSEQ, (folder_id,))
                conn.executemany("UPDATE messages SET flags = ?, modseq = ? WHERE id = ?", updates)
                changes.add(folder.mailbox_id)
            return result
        return await self._write(write, changes=changes)

    async def store_flags_if_unchanged(self, folder_id: int, uids: Sequence[int], flags: Sequence[str], mode: str,
                                       unchanged_since: int) -> tuple[list[FolderMessage], list[FolderMessage]]:
        wanted, change, mode = sql.uid_list(uids), sql.flag_list(flags), sql.store_mode(mode)
        unchanged_since = sql.modseq_argument(unchanged_since, "unchanged_since")
        changes: set[int] = set()

        def write(conn: sqlite3.Connection) -> tuple[list[FolderMessage], list[FolderMessage]]:
            folder = _folder(conn, folder_id)
            rows = _selected(conn, folder_id, wanted, sql.MESSAGE_COLUMNS)
            stored, updates, refused = sql.conditional_changes(rows, change, mode, folder.highest_modseq + 1,
                                                               unchanged_since)
            if updates:
                conn.execute(sql.BUMP_MODSEQ, (folder_id,))
                conn.executemany("UPDATE messages SET flags = ?, modseq = ? WHERE id = ?", updates)
                changes.add(folder.mailbox_id)
            return stored, refused
        return await self._write(write, changes=changes)

    async def expunged_since(self, folder_id: int, modseq: int) -> tuple[list[int], bool]:
        modseq = sql.modseq_argument(modseq)
        rows = await self._read(lambda conn: conn.execute(sql.SELECT_EXPUNGED, (modseq, folder_id)).fetchall())
        return sql.expunged(rows, folder_id, modseq)

    async def expunge(self, folder_id: int, uids: Sequence[int] | None = None) -> list[int]:
        wanted = None if uids is None else sql.uid_list(uids)
        changes: set[int] = set()

        def write(conn: sqlite3.Connection) -> list[int]:
            folder = _folder(conn, folder_id)
            if wanted is None:
                rows = conn.execute(f"SELECT id, uid, flags FROM messages WHERE folder_id = ? AND {sql.DELETED}"
                                    " ORDER BY uid", (folder_id,)).fetchall()
            else:
                rows = _selected(conn, folder_id, wanted, "id, uid, flags")
            gone = [(row[0], row[1]) for row in rows if "\\Deleted" in row[2].split()]
            for chunk in sql.chunks([id_ for id_, _ in gone]):
                conn.execute(f"DELETE FROM messages WHERE id IN {sql.in_list(len(chunk))}", chunk)
            if gone:
                mail.record_expunged(conn, folder_id, [uid for _, uid in gone])
                changes.add(folder.mailbox_id)
            return [uid for _, uid in gone]
        return await self._write(write, changes=changes)

    async def copy_messages(self, folder_id: int, uids: Sequence[int], target_folder_id: int, *,
                            move: bool = False) -> list[tuple[int, int]]:
        wanted = sql.uid_list(uids)
        changes: set[int] = set()

        def write(conn: sqlite3.Connection) -> list[tuple[int, int]]:
            source = _folder(conn, folder_id)
            target = _folder(conn, target_folder_id)
            rows = _selected(conn, folder_id, wanted, "id, uid, body_id, size, received_at, flags")
            if not rows:
                return []
            changes.update((source.mailbox_id, target.mailbox_id))
            first, modseq = mail.take_uids(conn, target.id, len(rows))
            conn.executemany(sql.INSERT_ENTRY, [
                (target.mailbox_id, body_id, uuid.uuid4().hex, size, received_at, target.id, first + n, flags, modseq)
                for n, (_, _, body_id, size, received_at, flags) in enumerate(rows)])
            if move:
                for chunk in sql.chunks([row[0] for row in rows]):
                    conn.execute(f"DELETE FROM messages WHERE id IN {sql.in_list(len(chunk))}", chunk)
                mail.record_expunged(conn, folder_id, [row[1] for row in rows])
            return [(row[1], first + n) for n, row in enumerate(rows)]
        return await self._write(write, changes=changes)

    async def append_message(self, folder_id: int, data: bytes, flags: Sequence[str] = (),
                             internal_date: str | None = None) -> FolderMessage:
        data, stored_flags = wire(data), sql.flag_list(flags)
        at = schema_sql.now() if internal_date is None else utc_iso(internal_date, "internal_date")
        structure = await sql.structure(data)
        changes: set[int] = set()

        def write(conn: sqlite3.Connection) -> FolderMessage:
            folder = _folder(conn, folder_id)
            changes.add(folder.mailbox_id)
            body_id = mail.insert_body(conn, data, structure=structure)
            uid, modseq = mail.take_uids(conn, folder_id, 1)
            cursor = conn.execute(sql.INSERT_ENTRY, (folder.mailbox_id, body_id, uuid.uuid4().hex, len(data), at,
                                                     folder_id, uid, sql.flags_text(stored_flags), modseq))
            return FolderMessage(inserted_id(cursor), uid, len(data), at, stored_flags, modseq)
        return await self._write(write, changes=changes)

    async def read_structures(self, message_ids: Sequence[int]) -> dict[int, str]:
        ids = sql.uid_list(message_ids)

        def read(conn: sqlite3.Connection) -> list[tuple[int, int, str | None]]:
            rows = []
            for chunk in sql.chunks(ids):
                rows += conn.execute("SELECT m.id, m.body_id, s.structure FROM messages m"
                                     " LEFT JOIN message_structures s ON s.body_id = m.body_id"
                                     f" WHERE m.id IN {sql.in_list(len(chunk))}", chunk).fetchall()
            return rows
        found: dict[int, str] = {}
        for message_id, body_id, text in await self._read(read):
            if text is None:  # stored before structures were: describe it now, once
                text = await self._describe_body(body_id)
                if text is None:
                    continue  # gone meanwhile
            found[message_id] = text
        return found

    async def read_messages(self, mailbox_id: int, message_ids: Sequence[int]) -> dict[int, bytes]:
        ids = sql.uid_list(message_ids)

        def read(conn: sqlite3.Connection) -> dict[int, bytes]:
            found: dict[int, bytes] = {}
            for chunk in sql.chunks(ids):
                found.update((message_id, bytes(data)) for message_id, data in conn.execute(
                    sql.SELECT_BODIES + "IN " + sql.in_list(len(chunk)), (mailbox_id, *chunk)))
            return found
        return await self._read(read)

    async def read_headers(self, mailbox_id: int, message_ids: Sequence[int]) -> dict[int, bytes]:
        ids = sql.uid_list(message_ids)

        def read(conn: sqlite3.Connection) -> dict[int, bytes]:
            found: dict[int, bytes] = {}
            conn.execute("BEGIN")  # one snapshot: a body listed is still there when its blob is opened
            try:
                for chunk in sql.chunks(ids):
                    rows = conn.execute(sql.SQLITE_HEADER_SIZES + sql.in_list(len(chunk)), (mailbox_id, *chunk))
                    for message_id, body_id, size in rows.fetchall():
                        if isinstance(size, int) and size >= 0:  # only the header's pages are read
                            with conn.blobopen("message_bodies", "data", body_id, readonly=True) as blob:
                                found[message_id] = blob.read(size) if size else b""
                        else:
                            row = conn.execute("SELECT data FROM message_bodies WHERE id = ?", (body_id,)).fetchone()
                            found[message_id] = sql.header_block(bytes(row[0]))
            finally:
                conn.execute("COMMIT")
            return found
        return await self._read(read)

    async def _describe_body(self, body_id: int) -> str | None:
        def read(conn: sqlite3.Connection) -> bytes | None:
            row = conn.execute("SELECT data FROM message_bodies WHERE id = ?", (body_id,)).fetchone()
            return None if row is None else bytes(row[0])
        data = await self._read(read)
        if data is None:
            return None
        text = await sql.structure(data)
        await self._write(lambda conn: conn.execute(
            "INSERT INTO message_structures (body_id, structure) SELECT ?, ? WHERE EXISTS"
            " (SELECT 1 FROM message_bodies WHERE id = ?) ON CONFLICT DO NOTHING", (body_id, text, body_id)))
        return text

    # moving a store ----------------------------------------------------------------------
    async def restore_folders(self, mailbox_id: int, folders: Sequence[Folder],
                              subscriptions: Sequence[str]) -> list[Folder]:
        wanted, subscribed = sql.restored_folders(folders, subscriptions)

        def write(conn: sqlite3.Connection) -> None:
            names = _names(conn, mailbox_id)
            listed = {folder.name for folder in wanted}
            for name, folder_id in names.items():
                if name not in listed:
                    if conn.execute("SELECT 1 FROM messages WHERE folder_id = ?", (folder_id,)).fetchone():
                        raise Conflict(f"folder {name!r} holds messages and is not among the restored folders")
                    conn.execute("DELETE FROM folders WHERE id = ?", (folder_id,))
            for folder in wanted:
                if folder.name in names:
                    highest = conn.execute("SELECT coalesce(max(uid), 0) FROM messages WHERE folder_id = ?",
                                           (names[folder.name],)).fetchone()[0]
                    sql.uidnext_fits(folder, highest)
                    conn.execute(sql.RESTORE_FOLDER, (*sql.folder_values(folder), names[folder.name]))
                else:
                    conn.execute(sql.RESTORE_NEW_FOLDER, (*sql.folder_values(folder), mailbox_id, folder.name))
            highest_validity = max(folder.uidvalidity for folder in wanted)
            conn.execute(_RAISE_UIDVALIDITY, (highest_validity, highest_validity))
            conn.execute("DELETE FROM subscriptions WHERE mailbox_id = ?", (mailbox_id,))
            conn.executemany(sql.SUBSCRIBE, [(mailbox_id, name) for name in subscribed])
            for statement in sql.RESTORED_RECORDS:
                conn.execute(statement, (mailbox_id,))
        await self._write(write)
        return await self.list_folders(mailbox_id)

    async def restore_folder_messages(self, folder_id: int,
                                      messages: Sequence[tuple[FolderMessage, str, bytes]]) -> list[FolderMessage]:
        checked = sql.restored_messages(messages)
        structures = [await sql.structure(data) for _, _, data in checked]

        def write(conn: sqlite3.Connection) -> list[FolderMessage]:
            folder = _folder(conn, folder_id)
            highest = conn.execute("SELECT coalesce(max(uid), 0) FROM messages WHERE folder_id = ?",
                                   (folder_id,)).fetchone()[0]
            sql.restore_fits(checked, folder, highest)
            stored = []
            for (message, uidl, data), structure in zip(checked, structures):
                body_id = mail.insert_body(conn, data, structure=structure)
                try:
                    cursor = conn.execute(sql.INSERT_ENTRY, (
                        folder.mailbox_id, body_id, uidl, len(data), message.internal_date, folder_id, message.uid,
                        sql.flags_text(message.flags), message.modseq))
                except sqlite3.IntegrityError as exc:
                    raise Conflict(f"a message with UIDL {uidl} is already stored") from exc
                stored.append(dataclasses.replace(message, id=inserted_id(cursor)))
            return stored
        if not checked:
            await self.folder_status(folder_id)  # NotFound for a folder that is gone
            return []
        return await self._write(write)
