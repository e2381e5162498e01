"""Submission policy against a served postroom with smtplib: sender ownership on the Client
connector (MAIL FROM and the header From, send-as granted live with `postroom mailbox set
--send-as`), the default per-mailbox message rate (30 a minute), and the hop limit on the
Default connector. What the client sees (reply codes and texts) and what POP3 then shows."""
from __future__ import annotations

import poplib
import smtplib
import ssl

import pytest

from .harness import wait_until
from .messages import message

pytestmark = pytest.mark.e2e
DENIED = b"5.7.1 Client does not have permission to send as this sender"


def tls_client(server) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=server.cert)


def submit(server, user: str, password: str) -> smtplib.SMTP:
    client = smtplib.SMTP("127.0.0.1", server.submission_port, timeout=10)
    client.starttls(context=tls_client(server))
    client.login(user, password)
    return client


def subjects(server, user: str, password: str) -> list[bytes]:
    client = poplib.POP3_SSL("127.0.0.1", server.pops_port, context=tls_client(server), timeout=10)
    client.user(user)
    client.pass_(password)
    found = []
    for number in range(1, client.stat()[0] + 1):
        found += [line for line in client.retr(number)[1] if line.startswith(b"Subject: ")]
    client.quit()
    return found


def test_sender_ownership_and_a_live_send_as_grant(server):
    server.new_mailbox("owner@example.com", "pw-owner-1")
    server.new_mailbox("boss@example.com", "pw-boss-1")
    with submit(server, "owner@example.com", "pw-owner-1") as client:
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            client.sendmail("boss@example.com", ["boss@example.com"], message("as boss", sender="boss@example.com"))
        assert (refused.value.smtp_code, refused.value.smtp_error) == (550, DENIED)
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:  # the null reverse-path too
            client.sendmail("", ["boss@example.com"], message("null", sender="owner@example.com"))
        assert refused.value.smtp_code == 550
        with pytest.raises(smtplib.SMTPDataError) as refused:  # its own envelope, someone else's From
            client.sendmail("owner@example.com", ["boss@example.com"],
                            message("spoof", sender="Boss <boss@example.com>"))
        assert (refused.value.smtp_code, refused.value.smtp_error) == (550, DENIED)
        assert client.sendmail("owner@example.com", ["boss@example.com"],
                               message("own", sender="Owner <Owner@example.com>")) == {}

    server.cli("mailbox", "set", "owner@example.com", "--send-as", "boss@example.com")
    server.wait_applied()

    def as_boss() -> bool:
        with submit(server, "owner@example.com", "pw-owner-1") as client:
            try:
                client.sendmail("boss@example.com", ["boss@example.com"], message("granted", sender="boss@example.com"))
            except smtplib.SMTPSenderRefused:
                return False
            return True

    wait_until(as_boss, 10, "the send-as grant to apply")
    assert subjects(server, "boss@example.com", "pw-boss-1") == [b"Subject: own", b"Subject: granted"]


def test_the_default_message_rate_is_thirty_a_minute_per_mailbox(server):
    server.new_mailbox("burst@example.com", "pw-burst-1")
    server.new_mailbox("calm@example.com", "pw-calm-1")
    with submit(server, "burst@example.com", "pw-burst-1") as client:
        for n in range(30):
            assert client.sendmail("burst@example.com", ["burst@example.com"],
                                   message(f"burst {n}", sender="burst@example.com")) == {}
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            client.sendmail("burst@example.com", ["burst@example.com"], message("31", sender="burst@example.com"))
        assert refused.value.smtp_code == 450
        assert refused.value.smtp_error == (b"4.7.0 Message rate limit exceeded: burst@example.com may submit 30 "
                                            b"messages per minute; try again later")
    with submit(server, "calm@example.com", "pw-calm-1") as other:  # another mailbox has its own count
        assert other.sendmail("calm@example.com", ["burst@example.com"],
                              message("calm", sender="calm@example.com")) == {}
    assert len(subjects(server, "burst@example.com", "pw-burst-1")) == 31


def test_a_message_past_the_hop_limit_is_refused_as_a_loop(server):
    server.new_mailbox("looped@example.com", "pw-looped-1")
    hops = "".join(f"Received: from relay{i}.example.net by relay{i + 1}.example.net;\r\n"
                   f"\tMon, 1 Jan 2024 00:00:{i % 60:02d} +0000\r\n" for i in range(101)).encode()
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as client:
        client.ehlo("loop.example.net")
        with pytest.raises(smtplib.SMTPDataError) as refused:
            client.sendmail("sender@example.net", ["looped@example.com"], hops + message("looping"))
        assert (refused.value.smtp_code, refused.value.smtp_error) == (
            554, b"5.4.6 Hop count exceeded - possible mail loop")
        hundred = hops.split(b"Received: ", 2)[2]  # 100 Received fields: still accepted
        assert client.sendmail("sender@example.net", ["looped@example.com"], b"Received: " + hundred
                               + message("hundred hops")) == {}
    assert subjects(server, "looped@example.com", "pw-looped-1") == [b"Subject: hundred hops"]
