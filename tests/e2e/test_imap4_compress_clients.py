"""COMPRESS=DEFLATE (RFC 4978) with the real clients that support it: mbsync (isync: it
compresses whenever the server offers it, so test_imap4_debian_clients.py's mbsync runs are
compressed too) over STARTTLS, and mutt (`imap_deflate`) over SSL.
Each test shows that compression happened: the node's protocol log has the client's COMPRESS,
our OK and the session's note, and the client's own debug output has the exchange.

Python's imaplib and IMAPClient have no COMPRESS support (IMAPClient 4.1 has no such method),
so they are not driven here. Thunderbird is not available on this machine."""
from __future__ import annotations

import mailbox
import subprocess

import pytest

from waiting import wait_until

from .harness import require_tool
from .test_imap4_debian_clients import home, mutt_saves_the_inbox, port_of, sent_subjects, setup_mailbox, subjects

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def logged(server):
    """This module's server with the IMAP4 protocol log on."""
    server.cli("imap", "set", "--protocol-log", "enabled")
    server.wait_applied()
    return server


def protocol_log(server) -> str:
    return "".join(p.read_text() for p in (server.data / "logs" / "imap4").glob("*.log"))


def compressed_sessions(server, address: str) -> int:
    """How many of `address`'s sessions turned compression on, by the protocol log: each such
    session has our OK to COMPRESS and the note, after the client's login."""
    sessions = {}
    for line in protocol_log(server).splitlines():
        fields = line.split(",")
        if len(fields) > 2:
            sessions.setdefault(fields[2], []).append(line)
    return sum(1 for lines in sessions.values() if any(f"authenticated as {address}" in x for x in lines)
               and any("OK DEFLATE active." in x for x in lines)
               and any("COMPRESS DEFLATE: compression on" in x for x in lines))


def test_mbsync_syncs_with_compression(logged, tmp_path):
    server, mode = logged, "starttls"
    mbsync = require_tool("mbsync")
    address, sent = setup_mailbox(server, tmp_path, "mbsync-deflate", mode, count=3)
    local = tmp_path / "Mail"
    local.mkdir()
    rc = tmp_path / "mbsyncrc"
    rc.write_text(
        f"IMAPAccount test\nHost 127.0.0.1\nPort {port_of(server, mode)}\nUser {address}\n"
        f"Pass pw-mbsync-deflate-1\nSSLType {'STARTTLS' if mode == 'starttls' else 'IMAPS'}\n"
        f"CertificateFile {server.cert}\nAuthMechs LOGIN\n\n"
        "IMAPStore remote\nAccount test\n\n"
        f"MaildirStore local\nPath {local}/\nInbox {local}/INBOX\nSubFolders Verbatim\n\n"
        "Channel sync\nFar :remote:\nNear :local:\nPatterns INBOX\nCreate Near\nSync Pull\n")
    # -Dn: mbsync prints the IMAP exchange (its side of it, before compression)
    result = subprocess.run([mbsync, "-Dn", "-c", str(rc), "-a"], capture_output=True, text=True, timeout=60,
                            env=home(tmp_path))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert "COMPRESS DEFLATE" in output and "OK DEFLATE active." in output
    inbox = mailbox.Maildir(str(local / "INBOX"), create=False)
    assert {m.as_bytes().split(b"Subject: ")[1].split(b"\n")[0].rstrip(b"\r") for m in inbox} == sent_subjects(sent)
    wait_until(lambda: compressed_sessions(server, address) >= 1, 10, "the compressed session in the protocol log")


def test_mutt_reads_the_inbox_with_imap_deflate(logged, tmp_path):
    server, mode = logged, "ssl"
    address, sent = setup_mailbox(server, tmp_path, "mutt-deflate", mode)
    saved = mutt_saves_the_inbox(server, tmp_path, address, "pw-mutt-deflate-1", mode, "set imap_deflate=yes\n")
    assert subjects(saved) == sent_subjects(sent)
    wait_until(lambda: compressed_sessions(server, address) >= 1, 10, "the compressed session in the protocol log")
