"""The scale-out store's IMAP4 folders (the FolderStore role, storage/folders.py);
PostgresStore inherits them. The checks and plans are shared with the embedded store
(storage/sql/folders.py).

Several nodes write at once: every write locks the rows of the folders it changes (FOR
UPDATE, in id order, so two writes never wait for each other in a circle) and keeps them to
its commit. A UID is taken under that lock, so the commits of one folder happen in UID order:
a session never sees UID n+1 before UID n.
"""
from __future__ import annotations

import dataclasses
import uuid
from typing import Any, Sequence

import asyncpg

from ...errors import Conflict, NotFound, ValidationError
from ...model.imap import INBOX, SPECIAL_FOLDERS, Folder, FolderMessage, FolderStatus
from ..sql import folders as sql
from ..sql import schema as schema_sql
from ..sql.values import utc_iso, wire
from .base import PostgresBase, dollar

_LOCK_FOLDERS = f"SELECT {sql.FOLDER_COLUMNS} FROM folders WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE"


# helpers run inside other transactions (create_mailbox, deliveries) ------------------------

async def make_folders(conn: asyncpg.Connection, mailbox_id: int, folders: Sequence[tuple[str, str]],
                       subscribe: bool = False) -> list[int]:
    """New folders (name, special use), each with a new uidvalidity; their ids. One statement
    (a new mailbox makes five folders: its creation stays one round trip longer, no more)."""
    if not folders:
        return []
    insert = ("INSERT INTO folders (mailbox_id, name, special_use, uidvalidity)"
              " SELECT $1, n, u, nextval('uidvalidity_sequence') FROM unnest($2::text[], $3::text[])"
              " WITH ORDINALITY AS t (n, u, o) ORDER BY o RETURNING id, name")
    if subscribe:
        insert = (f"WITH made AS ({insert}), subscribed AS (INSERT INTO subscriptions (mailbox_id, name)"
                  " SELECT $1, name FROM made ON CONFLICT DO NOTHING) SELECT id, name FROM made")
    rows = await conn.fetch(insert, mailbox_id, [name for name, _ in folders], [use for _, use in folders])
    ids = {row[1]: row[0] for row in rows}
    return [ids[name] for name, _ in folders]


async def default_folders(conn: asyncpg.Connection, mailbox_id: int) -> None:
    """A new mailbox's INBOX and special-use folders, subscribed."""
    await make_folders(conn, mailbox_id, [(INBOX, ""), *SPECIAL_FOLDERS], subscribe=True)


async def take_uids(conn: asyncpg.Connection, folder_id: int, count: int) -> tuple[int, int]:
    """`count` new UIDs of the folder: (the first, the modseq they are stored with). The row
    stays locked to the commit."""
    row = await conn.fetchrow(dollar(sql.TAKE_UIDS) + " RETURNING uidnext, highest_modseq", count, folder_id)
    if row is None:
        raise sql.folder_missing(folder_id)
    return row[0] - count, row[1]


async def record_expunged(conn: asyncpg.Connection, folder_id: int, uids: Sequence[int]) -> int:
    """The folder's messages with these UIDs were just removed (its row locked): the folder takes
    its next modseq, the UIDs go in the record of expunged UIDs with it (pruned to its bound,
    storage/sql/folders.py); that modseq."""
    modseq = await conn.fetchval(dollar(sql.BUMP_MODSEQ) + " RETURNING highest_modseq", folder_id)
    await conn.execute("INSERT INTO expunged_uids (folder_id, modseq, uid) SELECT $1, $2, u"
                       " FROM unnest($3::bigint[]) AS u", folder_id, modseq, list(uids))
    point = await conn.fetchval(dollar(sql.PRUNE_POINT), folder_id, sql.EXPUNGE_RECORD)
    if point is not None:
        await conn.execute(dollar(sql.PRUNE), folder_id, point)
        await conn.execute(dollar(sql.RAISE_FLOOR), point, folder_id, point)
    return int(modseq)


