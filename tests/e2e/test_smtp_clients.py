"""Real SMTP clients against a real postroom: smtplib, curl and swaks on both default
connectors; SMTP in, POP3 out, byte for byte; message tracking; live connector changes."""
from __future__ import annotations

import poplib
import re
import smtplib
import socket
import ssl
import subprocess

import pytest

from .harness import free_port, port_open, require_tool, wait_until
from .messages import big_message, message

pytestmark = pytest.mark.e2e
TRACE = re.compile(rb"\AReturn-Path: <([^>]*)>\r\nReceived: from [^\r\n]+\r\n(?:\t[^\r\n]*\r\n)+")


def tls_client(server) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=server.cert)


def pop_messages(server, user: str, password: str) -> list[bytes]:
    client = poplib.POP3_SSL("127.0.0.1", server.pops_port, context=tls_client(server), timeout=10)
    client.user(user)
    client.pass_(password)
    found = []
    for number in range(1, client.stat()[0] + 1):
        _, lines, _ = client.retr(number)
        found.append(b"\r\n".join(lines) + b"\r\n")
    client.quit()
    return found


def split_trace(stored: bytes) -> tuple[str, bytes, bytes]:
    """(Return-Path address, the trace headers, the message as the client sent it)."""
    match = TRACE.match(stored)
    assert match, stored[:300]
    return match.group(1).decode(), match.group(0), stored[match.end():]


def submit(server, user: str, password: str) -> smtplib.SMTP:
    client = smtplib.SMTP("127.0.0.1", server.submission_port, timeout=10)
    client.starttls(context=tls_client(server))
    client.login(user, password)
    return client


def test_smtplib_default_connector_anonymous_delivery_is_byte_exact(server):
    server.new_mailbox("anon@example.com", "pw-anon-1")
    sent = [message("plain"), message("dots", body=".leading dot\r\n..two\r\n.\r\nend\r\n"), big_message(300_000)]
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as client:
        code, banner = client.ehlo("client.example.net")
        assert code == 250 and b"ENHANCEDSTATUSCODES" in banner and b"CHUNKING" in banner
        for data in sent:
            assert client.sendmail("sender@example.net", ["anon@example.com"], data) == {}
    stored = pop_messages(server, "anon@example.com", "pw-anon-1")
    assert len(stored) == 3
    for data, got in zip(sent, stored):
        return_path, trace, body = split_trace(got)
        assert return_path == "sender@example.net"
        assert b"for <anon@example.com>" in trace and b"with ESMTP id " in trace
        assert body == data


def test_smtplib_client_connector_starttls_auth_submission(server):
    server.new_mailbox("submit@example.com", "pw-submit-1")
    server.new_mailbox("reader@example.com", "pw-reader-1")
    data = message("submitted", sender="Submitter <submit@example.com>")
    with submit(server, "submit@example.com", "pw-submit-1") as client:
        code = client.sendmail("submit@example.com", ["reader@example.com"], data)
        assert code == {}
        assert client.noop()[0] == 250
    (stored,) = pop_messages(server, "reader@example.com", "pw-reader-1")
    _, trace, body = split_trace(stored)
    assert body == data
    assert b"with ESMTPSA id " in trace and b"(using TLSv1." in trace


def test_large_clean_messages_over_starttls_are_byte_exact(server):
    # Content is received straight into the core's buffer through the TLS layer and stored
    # from a view of it: with SIZE= declared (room reserved, then grown past 1 MiB) and without.
    server.new_mailbox("bulk@example.com", "pw-bulk-1")
    lines = [b"line %07d " % n + b"abcdefghij" * 6 + b"\r\n" for n in range(30_000)]
    own = "bulk@example.com"  # an authenticated session sends as itself (From and MAIL FROM)
    declared = message("declared", sender=own).replace(b"Hello.\r\n", b"") + b"".join(lines)  # ~2.3 MB, no dot
    undeclared = message("undeclared", sender=own).replace(b"Hello.\r\n", b"") + b"".join(lines[:9_000])
    with submit(server, "bulk@example.com", "pw-bulk-1") as client:
        assert client.sendmail("bulk@example.com", ["bulk@example.com"], declared) == {}
        del client.esmtp_features["size"]  # smtplib then sends no SIZE= parameter
        assert client.sendmail("bulk@example.com", ["bulk@example.com"], undeclared) == {}
    stored = pop_messages(server, "bulk@example.com", "pw-bulk-1")
    assert [split_trace(got)[2] for got in stored] == [declared, undeclared]


