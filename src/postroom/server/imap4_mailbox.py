"""The IMAP4 mailbox engine: executes each command the core hands over (protocol/imap4/types.py)
against the store, for one logged-in session.

Folder commands (CREATE, DELETE, RENAME, SUBSCRIBE, STATUS, APPEND, SELECT and EXAMINE) are
here, LIST and LSUB server/imap4_list.py's; the selected folder's own commands are
`SelectedFolder`'s (server/imap4_folder.py), with "$" (SEARCHRES) replaced by the saved result
first (server/imap4_esearch.py). Untagged replies go out through `emit` as they are made; each command
returns the `Outcome` the session completes its tag with. After every command the selected
folder announces other sessions' changes (when there can be some: see SelectedFolder.sync),
except that EXPUNGE replies wait while a FETCH, STORE or SEARCH (by sequence number) could be
misread by them (RFC 3501 7.4.1). SELECT lists a folder from the node's ListingCache. The
selected folder's writes are server/imap4_writes.py's; what CONDSTORE and QRESYNC (RFC 7162)
add, server/imap4_condstore.py's (the session's `enabled` is shared with its selected folder, as
is what ENABLE UTF8=ACCEPT and IMAP4rev2 turned on: `enabled.mode`, protocol/imap4/modes.py).
"""
from __future__ import annotations

import datetime
import re
import time
import unicodedata
from typing import Any, Awaitable, Callable, Iterable

from ..errors import Conflict, NotFound, ValidationError
from ..model.imap import DELIMITER, INBOX, Folder, FolderMessage
from ..protocol.imap4 import binary, listext, modes, search, types
from . import imap4_condstore as condstore
from . import imap4_esearch, imap4_list, imap4_writes
from .imap4_cache import BodyCache, HeaderCache, ListingCache, RenderedCache
from .imap4_common import BadFlag, ImapStore, Outcome, clean_flags
from .imap4_folder import SelectedFolder
from .imap4_notify import MailboxNotifier
from .imap4_resync import Enabled

_LONE_LF = re.compile(rb"(?<!\r)\n")
FOLDER_ROW_SECONDS = 1.0  # how long a SELECT may take the folder's row from the session's last read


def canonical(name: str) -> str:
    """INBOX in any case (and as the head of a path) is INBOX (RFC 3501 5.1)."""
    head, sep, rest = name.partition(DELIMITER)
    return INBOX + sep + rest if head.upper() == INBOX else name


def valid_name(name: str) -> bool:
    """A name a folder may take: no empty level, wildcard or control character, and Unicode in
    normalization form C (RFC 9051 5.1: a new name must be Net-Unicode, RFC 5198)."""
    return bool(name) and not name.startswith(DELIMITER) and DELIMITER * 2 not in name and "*" not in name \
        and "%" not in name and not any(ord(c) < 32 for c in name) \
        and (name.isascii() or unicodedata.is_normalized("NFC", name))