async def lock_inboxes(conn: asyncpg.Connection, mailbox_ids: Sequence[int]) -> dict[int, int]:
    """mailbox id -> its INBOX's id, the INBOX rows locked in mailbox order (two deliveries
    to the same mailboxes in another order never deadlock); NotFound if a mailbox is gone."""
    wanted = sorted(set(mailbox_ids))
    if not wanted:
        return {}
    rows = await conn.fetch("SELECT mailbox_id, id FROM folders WHERE mailbox_id = ANY($1::bigint[])"
                            " AND name = 'INBOX' ORDER BY mailbox_id FOR UPDATE", wanted)
    found = {row[0]: row[1] for row in rows}
    for mailbox_id in wanted:
        if mailbox_id not in found:
            raise NotFound("mailbox", str(mailbox_id))
    return found


async def _locked(conn: asyncpg.Connection, *folder_ids: int) -> list[Folder]:
    """The folders, their rows locked in id order, in the order asked; NotFound if one is gone."""
    rows = {row[0]: sql.folder_row(row) for row in await conn.fetch(_LOCK_FOLDERS, sorted(set(folder_ids)))}
    for folder_id in folder_ids:
        if folder_id not in rows:
            raise sql.folder_missing(folder_id)
    return [rows[folder_id] for folder_id in folder_ids]


async def _names(conn: asyncpg.Connection, mailbox_id: int) -> dict[str, int]:
    """The mailbox's folders by name, every row locked (folder changes of one mailbox go one at a time)."""
    rows = await conn.fetch("SELECT name, id FROM folders WHERE mailbox_id = $1 ORDER BY id FOR UPDATE", mailbox_id)
    if not rows:
        raise NotFound("mailbox", str(mailbox_id))
    return {row[0]: row[1] for row in rows}


async def _selected(conn: asyncpg.Connection, folder_id: int, uids: Sequence[int], columns: str) -> list[Any]:
    return await conn.fetch(f"SELECT {columns} FROM messages WHERE folder_id = $1 AND uid = ANY($2::bigint[])"
                            " ORDER BY uid", folder_id, list(uids))


