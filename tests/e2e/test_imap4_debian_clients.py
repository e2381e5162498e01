"""Debian's IMAP clients against a real postroom node: fetchmail (IMAP mode), mbsync (isync),
offlineimap and mutt in batch mode, each over STARTTLS and SSL: log in, list, select, fetch."""
from __future__ import annotations

import mailbox
import os
import subprocess

import pytest

from .harness import require_tool
from .messages import message

pytestmark = pytest.mark.e2e
MODES = ["starttls", "ssl"]


def setup_mailbox(server, tmp_path, client: str, mode: str, count: int = 2) -> tuple[str, list[bytes]]:
    address = f"{client}-{mode}@example.com"
    server.new_mailbox(address, f"pw-{client}-1")
    sent = [message(f"{client} {mode} {n}") for n in range(count)]
    server.import_messages(address, *sent, folder=tmp_path / "in")
    return address, sent


def port_of(server, mode: str) -> int:
    return server.imap_port if mode == "starttls" else server.imaps_port


def home(tmp_path) -> dict[str, str]:
    return {**os.environ, "HOME": str(tmp_path)}


def subjects(data: bytes) -> set[bytes]:
    return {line[9:] for line in data.split(b"\n") if line.startswith(b"Subject: ")}


def sent_subjects(sent: list[bytes]) -> set[bytes]:
    return {m.split(b"Subject: ")[1].split(b"\r\n")[0] for m in sent}


@pytest.mark.parametrize("mode", MODES)
def test_fetchmail_imap_downloads_and_expunges(server, tmp_path, mode):
    fetchmail = require_tool("fetchmail")
    address, sent = setup_mailbox(server, tmp_path, "fetchmail", mode)
    out = tmp_path / "delivered.mbox"
    tls = "sslproto 'tls1.2+'" if mode == "starttls" else "ssl"
    rc = tmp_path / "fetchmailrc"
    rc.write_text(
        f"poll localhost service {port_of(server, mode)} protocol imap auth password:\n"
        f"  user '{address}' there with password 'pw-fetchmail-1' is root here\n"
        f"  {tls} sslcertck sslcertfile '{server.cert}'\n"
        f"  mda \"/bin/sh -c 'cat >> {out}'\"\n")
    rc.chmod(0o600)
    env = {**home(tmp_path), "FETCHMAILHOME": str(tmp_path)}
    result = subprocess.run([fetchmail, "-f", str(rc), "--nodetach", "--nosyslog", "-v"],
                            capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert subjects(out.read_bytes()) >= sent_subjects(sent)
    # no 'keep': fetchmail marks them \Deleted and expunges
    assert server.cli_json("mailbox", "show", address)["messages"] == 0


@pytest.mark.parametrize("mode", MODES)
def test_mbsync_pulls_every_folder_into_a_maildir(server, tmp_path, mode):
    mbsync = require_tool("mbsync")
    address, sent = setup_mailbox(server, tmp_path, "mbsync", mode)
    local = tmp_path / "Mail"
    local.mkdir()
    rc = tmp_path / "mbsyncrc"
    rc.write_text(
        f"IMAPAccount test\nHost 127.0.0.1\nPort {port_of(server, mode)}\nUser {address}\n"
        f"Pass pw-mbsync-1\nSSLType {'STARTTLS' if mode == 'starttls' else 'IMAPS'}\n"
        f"CertificateFile {server.cert}\nAuthMechs LOGIN\n\n"
        "IMAPStore remote\nAccount test\n\n"
        f"MaildirStore local\nPath {local}/\nInbox {local}/INBOX\nSubFolders Verbatim\n\n"
        "Channel sync\nFar :remote:\nNear :local:\nPatterns *\nCreate Near\nSync Pull\n")
    result = subprocess.run([mbsync, "-c", str(rc), "-a"], capture_output=True, text=True, timeout=60,
                            env=home(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    inbox = mailbox.Maildir(str(local / "INBOX"), create=False)
    assert {m.as_bytes().split(b"Subject: ")[1].split(b"\n")[0].rstrip(b"\r") for m in inbox} == sent_subjects(sent)
    assert {"Sent", "Drafts", "Trash", "Junk"} <= {p.name for p in local.iterdir()}


@pytest.mark.parametrize("mode", MODES)
def test_offlineimap_syncs_the_inbox(server, tmp_path, mode):
    offlineimap = require_tool("offlineimap")
    address, sent = setup_mailbox(server, tmp_path, "offlineimap", mode)
    local = tmp_path / "Mail"
    rc = tmp_path / "offlineimaprc"
    rc.write_text(
        "[general]\naccounts = test\nmetadata = " + str(tmp_path / "meta") + "\n\n"
        "[Account test]\nlocalrepository = local\nremoterepository = remote\n\n"
        f"[Repository local]\ntype = Maildir\nlocalfolders = {local}\n\n"
        f"[Repository remote]\ntype = IMAP\nremotehost = localhost\nremoteport = {port_of(server, mode)}\n"
        f"remoteuser = {address}\nremotepass = pw-offlineimap-1\n"
        f"ssl = {'no' if mode == 'starttls' else 'yes'}\nstarttls = {'yes' if mode == 'starttls' else 'no'}\n"
        f"sslcacertfile = {server.cert}\nfolderfilter = lambda name: name == 'INBOX'\n")
    result = subprocess.run([offlineimap, "-c", str(rc), "-o", "-u", "basic"], capture_output=True, text=True,
                            timeout=120, env=home(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    inbox = mailbox.Maildir(str(local / "INBOX"), create=False)
    assert len(inbox) == len(sent)


def mutt_saves_the_inbox(server, tmp_path, address: str, password: str, mode: str, settings: str = "") -> bytes:
    """mutt opens `address`'s INBOX, tags everything and saves a copy: the saved mbox's octets.
    mutt reads a mailbox in its curses index only: it runs on a pseudo-terminal (script(1))."""
    mutt = require_tool("mutt")
    out = tmp_path / "saved.mbox"
    scheme = "imap" if mode == "starttls" else "imaps"
    muttrc = tmp_path / "muttrc"
    muttrc.write_text(
        f'set folder="{scheme}://{address}@localhost:{port_of(server, mode)}/"\n'
        f'set spoolfile="+INBOX"\nset imap_pass="{password}"\n{settings}'
        f'set ssl_starttls=yes\nset ssl_force_tls=yes\nset certificate_file="{server.cert}"\n'
        'set mbox_type=mbox\nset confirmappend=no\nset confirmcreate=no\nset delete=no\n'
        'set imap_passive=no\nset sort=date\n')
    keys = f"<tag-pattern>~A<enter><tag-prefix><copy-message>{out}<enter><quit>"
    command = f"{mutt} -n -F {muttrc} -f +INBOX -e \"push '{keys}'\""
    result = subprocess.run([require_tool("script"), "-qec", command, "/dev/null"], capture_output=True,
                            text=True, timeout=60, env={**home(tmp_path), "TERM": "vt100"}, stdin=subprocess.DEVNULL)
    assert out.exists(), result.stdout[-2000:] + result.stderr[-2000:]
    return out.read_bytes()


@pytest.mark.parametrize("mode", MODES)
def test_mutt_batch_saves_the_inbox(server, tmp_path, mode):
    address, sent = setup_mailbox(server, tmp_path, "mutt", mode)
    assert subjects(mutt_saves_the_inbox(server, tmp_path, address, "pw-mutt-1", mode)) == sent_subjects(sent)
