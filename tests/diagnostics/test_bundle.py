"""The support bundle (`doctor pop ADDRESS --bundle FILE`): what it holds, and that no secret
the store (or the session that made it) knows appears anywhere in it."""
from __future__ import annotations

import base64
import json
import os
import poplib
import smtplib
import sqlite3
import ssl
import stat
import tarfile
import urllib.request

import pytest

from e2e.harness import wait_until

from .conftest import ADDRESS, PASSWORD

pytestmark = pytest.mark.e2e
MEMBERS = {"README.txt", "doctor.json", "server.json", "services.json", "connectors.json", "send-connectors.json",
           "transport.json", "mailbox.json",
           "certificate.json", "login-failures.json", "ended-sessions.json", "audit.json", "versions.json"}


def sign_in_to_console(live) -> tuple[str, str]:
    """(session cookie, CSRF token) of a real console sign-in."""
    body = json.dumps({"name": "admin", "password": live.server.admin_password}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{live.server.http_port}/api/v1/session", data=body,
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        cookie = response.headers["Set-Cookie"].split(";", 1)[0].split("=", 1)[1]
        return cookie, json.loads(response.read())["csrf_token"]


def use_every_login_path(live) -> str:
    """Log in over POP3 (USER/PASS and AUTH PLAIN) and SMTP (AUTH PLAIN) with the protocol
    logs on, and fail once; returns the AUTH PLAIN blob that crossed the wire."""
    context = ssl.create_default_context(cafile=live.server.cert)
    port = int(live.pop()["ssl_bindings"][0].rsplit(":", 1)[1])
    client = poplib.POP3_SSL("127.0.0.1", port, context=context, timeout=10)
    client.user(ADDRESS)
    client.pass_(PASSWORD)
    client.quit()
    blob = base64.b64encode(f"\0{ADDRESS}\0{PASSWORD}".encode()).decode()
    client = poplib.POP3_SSL("127.0.0.1", port, context=context, timeout=10)
    assert client._shortcmd(f"AUTH PLAIN {blob}").startswith(b"+OK")
    client.quit()
    client = poplib.POP3_SSL("127.0.0.1", port, context=context, timeout=10)
    client.user(ADDRESS)
    with pytest.raises(poplib.error_proto):
        client.pass_("a-wrong-secret-password")
    client.quit()
    with smtplib.SMTP("127.0.0.1", live.server.submission_port, timeout=10) as smtp:
        smtp.starttls(context=context)
        smtp.login(ADDRESS, PASSWORD)
        smtp.sendmail(ADDRESS, [ADDRESS], b"Subject: hello\r\n\r\nhi\r\n")
    return blob


def store_secrets(live) -> list[str]:
    with sqlite3.connect(live.server.data / "postroom.db") as conn:
        found = [row[0] for row in conn.execute("SELECT password_hash FROM mailboxes WHERE password_hash IS NOT NULL")]
        found += [row[0] for row in conn.execute("SELECT password_hash FROM admins WHERE password_hash IS NOT NULL")]
        found += [row[0] for row in conn.execute("SELECT secret_hash FROM api_tokens")]
        for id_hash, csrf in conn.execute("SELECT id_hash, csrf_token FROM web_sessions"):
            found += [id_hash, csrf]
    return found


def key_material(live) -> list[str]:
    """The private key's PEM and each line of its body."""
    pem = (live.server.data / "tls" / "postroom.key").read_text()
    return [pem] + [line for line in pem.splitlines() if line and not line.startswith("-----")]


def test_the_bundle_holds_the_facts_and_no_secret(live, tmp_path):
    live.ok("pop", "set", "--protocol-log", "enabled")
    live.ok("connector", "set", "Client EX01", "--protocol-log", "enabled")
    token = json.loads(live.ok("admin", "token", "new", "admin", "--json").stdout)["token"]
    cookie, csrf = sign_in_to_console(live)
    blob = use_every_login_path(live)
    wait_until(lambda: "bad-credentials" in json.dumps(live.doctor()[1]["recent-failed-logins"]), 5,
               "the refused login to be stored")

    path = tmp_path / "support.tar.gz"
    result = live.cli("doctor", "pop", ADDRESS, "--password-stdin", "--json", "--bundle", str(path),
                      input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)  # stdout stays pure JSON with --bundle
    assert f"Support bundle written to {path}" in result.stderr
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600

    with tarfile.open(path) as tar:
        files = {m.name.split("/", 1)[1]: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    assert MEMBERS <= set(files)
    assert json.loads(files["doctor.json"]) == printed
    mailbox = json.loads(files["mailbox.json"])
    assert mailbox["address"] == ADDRESS and mailbox["pop_enabled"] is True and "password_hash" not in mailbox
    assert {r["reason"] for r in json.loads(files["login-failures.json"])} == {"bad-credentials"}
    assert {c["name"] for c in json.loads(files["connectors.json"])} == {"Default EX01", "Client EX01"}
    assert json.loads(files["versions.json"])["schema_version"] >= 5
    assert json.loads(files["certificate.json"])["key_type"] == "EC P-256"
    pop_log = next(text for name, text in files.items() if name.startswith("logs/pop3/")).decode()
    assert f"USER {ADDRESS}" in pop_log and "PASS ****" in pop_log
    smtp_log = next(text for name, text in files.items() if name.startswith("logs/smtp/Client-EX01/")).decode()
    assert f"FROM:<{ADDRESS}>" in smtp_log and "AUTH PLAIN ****" in smtp_log

    everything = b"\n".join(files.values()).decode("utf-8")
    secrets = store_secrets(live) + key_material(live) + [
        PASSWORD, live.server.admin_password, token, token.split(".", 1)[1], cookie, csrf, blob,
        "a-wrong-secret-password"]
    assert len(secrets) >= 12
    leaked = [s for s in secrets if s in everything]
    assert not leaked, leaked


def test_a_bundle_for_a_mailbox_that_does_not_exist(live, tmp_path):
    path = tmp_path / "nobody.tar.gz"
    result = live.cli("doctor", "pop", "nobody@example.com", "--bundle", str(path))
    assert result.exit_code == 1  # the mailbox check fails; the bundle is written all the same
    with tarfile.open(path) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("/mailbox.json"))
        assert json.loads(tar.extractfile(member).read()) == {"address": "nobody@example.com", "exists": False}
