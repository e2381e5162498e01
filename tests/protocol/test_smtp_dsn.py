"""SMTP core, DSN extension (RFC 3461): RET and ENVID on MAIL, NOTIFY and ORCPT on RCPT.

Bytes in, replies and envelopes out; every script runs at every chunk size with immediate and
deferred adapter answers (test_smtp.run).
"""
from __future__ import annotations

import pytest
from test_smtp import (
    GO_AHEAD, HELLO, MAIL, RCPT_OK, SENDER_OK, TO_ALICE, TOO_MANY_ERRORS, UNKNOWN_MBX, UNSUPPORTED, envelope,
    queued, run, session,
)

from postroom.protocol.smtp import NO_DSN, RecipientDsn

GREETING_HELO = b"220 mx.example.com postroom ESMTP service ready\r\n250 mx.example.com\r\n"


def bad(text: str) -> bytes:
    return f"501 5.5.4 {text}\r\n".encode()


def test_ehlo_offers_dsn():
    assert b"250-DSN\r\n" in session(b"").output


def test_mail_and_rcpt_parameters_reach_the_envelope():
    r = session(b"MAIL FROM:<sender@remote.example> RET=hdrs ENVID=QQ+2B1+3Dx SIZE=10\r\n"
                b"RCPT TO:<alice@example.com> NOTIFY=delay,Success ORCPT=rfc822;Alice+2Btag@example.com\r\n"
                b"RCPT TO:<nobody@example.com> NOTIFY=NEVER\r\n"
                b"RCPT TO:<bob@example.com>\r\n"
                b"RCPT TO:<PostMaster> NOTIFY=NEVER ORCPT=RFC822;postmaster\r\n"
                b"DATA\r\n.\r\n")
    assert r.output == HELLO + SENDER_OK + RCPT_OK + UNKNOWN_MBX + RCPT_OK * 2 + GO_AHEAD + queued(1)
    assert r.envelopes == [envelope(
        recipients=("alice@example.com", "bob@example.com", "PostMaster"), size_declared=10, ret="HDRS",
        envid="QQ+1=x",
        dsn=(RecipientDsn("SUCCESS,DELAY", "rfc822;Alice+tag@example.com"), NO_DSN,
             RecipientDsn("NEVER", "rfc822;postmaster")),
    )]
    assert r.envelopes[0].recipient_dsn(1) is NO_DSN


def test_without_parameters_the_envelope_has_none():
    r = session(MAIL + TO_ALICE + b"DATA\r\n.\r\n")
    assert r.envelopes == [envelope()]
    assert r.envelopes[0].recipient_dsn(0) == NO_DSN


def test_parameters_over_bdat_and_a_second_transaction_forgets_them():
    r = session(b"MAIL FROM:<sender@remote.example> RET=FULL\r\n"
                b"RCPT TO:<alice@example.com> NOTIFY=FAILURE\r\nBDAT 0 LAST\r\n"
                + MAIL + TO_ALICE + b"DATA\r\n.\r\n")
    assert r.output == HELLO + SENDER_OK + RCPT_OK + queued(1) + SENDER_OK + RCPT_OK + GO_AHEAD + queued(2)
    assert r.envelopes == [envelope(ret="FULL", dsn=(RecipientDsn("FAILURE"),)), envelope()]


@pytest.mark.parametrize("notify, kept", [
    ("NEVER", "NEVER"), ("never", "NEVER"), ("FAILURE", "FAILURE"), ("DELAY,FAILURE,SUCCESS", "SUCCESS,FAILURE,DELAY"),
    ("failure,failure", "FAILURE"),
])
def test_notify_values(notify, kept):
    r = session(MAIL + f"RCPT TO:<alice@example.com> NOTIFY={notify}\r\nDATA\r\n.\r\n".encode())
    assert r.envelopes[0].dsn == (RecipientDsn(kept),)


def test_utf8_orcpt_with_smtputf8():
    r = session("MAIL FROM:<sender@remote.example> SMTPUTF8\r\n"
                "RCPT TO:<ünï@example.com> ORCPT=utf-8;ünï@example.com\r\n"
                "RCPT TO:<alice@example.com> ORCPT=UTF-8;j\\x{F6}@example.com\r\nDATA\r\n.\r\n".encode())
    assert r.output == HELLO + SENDER_OK + RCPT_OK * 2 + GO_AHEAD + queued(1)
    assert r.envelopes[0].dsn == (RecipientDsn(None, "utf-8;ünï@example.com"),
                                  RecipientDsn(None, "utf-8;jö@example.com"))


NOTIFY_HELP = "Invalid NOTIFY parameter: use NEVER or a list of SUCCESS, FAILURE, DELAY"
ORCPT_HELP = "Invalid ORCPT parameter: use ORCPT=addr-type;xtext, e.g. ORCPT=rfc822;user@example.com"


