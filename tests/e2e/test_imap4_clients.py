"""Real IMAP4 clients against a real postroom node: imapclient and curl, over STARTTLS and SSL;
IDLE woken by an SMTP delivery; secure login before STARTTLS; POP3 and IMAP4 on one mailbox."""
from __future__ import annotations

import base64
import poplib
import smtplib
import ssl
import subprocess
import time

import imapclient
import pytest
from imapclient.exceptions import LoginError

from .harness import require_tool
from .messages import message

pytestmark = pytest.mark.e2e


def tls(server) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=server.cert)


def starttls_login(server, user: str, password: str) -> imapclient.IMAPClient:
    client = imapclient.IMAPClient("127.0.0.1", server.imap_port, ssl=False, timeout=10)
    client.starttls(tls(server))
    client.login(user, password)
    return client


def ssl_login(server, user: str, password: str) -> imapclient.IMAPClient:
    client = imapclient.IMAPClient("127.0.0.1", server.imaps_port, ssl=True, ssl_context=tls(server), timeout=10)
    client.login(user, password)
    return client


def deliver(server, recipient: str, data: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as client:
        client.sendmail("sender@example.net", [recipient], data)


def test_imapclient_starttls_lists_selects_fetches_and_flags(server, tmp_path):
    server.new_mailbox("imap1@example.com", "pw-imap-1")
    sent = [message("one"), message("two")]
    server.import_messages("imap1@example.com", *sent, folder=tmp_path / "in")
    client = starttls_login(server, "imap1@example.com", "pw-imap-1")
    folders = {name: flags for flags, _, name in client.list_folders()}
    assert set(folders) == {"INBOX", "Sent", "Drafts", "Trash", "Junk"}
    assert b"\\Sent" in folders["Sent"] and b"\\HasNoChildren" in folders["INBOX"]
    selected = client.select_folder("INBOX")
    assert selected[b"EXISTS"] == 2 and selected[b"UIDNEXT"] == 3
    uids = client.search(["UNSEEN"])
    assert uids == [1, 2]
    fetched = client.fetch(uids, ["BODY.PEEK[]", "RFC822.SIZE", "ENVELOPE", "FLAGS"])
    assert [fetched[u][b"BODY[]"] for u in uids] == sent
    assert fetched[1][b"RFC822.SIZE"] == len(sent[0])
    assert fetched[2][b"ENVELOPE"].subject == b"two"
    client.add_flags([1], [imapclient.SEEN, b"$Done"])
    assert client.search(["UNSEEN"]) == [2]
    assert set(client.get_flags([1])[1]) >= {b"\\Seen", b"$Done"}
    client.logout()
    # A second session sees the flags; the messages and UIDs are the same.
    client = ssl_login(server, "imap1@example.com", "pw-imap-1")
    client.select_folder("INBOX", readonly=True)
    assert client.search(["SEEN"]) == [1]
    client.logout()


def test_imapclient_ssl_folders_append_copy_move_expunge(server, tmp_path):
    server.new_mailbox("imap2@example.com", "pw-imap-2")
    server.import_messages("imap2@example.com", message("keep"), message("move"), folder=tmp_path / "in")
    client = ssl_login(server, "imap2@example.com", "pw-imap-2")
    client.create_folder("Projects/2026")
    assert "Projects/2026" in [name for _, _, name in client.list_folders("Projects")]
    appended = client.append("Projects/2026", message("draft"), flags=[imapclient.DRAFT])
    assert b"[APPENDUID " in appended
    client.select_folder("INBOX")
    client.copy([1], "Trash")
    client.move([2], "Projects/2026")
    assert client.search(["ALL"]) == [1]
    client.select_folder("Projects/2026")
    assert client.fetch([2], ["ENVELOPE"])[2][b"ENVELOPE"].subject == b"move"
    client.delete_messages([1])
    client.expunge()
    assert client.search(["ALL"]) == [2]
    client.rename_folder("Projects", "Archive")
    names = [name for _, _, name in client.list_folders()]
    assert "Archive/2026" in names and "Projects/2026" not in names
    assert client.folder_status("Trash", ["MESSAGES"])[b"MESSAGES"] == 1
    client.logout()


def test_idle_hears_an_smtp_delivery_within_a_second(server):
    server.new_mailbox("idle@example.com", "pw-idle-1")
    client = ssl_login(server, "idle@example.com", "pw-idle-1")
    client.select_folder("INBOX")
    client.idle()
    started = time.monotonic()
    deliver(server, "idle@example.com", message("ping"))
    responses = client.idle_check(timeout=5)
    assert (1, b"EXISTS") in responses
    assert time.monotonic() - started < 2.0
    client.idle_done()
    client.logout()


def idle_until(client: imapclient.IMAPClient, wanted: tuple[int, bytes], timeout: float = 10) -> float:
    """The time the idling session got the untagged reply `wanted` (e.g. (1, b"EXISTS"))."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if wanted in client.idle_check(timeout=max(0.0, deadline - time.monotonic())):
            return time.monotonic()
    raise AssertionError(f"no {wanted} within {timeout} s")


def test_idle_hears_mail_imported_and_deleted_by_the_cli_beside_the_node(server, tmp_path):
    """Another process writes the embedded store (the CLI): the node notices it by itself (a
    check of the database a few times a second, not one query per idling session) and wakes the
    session within a second of the command's end."""
    server.new_mailbox("idlecli@example.com", "pw-idle-cli")
    client = ssl_login(server, "idlecli@example.com", "pw-idle-cli")
    client.select_folder("INBOX")
    client.idle()
    server.import_messages("idlecli@example.com", message("imported"), folder=tmp_path / "in")
    done = time.monotonic()
    assert idle_until(client, (1, b"EXISTS")) - done < 1.0
    listed = server.cli_json("mailbox", "messages", "idlecli@example.com")["items"]
    server.cli("mailbox", "message", "idlecli@example.com", str(listed[0]["id"]), "--delete")
    done = time.monotonic()
    assert idle_until(client, (1, b"EXPUNGE")) - done < 1.0
    client.idle_done()
    assert client.search(["ALL"]) == []
    client.logout()


def test_secure_login_refuses_login_before_starttls(server):
    server.new_mailbox("secure@example.com", "pw-secure-1")
    client = imapclient.IMAPClient("127.0.0.1", server.imap_port, ssl=False, timeout=10)
    assert b"LOGINDISABLED" in client.capabilities() and b"STARTTLS" in client.capabilities()
    with pytest.raises(LoginError, match="PRIVACYREQUIRED"):
        client.login("secure@example.com", "pw-secure-1")
    client.shutdown()


def test_pop3_deletion_is_an_expunge_for_an_imap_session(server, tmp_path):
    server.new_mailbox("both@example.com", "pw-both-1")
    server.import_messages("both@example.com", message("a"), message("b"), folder=tmp_path / "in")
    imap = ssl_login(server, "both@example.com", "pw-both-1")
    imap.select_folder("INBOX")  # POP3's lock does not block IMAP, nor IMAP POP3
    pop = server.pop_login("both@example.com", "pw-both-1")
    pop.dele(1)
    pop.quit()
    assert (1, b"EXPUNGE") in imap.noop()[1]
    assert imap.search(["ALL"]) == [2]
    imap.logout()
    pop = server.pop_login("both@example.com", "pw-both-1")
    assert pop.stat()[0] == 1
    pop.quit()


@pytest.mark.parametrize("scheme", ["imap", "imaps"])
def test_curl_lists_and_fetches(server, tmp_path, scheme):
    curl = require_tool("curl")
    address = f"curl-{scheme}@example.com"
    server.new_mailbox(address, "pw-curl-1")
    sent = message("for curl")
    server.import_messages(address, sent, folder=tmp_path / "in")
    port = server.imap_port if scheme == "imap" else server.imaps_port
    base = [curl, "-sS", "--cacert", server.cert, "--ssl-reqd", "-u", f"{address}:pw-curl-1", "--max-time", "10"]
    listing = subprocess.run([*base, f"{scheme}://127.0.0.1:{port}/"], capture_output=True, timeout=30)
    assert listing.returncode == 0, listing.stderr
    assert b'"/" INBOX' in listing.stdout and b"\\Sent" in listing.stdout
    fetched = subprocess.run([*base, f"{scheme}://127.0.0.1:{port}/INBOX;UID=1"], capture_output=True, timeout=30)
    assert fetched.returncode == 0, fetched.stderr
    assert fetched.stdout == sent


def test_imap_disabled_mailbox_is_refused_after_the_password(server):
    server.new_mailbox("noimap@example.com", "pw-noimap-1")
    server.cli("mailbox", "set", "noimap@example.com", "--imap", "disabled")
    server.wait_applied()
    with pytest.raises(LoginError, match="IMAP4 access is disabled"):
        ssl_login(server, "noimap@example.com", "pw-noimap-1")
    with pytest.raises(LoginError, match="AUTHENTICATIONFAILED"):
        ssl_login(server, "noimap@example.com", "wrong")
    assert poplib  # POP3 stays enabled for it


def test_session_list_shows_an_idling_imap_session_and_session_end_says_bye(server):
    from .harness import wait_until

    server.new_mailbox("who@example.com", "pw-who-1")
    client = ssl_login(server, "who@example.com", "pw-who-1")
    client.select_folder("INBOX")
    client.idle()

    def idling():
        rows = server.cli_json("session", "list", "--service", "imap4")["sessions"]
        return [row for row in rows if row["user"] == "who@example.com" and row["state"] == "idling"]
    (row,) = wait_until(idling, 5, "session list to show the idling IMAP4 session")
    assert row["tls"] is True and row["service"] == "imap4"
    server.cli("session", "end", "--user", "who@example.com")
    responses = client.idle_check(timeout=5)
    assert any(r[0] == b"BYE" for r in responses), responses


def test_imapclient_resyncs_with_condstore_and_qresync(server, tmp_path):
    """A client that knew the folder comes back after another one flagged, expunged and appended:
    CHANGEDSINCE gives it the changed flags, SELECT (QRESYNC ...) the expunged UIDs too (RFC 7162)."""
    address, password = "resync@example.com", "pw-resync-1"
    server.new_mailbox(address, password)
    server.import_messages(address, *(message(f"m{n}") for n in range(1, 5)), folder=tmp_path / "in")
    client = ssl_login(server, address, password)
    assert {b"CONDSTORE", b"QRESYNC", b"ENABLE"} <= set(client.capabilities())
    assert client.enable("CONDSTORE") == [b"CONDSTORE"]
    selected = client.select_folder("INBOX")
    known, validity = selected[b"HIGHESTMODSEQ"], selected[b"UIDVALIDITY"]
    client.logout()

    other = starttls_login(server, address, password)
    other.select_folder("INBOX")
    other.add_flags([2], [b"$Done"])
    other.delete_messages([3])
    other.expunge()
    other.append("INBOX", message("m5"))
    other.logout()

    client = ssl_login(server, address, password)
    client.enable("CONDSTORE")
    assert client.select_folder("INBOX")[b"HIGHESTMODSEQ"] > known
    changed = client.fetch(list(range(1, 6)), ["FLAGS"], modifiers=[f"CHANGEDSINCE {known}"])  # UID FETCH
    assert sorted(changed) == [2, 5]  # the flagged and the appended message, not 1 and 4
    assert all(fields[b"MODSEQ"][0] > known for fields in changed.values())
    assert b"$Done" in changed[2][b"FLAGS"]
    client.logout()

    client = ssl_login(server, address, password)
    assert client.enable("QRESYNC") == [b"QRESYNC"]
    typ, _ = client._imap._simple_command("SELECT", "INBOX", f"(QRESYNC ({validity} {known} 1:4))")
    assert typ == "OK"
    assert client._imap.untagged_responses.get("VANISHED") == [b"(EARLIER) 3"]
    fetched = client._imap.untagged_responses.get("FETCH")
    assert len(fetched) == 1 and b"UID 2 " in fetched[0] and b"$Done" in fetched[0]
    client.logout()


def test_imapclient_esearch_searchres_list_status_and_status_size(server, tmp_path):
    """IMAP4rev2's extensions through a real client: STATUS SIZE, LIST-STATUS, ESEARCH and "$"."""
    address, password = "rev2@example.com", "pw-rev2-1"
    server.new_mailbox(address, password)
    sent = [message(f"m{n}") for n in range(1, 6)]
    server.import_messages(address, *sent, folder=tmp_path / "in")
    client = ssl_login(server, address, password)
    assert {b"ESEARCH", b"SEARCHRES", b"LIST-EXTENDED", b"LIST-STATUS", b"STATUS=SIZE"} <= set(client.capabilities())
    assert any(cap.startswith(b"APPENDLIMIT=") for cap in client.capabilities())
    assert client.folder_status("INBOX", ["MESSAGES", "SIZE", "DELETED"]) \
        == {b"MESSAGES": 5, b"SIZE": sum(len(m) for m in sent), b"DELETED": 0}
    listed = client._raw_command_untagged(b"LIST", [b'""', b'("INBOX" "Sent")', b"RETURN", b"(STATUS (MESSAGES SIZE))"],
                                          response_name="STATUS", uid=False)
    assert listed == [b"INBOX (MESSAGES 5 SIZE %d)" % sum(len(m) for m in sent), b"Sent (MESSAGES 0 SIZE 0)"]
    client.select_folder("INBOX")
    client.add_flags([2, 3, 5], [imapclient.FLAGGED])
    found = client._raw_command_untagged(b"SEARCH", [b"RETURN", b"(MIN MAX COUNT ALL SAVE)", b"FLAGGED"],
                                         response_name="ESEARCH", uid=True)
    assert len(found) == 1 and found[0].startswith(b'(TAG "')
    assert found[0].endswith(b") UID MIN 2 MAX 5 COUNT 3 ALL 2:3,5")
    fetched = client._raw_command_untagged(b"FETCH", [b"$", b"(FLAGS)"], uid=True)  # imapclient takes no "$"
    assert [line.split(b" ")[0] for line in fetched] == [b"2", b"3", b"5"]
    client.logout()


def test_stopping_the_imap4_service_closes_its_listeners_and_sessions_live(server):
    """Last in this module: it stops and starts the service the others use."""
    from .harness import port_open, wait_until

    server.new_mailbox("stop@example.com", "pw-stop-1")
    client = ssl_login(server, "stop@example.com", "pw-stop-1")
    client.select_folder("INBOX")
    server.cli("service", "stop", "imap4")
    wait_until(lambda: not port_open(server.imap_port) and not port_open(server.imaps_port), 5,
               "the IMAP4 listeners to close")
    with pytest.raises((OSError, imapclient.exceptions.IMAPClientError)):
        client.noop()
    assert port_open(server.pop_port)  # POP3 is another service
    server.cli("service", "start", "imap4")
    wait_until(lambda: port_open(server.imaps_port), 5, "the IMAP4 listeners to open again")
    ssl_login(server, "stop@example.com", "pw-stop-1").logout()


def test_imapclient_enables_utf8_and_rev2_and_fetches_binary(server, tmp_path):
    """imapclient with UTF8=ACCEPT and IMAP4rev2 on: a folder named in UTF-8 as it is (no modified
    UTF-7), a message appended to it, its base64 part fetched decoded with BINARY, no \\Recent."""
    address, password = "utf8bin@example.com", "pw-utf8bin-1"
    server.new_mailbox(address, password)
    client = ssl_login(server, address, password)
    assert {b"IMAP4REV2", b"BINARY", b"UTF8=ACCEPT"} <= set(client.capabilities())  # imapclient: upper case
    assert client.enable("UTF8=ACCEPT", "IMAP4rev2") == [b"UTF8=ACCEPT", b"IMAP4rev2"]
    # The names are UTF-8 now: imapclient must not turn them into modified UTF-7, and its imaplib must
    # write them as UTF-8 (what imaplib's own enable("UTF8=ACCEPT") switches it to).
    client.folder_encode = False
    client._imap._mode_utf8()
    name = "Reçus"
    client.create_folder(name)
    listed = [folder for _, _, folder in client.list_folders()]
    assert name.encode() in listed or name in listed, listed
    attachment = bytes(range(1, 256))  # no NUL: imapclient reads no literal8 (~{n}), which NUL would need
    data = (b"From: a@example.net\r\nSubject: bin\r\nContent-Type: multipart/mixed; boundary=z\r\n\r\n"
            b"--z\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
            b"--z\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            + base64.encodebytes(attachment).replace(b"\n", b"\r\n") + b"--z--\r\n")
    client.append(name, data)
    selected = client.select_folder(name)
    assert selected[b"EXISTS"] == 1 and b"RECENT" not in selected
    fetched = client.fetch([1], ["BINARY.PEEK[2]", "BINARY.SIZE[2]", "FLAGS"])
    assert fetched[1][b"BINARY[2]"] == attachment and fetched[1][b"BINARY.SIZE[2]"] == 255
    assert fetched[1][b"FLAGS"] == ()
    client.logout()
