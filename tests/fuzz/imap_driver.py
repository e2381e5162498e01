"""The IMAP4 core's fake adapter and output checker for the fuzz properties and the corpus.

The fake answers as the server would: password "good" logs on, anything else fails; SELECT and
EXAMINE succeed (a mailbox named "bad" fails), every other Request gets an untagged line and
`OK`; IDLE pushes `* 1 EXISTS`; TLS handshakes complete at once. The checks (besides those of
`drivers._drive`: nothing escapes, nothing after a close, bounded output):

- every output line is CRLF-terminated, free of control characters, and is `* ...` (untagged), `+ ...` (continuation) or
  `<tag> OK|NO|BAD ...` with a valid tag, and at most 1000 octets (a reply echoes little);
- each tagged reply answers a command: its tag appears in the input;
- the session's Requests carry well-typed commands (a str tag, types.py classes);
- a login the core refuses itself (LoginRefused) is refused for want of TLS, before TLS only.
"""
from __future__ import annotations

import re
from typing import Any

from postroom.protocol.imap4 import types as T
from postroom.protocol.imap4.core import (
    Authenticate, CloseConnection, IdleDone, IdleStarted, ImapConfig, ImapServer, LoginRefused, Request, StartTls,
)

from .drivers import _check_bounded, _drive

CONFIG = ImapConfig(login_type="plain-text-login", max_command_size=1024, max_literal_size=2000, max_errors=40)
_TAG = rb"[\x21\x23\x24\x26\x27\x2c-\x5b\x5d-\x7a\x7c-\x7e]+"  # ASTRING-CHAR but "+"
_CONTROL = re.compile(rb"[\x00-\x1f\x7f]")
_LINE = re.compile(rb"\* [^\r\n]*|\+ [^\r\n]*|(" + _TAG + rb") (OK|NO|BAD) [^\r\n]*")


def imap_answer(conn: ImapServer, ev: Any) -> None:
    if isinstance(ev, Authenticate):
        assert isinstance(ev.username, str) and isinstance(ev.password, str)
        if ev.password == "good":
            conn.auth_succeeded()
        else:
            conn.auth_failed()
    elif isinstance(ev, StartTls):
        conn.tls_started()
    elif isinstance(ev, LoginRefused):  # informational: nothing to answer
        assert ev.reason == "tls-required" and not conn.config.login_allowed(conn.tls_active)
        assert ev.username is None or isinstance(ev.username, str)
    elif isinstance(ev, IdleStarted):
        conn.send_data(b"* 1 EXISTS\r\n")
    elif isinstance(ev, IdleDone):
        conn.complete(ev.tag, "OK", "IDLE terminated.")
    elif isinstance(ev, Request):
        command = ev.command
        assert isinstance(command, T.Command) and isinstance(command.tag, str)
        if isinstance(command, T.Select):
            assert isinstance(command.mailbox, str)
            conn.complete(command.tag, "NO" if command.mailbox == "bad" else "OK", "SELECT done.")
            return
        conn.send_data(b"* OK untagged data\r\n")
        conn.complete(command.tag, "OK", "done.")
    else:
        raise AssertionError(f"unexpected IMAP4 event {ev!r}")


def check_imap_output(out: bytes, inp: bytes) -> None:
    assert out == b"" or out.endswith(b"\r\n"), out[-80:]
    for line in out.split(b"\r\n")[:-1]:
        assert not _CONTROL.search(line), line[:120]  # client junk is never echoed raw
        assert len(line) <= 1000, line[:120]
        match = _LINE.fullmatch(line)
        assert match, line[:120]
        tag = match.group(1)
        if tag is not None:
            assert tag in inp, line[:120]


def run_imap(chunks: list[bytes], eof: bool = True, *, tls_active: bool = False,
             config: ImapConfig = CONFIG) -> tuple[bytes, list[Any]]:
    conn = ImapServer(config, tls_active=tls_active, tls_available=not tls_active)
    out, events = _drive(conn, chunks, imap_answer, CloseConnection, eof)
    check_imap_output(out, b"".join(chunks))
    _check_bounded(chunks, out)
    return out, events
