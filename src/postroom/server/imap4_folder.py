"""The selected folder of an IMAP4 session: its view (message sequence numbers, flags, recent
set) and the commands that work on it (FETCH, STORE, SEARCH, COPY/MOVE, EXPUNGE).

The view is this session's copy of the folder. Other sessions' changes (new mail, flag changes,
expunges: any node, any protocol) show as a higher highest_modseq; `sync` then reads what
changed since the view was listed (the whole folder again only after an expunge) and tells the
client with untagged EXISTS, RECENT, FETCH (FLAGS) and EXPUNGE replies (with MODSEQ and
VANISHED for a CONDSTORE or QRESYNC client: server/imap4_condstore.py). `sync` reads
highest_modseq only when the node's notifier says the mailbox changed since the last look
(imap4_notify.Mark: the store reports every change, on any node), or when the client asks
(NOOP); its own writes leave the view fresh when nothing else changed meanwhile. A message expunged elsewhere
keeps its sequence number until an EXPUNGE may be sent (never during FETCH, STORE or SEARCH:
RFC 3501 7.4.1); until then a FETCH skips it (RFC 2180 4.1.2).
"""
from __future__ import annotations

import bisect
from typing import Awaitable, Callable, Iterable, Iterator, Sequence

from ..errors import NotFound
from ..model.imap import SYSTEM_FLAGS, Folder, FolderMessage
from ..protocol.imap4 import binary, structure
from ..protocol.imap4.types import Fetch, Search, SequenceSet
from . import imap4_condstore as condstore
from . import imap4_esearch, imap4_fetch, imap4_search
from .imap4_cache import BodyCache, HeaderCache, RenderedCache
from .imap4_common import ImapStore, Outcome
from .imap4_notify import Mark
from .imap4_resync import Enabled

FETCH_BATCH = 64  # messages read and answered together
FETCH_BATCH_OCTETS = 1 << 20  # at most this much message content held at once (one bigger message alone)
STRUCTURE_CACHE = 512  # loaded structures kept per session (FETCH ENVELOPE of a folder, again and again)


