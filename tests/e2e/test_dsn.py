"""Delivery status notifications (RFC 3461) end to end: smtplib submits with MAIL and RCPT
parameters to a real `postroom serve`, which passes them on to next hops that offer DSN (Postfix's
`smtp-sink -d` dumps the parameters it received), reports success itself where they do not, and
sends no non-delivery report to an unauthenticated sender whose message a next hop refused for
its content (backscatter).

The lab: a fake DNS (tests/dns_support.py) and three smtp-sinks on one port: 127.0.0.25 offers
DSN and dumps what it gets, 127.0.0.26 does not offer DSN (-N) and dumps, 127.0.0.27 refuses every
message at the end of its data (5xx to "."). The sender is a local mailbox: its reports are read
back over POP3.
"""
from __future__ import annotations

import poplib
import smtplib
import ssl
import time
from email import message_from_bytes
from pathlib import Path

import pytest

from .harness import Postroom, wait_until
from .relay_lab import relay_lab

pytestmark = pytest.mark.e2e

SENDER, PASSWORD = "app@example.com", "app-secret-1"
LOCAL, LOCAL_PASSWORD = "local@example.com", "local-secret-1"
ZONE = {
    "dsn.test": {"MX": ["10 mx.dsn.test."]},
    "mx.dsn.test": {"A": ["127.0.0.25"]},
    "nodsn.test": {"MX": ["10 mx.nodsn.test."]},
    "mx.nodsn.test": {"A": ["127.0.0.26"]},
    "spamcheck.test": {"MX": ["10 mx.spamcheck.test."]},
    "mx.spamcheck.test": {"A": ["127.0.0.27"]},
}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    def prepare(node: Postroom) -> None:
        node.new_mailbox(SENDER, PASSWORD)
        node.new_mailbox(LOCAL, LOCAL_PASSWORD)

    sinks = [("127.0.0.25", ("-d", "{dump}/%M.")), ("127.0.0.26", ("-N", "-d", "{dump}/%M.")),
             ("127.0.0.27", ("-f", "."))]
    with relay_lab(tmp_path_factory.mktemp("dsn"), ZONE, sinks, prepare=prepare,
                   transport=("--transient-failure-retry-interval", "1s",
                              "--outbound-connection-failure-retry-interval", "1s", "--message-retry-interval", "1s"),
                   ) as found:
        yield found


def _message(subject: str, rcpts: list[str]) -> str:
    return (f"From: {SENDER}\r\nTo: {', '.join(rcpts)}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject}@example.com>\r\n\r\nhello {subject}\r\n")


def _relay(node: Postroom, rcpts: list[str], subject: str, mail_options=(), rcpt_options=()) -> None:
    """Submit as an application server would: anonymously, on the anonymous-relay connector."""
    with smtplib.SMTP("127.0.0.1", node.relay_port, timeout=10) as client:
        client.ehlo("app.example.com")
        assert client.has_extn("dsn")
        assert client.sendmail(SENDER, rcpts, _message(subject, rcpts), list(mail_options), list(rcpt_options)) == {}


def _relay_each(node: Postroom, subject: str, mail_options: list[str], rcpts: dict[str, list[str]]) -> None:
    """Like _relay, each recipient with its own RCPT parameters (smtplib's sendmail gives all the same)."""
    with smtplib.SMTP("127.0.0.1", node.relay_port, timeout=10) as client:
        client.ehlo("app.example.com")
        assert client.mail(SENDER, mail_options)[0] == 250
        for rcpt, options in rcpts.items():
            assert client.rcpt(rcpt, options)[0] == 250
        assert client.data(_message(subject, list(rcpts)).encode())[0] == 250


def _submit(node: Postroom, rcpts: list[str], subject: str) -> None:
    """Submit as a logged-in mailbox, on the Client connector."""
    with smtplib.SMTP("127.0.0.1", node.submission_port, timeout=10) as client:
        client.starttls(context=ssl._create_unverified_context())
        client.login(SENDER, PASSWORD)
        assert client.sendmail(SENDER, rcpts, _message(subject, rcpts)) == {}