def test_client_connector_refuses_auth_and_mail_before_tls(server):
    server.new_mailbox("notls@example.com", "pw-notls-1")
    with smtplib.SMTP("127.0.0.1", server.submission_port, timeout=10) as client:
        client.ehlo("client.example.net")
        assert client.has_extn("starttls") and not client.has_extn("auth")
        assert client.docmd("AUTH", "PLAIN AG5vdGxzQGV4YW1wbGUuY29tAHB3LW5vdGxzLTE=")[0] == 538
        code, text = client.mail("notls@example.com")
        assert (code, text[:5]) == (530, b"5.7.1")


def test_relay_and_unknown_mailbox_are_refused_and_tracked(server):
    server.new_mailbox("known@example.com", "pw-known-1")
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as client:
        client.ehlo("client.example.net")
        assert client.mail("sender@example.net")[0] == 250
        code, text = client.rcpt("someone@elsewhere.example.org")
        # an anonymous client of the Default connector never relays (a logged-in one would be
        # told that no send connector routes the domain)
        assert code == 550 and text.startswith(b"5.7.1 Relaying to elsewhere.example.org denied: log in")
        code, text = client.rcpt("nobody@example.com")
        assert code == 550 and text.startswith(b"5.1.1")
        assert client.rcpt("known@example.com")[0] == 250
        code, text = client.data(message("mixed"))
        assert code == 250 and text.startswith(b"2.6.0")
        queue_id = text.rsplit(b" ", 1)[1].decode()
    # The node writes tracking rows in batches (within 0.1 s): another process polls.
    def tracked(recipient: str) -> list[dict]:
        return server.cli_json("log", "tracking", "--recipient", recipient)
    wait_until(lambda: len(tracked("known@example.com")) >= 2 and tracked("nobody@example.com"), 10,
               "the tracking rows of the session")
    rows = tracked("known@example.com")
    assert [(r["event_id"], r["queue_id"]) for r in rows] == [("RECEIVE", queue_id), ("DELIVER", queue_id)]
    failed = tracked("nobody@example.com")
    assert failed[-1]["event_id"] == "FAIL" and "5.1.1" in failed[-1]["status"]


def test_one_message_to_several_mailboxes(server):
    for name in ("multi1", "multi2"):
        server.new_mailbox(f"{name}@example.com", f"pw-{name}")
    data = message("to both")
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as client:
        assert client.sendmail("sender@example.net", ["multi1@example.com", "multi2@example.com"], data) == {}
    first = pop_messages(server, "multi1@example.com", "pw-multi1")
    second = pop_messages(server, "multi2@example.com", "pw-multi2")
    assert first == second and split_trace(first[0])[2] == data
    assert b"for <" not in split_trace(first[0])[1]  # the one copy names no single recipient


def test_bdat_chunks_over_a_real_socket(server):
    server.new_mailbox("chunks@example.com", "pw-chunks-1")
    data = message("chunked", body="line one\r\n.line two\r\n")
    with socket.create_connection(("127.0.0.1", server.smtp_port), timeout=10) as sock:
        stream = sock.makefile("rwb")
        stream.readline()
        head, tail = data[:37], data[37:]
        stream.write(b"EHLO c.example.net\r\nMAIL FROM:<s@example.net>\r\nRCPT TO:<chunks@example.com>\r\n"
                     b"BDAT %d\r\n" % len(head) + head + b"BDAT %d LAST\r\n" % len(tail) + tail + b"QUIT\r\n")
        stream.flush()
        replies = [line for line in iter(stream.readline, b"") if not line.startswith(b"250-")]
    codes = [line[:3] for line in replies]
    assert codes == [b"250", b"250", b"250", b"250", b"250", b"221"], replies
    (stored,) = pop_messages(server, "chunks@example.com", "pw-chunks-1")
    assert split_trace(stored)[2] == data


