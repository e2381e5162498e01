"""IMAP4 folders and the messages in them, as the store keeps them.

Every mailbox has folders: INBOX (what SMTP delivers to and POP3 reads) and the special-use
folders Sent, Drafts, Trash and Junk (RFC 6154), created with the mailbox. The hierarchy
delimiter is "/". A folder's UIDs are strictly ascending: each new message (delivery, APPEND,
COPY, MOVE) takes the folder's `uidnext` in the transaction that stores it, and no UID is
ever reused while `uidvalidity` stays the same. `uidvalidity` changes only when a folder of
that name is deleted and created again.
"""
from __future__ import annotations

from dataclasses import dataclass

INBOX = "INBOX"
DELIMITER = "/"
#: The folders every mailbox has besides INBOX: (name, special-use attribute), RFC 6154.
SPECIAL_FOLDERS = (("Sent", "\\Sent"), ("Drafts", "\\Drafts"), ("Trash", "\\Trash"), ("Junk", "\\Junk"))
#: IMAP system flags a client may set (\Recent is the server's, never stored).
SYSTEM_FLAGS = ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft")


@dataclass(frozen=True)
class Folder:
    id: int
    mailbox_id: int
    name: str  # the full name, "/"-separated, as the client sees it decoded; "INBOX" for the inbox
    uidvalidity: int
    uidnext: int
    special_use: str = ""  # "", "\\Sent", "\\Drafts", "\\Trash" or "\\Junk"
    #: Messages with a UID at or above this are \Recent for the next session that selects the
    #: folder read-write (RFC 3501 2.3.2); that session moves it to `uidnext`.
    first_recent_uid: int = 1
    #: Bumped by every change in the folder (new message, flag change, expunge): a session
    #: compares it to what it saw to know whether it must look again.
    highest_modseq: int = 0


@dataclass(frozen=True)
class FolderMessage:
    """One message of a folder: `id` is its entry (the same id POP3 uses for INBOX messages)."""

    id: int
    uid: int
    size: int  # exact octets, wire form (RFC822.SIZE)
    internal_date: str  # ISO-8601 UTC: arrival (delivery) or the date APPEND gave
    flags: tuple[str, ...] = ()  # system flags (with backslash) and keywords, sorted, no \Recent
    modseq: int = 0  # the folder's highest_modseq when this message last changed


@dataclass(frozen=True)
class FolderStatus:
    messages: int
    unseen: int  # messages without \Seen
    recent: int  # messages at or above first_recent_uid
    uidnext: int
    uidvalidity: int
    size: int  # total octets (STATUS SIZE, RFC 8438)
    highest_modseq: int
    deleted: int = 0  # messages with \Deleted (STATUS DELETED, RFC 9051)