def _dumped(dump: Path, subject: str) -> bytes | None:
    for path in dump.iterdir():
        data = path.read_bytes()
        if f"Subject: {subject}".encode() in data:
            return data
    return None


def _mailbox(node: Postroom, user: str = SENDER, password: str = PASSWORD) -> list:
    client = poplib.POP3("127.0.0.1", node.pop_port, timeout=10)
    try:
        client.stls(context=ssl._create_unverified_context())
        client.user(user)
        client.pass_(password)
        count, _ = client.stat()
        return [message_from_bytes(b"\r\n".join(client.retr(i + 1)[1])) for i in range(count)]
    finally:
        client.quit()


def _reports_about(node: Postroom, subject: str) -> list:
    return [m for m in _mailbox(node) if m.get_content_type() == "multipart/report" and subject in str(m["Subject"])]


def _part(report, content_type: str) -> str:
    return next(p for p in report.walk() if p.get_content_type() == content_type).as_string()


def _events(node: Postroom, recipient: str) -> list[str]:
    return [r["event_id"] for r in node.cli_json("log", "tracking", "--recipient", recipient)]


def _settle() -> None:
    time.sleep(2.0)  # a report, were one coming, is sent right after the attempt is recorded


def test_dsn_parameters_go_on_to_a_next_hop_that_offers_dsn(lab):
    node, dump = lab
    _relay(node, ["bob@dsn.test"], "dsn-passed", ["RET=HDRS", "ENVID=QQ+2B1"],
           ["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;Bob+2Btag@dsn.test"])
    data = wait_until(lambda: _dumped(dump, "dsn-passed"), 15, "the DSN sink to receive the message")
    mail_args = next(line for line in data.split(b"\n") if line.startswith(b"X-Mail-Args:"))
    assert mail_args.startswith(b"X-Mail-Args: <app@example.com> ") and mail_args.endswith(b" RET=HDRS ENVID=QQ+2B1")
    assert b"X-Rcpt-Args: <bob@dsn.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;Bob+2Btag@dsn.test\n" in data
    wait_until(lambda: "SEND" in _events(node, "bob@dsn.test"), 10, "the SEND tracking row")
    _settle()
    assert _reports_about(node, "dsn-passed") == []  # the next hop reports success, not us


def test_a_next_hop_without_dsn_gets_the_sender_a_relayed_report(lab):
    node, dump = lab
    _relay_each(node, "dsn-relayed", ["ENVID=env-2"], {
        "carl@nodsn.test": ["NOTIFY=SUCCESS", "ORCPT=rfc822;Carl+2Btag@nodsn.test"], "dora@nodsn.test": []})
    data = wait_until(lambda: _dumped(dump, "dsn-relayed"), 15, "the sink without DSN to receive the message")
    assert b"X-Rcpt-Args: <carl@nodsn.test>\n" in data  # no DSN offered: no NOTIFY or ORCPT sent
    report = wait_until(lambda: next(iter(_reports_about(node, "dsn-relayed")), None), 20, "the relayed report")
    assert str(report["Subject"]) == "Relayed: dsn-relayed"
    status = _part(report, "message/delivery-status")
    assert "Original-Envelope-Id: env-2" in status
    assert "Original-Recipient: rfc822; Carl+tag@nodsn.test" in status  # decoded once, not twice
    assert "Final-Recipient: rfc822; carl@nodsn.test" in status and "Action: relayed" in status
    assert "Status: 2." in status and "Remote-MTA: dns; mx.nodsn.test [127.0.0.26]" in status
    assert "dora@nodsn.test" not in status  # its NOTIFY asked for nothing on success
    headers = _part(report, "text/rfc822-headers")  # success: the headers only, unless RET=FULL
    assert "Subject: dsn-relayed" in headers and "hello dsn-relayed" not in headers