class SelectedFolder:
    def __init__(self, store: ImapStore, folder: Folder, messages: list[FolderMessage], first_recent: int,
                 readonly: bool, emit: Callable[[bytes], None],
                 pace: Callable[[], Awaitable[None]] | None = None, mark: Mark | None = None,
                 seen_count: int = 0, headers: HeaderCache | None = None,
                 enabled: Enabled | None = None, rendered: RenderedCache | None = None,
                 bodies: BodyCache | None = None) -> None:
        self.store = store
        self.folder = folder
        self.readonly = readonly
        self.emit = emit  # writes untagged replies to the client
        self.pace = pace  # awaited after each FETCH reply: waits while the client is behind
        self.mark = mark  # the node's count of the mailbox's changes (None: look after every command)
        self.seen_count = seen_count  # the mark's count when the store was last read
        self.headers = headers if headers is not None else HeaderCache()  # the node's header blocks
        self.rendered = rendered if rendered is not None else RenderedCache()  # and FETCH items
        self.bodies = bodies if bodies is not None else BodyCache()  # and small messages
        self.enabled = enabled if enabled is not None else Enabled()  # the session's CONDSTORE and QRESYNC
        # \Recent was taken for the UIDs below folder.uidnext: mail listed beyond that arrived
        # after the take, is another session's share, and waits for `sync` (which takes again)
        if messages and messages[-1].uid >= folder.uidnext:
            messages = [m for m in messages if m.uid < folder.uidnext]
        self.uids = [m.uid for m in messages]  # index + 1 = message sequence number
        self.messages = {m.uid: m for m in messages}
        # the UID ranges whose \Recent this session took (SELECT's, then each sync's); EXAMINE
        # shows what is \Recent without taking it
        self.taken: list[tuple[int, int]] = [(first_recent, folder.uidnext)]
        # (an IMAP4rev2 session is told of no \Recent: RFC 9051 has none; it still takes its share)
        self.rev2 = self.enabled.mode.rev2
        self.recent = set() if self.rev2 else set(self.uids[bisect.bisect_left(self.uids, first_recent):])
        self.gone: set[int] = set()  # expunged elsewhere, not yet announced
        self.modseq = folder.highest_modseq
        self.held = self.modseq  # the modseq told while expunges wait (`gone`): all before them is told
        self.listed = self.modseq  # the modseq the view was last listed at (the view may be newer)
        self.last_uid = self.uids[-1] if self.uids else 0
        self.structures: dict[int, structure.Structure] = {}
        # the keywords the client was told of in FLAGS: a FETCH FLAGS may carry no other (RFC 3501 7.2.6)
        self.keywords = _keywords(messages)
        self.saved: list[int] = []  # SEARCH RETURN (SAVE)'s result, UIDs: what "$" stands for (RFC 5182)

    # --------------------------------------------------------------------- the view
    def _flags_replies(self, readonly_too: bool = True) -> bytes:
        flags = " ".join(SYSTEM_FLAGS + tuple(sorted(self.keywords))).encode()
        if self.readonly:
            return b"* FLAGS (%s)\r\n" % flags + (b"* OK [PERMANENTFLAGS ()] Read-only folder.\r\n"
                                                   if readonly_too else b"")
        return b"* FLAGS (%s)\r\n* OK [PERMANENTFLAGS (%s \\*)] Flags permitted.\r\n" % (flags, flags)

    def announce(self, messages: Iterable[FolderMessage]) -> bytes:
        """FLAGS (and PERMANENTFLAGS) again when these messages carry a keyword the client has not
        been told of (set by this session or another): sent before the replies that show it."""
        new = _keywords(messages) - self.keywords
        if not new:
            return b""
        self.keywords |= new
        return self._flags_replies(readonly_too=False)

    def select_replies(self) -> bytes:
        out = [self._flags_replies(), b"* %d EXISTS\r\n" % len(self.uids)]
        if not self.rev2:  # RFC 9051 has no RECENT, and leaves the first unseen to SEARCH
            out.append(b"* %d RECENT\r\n" % len(self.recent))
        unseen = None if self.rev2 else next(
            (i for i, uid in enumerate(self.uids) if "\\Seen" not in self.messages[uid].flags), None)
        if unseen is not None:
            out.append(b"* OK [UNSEEN %d] First unseen.\r\n" % (unseen + 1))
        out.append(b"* OK [UIDVALIDITY %d] UIDs valid.\r\n" % self.folder.uidvalidity)
        out.append(b"* OK [UIDNEXT %d] Predicted next UID.\r\n" % max(self.folder.uidnext, self.last_uid + 1))
        if self.enabled.condstore:
            out.append(condstore.highest_line(self.modseq))
        return b"".join(out)

    @property
    def safe_modseq(self) -> int:
        """The HIGHESTMODSEQ a client may resync from: every change up to it was told (RFC 7162 3.2)."""
        return self.held if self.gone else self.modseq

    def _quiet(self) -> bool:
        """Whether nothing can have changed since the last look: no report of a change of the
        mailbox (on any node) since."""
        return self.mark is not None and self.mark.count == self.seen_count

    def mark_count(self) -> int:
        return self.mark.count if self.mark is not None else 0

    def own_write(self, before: int, in_step: bool) -> None:
        """Our own write, which the store reported to the node's notifier as it returned (the
        mark's count moved by one from `before`, its count as the write began). When nothing else
        was reported since our last look and the write's modseq followed the one we knew
        (`in_step`), the view is as fresh as that look: the next command needs no look of its own."""
        if self.mark is not None and in_step and before == self.seen_count and self.mark.count == before + 1:
            self.seen_count = self.mark.count

    async def sync(self, allow_expunge: bool, force: bool = False) -> None:
        """Look for other sessions' changes and announce them (see the module's doc); `force`:
        look even when the notifier saw no change (NOOP, CHECK, IDLE: the client asks)."""
        if not force and self._quiet() and not (allow_expunge and self.gone):
            return
        count = self.mark_count()
        if not self.gone:
            self.held = self.modseq  # expunges found now come after it
        try:
            modseq = await self._modseq()
        except NotFound:  # the folder was deleted: its messages are gone
            self.gone.update(self.uids)
            self.modseq = -1
            if allow_expunge:
                self.emit(self.remove(sorted(self.gone)))
                self.gone.clear()
            return
        # Against the modseq of the last listing, not self.modseq: after the session's own writes
        # a look reads them back (a small read), with any change of another session that had the
        # modseq one of ours was taken to have (a STORE that changed nothing cannot tell).
        if modseq == self.listed and not (allow_expunge and self.gone):
            self.seen_count = count
            return
        current, whole = await self._changes()
        out: list[bytes] = [self.announce(current)]
        present = set()
        for message in current:
            present.add(message.uid)
            known = self.messages.get(message.uid)
            if known is None or message.uid in self.gone or known.modseq == message.modseq:
                continue
            self.messages[message.uid] = message  # its modseq too: CHANGEDSINCE reads the view
            if known.flags != message.flags or self.enabled.condstore:
                out.append(condstore.fetch_line(self, message))
        if whole:  # a listing: what it lacks was expunged
            self.gone.update(uid for uid in self.uids if uid not in present)
        if allow_expunge and self.gone:
            out.append(self.remove(sorted(self.gone)))
            self.gone.clear()
        new = [m for m in current if m.uid > self.last_uid]
        if new:
            # \Recent for a read-write session that takes them first (EXAMINE takes none: 6.3.2).
            # The take reaches the folder's uidnext *now*: mail delivered since the listing is
            # ours too, and stays ours when a later sync lists it.
            if not self.readonly and not self._took(new[-1].uid):
                taken, first_recent = await self.store.take_recent(self.folder.id)
                self.taken.append((first_recent, taken.uidnext))
            for message in new:
                self.uids.append(message.uid)
                self.messages[message.uid] = message
                if self._took(message.uid) and not self.rev2:
                    self.recent.add(message.uid)
            self.last_uid = new[-1].uid
            self.taken = [r for r in self.taken if r[1] > self.last_uid + 1]  # only ranges still ahead
            out.append(b"* %d EXISTS\r\n" % len(self.uids))
            if not self.rev2:
                out.append(b"* %d RECENT\r\n" % len(self.recent))
        self.modseq = self.listed = modseq
        self.seen_count = count
        if any(out):
            self.emit(b"".join(out))

    async def _changes(self) -> tuple[list[FolderMessage], bool]:
        """What changed since the view was last listed (or looked at): the messages changed or
        added since, when the folder's count says none the view holds was expunged meanwhile
        (a large folder is not listed again for a flag changed or a message delivered); else
        the whole listing (True)."""
        changed, count = await self.store.folder_changes(self.folder.id, self.listed)
        added = sum(1 for m in changed if m.uid > self.last_uid)
        if len(self.uids) - len(self.gone) + added == count:
            return changed, False
        return await self.store.folder_messages(self.folder.id), True

    async def _modseq(self) -> int:
        """The folder's highest_modseq now: its row by name (one indexed read, whatever the
        folder holds); by id when the name is gone (renamed: still the same folder)."""
        try:
            folder = await self.store.get_folder(self.folder.mailbox_id, self.folder.name)
            if folder.id == self.folder.id:
                return folder.highest_modseq
        except NotFound:
            pass
        return (await self.store.folder_status(self.folder.id)).highest_modseq  # NotFound: deleted

    def _took(self, uid: int) -> bool:
        return any(low <= uid < high for low, high in self.taken)

    def msn(self, uid: int) -> int:
        return bisect.bisect_left(self.uids, uid) + 1

    def remove(self, uids: Sequence[int]) -> bytes:
        """Take these UIDs out of the view: one EXPUNGE each, highest first (so each number
        sent is right when the client reads it); one VANISHED for a QRESYNC client."""
        out, vanished = [], []
        for uid in sorted(uids, reverse=True):
            index = bisect.bisect_left(self.uids, uid)
            if index < len(self.uids) and self.uids[index] == uid:
                if self.enabled.qresync:
                    vanished.append(uid)
                else:
                    out.append(b"* %d EXPUNGE\r\n" % (index + 1))
                del self.uids[index]
                self.messages.pop(uid, None)
                self.recent.discard(uid)
                self.structures.pop(uid, None)
        return b"".join(out) + condstore.vanished_line(vanished)

    def resolve(self, sequence: SequenceSet, uid: bool) -> list[int] | None:
        """The UIDs a sequence set names, ascending; None for a message number out of range."""
        if not uid:
            count = len(self.uids)
            chosen: set[int] = set()
            for low, high in sequence.resolve(count):
                if low < 1 or high > count:
                    return None
                chosen.update(range(low - 1, high))
            return [self.uids[i] for i in sorted(chosen)]
        largest = self.uids[-1] if self.uids else 0
        found: set[int] = set()
        for low, high in sequence.resolve(largest):
            start, end = bisect.bisect_left(self.uids, low), bisect.bisect_right(self.uids, high)
            found.update(self.uids[start:end])
        return sorted(found)

    # ------------------------------------------------------------------- commands
    async def fetch(self, command: Fetch, mailbox_id: int) -> Outcome:
        uids = self.resolve(command.sequence, command.uid)
        if uids is None:
            return Outcome("BAD", "The message sequence number is out of range.")
        if command.changed_since is not None:
            if command.vanished:
                if not self.enabled.qresync:
                    return Outcome("BAD", "UID FETCH (VANISHED) needs ENABLE QRESYNC first.")
                await condstore.fetch_vanished(self, command)
            uids = [u for u in uids if self.messages[u].modseq > command.changed_since]
        plan = imap4_fetch.plan(tuple(command.attributes), command.uid)
        messages = self.messages
        alive = [u for u in uids if u not in self.gone] if self.gone else uids
        seen_now: set[int] = set()
        if not self.readonly and plan.seen:
            unseen = [u for u in alive if "\\Seen" not in messages[u].flags]
            if unseen:
                before = self.mark_count()
                changed = await self.store.store_flags(self.folder.id, unseen, ("\\Seen",), "add")
                for message in changed:
                    self._learn(message)
                    seen_now.add(message.uid)
                if changed:
                    self.own_write(before, in_step=max(m.modseq for m in changed) == self.modseq)
        missing = len(alive) < len(uids)
        serial, recent, condstore_on = plan.serial, self.recent, self.enabled.condstore
        for batch in _batches(alive, messages, plan.content):
            # what the node keeps rendered needs nothing read (RFC 2180 4.1.1 lets a message
            # expunged elsewhere be answered so, as from the header cache)
            fixed = self.rendered.get_many([(serial, messages[uid].id) for uid in batch]) if plan.fixed else {}
            unrendered = [uid for uid in batch if (serial, messages[uid].id) not in fixed] if fixed else batch
            if plan.structure and unrendered:
                await self._load_structures(unrendered)
            octets: dict[int, bytes] = {}
            if plan.content:  # read together: one read for the batch, not one per message
                octets = await self.contents(mailbox_id, batch)
            elif plan.header and unrendered:  # only the header blocks: those the node keeps, the others in one read
                blocks = await self._headers(mailbox_id, [messages[uid].id for uid in unrendered])
                octets = {uid: blocks[messages[uid].id] for uid in unrendered if messages[uid].id in blocks}
            replies = [self.announce(messages[uid] for uid in batch)]
            rendered: dict[tuple[int, int], bytes] = {}
            for uid in batch:
                message = messages[uid]
                kept = fixed.get((serial, message.id)) if fixed else None
                data = octets.get(uid)
                parsed = self.structures.get(uid)
                if kept is None and (((plan.content or plan.header) and data is None)
                                     or (plan.structure and parsed is None)):
                    missing = True  # expunged meanwhile by another session
                    continue
                try:
                    if kept is None and plan.fixed:
                        kept = rendered[serial, message.id] = plan.render_fixed(message, parsed, data)
                    replies.append(plan.render(self.msn(uid), message, uid in recent, parsed, data,
                                               uid in seen_now, condstore_on, kept))
                except binary.UnknownEncoding as exc:  # RFC 3516 4.3: the whole FETCH fails
                    self._emit_fetch(plan, replies)
                    return Outcome("NO", f"Message {self.msn(uid)} has a part in the Content-Transfer-Encoding "
                                   f"{exc.encoding}, which the server cannot decode.", "UNKNOWN-CTE")
            if rendered:
                self.rendered.put_many(rendered)
            self._emit_fetch(plan, replies)
            if self.pace is not None:
                await self.pace()
        if missing:
            return Outcome("NO", "Some of the requested messages no longer exist.", "EXPUNGEISSUED")
        return Outcome("OK", "FETCH completed.")

    def _emit_fetch(self, plan: imap4_fetch.Plan, replies: list[bytes]) -> None:
        """A batch's FETCH replies: one piece per message when they carry its text, so that no
        two messages are ever compressed together (server/compression.py); else one piece."""
        if plan.message_text:
            for reply in replies:
                self.emit(reply)
        else:
            self.emit(b"".join(replies))

    def batches(self, uids: list[int], whole: bool) -> Iterator[list[int]]:
        return _batches(uids, self.messages, whole)

    async def _headers(self, mailbox_id: int, ids: list[int]) -> dict[int, bytes]:
        """The header blocks of these entries (a message expunged by another session may still
        be answered from the node's cache: RFC 2180 4.1.1 allows it)."""
        blocks = self.headers.get_many(ids)
        if len(blocks) < len(ids):
            found = await self.store.read_headers(mailbox_id, [i for i in ids if i not in blocks])
            self.headers.put_many(found)
            blocks.update(found)
        return blocks

    async def contents(self, mailbox_id: int, uids: list[int], kept: bool = True) -> dict[int, bytes]:
        """UID -> the message's octets, for those not gone: those the node keeps (`kept`), the
        others in one read. A FETCH may answer a message expunged elsewhere from the node's cache
        (RFC 2180 4.1.1, as from the header cache); a SEARCH reads them all (a match of one gone
        says EXPUNGEISSUED, RFC 5530)."""
        ids = [self.messages[uid].id for uid in uids]
        found = self.bodies.get_many(ids) if kept else {}
        if len(found) < len(ids):
            read = await self.store.read_messages(mailbox_id, [i for i in ids if i not in found])
            self.bodies.put_many(read)
            found.update(read)
        return {uid: found[message_id] for uid, message_id in zip(uids, ids) if message_id in found}

    async def _load_structures(self, uids: Sequence[int]) -> None:
        wanted = {self.messages[u].id: u for u in uids if u not in self.structures}
        if not wanted:
            return
        if len(self.structures) + len(wanted) > STRUCTURE_CACHE:
            self.structures.clear()
        for message_id, text in (await self.store.read_structures(list(wanted))).items():
            try:
                self.structures[wanted[message_id]] = structure.load(text)
            except ValueError:  # stored by an older version: describe the octets again
                try:
                    data = await self.store.read_message(self.folder.mailbox_id, message_id)
                except NotFound:
                    continue  # expunged meanwhile: the FETCH skips it
                self.structures[wanted[message_id]] = structure.load(structure.describe(data))

    def _learn(self, message: FolderMessage) -> None:
        """A message as our own write left it: our view takes it without announcing it, and the
        folder's modseq we know moves with it when nothing else changed meanwhile."""
        if message.uid in self.messages:
            self.messages[message.uid] = message
        if message.modseq == self.modseq + 1:
            self.modseq = message.modseq

    async def search(self, command: Search, mailbox_id: int) -> Outcome:
        found, unreadable = await imap4_search.run(self, command, mailbox_id)
        if command.returns is not None:  # ESEARCH and SEARCHRES
            self.emit(imap4_esearch.reply(self, command, found))
        else:
            numbers = " ".join(map(str, found)).encode("ascii")
            self.emit(b"* SEARCH" + (b" " + numbers if found else b"") + condstore.search_tail(self, command, found)
                      + b"\r\n")
        if unreadable:  # expunged elsewhere: its content could not be searched (RFC 5530)
            return Outcome("OK", "SEARCH completed; some messages no longer exist.", "EXPUNGEISSUED")
        return Outcome("OK", "SEARCH completed.")


def _keywords(messages: Iterable[FolderMessage]) -> set[str]:
    """The keywords these messages carry (looked at once per distinct set of flags)."""
    return {flag for flags in {m.flags for m in messages} for flag in flags if not flag.startswith("\\")}


def _batches(uids: list[int], messages: dict[int, FolderMessage], whole: bool) -> Iterator[list[int]]:
    """FETCH works in batches of up to FETCH_BATCH messages and, when whole messages are read,
    FETCH_BATCH_OCTETS of them (a batch is held in memory until its replies are written)."""
    batch: list[int] = []
    octets = 0
    for uid in uids:
        size = messages[uid].size if whole else 0
        if batch and (len(batch) >= FETCH_BATCH or octets + size > FETCH_BATCH_OCTETS):
            yield batch
            batch, octets = [], 0
        batch.append(uid)
        octets += size
    if batch:
        yield batch