@pytest.mark.parametrize("params, reply", [
    (b"NOTIFY=NEVER,SUCCESS", bad("NOTIFY=NEVER cannot be combined with SUCCESS, FAILURE or DELAY")),
    (b"NOTIFY=FAILURE NOTIFY=DELAY", bad("Duplicate NOTIFY parameter")),
    (b"NOTIFY=", bad(NOTIFY_HELP)),
    (b"NOTIFY", bad(NOTIFY_HELP)),
    (b"NOTIFY=SUCCESS,", bad(NOTIFY_HELP)),
    (b"NOTIFY=ALWAYS", bad(NOTIFY_HELP)),
    (b"ORCPT=rfc822;a@b ORCPT=rfc822;a@b", bad("Duplicate ORCPT parameter")),
    (b"ORCPT=alice@example.com", bad(ORCPT_HELP)),
    (b"ORCPT=rfc822;", bad(ORCPT_HELP)),
    (b"ORCPT=;a@b", bad(ORCPT_HELP)),
    (b"ORCPT=rfc 822;a@b", bad(ORCPT_HELP)),  # "ORCPT=rfc", then "822;a@b"
    (b"ORCPT=rfc822;a+2@b", bad("Invalid ORCPT parameter: '+' must be followed by two hex digits (xtext)")),
    (b"ORCPT=rfc822;a+ZZ@b", bad("Invalid ORCPT parameter: '+' must be followed by two hex digits (xtext)")),
    (b"ORCPT=rfc822;a=b@c", bad("Invalid ORCPT parameter: '=' must be sent as xtext (+3D)")),
    (b"ORCPT=rfc822;a+0Ab@c", bad("Invalid ORCPT parameter: it decodes to control or non-ASCII characters")),
    (b"ORCPT=rfc822;a+C3+B6@c", bad("Invalid ORCPT parameter: '+' must be followed by two hex digits (xtext)")),
    (b"ORCPT=rfc822;" + b"a" * 488, bad("ORCPT parameter longer than 500 characters")),
])
def test_bad_rcpt_parameters(params, reply):
    r = session(MAIL + b"RCPT TO:<alice@example.com> " + params + b"\r\n" + TO_ALICE)
    assert r.output == HELLO + SENDER_OK + reply + RCPT_OK


def test_orcpt_of_500_characters_is_accepted():
    r = session(MAIL + b"RCPT TO:<alice@example.com> ORCPT=rfc822;" + b"a" * 487 + b"\r\n")
    assert r.output == HELLO + SENDER_OK + RCPT_OK


def test_non_ascii_orcpt_needs_smtputf8_and_the_utf8_type():
    r = session(MAIL + "RCPT TO:<alice@example.com> ORCPT=utf-8;jö@example.com\r\nRSET\r\n".encode()
                + "MAIL FROM:<a@remote.example> SMTPUTF8\r\nRCPT TO:<alice@example.com> ORCPT=rfc822;jö@x\r\n"
                  "RCPT TO:<alice@example.com> ORCPT=utf-8;j\\x{41}@x\r\n".encode())
    not_xtext = bad("Invalid ORCPT parameter: not xtext")
    assert r.output == HELLO + SENDER_OK + not_xtext + b"250 2.0.0 OK\r\n" + SENDER_OK + not_xtext + bad(
        "Invalid ORCPT parameter: bad \\x{} escape")


@pytest.mark.parametrize("params, reply", [
    (b"RET=FULL RET=HDRS", bad("Duplicate RET parameter")),
    (b"RET", bad("Invalid RET parameter: use RET=FULL or RET=HDRS")),
    (b"RET=", bad("Invalid RET parameter: use RET=FULL or RET=HDRS")),
    (b"ENVID=a ENVID=b", bad("Duplicate ENVID parameter")),
    (b"ENVID", bad("Invalid ENVID parameter: ENVID=xtext expected")),
    (b"ENVID=", bad("Invalid ENVID parameter: ENVID=xtext expected")),
    (b"ENVID=" + b"x" * 101, bad("ENVID parameter longer than 100 characters")),
    (b"ENVID=a+2", bad("Invalid ENVID parameter: '+' must be followed by two hex digits (xtext)")),
    (b"ENVID=a=b", bad("Invalid ENVID parameter: '=' must be sent as xtext (+3D)")),
    (b"ENVID=a+00", bad("Invalid ENVID parameter: it decodes to control or non-ASCII characters")),
    ("ENVID=é".encode(), bad("Invalid ENVID parameter: not xtext")),
])
def test_bad_mail_parameters(params, reply):
    r = session(MAIL[:-2] + b" " + params + b"\r\n" + TO_ALICE)
    assert r.output == HELLO + reply + b"503 5.5.1 Need MAIL command\r\n"


def test_envid_of_100_characters_is_accepted():
    r = session(MAIL[:-2] + b" ENVID=" + b"x" * 100 + b"\r\n" + TO_ALICE + b"DATA\r\n.\r\n")
    assert r.output == HELLO + SENDER_OK + RCPT_OK + GO_AHEAD + queued(1)
    assert r.envelopes[0].envid == "x" * 100


def test_dsn_parameters_need_ehlo():
    r = run(b"HELO old.example\r\nMAIL FROM:<a@remote.example> RET=FULL\r\nMAIL FROM:<a@remote.example>\r\n"
            b"RCPT TO:<alice@example.com> NOTIFY=NEVER\r\n")
    assert r.output == GREETING_HELO + UNSUPPORTED + SENDER_OK + UNSUPPORTED


def test_bad_parameters_count_as_protocol_errors():
    r = session(MAIL + b"RCPT TO:<alice@example.com> NOTIFY=x\r\nRCPT TO:<alice@example.com> ORCPT=x\r\n",
                max_errors=2)
    assert r.output == HELLO + SENDER_OK + bad(NOTIFY_HELP) + TOO_MANY_ERRORS
