"""Per-service and per-connector protocol logs with Exchange's fields, rolled by period and
size, old files deleted by age and folder size; off by default; credentials are never written.

One folder per log (DATA/logs/pop3, DATA/logs/smtp/<connector>). Files are CSV with Exchange's
header lines and fields, named PREFIX-STAMP-N.log: STAMP is the roll-over period (hourly
YYYYMMDDHH, daily YYYYMMDD, weekly the Monday's YYYYMMDD, monthly YYYYMM, all UTC) and N counts
the files of that period from 1, a new one whenever the next line would take the current file
past its size limit. At each roll, and from `flush` (the node calls it twice a second) at most
once a minute, files older than the age limit are deleted and then, oldest first, files until
the folder is within its size limit. Never on every write: a write is one buffered append.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import re
import time
from dataclasses import dataclass
from typing import BinaryIO, Callable

from .. import __version__
from ..model import LogFileRollOver
from ..protocol.lines import TooLong

FIELDS = ("date-time,connector-id,session-id,sequence-number,local-endpoint,remote-endpoint,event,data,"
          "context")
CLEANUP_INTERVAL = 60.0  # seconds between two clean-ups of the folder
RETRY_INTERVAL = 5.0  # seconds a log that could not be written drops lines before trying again
log = logging.getLogger("postroom.protocol_log")


@dataclass(frozen=True)
class LogLimits:
    """When to start a new file and what to delete; 0 means no limit."""

    roll_over: LogFileRollOver = LogFileRollOver.DAILY
    max_file_size: int = 0  # octets per file
    max_age: int = 0  # seconds since a file was last written
    max_directory_size: int = 0  # octets of this log's files together


def period_stamp(when: dt.datetime, roll_over: LogFileRollOver) -> str:
    """The part of a file name that changes with the roll-over period (UTC)."""
    if roll_over == LogFileRollOver.HOURLY:
        return when.strftime("%Y%m%d%H")
    if roll_over == LogFileRollOver.WEEKLY:
        return (when - dt.timedelta(days=when.weekday())).strftime("%Y%m%d")
    if roll_over == LogFileRollOver.MONTHLY:
        return when.strftime("%Y%m")
    return when.strftime("%Y%m%d")


def _csv(text: str) -> str:
    return f'"{text.replace(chr(34), chr(34) * 2)}"' if any(c in text for c in ',"\r\n') else text


class ProtocolLog:
    def __init__(self, directory: str, prefix: str, *, connector_id: str = "", limits: LogLimits | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.directory = directory
        self.prefix = prefix
        self.connector_id = connector_id  # the receive connector's name; empty in the POP3 log
        self.limits = limits or LogLimits()
        self.clock = clock  # seconds since the epoch (tests pass a fake one)
        self._pattern = re.compile(rf"{re.escape(prefix)}-(\d{{6,10}})-(\d+)\.log")
        self._stamp = ""
        self._path = ""
        self._size = 0
        self._empty = True  # the current file has its header only
        self._handle: BinaryIO | None = None
        self._last_cleanup = float("-inf")
        self._retry_at = float("-inf")  # after a failed write (disk full): when to try again
        self._dropped = 0  # lines dropped since the log last failed

    def configure(self, limits: LogLimits, connector_id: str | None = None) -> None:
        """New limits apply from the next line (a smaller size limit rolls then)."""
        self.limits = limits
        if connector_id is not None:
            self.connector_id = connector_id

    def write(self, session: str, sequence: int, local: str, remote: str, event: str, data: str,
              context: str = "") -> None:
        now = self.clock()
        when = dt.datetime.fromtimestamp(now, dt.timezone.utc)
        text = data.replace('"', '""')
        note = f'"{context.replace(chr(34), chr(34) * 2)}"' if context else ""
        line = (f'{when.strftime("%Y-%m-%dT%H:%M:%S")}.{when.microsecond // 1000:03d}Z,{_csv(self.connector_id)},'
                f'{session},{sequence},{local},{remote},{event},"{text}",{note}\n').encode("utf-8", "replace")
        if now < self._retry_at:  # a full disk: the log is evidence, never a reason to fail a session
            self._dropped += 1
            return
        try:
            handle = self._file(when, now, len(line))
            handle.write(line)
        except OSError as exc:
            self._failed(exc, now)
            return
        if self._dropped:
            log.warning("protocol log %s is written again; %d line(s) were dropped", self.directory, self._dropped)
            self._dropped = 0
        self._size += len(line)
        self._empty = False

    def _failed(self, exc: OSError, now: float) -> None:
        if not self._dropped:
            log.warning("protocol log %s cannot be written (%s): lines are dropped until it can",
                        self.directory, exc.strerror or exc)
        self._dropped += 1
        self._retry_at = now + RETRY_INTERVAL
        handle, self._handle = self._handle, None  # the next try opens the file again
        if handle is not None:
            try:
                handle.close()
            except OSError:
                pass

    def flush(self) -> None:
        """Write out what is buffered; clean the folder up if the last clean-up is a minute old."""
        if self._handle:
            try:
                self._handle.flush()
            except OSError as exc:
                self._failed(exc, self.clock())
        if self.clock() - self._last_cleanup >= CLEANUP_INTERVAL:
            self.cleanup()

    def close(self) -> None:
        if self._handle:
            try:
                self._handle.close()
            except OSError:  # what was buffered is lost with the disk full; nothing else to do
                pass
            self._handle = None

    # rolling ---------------------------------------------------------------------------
    def _file(self, when: dt.datetime, now: float, needed: int) -> BinaryIO:
        stamp = period_stamp(when, self.limits.roll_over)
        quota = self.limits.max_file_size
        full = bool(quota) and not self._empty and self._size + needed > quota
        if self._handle is None or stamp != self._stamp or full:
            self._open(stamp, when, needed)
            if now - self._last_cleanup >= CLEANUP_INTERVAL:  # at roll time, still at most once a minute
                self.cleanup()
        assert self._handle is not None
        return self._handle

    def _open(self, stamp: str, when: dt.datetime, needed: int) -> None:
        self.close()
        os.makedirs(self.directory, exist_ok=True)
        numbers = [int(m.group(2)) for name in os.listdir(self.directory)
                   if (m := self._pattern.fullmatch(name)) and m.group(1) == stamp]
        number = max(numbers, default=1)
        path = self._name(stamp, number)
        size = os.path.getsize(path) if os.path.exists(path) else 0
        quota = self.limits.max_file_size
        if quota and size > 0 and size + needed > quota:
            number += 1  # the file we just filled, or one a previous run filled
            path, size = self._name(stamp, number), 0
        self._handle = open(path, "ab", buffering=1 << 16)
        if size == 0:
            header = (f"#Software: postroom\n#Version: {__version__}\n#Log-Type: {self.prefix} Protocol Log\n"
                      f"#Date: {when.strftime('%Y-%m-%dT%H:%M:%S')}.{when.microsecond // 1000:03d}Z\n"
                      f"#Fields: {FIELDS}\n").encode()
            self._handle.write(header)
            size = len(header)
            self._empty = True
        else:
            self._empty = False
        self._stamp, self._path, self._size = stamp, path, size

    def _name(self, stamp: str, number: int) -> str:
        return os.path.join(self.directory, f"{self.prefix}-{stamp}-{number}.log")

    # clean-up --------------------------------------------------------------------------
    def cleanup(self) -> list[str]:
        """Delete this log's files beyond the age limit, then oldest first until the folder is
        within its size limit; never the file being written. Returns the deleted paths."""
        self._last_cleanup = self.clock()
        limits = self.limits
        if not (limits.max_age or limits.max_directory_size):
            return []
        if self._handle:
            try:
                self._handle.flush()  # its size counts in the folder's
            except OSError as exc:
                self._failed(exc, self.clock())
        files = []
        try:
            names = os.listdir(self.directory)
        except OSError:
            return []
        for name in names:
            if not self._pattern.fullmatch(name):
                continue
            path = os.path.join(self.directory, name)
            try:
                info = os.stat(path)
            except OSError:
                continue
            files.append((info.st_mtime, name, path, info.st_size))
        files.sort()
        deleted: list[str] = []
        total = sum(f[3] for f in files)
        for mtime, _, path, size in files:
            if path == self._path:
                continue
            too_old = bool(limits.max_age) and mtime < self._last_cleanup - limits.max_age
            too_big = bool(limits.max_directory_size) and total > limits.max_directory_size
            if not (too_old or too_big):
                continue
            try:
                os.remove(path)
            except OSError:
                continue
            total -= size
            deleted.append(path)
        return deleted


# Redaction: one rule for every protocol, applied to each command line as the core reads it
# (its line framing, not the TCP segmentation: the same dialogue logs the same lines however
# it arrives). Verbs in `logged` keep their arguments; AUTH keeps its mechanism; verbs in
# `masked` keep only their name; SASL responses and anything else are masked whole.
POP3_LOGGED = frozenset({"USER", "STAT", "LIST", "RETR", "DELE", "TOP", "UIDL", "NOOP", "RSET", "QUIT", "CAPA",
                         "STLS"})
POP3_MASKED = frozenset({"PASS", "APOP"})
SMTP_LOGGED = frozenset({"EHLO", "HELO", "MAIL", "RCPT", "DATA", "BDAT", "RSET", "NOOP", "QUIT", "VRFY", "HELP",
                         "STARTTLS"})
MAX_LOGGED = 200  # characters of a logged command line


def redact_command(line: bytes | object, sasl_response: bool, logged: frozenset[str],
                   masked: frozenset[str] = frozenset()) -> str:
    """A received command line as logged: credentials never reach the log."""
    if line is TooLong:
        return "(line too long)"
    if sasl_response or not isinstance(line, (bytes, bytearray)):
        return "****"
    text = line.decode("utf-8", "replace")
    verb = text.split(" ", 1)[0].upper()
    if verb in logged:
        return text[:MAX_LOGGED]
    if verb == "AUTH":
        parts = text.split(" ")
        return " ".join(parts[:2])[:MAX_LOGGED] + (" ****" if len(parts) > 2 else "")
    if verb in masked:
        return f"{verb} ****"
    return "****"


# IMAP4 lines start with a tag: logged as "tag VERB arguments" for these verbs (UID FETCH etc.
# by their second word), "tag LOGIN ****" / "tag AUTHENTICATE PLAIN ****" for the credentials.
IMAP4_LOGGED = frozenset({
    "CAPABILITY", "NOOP", "LOGOUT", "STARTTLS", "SELECT", "EXAMINE", "CREATE", "DELETE", "RENAME", "SUBSCRIBE",
    "UNSUBSCRIBE", "LIST", "LSUB", "STATUS", "APPEND", "CHECK", "CLOSE", "EXPUNGE", "SEARCH", "FETCH", "STORE",
    "COPY", "MOVE", "UID", "IDLE", "DONE", "NAMESPACE", "ID", "ENABLE", "UNSELECT", "COMPRESS"})


def redact_imap_command(line: bytes | object, sasl_response: bool) -> str:
    if line is TooLong:
        return "(line too long)"
    if sasl_response or not isinstance(line, (bytes, bytearray)):
        return "****"
    words = line.decode("utf-8", "replace").split(" ", 3)
    if len(words) == 1:
        return words[0][:MAX_LOGGED] if words[0].upper() == "DONE" else "****"
    verb = words[1].upper()
    if verb in IMAP4_LOGGED:
        return " ".join(words)[:MAX_LOGGED]
    if verb == "LOGIN":
        return f"{words[0][:50]} LOGIN ****"
    if verb == "AUTHENTICATE":
        return " ".join(words[:3])[:MAX_LOGGED] + (" ****" if len(words) > 3 else "")
    return f"{words[0][:50]} ****"


MAX_REPLY_LINES = 20  # reply lines logged per chunk sent (a FETCH of a folder is one chunk of many)
_LITERAL = re.compile(rb"\{(\d+)\}\r\n")


class ImapReplyLines:
    """The lines of the IMAP4 replies a session sends, for its protocol log, without the
    octets of any literal (a message's content, a header, a quoted name) even when a literal
    runs on into the next chunk: one per session, fed every chunk in order."""

    __slots__ = ("skip",)

    def __init__(self) -> None:
        self.skip = 0  # literal octets still to come in the next chunks

    def lines(self, chunk: bytes) -> list[str]:
        """What to log of `chunk`: each reply line, a literal shown as {n} and cut out, at
        most MAX_REPLY_LINES lines and a count of the rest."""
        out: list[str] = []
        more = 0
        position, end = min(self.skip, len(chunk)), len(chunk)
        self.skip -= position
        while position < end:
            line_end = chunk.find(b"\r\n", position)
            line_end = end if line_end < 0 else line_end + 2
            line = chunk[position:line_end]
            position = line_end
            literal = _LITERAL.search(line)
            if literal is not None and literal.end() == len(line):
                taken = min(int(literal.group(1)), end - position)
                self.skip = int(literal.group(1)) - taken
                position += taken
            if len(out) < MAX_REPLY_LINES:
                out.append(line.rstrip(b"\r\n")[:MAX_LOGGED].decode("utf-8", "replace"))
            else:
                more += 1
        if more:
            out.append(f"({more} more lines)")
        return out
