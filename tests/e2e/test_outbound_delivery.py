"""Outbound delivery end to end: a real `postroom serve` relays what an application submits,
through a send connector, to receiving servers found in DNS.

The test starts what it needs: an in-process fake DNS (tests/dns_support.py) that the transport
settings point at, and Postfix's `smtp-sink` on loopback addresses 127.0.0.21-24 sharing one
port (the send connector's `--port`): .21 accepts and dumps each message to a file, .22 defers
every RCPT (4xx), .24 refuses every RCPT (5xx), nothing listens on .23. The sender is a local
mailbox, so its non-delivery reports land in its mailbox, read back over POP3.
"""
from __future__ import annotations

import poplib
import smtplib
from email import message_from_bytes
from pathlib import Path

import pytest

from .harness import Postroom, wait_until
from .relay_lab import relay_lab

pytestmark = pytest.mark.e2e

SENDER, PASSWORD = "app@example.com", "app-secret-1"
ZONE = {
    "mx-ok.test": {"MX": ["10 mx1.mx-ok.test."]},
    "mx1.mx-ok.test": {"A": ["127.0.0.21"]},
    "mx-fallback.test": {"MX": ["10 mx1.mx-fallback.test.", "20 mx2.mx-fallback.test."]},
    "mx1.mx-fallback.test": {"A": ["127.0.0.23"]},
    "mx2.mx-fallback.test": {"A": ["127.0.0.21"]},
    "mx-permfail.test": {"MX": ["10 mx.mx-permfail.test."]},
    "mx.mx-permfail.test": {"A": ["127.0.0.24"]},
    "mx-tempfail.test": {"MX": ["10 mx.mx-tempfail.test."]},
    "mx.mx-tempfail.test": {"A": ["127.0.0.22"]},
    "null-mx.test": {"MX": ["0 ."], "A": ["127.0.0.21"]},
    "a-only.test": {"A": ["127.0.0.21"]},
}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    def prepare(node: Postroom) -> None:
        node.new_mailbox(SENDER, PASSWORD)
        node.cli("domain", "dkim", "new", "example.com", "--algorithm", "ed25519", "--selector", "lab")

    sinks = [("127.0.0.21", ("-d", "{dump}/%M.")), ("127.0.0.22", ("-r", "rcpt")), ("127.0.0.24", ("-f", "rcpt"))]
    with relay_lab(tmp_path_factory.mktemp("outbound"), ZONE, sinks, connector_options=("--protocol-log", "enabled"),
                   transport=("--transient-failure-retry-interval", "1s", "--transient-failure-retry-attempts", "1",
                              "--outbound-connection-failure-retry-interval", "1s", "--message-retry-interval", "1s",
                              "--message-expiration-timeout", "6s", "--delay-notification-timeout", "3s"),
                   prepare=prepare) as found:
        yield found


def _submit(node: Postroom, rcpt: str, subject: str, sender: str = SENDER) -> str:
    body = (f"From: {sender}\r\nTo: {rcpt}\r\nSubject: {subject}\r\nMessage-ID: <{subject}@example.com>\r\n\r\n"
            f"hello {subject}\r\n")
    with smtplib.SMTP("127.0.0.1", node.relay_port, timeout=10) as client:
        code, text = client.ehlo("app.example.com")
        assert code == 250
        client.sendmail(sender, [rcpt], body)
    return body


def _dumped(dump: Path, subject: str) -> bytes | None:
    for path in dump.iterdir():
        data = path.read_bytes()
        if f"Subject: {subject}".encode() in data:
            return data
    return None


def _reports(node: Postroom) -> list:
    client = poplib.POP3("127.0.0.1", node.pop_port, timeout=10)
    try:
        client.stls(context=__import__("ssl")._create_unverified_context())
        client.user(SENDER)
        client.pass_(PASSWORD)
        count, _ = client.stat()
        return [message_from_bytes(b"\r\n".join(client.retr(i + 1)[1])) for i in range(count)]
    finally:
        client.quit()


def _report_about(node: Postroom, subject: str):
    found = [m for m in _reports(node) if subject in str(m.get("Subject", ""))]
    return found[0] if found else None


def test_a_message_for_a_remote_domain_is_relayed_to_its_mx(lab):
    node, dump = lab
    _submit(node, "bob@mx-ok.test", "relayed-one")
    data = wait_until(lambda: _dumped(dump, "relayed-one"), 15, "the sink to receive the message")
    assert b"hello relayed-one" in data
    assert b"Return-Path:" not in data  # RFC 5321 4.4: only the final delivery adds it

    def events() -> list[str]:
        return [r["event_id"] for r in node.cli_json("log", "tracking", "--recipient", "bob@mx-ok.test")]

    wait_until(lambda: "SEND" in events(), 10, "the SEND tracking row")
    assert "RECEIVE" in events()