class PostgresFolders(PostgresBase):
    async def list_folders(self, mailbox_id: int) -> list[Folder]:
        rows = await self._fetch(sql.SELECT_FOLDERS, mailbox_id)
        if not rows:
            raise NotFound("mailbox", str(mailbox_id))
        return [sql.folder_row(row) for row in rows]

    async def get_folder(self, mailbox_id: int, name: str) -> Folder:
        name = sql.folder_name(name)
        row = await self._fetchrow(sql.SELECT_FOLDER, mailbox_id, name)
        if row is None:
            raise sql.folder_missing(name)
        return sql.folder_row(row)

    async def create_folder(self, mailbox_id: int, name: str, special_use: str = "") -> Folder:
        name, use = sql.folder_name(name), sql.special_use(special_use)

        async def write(conn: asyncpg.Connection) -> Folder:
            names = sql.new_folders(name, set(await _names(conn, mailbox_id)))
            ids = await make_folders(conn, mailbox_id, [(each, use if each == name else "") for each in names])
            return sql.folder_row(await conn.fetchrow(dollar(sql.SELECT_FOLDER_BY_ID), ids[-1]))
        return await self._transaction(write, changes={mailbox_id})

    async def delete_folder(self, mailbox_id: int, name: str) -> None:
        name = sql.folder_name(name)
        if name == INBOX:
            raise ValidationError("name", "INBOX cannot be deleted")

        async def write(conn: asyncpg.Connection) -> None:
            names = await _names(conn, mailbox_id)
            if name not in names:
                raise sql.folder_missing(name)
            sql.no_children(name, names)
            await conn.execute("DELETE FROM messages WHERE folder_id = $1", names[name])
            await conn.execute("DELETE FROM folders WHERE id = $1", names[name])
        await self._transaction(write, changes={mailbox_id})

    async def rename_folder(self, mailbox_id: int, old: str, new: str) -> None:
        old, new = sql.folder_name(old, "old"), sql.folder_name(new, "new")

        async def write(conn: asyncpg.Connection) -> None:
            names = await _names(conn, mailbox_id)
            if old not in names:
                raise sql.folder_missing(old)
            if old == INBOX:
                return await _rename_inbox(conn, mailbox_id, names, new)
            pairs = sql.renames(old, new, set(names))
            await make_folders(conn, mailbox_id, [(each, "") for each in sql.missing_superiors(new, names)])
            for before, after in pairs:
                await conn.execute("UPDATE folders SET name = $1 WHERE id = $2", after, names[before])
                if await conn.fetchval("DELETE FROM subscriptions WHERE mailbox_id = $1 AND name = $2 RETURNING 1",
                                       mailbox_id, before):
                    await conn.execute(dollar(sql.SUBSCRIBE), mailbox_id, after)
        await self._transaction(write, changes={mailbox_id})

    async def list_subscriptions(self, mailbox_id: int) -> list[str]:
        rows = await self._fetch("SELECT name FROM subscriptions WHERE mailbox_id = ? ORDER BY name", mailbox_id)
        return [row[0] for row in rows]

    async def set_subscription(self, mailbox_id: int, name: str, subscribed: bool) -> None:
        name = sql.folder_name(name)

        async def write(conn: asyncpg.Connection) -> None:
            if await conn.fetchval("SELECT 1 FROM mailboxes WHERE id = $1", mailbox_id) is None:
                raise NotFound("mailbox", str(mailbox_id))
            if subscribed:
                await conn.execute(dollar(sql.SUBSCRIBE), mailbox_id, name)
            else:
                await conn.execute("DELETE FROM subscriptions WHERE mailbox_id = $1 AND name = $2", mailbox_id, name)
        await self._transaction(write)

    # the messages of a folder ----------------------------------------------------------
    async def folder_messages(self, folder_id: int) -> list[FolderMessage]:
        async def read(conn: asyncpg.Connection) -> list[FolderMessage]:
            # One statement, one snapshot: the folder's row decides between "empty" and "gone".
            rows = await conn.fetch(f"SELECT f.id, m.{', m.'.join(sql.MESSAGE_COLUMNS.split(', '))} FROM folders f"
                                    " LEFT JOIN messages m ON m.folder_id = f.id WHERE f.id = $1 ORDER BY m.uid",
                                    folder_id)
            if not rows:
                raise sql.folder_missing(folder_id)
            return [sql.message_row(row[1:]) for row in rows if row[1] is not None]
        async with self._connection() as conn:
            return await read(conn)

    async def folder_changes(self, folder_id: int, modseq: int) -> tuple[list[FolderMessage], int]:
        return sql.changes(await self._fetch(sql.SELECT_CHANGES, modseq, folder_id), folder_id)

    async def folder_status(self, folder_id: int) -> FolderStatus:
        async def read(conn: asyncpg.Connection) -> FolderStatus:
            row = await conn.fetchrow(dollar(sql.SELECT_FOLDER_BY_ID), folder_id)
            if row is None:
                raise sql.folder_missing(folder_id)
            folder = sql.folder_row(row)
            return sql.status(folder, await conn.fetchrow(dollar(sql.STATUS), folder.first_recent_uid, folder_id))
        return await self._transaction(read)

    async def take_recent(self, folder_id: int) -> tuple[Folder, int]:
        async def write(conn: asyncpg.Connection) -> tuple[Folder, int]:
            (before,) = await _locked(conn, folder_id)
            row = await conn.fetchrow(f"UPDATE folders SET first_recent_uid = uidnext WHERE id = $1"
                                      f" RETURNING {sql.FOLDER_COLUMNS}", folder_id)
            return sql.folder_row(row), before.first_recent_uid
        return await self._transaction(write)

    async def store_flags(self, folder_id: int, uids: Sequence[int], flags: Sequence[str],
                          mode: str) -> list[FolderMessage]:
        wanted, change, mode = sql.uid_list(uids), sql.flag_list(flags), sql.store_mode(mode)
        changes: set[int] = set()

        async def write(conn: asyncpg.Connection) -> list[FolderMessage]:
            (folder,) = await _locked(conn, folder_id)
            rows = await _selected(conn, folder_id, wanted, sql.MESSAGE_COLUMNS)
            result, updates = sql.flag_changes(rows, change, mode, folder.highest_modseq + 1)
            if updates:
                await conn.execute(dollar(sql.BUMP_MODSEQ), folder_id)
                await conn.executemany("UPDATE messages SET flags = $1, modseq = $2 WHERE id = $3", updates)
                changes.add(folder.mailbox_id)
            return result
        return await self._transaction(write, changes=changes)

    async def store_flags_if_unchanged(self, folder_id: int, uids: Sequence[int], flags: Sequence[str], mode: str,
                                       unchanged_since: int) -> tuple[list[FolderMessage], list[FolderMessage]]:
        wanted, change, mode = sql.uid_list(uids), sql.flag_list(flags), sql.store_mode(mode)
        unchanged_since = sql.modseq_argument(unchanged_since, "unchanged_since")
        changes: set[int] = set()

        async def write(conn: asyncpg.Connection) -> tuple[list[FolderMessage], list[FolderMessage]]:
            (folder,) = await _locked(conn, folder_id)
            rows = await _selected(conn, folder_id, wanted, sql.MESSAGE_COLUMNS)
            stored, updates, refused = sql.conditional_changes(rows, change, mode, folder.highest_modseq + 1,
                                                               unchanged_since)
            if updates:
                await conn.execute(dollar(sql.BUMP_MODSEQ), folder_id)
                await conn.executemany("UPDATE messages SET flags = $1, modseq = $2 WHERE id = $3", updates)
                changes.add(folder.mailbox_id)
            return stored, refused
        return await self._transaction(write, changes=changes)

    async def expunged_since(self, folder_id: int, modseq: int) -> tuple[list[int], bool]:
        modseq = sql.modseq_argument(modseq)
        return sql.expunged(await self._fetch(sql.SELECT_EXPUNGED, modseq, folder_id), folder_id, modseq)

    async def expunge(self, folder_id: int, uids: Sequence[int] | None = None) -> list[int]:
        wanted = None if uids is None else sql.uid_list(uids)
        changes: set[int] = set()

        async def write(conn: asyncpg.Connection) -> list[int]:
            (folder,) = await _locked(conn, folder_id)
            if wanted is None:
                rows = await conn.fetch(f"SELECT id, uid, flags FROM messages WHERE folder_id = $1 AND {sql.DELETED}"
                                        " ORDER BY uid", folder_id)
            else:
                rows = await _selected(conn, folder_id, wanted, "id, uid, flags")
            gone = [(row[0], row[1]) for row in rows if "\\Deleted" in row[2].split()]
            if gone:
                await conn.execute("DELETE FROM messages WHERE id = ANY($1::bigint[])", [id_ for id_, _ in gone])
                await record_expunged(conn, folder_id, [uid for _, uid in gone])
                changes.add(folder.mailbox_id)
            return [uid for _, uid in gone]
        return await self._transaction(write, changes=changes)

    async def copy_messages(self, folder_id: int, uids: Sequence[int], target_folder_id: int, *,
                            move: bool = False) -> list[tuple[int, int]]:
        wanted = sql.uid_list(uids)
        changes: set[int] = set()

        async def write(conn: asyncpg.Connection) -> list[tuple[int, int]]:
            source, target = await _locked(conn, folder_id, target_folder_id)
            rows = await _selected(conn, folder_id, wanted, "id, uid, body_id, size, received_at, flags")
            if not rows:
                return []
            changes.update((source.mailbox_id, target.mailbox_id))
            first, modseq = await take_uids(conn, target.id, len(rows))
            await conn.executemany(dollar(sql.INSERT_ENTRY), [
                (target.mailbox_id, row[2], uuid.uuid4().hex, row[3], row[4], target.id, first + n, row[5], modseq)
                for n, row in enumerate(rows)])
            if move:
                await conn.execute("DELETE FROM messages WHERE id = ANY($1::bigint[])", [row[0] for row in rows])
                await record_expunged(conn, folder_id, [row[1] for row in rows])
            return [(row[1], first + n) for n, row in enumerate(rows)]
        return await self._transaction(write, changes=changes)

    async def append_message(self, folder_id: int, data: bytes, flags: Sequence[str] = (),
                             internal_date: str | None = None) -> FolderMessage:
        data, stored_flags = wire(data), sql.flag_list(flags)
        at = schema_sql.now() if internal_date is None else utc_iso(internal_date, "internal_date")
        structure = await sql.structure(data)
        changes: set[int] = set()

        async def write(conn: asyncpg.Connection) -> FolderMessage:
            body_id = await conn.fetchval("INSERT INTO message_bodies (size, data, structure) VALUES ($1, $2, $3)"
                                          " RETURNING id", len(data), data, structure)
            (folder,) = await _locked(conn, folder_id)  # as late as can be: held to the commit
            uid, modseq = await take_uids(conn, folder_id, 1)
            new_id = await conn.fetchval(dollar(sql.INSERT_ENTRY) + " RETURNING id", folder.mailbox_id, body_id,
                                         uuid.uuid4().hex, len(data), at, folder_id, uid,
                                         sql.flags_text(stored_flags), modseq)
            changes.add(folder.mailbox_id)
            return FolderMessage(new_id, uid, len(data), at, stored_flags, modseq)
        return await self._transaction(write, changes=changes)

    async def read_structures(self, message_ids: Sequence[int]) -> dict[int, str]:
        ids = sql.uid_list(message_ids)
        rows = await self._fetch("SELECT m.id, m.body_id, b.structure FROM messages m JOIN message_bodies b"
                                 " ON b.id = m.body_id WHERE m.id = ANY(?::bigint[])", ids)
        found: dict[int, str] = {}
        for message_id, body_id, text in rows:
            if text is None:  # stored before structures were: describe it now, once
                data = await self._fetchval("SELECT data FROM message_bodies WHERE id = ?", body_id)
                if data is None:
                    continue  # gone meanwhile
                text = await sql.structure(data)
                await self._execute("UPDATE message_bodies SET structure = ? WHERE id = ?", text, body_id)
            found[message_id] = text
        return found

    async def read_messages(self, mailbox_id: int, message_ids: Sequence[int]) -> dict[int, bytes]:
        ids = sql.uid_list(message_ids)
        rows = await self._fetch(sql.SELECT_BODIES + "= ANY(?::bigint[])", mailbox_id, ids)
        return {message_id: bytes(data) for message_id, data in rows}

    async def read_headers(self, mailbox_id: int, message_ids: Sequence[int]) -> dict[int, bytes]:
        ids = sql.uid_list(message_ids)
        rows = await self._fetch(sql.POSTGRES_HEADERS, mailbox_id, ids)
        found = {message_id: bytes(block) for message_id, _, block in rows if block is not None}
        unknown: dict[int, list[int]] = {}  # bodies without a structure that says where the header ends
        for message_id, body_id, block in rows:
            if block is None:
                unknown.setdefault(body_id, []).append(message_id)  # a copy shares its body
        if unknown:
            for body_id, data in await self._fetch("SELECT id, data FROM message_bodies WHERE id = ANY(?::bigint[])",
                                                   list(unknown)):
                for message_id in unknown[body_id]:
                    found[message_id] = sql.header_block(bytes(data))
        return found


