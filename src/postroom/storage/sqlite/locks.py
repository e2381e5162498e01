"""The POP3 mailbox lock of the embedded store, held across processes.

One node serves a data directory, but other processes open the same database while it runs:
the CLI (`postroom mailbox message ADDRESS ID --delete` must be refused while a POP3 session
holds the mailbox). So the lock is a `flock` on one small file per mailbox beside the database
(`postroom.db-locks/<mailbox id>`). A flock belongs to the open file, not the process: two
stores, in one process or two, exclude each other, and the lock goes when its holder closes
the file or dies (as PostgreSQL's advisory locks go with their connection). Within one store a
table of holders answers first, so a mailbox costs one open file however often it is asked.
The files stay (removing a lock file races with the next locker); they are empty.
"""
from __future__ import annotations

import fcntl
import logging
import os

log = logging.getLogger("postroom.storage")


class MailboxLockFiles:
    def __init__(self, database_path: str) -> None:
        self.folder = database_path + "-locks"
        self._holders: dict[int, str] = {}
        self._files: dict[int, int] = {}  # mailbox id -> the descriptor holding its flock
        self._warned = False

    def try_lock(self, mailbox_id: int, holder: str) -> bool:
        """Exclusive: False if another holder (of this store or of another) has it. Never
        blocks: no await between the check and the take, so it is atomic on the loop."""
        if self._holders.setdefault(mailbox_id, holder) != holder:
            return False
        if mailbox_id in self._files:
            return True
        try:
            os.makedirs(self.folder, mode=0o750, exist_ok=True)
            fd = os.open(os.path.join(self.folder, str(mailbox_id)), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
        except OSError as exc:
            # A full disk or a read-only folder: this store's sessions still exclude each other
            # (the table above); only other processes cannot see the lock.
            if not self._warned:
                self._warned = True
                log.warning("mailbox locks are held in this process only: cannot open a lock file in %s (%s)",
                            self.folder, exc.strerror)
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # BlockingIOError: another store holds it
            os.close(fd)
            del self._holders[mailbox_id]
            return False
        self._files[mailbox_id] = fd
        return True

    def unlock(self, mailbox_id: int, holder: str) -> None:
        if self._holders.get(mailbox_id) != holder:
            return
        del self._holders[mailbox_id]
        fd = self._files.pop(mailbox_id, None)
        if fd is not None:
            os.close(fd)  # releases the flock

    def release_all(self) -> None:
        """The store closes: every lock it holds goes."""
        for fd in self._files.values():
            os.close(fd)
        self._files.clear()
        self._holders.clear()