def test_curl_submission_with_ssl_reqd_and_auth(server, tmp_path):
    curl = require_tool("curl")
    server.new_mailbox("curl@example.com", "pw-curl-1")
    data = message("from curl", sender="curl@example.com")  # an authenticated session sends as itself
    (tmp_path / "mail.eml").write_bytes(data)
    result = subprocess.run(
        [curl, "--silent", "--show-error", "--ssl-reqd", "--cacert", server.cert,
         f"smtp://127.0.0.1:{server.submission_port}", "--user", "curl@example.com:pw-curl-1",
         "--mail-from", "curl@example.com", "--mail-rcpt", "curl@example.com",
         "--upload-file", str(tmp_path / "mail.eml")], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    (stored,) = pop_messages(server, "curl@example.com", "pw-curl-1")
    assert split_trace(stored)[2] == data
    wrong = subprocess.run(
        [curl, "--silent", "--ssl-reqd", "--cacert", server.cert, f"smtp://127.0.0.1:{server.submission_port}",
         "--user", "curl@example.com:wrong", "--mail-from", "curl@example.com", "--mail-rcpt", "curl@example.com",
         "--upload-file", str(tmp_path / "mail.eml")], capture_output=True, text=True, timeout=30)
    assert wrong.returncode == 67  # curl: "login denied"


@pytest.mark.parametrize("connector", ["default", "client"])
def test_swaks_on_both_connectors(server, connector, tmp_path):
    swaks = require_tool("swaks")
    address = f"swaks-{connector}@example.com"
    server.new_mailbox(address, "pw-swaks-1")
    sender = "swaks@example.net" if connector == "default" else address  # authenticated: only as itself
    data = message(f"swaks {connector}", sender=sender)
    (tmp_path / "mail.eml").write_bytes(data)
    port = server.smtp_port if connector == "default" else server.submission_port
    args = [swaks, "--server", f"127.0.0.1:{port}", "--from", sender, "--to", address,
            "--data", str(tmp_path / "mail.eml"), "--tls", "--tls-verify", "--tls-ca-path", server.cert,
            "--helo", "swaks.example.net"]
    if connector == "client":
        args += ["--auth", "LOGIN", "--auth-user", address, "--auth-password", "pw-swaks-1"]
    result = subprocess.run(args, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "<~  250 2.6.0" in result.stdout
    (stored,) = pop_messages(server, address, "pw-swaks-1")
    assert split_trace(stored)[2].replace(b"\r\n", b"\n").rstrip(b"\n") == data.replace(b"\r\n", b"\n").rstrip(b"\n")


def test_connector_changes_apply_live(fresh_server):
    server = fresh_server
    server.cli("connector", "set", "Default EX01", "--disabled")
    assert not port_open(server.smtp_port)  # the CLI returns once the node has applied it
    server.cli("connector", "set", "Default EX01", "--enabled", "--max-message-size", "100KB",
               "--banner", "mx.example.com ready for test")
    wait_until(lambda: port_open(server.smtp_port), 2, "the connector to listen again")
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as client:
        assert client.ehlo()[0] == 250
        assert client.esmtp_features["size"] == str(100 * 1024)
        code, text = client.mail("s@example.net", ["SIZE=200000"])
        assert (code, text[:5]) == (552, b"5.3.4")
    greeting = socket.create_connection(("127.0.0.1", server.smtp_port), timeout=5).recv(200)
    assert greeting == b"220 mx.example.com ready for test\r\n"
    server.cli("service", "stop", "smtp")
    assert not port_open(server.smtp_port) and not port_open(server.submission_port)
    server.cli("service", "start", "smtp")
    wait_until(lambda: port_open(server.submission_port), 2, "smtp to start")


def test_connector_protocol_log_lives_under_a_safe_folder(fresh_server):
    server = fresh_server
    server.new_mailbox("plog@example.com", "pw-plog-1")
    port = free_port()
    server.cli("connector", "new", "..", "--usage", "internet", "--bindings", f"127.0.0.1:{port}",
               "--remote-ip-ranges", "127.0.0.1", "--protocol-log", "enabled")
    wait_until(lambda: port_open(port), 3, "the new connector to listen")
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        assert client.sendmail("s@example.net", ["plog@example.com"], message("logged", body="top secret\r\n")) == {}
    folder = server.data / "logs" / "smtp" / "_"  # "..": a folder name, not the way up
    wait_until(lambda: any("250 2.6.0" in p.read_text() for p in folder.glob("*.log")), 5, "the protocol log")
    text = "".join(p.read_text() for p in folder.glob("*.log"))
    assert "rcpt to:<plog@example.com>" in text.lower() and "top secret" not in text
    assert not list((server.data / "logs").glob("SMTP-*.log"))