def test_the_send_connector_protocol_log_shows_the_conversation(lab):
    node, dump = lab
    _submit(node, "erin@mx-ok.test", "logged-one")
    wait_until(lambda: _dumped(dump, "logged-one"), 15, "the sink to receive the message")

    def logged() -> str:
        folder = node.data / "logs" / "send" / "Internet"
        return "".join(p.read_text() for p in folder.glob("*.log")) if folder.is_dir() else ""

    text = wait_until(lambda: "RCPT TO:<erin@mx-ok.test>" in logged() and logged(), 10, "the protocol log")
    lines = [line for line in text.splitlines() if "erin@mx-ok.test" in line]
    assert lines and ",>," in lines[0]  # what postroom sent, in the receive connectors' format
    assert ",Internet," in text and ",<,\"250" in text


def test_mail_from_a_domain_with_a_dkim_key_leaves_signed(lab):
    import dkim  # dkimpy, the independent verifier

    node, dump = lab
    _submit(node, "frank@mx-ok.test", "signed-one")
    data = wait_until(lambda: _dumped(dump, "signed-one"), 15, "the sink to receive the message")
    # smtp-sink writes its own X- lines and Received field first, with LF line ends: give the
    # message back the form it had on the wire
    message = b"\r\n".join(data.split(b"\n"))
    assert b"\r\nDKIM-Signature: v=1; a=ed25519-sha256;" in message
    message = message[message.index(b"DKIM-Signature:"):]
    record = node.cli_json("domain", "dkim", "show", "example.com")["keys"][0]

    def dnsfunc(name, timeout=5):
        assert name.decode().rstrip(".") == record["dns_name"]
        return record["txt_value"].encode()

    assert dkim.verify(message, dnsfunc=dnsfunc)
    tampered = message.replace(b"hello signed-one", b"hello changed-one")
    assert not dkim.verify(tampered, dnsfunc=dnsfunc)


def test_the_second_mx_takes_it_when_the_first_refuses_connections(lab):
    node, dump = lab
    _submit(node, "carol@mx-fallback.test", "fallback-one")
    wait_until(lambda: _dumped(dump, "fallback-one"), 15, "the second MX to receive the message")


def test_an_a_record_is_the_implicit_mx(lab):
    node, dump = lab
    _submit(node, "dan@a-only.test", "implicit-one")
    wait_until(lambda: _dumped(dump, "implicit-one"), 15, "the A host to receive the message")


def test_a_recipient_refused_with_5xx_gets_a_non_delivery_report(lab):
    node, _ = lab
    _submit(node, "nobody@mx-permfail.test", "perm-one")
    report = wait_until(lambda: _report_about(node, "perm-one"), 20, "the NDR in the sender's mailbox")
    assert str(report["Subject"]).startswith("Undeliverable:")
    assert report["Auto-Submitted"] == "auto-replied"
    assert report.get_content_type() == "multipart/report"
    status = [p for p in report.walk() if p.get_content_type() == "message/delivery-status"][0]
    text = status.as_string()
    assert "Final-Recipient: rfc822; nobody@mx-permfail.test" in text
    assert "Action: failed" in text and "Status: 5." in text


def test_a_null_mx_domain_is_bounced_at_once(lab):
    node, dump = lab
    _submit(node, "x@null-mx.test", "nullmx-one")
    report = wait_until(lambda: _report_about(node, "nullmx-one"), 20, "the NDR for the null MX domain")
    status = [p for p in report.walk() if p.get_content_type() == "message/delivery-status"][0].as_string()
    assert "Status: 5.1.10" in status
    assert _dumped(dump, "nullmx-one") is None  # its A record was never used


def test_a_deferred_recipient_gets_a_delay_notice_then_expires_with_a_report(lab):
    node, _ = lab
    _submit(node, "later@mx-tempfail.test", "temp-one")
    delay = wait_until(lambda: next((m for m in _reports(node) if str(m["Subject"]).startswith("Delivery delayed")
                                     and "temp-one" in str(m["Subject"])), None), 20, "the delay notice")
    assert "Action: delayed" in delay.as_string()
    expired = wait_until(lambda: next((m for m in _reports(node) if str(m["Subject"]).startswith("Undeliverable")
                                       and "temp-one" in str(m["Subject"])), None), 30, "the expiry NDR")
    assert "Status: 4.4.7" in expired.as_string()


def test_an_anonymous_client_of_the_default_connector_cannot_relay(lab):
    node, _ = lab
    with smtplib.SMTP("127.0.0.1", node.smtp_port, timeout=10) as client:
        client.ehlo("spammer.example")
        client.mail("someone@elsewhere.example")
        code, text = client.rcpt("victim@mx-ok.test")
    assert code == 550 and text.startswith(b"5.7.1")