class MailboxEngine:
    def __init__(self, store: ImapStore, mailbox_id: int, emit: Callable[[bytes], None],
                 notifier: MailboxNotifier | None = None, pace: Callable[[], Awaitable[None]] | None = None,
                 headers: HeaderCache | None = None, listings: ListingCache | None = None,
                 rendered: RenderedCache | None = None, bodies: BodyCache | None = None) -> None:
        self.store = store
        self.mailbox_id = mailbox_id
        self.emit = emit
        self.notifier = notifier
        self.pace = pace  # awaited between the messages of a FETCH: the client reads what was sent
        self.selected: SelectedFolder | None = None
        self.mark = notifier.follow(mailbox_id) if notifier is not None else None  # this node's changes
        self.headers = headers if headers is not None else HeaderCache()  # the node's, shared by its sessions
        self.listings = listings if listings is not None else ListingCache()  # the node's too
        self.rendered = rendered if rendered is not None else RenderedCache()  # and these
        self.bodies = bodies if bodies is not None else BodyCache()
        self.enabled = Enabled()  # CONDSTORE and QRESYNC, once turned on, for the whole session
        self._folder_rows: tuple[str, int, float, Folder] | None = None  # the last SELECT's read (_folder_read)

    def close(self) -> None:
        """The session is over: stop following the mailbox's changes."""
        if self.notifier is not None and self.mark is not None:
            self.notifier.unfollow(self.mailbox_id, self.mark)
            self.mark = None

    async def run(self, command: types.Command) -> Outcome:
        """Execute one command. What the store refuses (a folder gone, a name taken, a value
        it does not take) is a NO in words; Unavailable propagates to the session, which
        answers NO [UNAVAILABLE]. A SEARCH RETURN (SAVE) answered NO leaves "$" empty (RFC 5182
        2.1; the core does the same for the NO it gives itself, like BADCHARSET)."""
        try:
            outcome = await self._run(command)
        except Exception:
            self._forget_saved(command)
            raise
        if outcome.status == "NO":
            self._forget_saved(command)
        return outcome

    def _forget_saved(self, command: types.Command) -> None:
        if (self.selected is not None and isinstance(command, types.Search) and command.returns is not None
                and "SAVE" in command.returns):
            self.selected.saved = []

    async def _run(self, command: types.Command) -> Outcome:
        handler = _HANDLERS.get(type(command))
        if handler is None:
            return Outcome("BAD", "This command is not available now.")
        if not self.enabled.condstore and condstore.enables(command, self.enabled.qresync):
            self.enabled.condstore = True  # the first with a folder selected tells its HIGHESTMODSEQ (RFC 7162 3.1)
            if self.selected is not None and not isinstance(command, types.Select):
                self.emit(condstore.highest_line(self.selected.safe_modseq))
        if self.selected is not None:
            command = imap4_esearch.with_saved(self.selected, command)  # "$" (RFC 5182)
        try:
            outcome: Outcome = await handler(self, command)
        except NotFound as exc:  # the selected folder deleted meanwhile, or a name gone
            if self.selected is not None and exc.kind == "folder":
                return Outcome("NO", "The selected folder no longer exists.", "NONEXISTENT")
            return Outcome("NO", exc.message, "NONEXISTENT")
        except Conflict as exc:
            return Outcome("NO", exc.message, "ALREADYEXISTS")
        except ValidationError as exc:
            return Outcome("NO", exc.message, "CANNOT")
        if self.selected is not None:
            await self.selected.sync(allow_expunge=not _holds_expunges(command),
                                     force=isinstance(command, (types.Noop, types.Check)))
            if self.enabled.condstore and self.selected.gone:  # MODSEQ values may have passed an expunge
                self.emit(condstore.highest_line(self.selected.safe_modseq))  # that waits (RFC 7162 3.2)
            if outcome.code == condstore.HIGHEST_LATER:
                outcome = Outcome(outcome.status, outcome.text, f"HIGHESTMODSEQ {self.selected.safe_modseq}")
        return outcome

    async def poll(self) -> None:
        """While idling: announce what changed, expunges included."""
        if self.selected is not None:
            await self.selected.sync(allow_expunge=True, force=True)

    # --------------------------------------------------------------- simple commands
    async def _noop(self, command: types.Command) -> Outcome:
        name = type(command).__name__.upper()
        return Outcome("OK", f"{name} completed.")

    async def _namespace(self, command: types.Namespace) -> Outcome:
        self.emit(b'* NAMESPACE (("" "/")) NIL NIL\r\n')
        return Outcome("OK", "NAMESPACE completed.")

    async def _id(self, command: types.Id) -> Outcome:
        self.emit(b'* ID ("name" "postroom")\r\n')
        return Outcome("OK", "ID completed.")

    async def _enable(self, command: types.Enable) -> Outcome:
        """ENABLED names what this command turned on (RFC 5161); QRESYNC turns CONDSTORE on too
        (RFC 7162 3.2.3); UTF8=ACCEPT and IMAP4rev2 change the protocol (modes.py: the core turns
        them on too as this completes OK). Other names are not extensions ENABLE knows: ignored."""
        before = {"CONDSTORE": self.enabled.condstore, "QRESYNC": self.enabled.qresync}
        turned = [name for name in dict.fromkeys(command.capabilities) if name in before and not before[name]]
        self.enabled.qresync = self.enabled.qresync or "QRESYNC" in turned
        self.enabled.condstore = self.enabled.condstore or bool(turned)
        self.enabled.mode, protocol = modes.enable(self.enabled.mode, command.capabilities)
        turned += protocol
        self.emit(b"* ENABLED" + b"".join(b" " + name.encode("ascii") for name in turned) + b"\r\n")
        return Outcome("OK", "ENABLE completed.")


    # ---------------------------------------------------------------- selection
    async def _select(self, command: types.Select) -> Outcome:
        if self.selected is not None:  # closed: what follows is the new folder's (RFC 7162 3.2.11)
            self.emit(b"* OK [CLOSED] Previous folder closed.\r\n")
        self.selected = None  # a failed SELECT leaves no folder selected (RFC 3501 6.3.1)
        if command.qresync is not None and not self.enabled.qresync:
            return Outcome("BAD", "SELECT (QRESYNC ...) needs ENABLE QRESYNC first.")
        name = canonical(command.mailbox)
        seen_count = self.mark.count if self.mark is not None else 0  # before the reads
        try:
            folder = self._folder_read(name, seen_count)
            if folder is None:
                folder = await self.store.get_folder(self.mailbox_id, name)
            first_recent = folder.first_recent_uid
            if not command.readonly and first_recent < folder.uidnext:  # some to take (none: no write)
                folder, first_recent = await self.store.take_recent(folder.id)
            self._folder_rows = (name, seen_count, time.monotonic(), folder)  # as of the count before the reads
            messages = await self._messages(folder)
        except NotFound:
            return Outcome("NO", f"There is no folder {name}.", "NONEXISTENT")
        self.selected = SelectedFolder(self.store, folder, messages, first_recent, command.readonly, self.emit,
                                       self.pace, self.mark, seen_count, self.headers, self.enabled,
                                       self.rendered, self.bodies)
        self.emit(self.selected.select_replies())
        if self.enabled.mode.rev2:  # RFC 9051 6.3.2: the mailbox's LIST reply, its attributes right
            parents = _parents(await self.store.list_folders(self.mailbox_id))
            attributes = ["\\HasChildren" if folder.name in parents else "\\HasNoChildren"]
            attributes += [folder.special_use] if folder.special_use else []
            self.emit(listext.list_line(b"LIST", attributes, folder.name, utf8=True))
        if command.qresync is not None:
            await condstore.resync_select(self.selected, command.qresync)
        verb = "EXAMINE" if command.readonly else "SELECT"
        return Outcome("OK", f"{verb} completed.", "READ-ONLY" if command.readonly else "READ-WRITE")

    def _folder_read(self, name: str, count: int) -> Folder | None:
        """The folder's row as this session last read it, if nothing was reported of the mailbox
        since (its mark's count: every change on any node, a moment later from another) and that
        read is under FOLDER_ROW_SECONDS old: a client that selects the same folder again and
        again (a poll) costs no store read, as a selected session's commands cost no look."""
        if self.mark is None or self._folder_rows is None:
            return None
        known, read_at, when, folder = self._folder_rows
        if known != name or read_at != count or time.monotonic() - when > FOLDER_ROW_SECONDS:
            return None
        return folder

    async def _messages(self, folder: Folder) -> list[FolderMessage]:
        """The folder's messages, from the node's ListingCache: as they are when the folder's
        highest_modseq is the same (every change bumps it); with what changed since when it
        moved; listed whole when some were expunged, or when the node has no listing of it.
        (A listing may be newer than the modseq read before it: then the next SELECT looks.)"""
        cached = self.listings.get(folder.id)
        if cached is not None:
            modseq, messages = cached
            if modseq == folder.highest_modseq:
                return messages
            changed, count = await self.store.folder_changes(folder.id, modseq)
            merged = {m.uid: m for m in messages}
            merged.update((m.uid, m) for m in changed)
            if len(merged) == count:  # none expunged since
                messages = [merged[uid] for uid in sorted(merged)]
                self.listings.put(folder.id, folder.highest_modseq, messages)
                return messages
        messages = await self.store.folder_messages(folder.id)
        self.listings.put(folder.id, folder.highest_modseq, messages)
        return messages

    async def _close(self, command: types.Close) -> Outcome:
        selected, self.selected = self.selected, None
        if selected is None:
            return Outcome("BAD", "No folder is selected.")
        if not selected.readonly:
            await imap4_writes.expunge(selected, None)  # silently (RFC 3501 6.4.2)
        return Outcome("OK", "CLOSE completed.")

    async def _unselect(self, command: types.Unselect) -> Outcome:
        if self.selected is None:
            return Outcome("BAD", "No folder is selected.")
        self.selected = None
        return Outcome("OK", "UNSELECT completed.")

    # ---------------------------------------------------------------- selected state
    def _needs_selected(self) -> SelectedFolder:
        if self.selected is None:
            raise _NotSelected()
        return self.selected

    async def _fetch(self, command: types.Fetch) -> Outcome:
        return await self._needs_selected().fetch(command, self.mailbox_id)

    async def _store_flags(self, command: types.Store) -> Outcome:
        return await imap4_writes.store(self._needs_selected(), command)

    async def _search(self, command: types.Search) -> Outcome:
        return await self._needs_selected().search(command, self.mailbox_id)

    async def _expunge(self, command: types.Expunge) -> Outcome:
        return await imap4_writes.expunge(self._needs_selected(), command)

    async def _check(self, command: types.Check) -> Outcome:
        self._needs_selected()
        return Outcome("OK", "CHECK completed.")

    async def _copy(self, command: types.Copy) -> Outcome:
        selected = self._needs_selected()
        name = canonical(command.mailbox)
        try:
            target = await self.store.get_folder(self.mailbox_id, name)
        except NotFound:
            return Outcome("NO", f"There is no folder {name}.", "TRYCREATE")
        return await imap4_writes.copy(selected, command, target)

    # ------------------------------------------------------------------- folders
    async def _list(self, command: types.List) -> Outcome:
        return await imap4_list.list_folders(self.store, self.mailbox_id, command, self.emit,
                                             self.enabled.mode.utf8_names)

    async def _create(self, command: types.Create) -> Outcome:
        name = canonical(command.mailbox.rstrip(DELIMITER))
        if not valid_name(name):
            return Outcome("NO", f"{command.mailbox!r} is not a valid folder name.", "CANNOT")
        try:  # the levels above it are created too (RFC 3501 6.3.3)
            await self.store.create_folder(self.mailbox_id, name)
        except Conflict:
            return Outcome("NO", f"The folder {name} exists already.", "ALREADYEXISTS")
        except ValidationError as exc:
            return Outcome("NO", exc.message, "CANNOT")
        return Outcome("OK", "CREATE completed.")

    async def _delete(self, command: types.Delete) -> Outcome:
        name = canonical(command.mailbox)
        if name == INBOX:
            return Outcome("NO", "INBOX cannot be deleted.", "CANNOT")
        try:
            await self.store.delete_folder(self.mailbox_id, name)
        except NotFound:
            return Outcome("NO", f"There is no folder {name}.", "NONEXISTENT")
        except Conflict:
            return Outcome("NO", f"{name} has folders under it: delete those first.", "HASCHILDREN")
        except ValidationError as exc:
            return Outcome("NO", exc.message, "CANNOT")
        return Outcome("OK", "DELETE completed.")

    async def _rename(self, command: types.Rename) -> Outcome:
        old, new = canonical(command.mailbox), canonical(command.new_name.rstrip(DELIMITER))
        if not valid_name(new) or new == INBOX:
            return Outcome("NO", f"{command.new_name!r} is not a valid new folder name.", "CANNOT")
        try:
            await self.store.rename_folder(self.mailbox_id, old, new)
        except NotFound:
            return Outcome("NO", f"There is no folder {old}.", "NONEXISTENT")
        except Conflict:
            return Outcome("NO", f"The folder {new} exists already.", "ALREADYEXISTS")
        except ValidationError as exc:
            return Outcome("NO", exc.message, "CANNOT")
        return Outcome("OK", "RENAME completed.")

    async def _subscribe(self, command: types.Subscribe) -> Outcome:
        name = canonical(command.mailbox)
        if not valid_name(name):
            return Outcome("NO", f"{command.mailbox!r} is not a valid folder name.", "CANNOT")
        if command.subscribe and name not in {f.name for f in await self.store.list_folders(self.mailbox_id)}:
            return Outcome("NO", f"There is no folder {name}.", "NONEXISTENT")  # RFC 3501 6.3.6 allows the check
        await self.store.set_subscription(self.mailbox_id, name, command.subscribe)
        return Outcome("OK", f"{'SUBSCRIBE' if command.subscribe else 'UNSUBSCRIBE'} completed.")

    async def _status(self, command: types.Status) -> Outcome:
        name = canonical(command.mailbox)
        try:
            folder = await self.store.get_folder(self.mailbox_id, name)
            status = await self.store.folder_status(folder.id)
        except NotFound:
            return Outcome("NO", f"There is no folder {name}.", "NONEXISTENT")
        self.emit(listext.status_line(name, command.items, imap4_list.status_values(status),
                                      self.enabled.mode.utf8_names))
        return Outcome("OK", "STATUS completed.")

    async def _append(self, command: types.Append) -> Outcome:
        name = canonical(command.mailbox)
        try:
            flags = clean_flags(command.flags)
        except BadFlag as exc:
            return Outcome("BAD", f"{exc} is not a system flag a client can set.")
        when = None
        if command.internal_date is not None:
            when = command.internal_date.astimezone(datetime.timezone.utc).isoformat()
        try:  # binary parts (a literal8's, RFC 3516) are kept base64-encoded
            data = binary.stored_form(command.message)
        except binary.UnknownEncoding:
            return Outcome("NO", "The message holds NUL octets outside any part's body: it cannot be stored.",
                           "UNKNOWN-CTE")
        data = _LONE_LF.sub(b"\r\n", data)  # the store keeps mail in wire form (CRLF)
        if not data.endswith(b"\r\n"):
            data += b"\r\n"
        try:
            folder = await self.store.get_folder(self.mailbox_id, name)
            message = await self.store.append_message(folder.id, data, flags, when)
        except NotFound:
            return Outcome("NO", f"There is no folder {name}.", "TRYCREATE")
        except ValidationError as exc:
            return Outcome("NO", f"The message cannot be stored: {exc.message}")
        return Outcome("OK", "APPEND completed.", f"APPENDUID {folder.uidvalidity} {message.uid}")


