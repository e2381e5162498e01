"""The FolderStore role: a mailbox's IMAP4 folders and the messages in them.

A folder is named per mailbox; INBOX is the folder SMTP delivers to and POP3 reads (so a POP3
deletion is an expunge for IMAP sessions, and a message IMAP moves out of INBOX leaves POP3's
listing). Names match exactly, except "INBOX", which matches in any case (RFC 3501 5.1).
Every write is one transaction, durable on return, and bumps the folder's highest_modseq (and
the changed messages' modseq to that value), which sessions poll to learn of others' changes.
Every removal (expunge, move, a POP3 deletion, INBOX's messages leaving it on rename) records
the removed UIDs with the modseq it took, in the same transaction; a folder keeps the newest
EXPUNGE_RECORD (storage/sql/folders.py) of those, and says how far back its record reaches
(expunged_since: QRESYNC, RFC 7162). A deleted folder's record goes with it.
NotFound when a folder (or mailbox) does not exist; Conflict when a name is taken.
A message's octets are read with MailStore.read_message(mailbox_id, id), in any folder.

`structure` is the message structure computed once when the body was stored
(postroom.protocol.imap4.structure.describe: JSON text), never re-parsed per FETCH.
"""
from __future__ import annotations

from typing import Protocol, Sequence

from ..model.imap import Folder, FolderMessage, FolderStatus


class FolderStore(Protocol):
    async def list_folders(self, mailbox_id: int) -> list[Folder]:
        """Every folder of the mailbox, INBOX first, then by name."""
    async def get_folder(self, mailbox_id: int, name: str) -> Folder:
        """NotFound if absent."""
    async def create_folder(self, mailbox_id: int, name: str, special_use: str = "") -> Folder:
        """A new folder with a fresh uidvalidity (never one a deleted folder of that name had);
        its missing superiors ("a" and "a/b" for "a/b/c") are created too (RFC 3501 6.3.3)."""
    async def delete_folder(self, mailbox_id: int, name: str) -> None:
        """The folder and its messages (bodies go with their last entry). INBOX: ValidationError;
        a folder with folders under it: Conflict (delete those first). Subscriptions stay."""
    async def rename_folder(self, mailbox_id: int, old: str, new: str) -> None:
        """Renames the folder and the folders under it ("a" -> "b" also makes "a/x" "b/x").
        Renaming INBOX moves all its messages to a new folder `new` and leaves INBOX empty
        (RFC 3501 6.3.5). Conflict if `new` (or a renamed child) exists. Missing superiors of
        `new` are created; subscriptions of renamed folders follow them."""
    async def list_subscriptions(self, mailbox_id: int) -> list[str]:
        """Subscribed names, by name (a name may be subscribed without existing)."""
    async def set_subscription(self, mailbox_id: int, name: str, subscribed: bool) -> None: ...

    async def folder_messages(self, folder_id: int) -> list[FolderMessage]:
        """Every message of the folder, by UID."""
    async def folder_changes(self, folder_id: int, modseq: int) -> tuple[list[FolderMessage], int]:
        """What changed in the folder after `modseq`: its messages added or changed since (their
        modseq above it), by UID, and how many messages it holds now; one snapshot. A session
        that knew the folder at `modseq` knows it now, or, when the count says some it knew were
        expunged, lists it again (folder_messages)."""
    async def folder_status(self, folder_id: int) -> FolderStatus: ...
    async def take_recent(self, folder_id: int) -> tuple[Folder, int]:
        """A read-write SELECT: returns the folder and the first UID that is \\Recent for this
        session, and moves the folder's first_recent_uid to its uidnext (one session gets
        each message as recent). NotFound if the folder is gone."""
    async def store_flags(self, folder_id: int, uids: Sequence[int], flags: Sequence[str],
                          mode: str) -> list[FolderMessage]:
        """mode "add", "remove" or "replace" (STORE +FLAGS, -FLAGS, FLAGS). Returns the messages
        among `uids` that still exist, with their flags after the change (unchanged ones too)."""
    async def store_flags_if_unchanged(self, folder_id: int, uids: Sequence[int], flags: Sequence[str], mode: str,
                                       unchanged_since: int) -> tuple[list[FolderMessage], list[FolderMessage]]:
        """STORE (UNCHANGEDSINCE n) (RFC 7162 3.1.3): store_flags on the messages among `uids`
        whose modseq is at most `unchanged_since`, in one transaction with the test. Returns
        (those, after the change, unchanged ones too; the others, left as they are)."""
    async def expunged_since(self, folder_id: int, modseq: int) -> tuple[list[int], bool]:
        """The UIDs of the folder's messages removed at a modseq above `modseq`, ascending, and
        whether the record of expunged UIDs reaches back that far (False: entries above `modseq`
        were pruned, the UIDs listed are only some of those removed). One snapshot."""
    async def expunge(self, folder_id: int, uids: Sequence[int] | None = None) -> list[int]:
        """Remove the folder's \\Deleted messages (only those among `uids` when given: UID
        EXPUNGE); returns the removed UIDs, ascending."""
    async def copy_messages(self, folder_id: int, uids: Sequence[int], target_folder_id: int, *,
                            move: bool = False) -> list[tuple[int, int]]:
        """Copy (or move: copy and remove from the source, in one transaction) the messages
        among `uids` that exist into the target folder, in UID order, with their flags and
        internal date; the body is shared, not copied. Returns (source UID, new UID) pairs."""
    async def append_message(self, folder_id: int, data: bytes, flags: Sequence[str] = (),
                             internal_date: str | None = None) -> FolderMessage:
        """APPEND: `data` in wire form (CRLF lines); `internal_date` ISO-8601 UTC (None: now)."""
    async def read_structures(self, message_ids: Sequence[int]) -> dict[int, str]:
        """Entry id -> the stored structure (JSON text) of its body, for the ids that exist."""
    async def read_messages(self, mailbox_id: int, message_ids: Sequence[int]) -> dict[int, bytes]:
        """Entry id -> the octets of its message, for the mailbox's ids that exist, in one read
        (FETCH of several bodies; the caller bounds how many octets it asks for at once)."""
    async def read_headers(self, mailbox_id: int, message_ids: Sequence[int]) -> dict[int, bytes]:
        """Entry id -> the header block of its message (its octets up to the body, with the
        empty line that ends the header: BODY[HEADER]), for the mailbox's ids that exist; in
        one read, never loading the whole bodies (FETCH BODY.PEEK[HEADER.FIELDS (...)] of a
        folder). Messages are in any folder of the mailbox."""

    # moving a store (`postroom migrate`): folders, UIDs and flags as they were
    async def restore_folders(self, mailbox_id: int, folders: Sequence[Folder],
                              subscriptions: Sequence[str]) -> list[Folder]:
        """The mailbox's folders become `folders` (each keeps its name, special use,
        uidvalidity, uidnext, first_recent_uid and highest_modseq; id and mailbox_id are
        ignored; INBOX must be there) and its subscriptions `subscriptions`; the store never
        hands out those uidvalidities again. A folder not listed must be empty (Conflict), a
        kept one's uidnext must stay above its messages. Returns list_folders()."""
    async def restore_folder_messages(self, folder_id: int,
                                      messages: Sequence[tuple[FolderMessage, str, bytes]]) -> list[FolderMessage]:
        """(message, its UIDL or "" for a new one, its octets), each keeping its UID, flags,
        modseq and internal date, in ascending UIDs above the folder's messages and below its
        uidnext (else Conflict, as for a UIDL already stored); one transaction, durable on
        return. Returns them with their new ids."""
