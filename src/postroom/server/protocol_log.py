"""Per-service protocol logs (Exchange's fields), off by default; credentials are never written."""
from __future__ import annotations

import datetime as dt
import os
from typing import TextIO

FIELDS = "date-time,session-id,sequence-number,local-endpoint,remote-endpoint,event,data"


class ProtocolLog:
    """One file per UTC day under DIR: POP3-YYYYMMDD.log, CSV with a #Fields header."""

    def __init__(self, directory: str, prefix: str) -> None:
        self.directory = directory
        self.prefix = prefix
        self._day = ""
        self._handle: TextIO | None = None

    def write(self, session: str, sequence: int, local: str, remote: str, event: str, data: str) -> None:
        now = dt.datetime.now(dt.timezone.utc)
        handle = self._file(now.strftime("%Y%m%d"))
        text = data.replace('"', '""')
        handle.write(f'{now.isoformat(timespec="milliseconds")},{session},{sequence},{local},{remote},{event},"{text}"\n')

    def flush(self) -> None:
        if self._handle:
            self._handle.flush()

    def close(self) -> None:
        if self._handle:
            self._handle.close()
            self._handle = None

    def _file(self, day: str) -> TextIO:
        if day != self._day or self._handle is None:
            self.close()
            os.makedirs(self.directory, exist_ok=True)
            path = os.path.join(self.directory, f"{self.prefix}-{day}.log")
            fresh = not os.path.exists(path)
            self._handle = open(path, "a", encoding="utf-8", buffering=1 << 16)
            if fresh:
                self._handle.write(f"#Software: postroom\n#Log-Type: {self.prefix} Protocol Log\n#Fields: {FIELDS}\n")
            self._day = day
        return self._handle


# Verbs whose arguments are safe to log; anything else (PASS, AUTH data, SASL
# continuation lines, junk) is logged as its verb at most.
_SAFE_ARGS = {"USER", "STAT", "LIST", "RETR", "DELE", "TOP", "UIDL", "NOOP", "RSET", "QUIT", "CAPA", "STLS"}
_KNOWN = _SAFE_ARGS | {"PASS", "AUTH", "APOP"}


def redact(line: bytes) -> str:
    """A received line as logged: credentials never reach the log."""
    text = line.decode("utf-8", "replace").rstrip("\r\n")
    verb = text.split(" ", 1)[0].upper()
    if verb in _SAFE_ARGS:
        return text[:200]
    if verb == "AUTH":
        parts = text.split(" ")
        return " ".join(parts[:2]) + (" ****" if len(parts) > 2 else "")
    if verb in _KNOWN:
        return f"{verb} ****"
    return "****"
