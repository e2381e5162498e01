"""Message content spooled to a file while it arrives (as Postfix writes its queue file).

Past `SPOOL_THRESHOLD` octets of content, an SMTP session takes the finished start of the
message from its core (`SmtpServer.take_content`: unstuffed, normalised) and writes it to a
file in `<data>/spool/`; the store then copies the body from that file. What a session holds
in memory stays bounded (its receive buffer and one piece being written) whatever the size
of the message. Below the threshold nothing touches the disk.

Files are created 0600 (O_EXCL, never followed through a link) and written by a small pool
of threads, one write in flight per session (reading from the client pauses while the next
piece waits for it), so a slow disk never blocks the event loop. A spool file is removed
once its delivery is over, whatever the outcome; files a crash left behind are removed when
the node starts. The spool is a buffer, not the durable copy: "250" still waits for the
store's commit, so spool files are never fsync'ed.
"""
from __future__ import annotations

import asyncio
import errno
import logging
import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

log = logging.getLogger("postroom.smtp")

SPOOL_THRESHOLD = 1024 * 1024  # octets of content a session holds before it spools
SPOOL_DIR = "spool"  # under the data directory
WRITER_THREADS = 4
HEADER_SCAN = 64 * 1024  # the start of the message kept in memory (Message-ID lookup)
FULL_DISK = (errno.ENOSPC, errno.EDQUOT)
_SUFFIX = ".msg"
_pool: ThreadPoolExecutor | None = None


def _writers() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(WRITER_THREADS, thread_name_prefix="postroom-spool")
    return _pool


def spool_dir(data_dir: str) -> str:
    return os.path.join(data_dir, SPOOL_DIR)


def clear_orphans(directory: str) -> int:
    """At node start: create the spool directory (0700) and remove what a crash left in it
    (no session of this node can own a file yet). Returns how many were removed."""
    removed = 0
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.name.endswith(_SUFFIX) and entry.is_file(follow_symlinks=False):
                    os.unlink(entry.path)
                    removed += 1
    except OSError as exc:  # not fatal: a session that cannot spool answers 451/452
        log.warning("spool directory %s: %s", directory, exc.strerror or exc)
    if removed:
        log.info("removed %d spool file(s) left by an earlier run from %s", removed, directory)
    return removed


class Spool:
    """One message's spooled start. `size` octets were handed to `write()` in order;
    `error` is the first write failure (the delivery is then refused: 452 on a full disk)."""

    def __init__(self, directory: str) -> None:
        self.path = os.path.join(directory, uuid.uuid4().hex + _SUFFIX)
        self.size = 0
        self.head = b""  # the message's first HEADER_SCAN octets
        self.error: OSError | None = None
        self._fd: int | None = None
        self._pending: asyncio.Future[None] | None = None
        self._removed = False

    @property
    def writing(self) -> bool:
        return self._pending is not None and not self._pending.done()

    @property
    def full_disk(self) -> bool:
        return self.error is not None and self.error.errno in FULL_DISK

    def write(self, piece: bytes, done: Callable[[], None]) -> None:
        """Append `piece` off the event loop; `done()` runs on the loop when it is written."""
        assert not self.writing and not self._removed
        self.size += len(piece)
        if len(self.head) < HEADER_SCAN:
            self.head += piece[:HEADER_SCAN - len(self.head)]
        if self.error is not None:  # the message will be refused: keep taking, stop writing
            done()
            return
        self._pending = asyncio.get_running_loop().run_in_executor(_writers(), self._write, piece)
        self._pending.add_done_callback(lambda _: done())

    def _write(self, piece: bytes) -> None:  # on a writer thread
        try:
            if self._fd is None:
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
                try:
                    self._fd = os.open(self.path, flags, 0o600)
                except FileNotFoundError:  # the directory went away: make it again
                    os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
                    self._fd = os.open(self.path, flags, 0o600)
            view = memoryview(piece)
            while view:
                view = view[os.write(self._fd, view):]
        except OSError as exc:
            self.error = exc

    async def written(self) -> None:
        """Wait for the write in flight (if any)."""
        if self._pending is not None:
            await asyncio.shield(self._pending)

    def remove(self) -> None:
        """Close and delete the file, once the write in flight (if any) is done. Idempotent."""
        if self._removed:
            return
        self._removed = True
        if self.writing:
            assert self._pending is not None
            self._pending.add_done_callback(lambda _: _writers().submit(self._remove))
        else:
            _writers().submit(self._remove)

    def _remove(self) -> None:  # on a writer thread
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("spool file %s not removed: %s", self.path, exc.strerror or exc)