def test_a_local_mailbox_with_notify_success_gets_the_sender_a_delivered_report(lab):
    node, _ = lab
    _relay_each(node, "dsn-delivered", ["RET=FULL", "ENVID=local+2B1"], {
        LOCAL: ["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;Local@example.com"], SENDER: ["NOTIFY=FAILURE"]})
    assert any("dsn-delivered" in str(m["Subject"]) for m in _mailbox(node, LOCAL, LOCAL_PASSWORD))
    report = wait_until(lambda: next(iter(_reports_about(node, "dsn-delivered")), None), 10, "the delivered report")
    assert str(report["Subject"]) == "Delivered: dsn-delivered"
    status = _part(report, "message/delivery-status")
    assert "Original-Envelope-Id: local+1" in status
    assert "Final-Recipient: rfc822; local@example.com" in status and "Action: delivered" in status
    assert "Original-Recipient: rfc822; Local@example.com" in status and "Status: 2.0.0" in status
    assert SENDER not in status.replace("Reporting", "")  # its NOTIFY asked for nothing on success
    assert "hello dsn-delivered" in _part(report, "message/rfc822")  # RET=FULL: the whole message
    assert "DSN" in _events(node, LOCAL)


def test_no_success_report_unless_asked(lab):
    node, _ = lab
    _relay(node, [LOCAL], "dsn-quiet")
    _relay(node, [LOCAL], "dsn-never", rcpt_options=["NOTIFY=NEVER"])
    _settle()
    assert _reports_about(node, "dsn-quiet") == [] and _reports_about(node, "dsn-never") == []


def test_no_report_to_an_unauthenticated_sender_for_a_content_refusal(lab):
    node, _ = lab
    _relay(node, ["eve@spamcheck.test"], "dsn-backscatter")
    wait_until(lambda: "FAIL" in _events(node, "eve@spamcheck.test"), 15, "the FAIL tracking row")
    _settle()
    assert _reports_about(node, "dsn-backscatter") == []
    assert "DSN" not in _events(node, "eve@spamcheck.test")


def test_an_authenticated_sender_gets_the_report_for_a_content_refusal(lab):
    node, _ = lab
    _submit(node, ["fred@spamcheck.test"], "dsn-refused-auth")
    report = wait_until(lambda: next(iter(_reports_about(node, "dsn-refused-auth")), None), 20, "the NDR")
    assert str(report["Subject"]).startswith("Undeliverable:")
    status = _part(report, "message/delivery-status")
    assert "Final-Recipient: rfc822; fred@spamcheck.test" in status and "Action: failed" in status
    assert "Status: 5." in status


def test_bad_dsn_parameters_are_refused_with_a_readable_reply(lab):
    node, _ = lab
    with smtplib.SMTP("127.0.0.1", node.relay_port, timeout=10) as client:
        client.ehlo("app.example.com")
        assert client.mail(SENDER, ["RET=ALL"]) == (501, b"5.5.4 Invalid RET parameter: use RET=FULL or RET=HDRS")
        assert client.mail(SENDER, ["ENVID=" + "x" * 101]) == (
            501, b"5.5.4 ENVID parameter longer than 100 characters")
    with smtplib.SMTP("127.0.0.1", node.relay_port, timeout=10) as client:  # a fresh error count (at most 5)
        client.ehlo("app.example.com")
        assert client.mail(SENDER)[0] == 250
        assert client.rcpt(LOCAL, ["NOTIFY=NEVER,SUCCESS"]) == (
            501, b"5.5.4 NOTIFY=NEVER cannot be combined with SUCCESS, FAILURE or DELAY")
        assert client.rcpt(LOCAL, ["NOTIFY=FAILURE", "NOTIFY=DELAY"]) == (501, b"5.5.4 Duplicate NOTIFY parameter")
        assert client.rcpt(LOCAL, ["ORCPT=rfc822;a=b@example.com"]) == (
            501, b"5.5.4 Invalid ORCPT parameter: '=' must be sent as xtext (+3D)")
