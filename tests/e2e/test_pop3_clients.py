"""Real clients against a real postroom: poplib, curl and fetchmail, over STLS and implicit TLS."""
from __future__ import annotations

import os
import poplib
import ssl
import subprocess

import pytest

from .harness import require_tool
from .messages import big_message, message

pytestmark = pytest.mark.e2e


def tls_client(server) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=server.cert)
    return context


def stls_login(server, user: str, password: str) -> poplib.POP3:
    client = poplib.POP3("127.0.0.1", server.pop_port, timeout=10)
    client.stls(context=tls_client(server))
    client.user(user)
    client.pass_(password)
    return client


def ssl_login(server, user: str, password: str) -> poplib.POP3_SSL:
    client = poplib.POP3_SSL("127.0.0.1", server.pops_port, context=tls_client(server), timeout=10)
    client.user(user)
    client.pass_(password)
    return client


def retr_bytes(client: poplib.POP3, number: int) -> bytes:
    _, lines, _ = client.retr(number)
    return b"\r\n".join(lines) + b"\r\n"


def test_poplib_stls_reads_imported_messages_byte_exact(server, tmp_path):
    server.new_mailbox("stls@example.com", "pw-stls-1")
    sent = [message("one"), message("two", body=".leading dot\r\n..two dots\r\n")]
    server.import_messages("stls@example.com", *sent, folder=tmp_path / "in")
    client = stls_login(server, "stls@example.com", "pw-stls-1")
    assert client.stat() == (2, sum(len(m) for m in sent))
    assert [retr_bytes(client, n) for n in (1, 2)] == sent
    uidls = client.uidl()[1]
    assert len(uidls) == 2
    client.quit()
    # UIDLs are stable across sessions.
    client = stls_login(server, "stls@example.com", "pw-stls-1")
    assert client.uidl()[1] == uidls
    client.quit()


def test_poplib_implicit_tls_dele_applies_at_quit(server, tmp_path):
    server.new_mailbox("ssl@example.com", "pw-ssl-1")
    server.import_messages("ssl@example.com", message("a"), message("b"), message("c"), folder=tmp_path / "in")
    client = ssl_login(server, "ssl@example.com", "pw-ssl-1")
    client.dele(2)
    assert client.stat()[0] == 2
    client.quit()
    client = ssl_login(server, "ssl@example.com", "pw-ssl-1")
    subjects = [retr_bytes(client, n).split(b"Subject: ")[1][:1] for n in (1, 2)]
    assert subjects == [b"a", b"c"]
    client.quit()


def test_dropped_connection_after_dele_keeps_the_message(server, tmp_path):
    server.new_mailbox("drop@example.com", "pw-drop-1")
    server.import_messages("drop@example.com", message("keep me"), folder=tmp_path / "in")
    client = stls_login(server, "drop@example.com", "pw-drop-1")
    client.dele(1)
    client.close()  # drops the connection without QUIT
    client = stls_login(server, "drop@example.com", "pw-drop-1")
    assert client.stat()[0] == 1
    client.quit()


def test_second_session_on_a_mailbox_gets_in_use(server):
    server.new_mailbox("busy@example.com", "pw-busy-1")
    first = stls_login(server, "busy@example.com", "pw-busy-1")
    second = poplib.POP3("127.0.0.1", server.pop_port, timeout=10)
    second.stls(context=tls_client(server))
    second.user("busy@example.com")
    with pytest.raises(poplib.error_proto, match=r"\[IN-USE\]"):
        second.pass_("pw-busy-1")
    first.quit()
    second.user("busy@example.com")
    second.pass_("pw-busy-1")  # the lock is released at QUIT
    second.quit()


def test_ten_megabyte_message_retrieved_byte_exact(server, tmp_path):
    server.new_mailbox("big@example.com", "pw-big-1")
    sent = big_message(10 * 1024 * 1024)
    server.import_messages("big@example.com", sent, folder=tmp_path / "in")
    for client in (ssl_login(server, "big@example.com", "pw-big-1"),):
        assert client.list(1).split()[2] == str(len(sent)).encode()
        assert retr_bytes(client, 1) == sent
        client.quit()


def test_wrong_password_and_unknown_user_get_the_same_reply(server):
    server.new_mailbox("real@example.com", "pw-real-1")
    replies = []
    for user in ("real@example.com", "nobody@example.com"):
        client = poplib.POP3("127.0.0.1", server.pop_port, timeout=10)
        client.stls(context=tls_client(server))
        client.user(user)
        with pytest.raises(poplib.error_proto) as failure:
            client.pass_("wrong-password")
        replies.append(failure.value.args[0])
        client.close()
    assert replies[0] == replies[1]
    assert replies[0].startswith(b"-ERR [AUTH]")


def test_curl_stls_and_pop3s(server, tmp_path):
    curl = require_tool("curl")
    server.new_mailbox("curl@example.com", "pw-curl-1")
    sent = message("via curl", body="line one\r\n.dot line\r\n")
    server.import_messages("curl@example.com", sent, folder=tmp_path / "in")
    common = [curl, "--silent", "--show-error", "--cacert", server.cert, "--user", "curl@example.com:pw-curl-1"]
    stls = subprocess.run([*common, "--ssl-reqd", f"pop3://localhost:{server.pop_port}/1"],
                          capture_output=True, timeout=30)
    assert stls.returncode == 0, stls.stderr
    assert stls.stdout == sent
    implicit = subprocess.run([*common, f"pop3s://localhost:{server.pops_port}/1"], capture_output=True, timeout=30)
    assert implicit.returncode == 0, implicit.stderr
    assert implicit.stdout == sent
    listing = subprocess.run([*common, f"pop3s://localhost:{server.pops_port}/"], capture_output=True, timeout=30)
    assert listing.stdout.decode().split() == ["1", str(len(sent))]


@pytest.mark.parametrize("mode", ["stls", "ssl"])
def test_fetchmail_downloads_and_deletes(server, tmp_path, mode):
    fetchmail = require_tool("fetchmail")
    address = f"fetch-{mode}@example.com"
    server.new_mailbox(address, "pw-fetch-1")
    sent = [message(f"fetch {mode} 1"), message(f"fetch {mode} 2")]
    server.import_messages(address, *sent, folder=tmp_path / "in")
    out = tmp_path / "delivered.mbox"
    port = server.pop_port if mode == "stls" else server.pops_port
    tls = "sslproto 'tls1.2+'" if mode == "stls" else "ssl"
    rc = tmp_path / "fetchmailrc"
    rc.write_text(
        f"poll localhost service {port} protocol pop3 uidl auth password:\n"
        f"  user '{address}' there with password 'pw-fetch-1' is root here\n"
        f"  {tls} sslcertck sslcertfile '{server.cert}'\n"
        f"  mda \"/bin/sh -c 'cat >> {out}'\"\n"
    )
    rc.chmod(0o600)
    env = {**os.environ, "HOME": str(tmp_path), "FETCHMAILHOME": str(tmp_path)}
    result = subprocess.run([fetchmail, "-f", str(rc), "--nodetach", "--nosyslog", "-v"],
                            capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    delivered = out.read_bytes()
    for original in sent:
        subject = original.split(b"Subject: ")[1].split(b"\r\n")[0]
        assert b"Subject: " + subject in delivered
    # fetchmail deletes what it downloaded (no 'keep'): the deletion applied at QUIT.
    assert server.cli_json("mailbox", "show", address)["messages"] == 0