class _NotSelected(Exception):
    pass


def _parents(folders: Iterable[Folder]) -> set[str]:
    """The names with a folder under them (\\HasChildren)."""
    return {f.name.rsplit(DELIMITER, 1)[0] for f in folders if DELIMITER in f.name}


def _holds_expunges(command: types.Command) -> bool:
    """FETCH, STORE and SEARCH by sequence number: no EXPUNGE may follow them (7.4.1), nor a
    VANISHED a UID SEARCH that names message numbers (RFC 7162 3.2.10)."""
    if isinstance(command, (types.Fetch, types.Store, types.Search)) and not command.uid:
        return True
    return isinstance(command, types.Search) and "msn" in search.reads(command.key)


async def _run_selected(engine: MailboxEngine, command: Any, method: Callable[..., Any]) -> Outcome:
    try:
        outcome: Outcome = await method(engine, command)
    except _NotSelected:
        return Outcome("BAD", "No folder is selected.")
    return outcome


def _selected(method: Callable[..., Any]) -> Callable[..., Any]:
    return lambda engine, command: _run_selected(engine, command, method)


_HANDLERS: dict[type, Callable[..., Any]] = {
    types.Noop: MailboxEngine._noop, types.Namespace: MailboxEngine._namespace, types.Id: MailboxEngine._id,
    types.Enable: MailboxEngine._enable, types.Select: MailboxEngine._select, types.Close: MailboxEngine._close,
    types.Unselect: MailboxEngine._unselect, types.Fetch: _selected(MailboxEngine._fetch),
    types.Store: _selected(MailboxEngine._store_flags), types.Search: _selected(MailboxEngine._search),
    types.Expunge: _selected(MailboxEngine._expunge), types.Check: _selected(MailboxEngine._check),
    types.Copy: _selected(MailboxEngine._copy), types.List: MailboxEngine._list,
    types.Create: MailboxEngine._create, types.Delete: MailboxEngine._delete, types.Rename: MailboxEngine._rename,
    types.Subscribe: MailboxEngine._subscribe, types.Status: MailboxEngine._status,
    types.Append: MailboxEngine._append,
}