async def _rename_inbox(conn: asyncpg.Connection, mailbox_id: int, names: dict[str, int], new: str) -> None:
    """RFC 3501 6.3.5: INBOX's messages move to a new folder `new`; INBOX stays, empty."""
    created = sql.new_folders(new, set(names))
    target = (await make_folders(conn, mailbox_id, [(each, "") for each in created]))[-1]
    rows = await conn.fetch("SELECT id, uid FROM messages WHERE folder_id = $1 ORDER BY uid", names[INBOX])
    if not rows:
        return
    first, modseq = await take_uids(conn, target, len(rows))
    await conn.execute("UPDATE messages m SET folder_id = $1, uid = $2 + n.ord - 1, modseq = $3"
                       " FROM unnest($4::bigint[]) WITH ORDINALITY AS n (id, ord) WHERE m.id = n.id",
                       target, first, modseq, [row[0] for row in rows])
    await record_expunged(conn, names[INBOX], [row[1] for row in rows])  # gone from INBOX


class PostgresFolderTransfer(PostgresFolders):
    """Moving a store into this one (`postroom migrate`): folders, UIDs and flags as they were."""

    async def restore_folders(self, mailbox_id: int, folders: Sequence[Folder],
                              subscriptions: Sequence[str]) -> list[Folder]:
        wanted, subscribed = sql.restored_folders(folders, subscriptions)

        async def write(conn: asyncpg.Connection) -> None:
            names = await _names(conn, mailbox_id)
            listed = {folder.name for folder in wanted}
            for name, folder_id in names.items():
                if name not in listed:
                    if await conn.fetchval("SELECT 1 FROM messages WHERE folder_id = $1 LIMIT 1", folder_id):
                        raise Conflict(f"folder {name!r} holds messages and is not among the restored folders")
                    await conn.execute("DELETE FROM folders WHERE id = $1", folder_id)
            for folder in wanted:
                if folder.name in names:
                    sql.uidnext_fits(folder, await conn.fetchval(
                        "SELECT coalesce(max(uid), 0) FROM messages WHERE folder_id = $1", names[folder.name]))
                    await conn.execute(dollar(sql.RESTORE_FOLDER), *sql.folder_values(folder), names[folder.name])
                else:
                    await conn.execute(dollar(sql.RESTORE_NEW_FOLDER), *sql.folder_values(folder), mailbox_id,
                                       folder.name)
            highest_validity = max(folder.uidvalidity for folder in wanted)
            await conn.execute("SELECT setval('uidvalidity_sequence', greatest($1::bigint, last_value))"
                               " FROM uidvalidity_sequence", highest_validity)
            await conn.execute("DELETE FROM subscriptions WHERE mailbox_id = $1", mailbox_id)
            await conn.executemany(dollar(sql.SUBSCRIBE), [(mailbox_id, name) for name in subscribed])
            for statement in sql.RESTORED_RECORDS:
                await conn.execute(dollar(statement), mailbox_id)
        await self._transaction(write)
        return await self.list_folders(mailbox_id)

    async def restore_folder_messages(self, folder_id: int,
                                      messages: Sequence[tuple[FolderMessage, str, bytes]]) -> list[FolderMessage]:
        checked = sql.restored_messages(messages)
        structures = [await sql.structure(data) for _, _, data in checked]

        async def write(conn: asyncpg.Connection) -> list[FolderMessage]:
            (folder,) = await _locked(conn, folder_id)
            highest = await conn.fetchval("SELECT coalesce(max(uid), 0) FROM messages WHERE folder_id = $1", folder_id)
            sql.restore_fits(checked, folder, highest)
            body_ids = await conn.fetch(
                "INSERT INTO message_bodies (size, data, structure)"
                " SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::text[]) RETURNING id",
                [len(data) for _, _, data in checked], [data for _, _, data in checked], structures)
            try:
                ids = await conn.fetch(
                    "INSERT INTO messages (mailbox_id, body_id, uidl, size, received_at, folder_id, uid, flags, modseq)"
                    " SELECT $1, b, u, s, r, $2, i, f, q FROM unnest($3::bigint[], $4::text[], $5::bigint[],"
                    " $6::text[], $7::bigint[], $8::text[], $9::bigint[]) WITH ORDINALITY AS t (b, u, s, r, i, f, q, n)"
                    " ORDER BY n RETURNING id",
                    folder.mailbox_id, folder_id, [row[0] for row in body_ids], [uidl for _, uidl, _ in checked],
                    [len(data) for _, _, data in checked], [m.internal_date for m, _, _ in checked],
                    [m.uid for m, _, _ in checked], [sql.flags_text(m.flags) for m, _, _ in checked],
                    [m.modseq for m, _, _ in checked])
            except asyncpg.UniqueViolationError as exc:
                raise Conflict(f"a message with this UIDL is already stored ({exc.detail})") from None
            return [dataclasses.replace(message, id=row[0]) for row, (message, _, _) in zip(ids, checked)]
        return await self._transaction(write)
