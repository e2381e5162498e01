"""SMTP core: byte scripts in, exact replies and events out.

Every script runs with the input fed whole, byte by byte and in a few other chunk sizes, and
with the fake adapter answering either at once or only after the current chunk is consumed
(so the core is PAUSED with later commands buffered). All runs must give identical output and
events.
"""
from __future__ import annotations

import base64
import itertools
from dataclasses import dataclass, field

import pytest
from conversation import converse

from postroom.protocol import pop3
from postroom.protocol.smtp import (
    NEED_DATA, PAUSED, RELAY_DENIED, STORAGE_FULL, TEMPORARY_FAILURE, TRANSITIONS, UNKNOWN_MAILBOX, Authenticate,
    AuthFailure, CheckRecipient, CheckSender, CloseConnection, Deliver, Envelope, LocalProtocolError, Reply, SendAs,
    SmtpConfig, SmtpServer, StartTls, State, reply,
)

# ------------------------------------------------------------------------------ fixtures
FQDN = "mx.example.com"
IP = "192.0.2.7"
GREETING = b"220 mx.example.com postroom ESMTP service ready\r\n"
OK = b"250 2.0.0 OK\r\n"
SENDER_OK = b"250 2.1.0 Sender OK\r\n"
RCPT_OK = b"250 2.1.5 Recipient OK\r\n"
GO_AHEAD = b"354 Start mail input; end with <CRLF>.<CRLF>\r\n"
BYE = b"221 2.0.0 mx.example.com closing connection\r\n"
NEED_HELO = b"503 5.5.1 Send HELO/EHLO first\r\n"
NEED_MAIL = b"503 5.5.1 Need MAIL command\r\n"
NESTED = b"503 5.5.1 Sender already specified\r\n"
NO_VALID = b"554 5.5.1 No valid recipients\r\n"
UNKNOWN = b"500 5.5.2 Command not recognized\r\n"
TOO_LONG = b"500 5.5.2 Line too long\r\n"
BAD_TEXT = b"500 5.5.2 Command is not valid UTF-8 text\r\n"
MAIL_SYNTAX = b"501 5.5.4 Syntax: MAIL FROM:<address>\r\n"
THROTTLED = reply(450, "4.7.0", "Message rate limit exceeded; try again later")
RCPT_SYNTAX = b"501 5.5.4 Syntax: RCPT TO:<address>\r\n"
UNSUPPORTED = b"555 5.5.4 Unsupported parameter\r\n"
TOO_BIG = b"552 5.3.4 Message size exceeds fixed maximum message size\r\n"
TLS_FIRST = b"530 5.7.0 Must issue a STARTTLS command first\r\n"
AUTH_FIRST = b"530 5.7.1 Client was not authenticated\r\n"
TLS_GO = b"220 2.0.0 Ready to start TLS\r\n"
AUTH_OK = b"235 2.7.0 Authentication successful\r\n"
AUTH_BAD = b"535 5.7.8 Authentication credentials invalid\r\n"
UNKNOWN_MBX = b"550 5.1.1 Recipient address rejected: unknown mailbox\r\n"
TOO_MANY_ERRORS = b"421 4.7.0 mx.example.com Too many errors, closing connection\r\n"


def queued(n: int) -> bytes:
    return b"250 2.6.0 Message accepted for delivery, queue id Q%d\r\n" % n


def ehlo_reply(*, starttls=False, auth=False, size=36 * 1024 * 1024, ip=IP) -> bytes:
    lines = [f"{FQDN} Hello [{ip}]" if ip else f"{FQDN} Hello", "PIPELINING", f"SIZE {size}",
             "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8", "DSN", "CHUNKING"]
    lines += ["STARTTLS"] * starttls + ["AUTH PLAIN LOGIN"] * auth
    return "".join(f"250{'-' if i < len(lines) - 1 else ' '}{t}\r\n" for i, t in enumerate(lines)).encode()


def b64(raw: bytes) -> bytes:
    return base64.b64encode(raw)


def plain(user: bytes, password: bytes) -> bytes:
    return b64(b"\0" + user + b"\0" + password)


EHLO = b"EHLO client.example\r\n"
HELLO = GREETING + ehlo_reply()
ALICE_PLAIN = b"AUTH PLAIN " + plain(b"alice", b"secret") + b"\r\n"
MAIL = b"MAIL FROM:<sender@remote.example>\r\n"
TO_ALICE = b"RCPT TO:<alice@example.com>\r\n"
TX = EHLO + MAIL + TO_ALICE  # answered by HELLO + TX_OK
TX_OK = HELLO + SENDER_OK + RCPT_OK


def envelope(**kw) -> Envelope:
    values = dict(sender="sender@remote.example", recipients=("alice@example.com",),
                  helo="client.example", protocol="ESMTP", tls=False, authenticated=None,
                  smtputf8=False, body="7BIT", size_declared=None, ret=None, envid=None, dsn=())
    values.update(kw)
    return Envelope(**values)


# -------------------------------------------------------------------------------- driver
@dataclass
class Result:
    output: bytes
    events: list = field(default_factory=list)

    @property
    def delivered(self) -> list[bytes]:
        return [e.content for e in self.events if isinstance(e, Deliver)]

    @property
    def envelopes(self) -> list[Envelope]:
        return [e.envelope for e in self.events if isinstance(e, Deliver)]


def adapter_answer(conn: SmtpServer, ev, counter):
    """The fake adapter: alice/secret and bob/pw log on (each may send as its own address at
    example.com and any at remote.example; throttled@ is over its rate limit), carol is disabled, flaky fails for
    now; alice, bob and postmaster at example.com exist, busy@ fails for now, other domains
    are relayed nowhere; content containing FAIL does not fit in the store."""
    if isinstance(ev, Authenticate):
        if ev.username == "flaky":
            return lambda: conn.auth_failed(AuthFailure.TEMPORARY)
        if ev.username == "carol" and ev.password == "pw":
            return lambda: conn.auth_failed("disabled")
        if {"alice": "secret", "bob": "pw"}.get(ev.username) == ev.password:
            return lambda: conn.auth_succeeded(SendAs(f"{ev.username}@example.com", ["*@remote.example"]))
        return lambda: conn.auth_failed(AuthFailure.BAD_CREDENTIALS)
    if isinstance(ev, CheckSender):
        if ev.sender.startswith("throttled@"):
            return lambda: conn.sender_rejected(THROTTLED)
        return conn.sender_accepted
    if isinstance(ev, CheckRecipient):
        local, _, domain = ev.address.rpartition("@")
        if ev.address.lower() == "postmaster":
            return conn.recipient_accepted
        if domain.lower() != "example.com":
            return lambda: conn.recipient_rejected(RELAY_DENIED(domain))
        if local == "busy":
            return lambda: conn.recipient_rejected(TEMPORARY_FAILURE)
        return conn.recipient_accepted if local in ("alice", "bob", "ünï") else (
            lambda: conn.recipient_rejected(UNKNOWN_MAILBOX))
    if isinstance(ev, Deliver):
        if b"FAIL" in bytes(ev.content):
            return lambda: conn.delivery_failed(STORAGE_FULL)
        number = next(counter)
        return lambda: conn.delivered(f"Q{number}")
    return None


def drive(phases, chunk, deferred, *, config, tls_active, eof) -> Result:
    """One conversation (see conversation.converse) with the fake adapter above."""
    conn = SmtpServer(config, tls_active=tls_active)
    counter = itertools.count(1)

    def closed():
        assert conn.state is State.CLOSED

    out, events = converse(conn, phases, chunk, deferred, answer=lambda ev: adapter_answer(conn, ev, counter),
                           eof=eof, close_type=CloseConnection, starttls_type=StartTls, strict_pause=True,
                           on_close=closed)
    return Result(out, events)


CHUNK_SIZES = (1, 2, 3, 5, 64)


def run(script, *, tls_active=False, eof=True, **config) -> Result:
    phases = [script] if isinstance(script, bytes) else list(script)
    cfg = SmtpConfig(**{"fqdn": FQDN, "remote_ip": IP, **config})
    kw = dict(config=cfg, tls_active=tls_active, eof=eof)
    reference = drive(phases, None, False, **kw)
    for deferred in (False, True):
        for chunk in (None, *CHUNK_SIZES):
            result = drive(phases, chunk, deferred, **kw)
            assert result.output == reference.output, (chunk, deferred)
            assert result.events == reference.events, (chunk, deferred)
    return reference


def session(commands: bytes, **kw) -> Result:
    """EHLO, then `commands`."""
    return run(EHLO + commands, **kw)


# ------------------------------------------------------------------- greeting, HELO, EHLO
def test_greeting_then_eof():
    r = run(b"")
    assert r.output == GREETING
    assert r.events == [CloseConnection("eof")]


def test_banner_is_configurable_and_greeting_has_no_enhanced_code():
    assert run(b"", banner="EX01 Microsoft ESMTP MAIL Service ready").output == (
        b"220 EX01 Microsoft ESMTP MAIL Service ready\r\n"
    )


@pytest.mark.parametrize(
    "config, tls_active, expected",
    [
        ({}, False, ehlo_reply()),
        ({"remote_ip": ""}, False, ehlo_reply(ip="")),
        ({"max_message_size": 1000}, False, ehlo_reply(size=1000)),
        ({"offer_tls": True}, False, ehlo_reply(starttls=True)),
        ({"offer_tls": True}, True, ehlo_reply()),
        ({"offer_basic": True}, False, ehlo_reply(auth=True)),
        ({"offer_tls": True, "offer_basic": True}, False, ehlo_reply(starttls=True, auth=True)),
        ({"offer_tls": True, "offer_basic": True, "basic_requires_tls": True}, False, ehlo_reply(starttls=True)),
        ({"offer_tls": True, "offer_basic": True, "basic_requires_tls": True}, True, ehlo_reply(auth=True)),
    ],
)
def test_ehlo_advertises_extensions(config, tls_active, expected):
    assert run(EHLO, tls_active=tls_active, **config).output == GREETING + expected


def test_helo_reply_and_plain_smtp_envelope():
    r = run(b"HELO old.example\r\n" + MAIL + TO_ALICE + b"DATA\r\nhi\r\n.\r\n")
    assert r.output == GREETING + b"250 mx.example.com\r\n" + SENDER_OK + RCPT_OK + GO_AHEAD + queued(1)
    assert r.envelopes == [envelope(helo="old.example", protocol="SMTP")]


@pytest.mark.parametrize(
    "line, expected",
    [
        (b"EHLO", b"501 5.5.4 Syntax: EHLO hostname\r\n"),
        (b"EHLO   ", b"501 5.5.4 Syntax: EHLO hostname\r\n"),
        (b"HELO", b"501 5.5.4 Syntax: HELO hostname\r\n"),
    ],
)
def test_greeting_needs_a_name(line, expected):
    r = run(line + b"\r\n" + MAIL)
    assert r.output == GREETING + expected + NEED_HELO


def test_ehlo_and_helo_reset_the_transaction_but_keep_the_login():
    r = run(EHLO + ALICE_PLAIN + MAIL + EHLO + TO_ALICE + MAIL + b"HELO again\r\n" + b"DATA\r\n",
            offer_basic=True)
    again = ehlo_reply(auth=True)
    assert r.output == GREETING + again + AUTH_OK + SENDER_OK + again + NEED_MAIL + SENDER_OK + (
        b"250 mx.example.com\r\n" + NEED_MAIL
    )


def test_commands_are_case_insensitive_and_lines_may_end_in_bare_lf():
    r = run(b"ehlo client.example\nmail from:<Sender@Remote.Example>\nrCpT tO:<alice@example.com>\ndata\n"
            b"x\r\n.\r\nquit\n")
    assert r.output == TX_OK + GO_AHEAD + queued(1) + BYE
    assert r.envelopes == [envelope(sender="Sender@Remote.Example")]


# ---------------------------------------------------------------------------------- MAIL
def test_mail_before_helo():
    assert run(MAIL).output == GREETING + NEED_HELO


def test_nested_mail():
    assert session(MAIL + MAIL).output == HELLO + SENDER_OK + NESTED


@pytest.mark.parametrize(
    "line",
    [b"MAIL", b"MAIL FROM", b"MAIL TO:<a@b.example>", b"MAIL FROM:a@b.example", b"MAIL FROM:<a@b.example",
     b"MAIL FROM:<a@b.example>SIZE=1", b"MAIL FROMM:<a@b.example>", b"MAIL <a@b.example>"],
)
def test_mail_syntax(line):
    assert session(line + b"\r\n").output == HELLO + MAIL_SYNTAX


@pytest.mark.parametrize("path", [b"<a b@c.example>", b"<@>", b"<a@>", b"<a@b@c>", b"<postmaster>", b"<a@[x>"])
def test_mail_bad_sender_address(path):
    assert session(b"MAIL FROM:" + path + b"\r\n").output == HELLO + b"501 5.1.7 Bad sender address syntax\r\n"


@pytest.mark.parametrize(
    "line, sender",
    [
        (b"MAIL FROM:<>", ""),
        (b"MAIL FROM: <a@b.example>", "a@b.example"),
        (b"MAIL FROM:<a@b.example> ", "a@b.example"),
        (b"mail from:<A.B@Example.ORG>", "A.B@Example.ORG"),
        (b'MAIL FROM:<"odd > name"@b.example>', '"odd > name"@b.example'),
        (b"MAIL FROM:<@relay.example,@other.example:a@b.example>", "a@b.example"),
        (b"MAIL FROM:<a@[192.0.2.1]>", "a@[192.0.2.1]"),
    ],
)
def test_mail_accepted_forms(line, sender):
    r = session(line + b"\r\n" + TO_ALICE + b"DATA\r\n.\r\n")
    assert r.output == TX_OK + GO_AHEAD + queued(1)
    assert r.envelopes == [envelope(sender=sender)]


@pytest.mark.parametrize(
    "params, expected",
    [
        (b" SIZE=1000", {"size_declared": 1000}),
        (b" size=0 body=8bitmime", {"size_declared": 0, "body": "8BITMIME"}),
        (b" BODY=7BIT", {}),
        (b" SMTPUTF8", {"smtputf8": True}),
        (b" AUTH=<> SIZE=5", {"size_declared": 5}),
        (b" AUTH=someone@example.org", {}),
    ],
)
def test_mail_parameters(params, expected):
    r = session(MAIL[:-2] + params + b"\r\n" + TO_ALICE + b"DATA\r\n.\r\n")
    assert r.output == TX_OK + GO_AHEAD + queued(1)
    assert r.envelopes == [envelope(**expected)]


@pytest.mark.parametrize(
    "params, reply",
    [
        (b" SIZE=37748737", TOO_BIG),
        (b" SIZE=x", b"501 5.5.4 Invalid SIZE parameter\r\n"),
        (b" SIZE=", b"501 5.5.4 Invalid SIZE parameter\r\n"),
        (b" SIZE=\xc2\xb2", b"501 5.5.4 Invalid SIZE parameter\r\n"),
        (b" BODY=BINARYMIME", UNSUPPORTED),
        (b" BODY=9BIT", UNSUPPORTED),
        (b" SMTPUTF8=yes", UNSUPPORTED),
        (b" RET=ALL", b"501 5.5.4 Invalid RET parameter: use RET=FULL or RET=HDRS\r\n"),
        (b" AUTH", UNSUPPORTED),
    ],
)
def test_mail_parameter_refusals(params, reply):
    r = session(MAIL[:-2] + params + b"\r\n" + TO_ALICE)
    assert r.output == HELLO + reply + NEED_MAIL


def test_declared_size_at_the_limit_is_accepted():
    r = session(MAIL[:-2] + b" SIZE=1000\r\n", max_message_size=1000)
    assert r.output == GREETING + ehlo_reply(size=1000) + SENDER_OK


def test_helo_session_allows_no_parameters():
    r = run(b"HELO old.example\r\n" + MAIL[:-2] + b" SIZE=10\r\n")
    assert r.output == GREETING + b"250 mx.example.com\r\n" + UNSUPPORTED


def test_non_ascii_addresses_need_smtputf8():
    utf8_required = b"553 5.6.7 Non-ASCII address requires SMTPUTF8\r\n"
    r = session("MAIL FROM:<jös@b.example>\r\n".encode() + MAIL + "RCPT TO:<ünï@example.com>\r\n".encode()
                + b"RSET\r\n" + "MAIL FROM:<jös@b.example> SMTPUTF8\r\n".encode()
                + "RCPT TO:<ünï@example.com>\r\nDATA\r\n.\r\n".encode())
    assert r.output == HELLO + utf8_required + SENDER_OK + utf8_required + OK + SENDER_OK + RCPT_OK + (
        GO_AHEAD + queued(1)
    )
    assert r.envelopes == [envelope(sender="jös@b.example", recipients=("ünï@example.com",), smtputf8=True)]


def test_require_tls_refuses_mail_rcpt_data_bdat_and_auth_before_starttls():
    r = session(MAIL + TO_ALICE + b"DATA\r\nBDAT 3\r\nabcAUTH PLAIN\r\n", require_tls=True, offer_tls=True,
                offer_basic=True, max_errors=6)
    assert r.output == GREETING + ehlo_reply(starttls=True, auth=True) + TLS_FIRST * 5


def test_require_tls_is_satisfied_by_tls():
    r = run([EHLO + b"STARTTLS\r\n", TX + b"DATA\r\n.\r\n"], require_tls=True, offer_tls=True)
    assert r.output == GREETING + ehlo_reply(starttls=True) + TLS_GO + ehlo_reply() + SENDER_OK + RCPT_OK + (
        GO_AHEAD + queued(1)
    )
    assert r.envelopes == [envelope(protocol="ESMTPS", tls=True)]


def test_anonymous_not_allowed_needs_auth_first():
    r = session(MAIL + ALICE_PLAIN + MAIL + TO_ALICE + b"DATA\r\n.\r\n", anonymous_allowed=False, offer_basic=True)
    assert r.output == GREETING + ehlo_reply(auth=True) + AUTH_FIRST + AUTH_OK + SENDER_OK + RCPT_OK + (
        GO_AHEAD + queued(1)
    )
    assert r.envelopes == [envelope(protocol="ESMTPA", authenticated="alice")]


# ---------------------------------------------------------------------------------- RCPT
def test_rcpt_without_mail():
    assert session(TO_ALICE).output == HELLO + NEED_MAIL
    assert run(TO_ALICE).output == GREETING + NEED_MAIL


@pytest.mark.parametrize(
    "line",
    [b"RCPT", b"RCPT TO", b"RCPT FROM:<alice@example.com>", b"RCPT TO:alice@example.com",
     b"RCPT TO:<alice@example.com", b"RCPT TO:<alice@example.com>x"],
)
def test_rcpt_syntax(line):
    assert session(MAIL + line + b"\r\n").output == HELLO + SENDER_OK + RCPT_SYNTAX


@pytest.mark.parametrize("path", [b"<>", b"<alice>", b"<alice@>", b"<a b@example.com>"])
def test_rcpt_bad_address(path):
    r = session(MAIL + b"RCPT TO:" + path + b"\r\n")
    assert r.output == HELLO + SENDER_OK + b"501 5.1.3 Bad recipient address syntax\r\n"
    assert not any(isinstance(e, CheckRecipient) for e in r.events)


def test_unknown_rcpt_parameters_are_refused():
    r = session(MAIL + b"RCPT TO:<alice@example.com> FOO=BAR\r\nRCPT TO:<alice@example.com> NOTIFY=NEVER FOO\r\n")
    assert r.output == HELLO + SENDER_OK + UNSUPPORTED * 2


def test_rcpt_asks_the_adapter_with_the_address_as_sent():
    r = session(MAIL + b"RCPT TO: <Alice@Example.COM>\r\nRCPT TO:<@relay.example:bob@example.com>\r\n"
                b"RCPT TO:<PostMaster>\r\n")
    assert r.events[:3] == [
        CheckRecipient("Alice@Example.COM", "sender@remote.example"),
        CheckRecipient("bob@example.com", "sender@remote.example"),
        CheckRecipient("PostMaster", "sender@remote.example"),
    ]


def test_adapter_refusals_are_sent_as_given_and_not_counted():
    r = session(MAIL + b"RCPT TO:<nobody@example.com>\r\nRCPT TO:<x@elsewhere.org>\r\nRCPT TO:<busy@example.com>\r\n"
                + TO_ALICE + b"RCPT TO:<nobody@example.com>\r\nDATA\r\n.\r\n", max_errors=1)
    assert r.output == HELLO + SENDER_OK + (
        UNKNOWN_MBX
        + b"550 5.7.1 Relaying to elsewhere.org denied: no send connector for this domain "
        + b"(postroom send-connector new NAME --address-spaces elsewhere.org)\r\n"
        + b"451 4.3.0 Temporary failure, try again later\r\n"
        + RCPT_OK
        + UNKNOWN_MBX
        + GO_AHEAD
        + queued(1)
    )
    assert r.envelopes == [envelope()]


def test_too_many_recipients():
    rcpts = b"RCPT TO:<alice@example.com>\r\nRCPT TO:<bob@example.com>\r\nRCPT TO:<postmaster>\r\n"
    r = session(MAIL + rcpts + b"DATA\r\n.\r\n", max_recipients=2)
    assert r.output == HELLO + SENDER_OK + RCPT_OK * 2 + b"452 4.5.3 Too many recipients\r\n" + GO_AHEAD + queued(1)
    assert r.envelopes == [envelope(recipients=("alice@example.com", "bob@example.com"))]
    assert sum(isinstance(e, CheckRecipient) for e in r.events) == 2


def test_rejected_recipients_do_not_use_up_the_limit():
    r = session(MAIL + b"RCPT TO:<nobody@example.com>\r\n" * 3 + TO_ALICE, max_recipients=1)
    assert r.output == HELLO + SENDER_OK + UNKNOWN_MBX * 3 + RCPT_OK


# ---------------------------------------------------------------------------------- DATA
def test_data_sequence_errors():
    r = session(b"DATA\r\n" + MAIL + b"DATA\r\n" + b"RCPT TO:<nobody@example.com>\r\nDATA\r\n" + TO_ALICE
                + b"DATA now\r\nDATA \r\n.\r\n")
    assert r.output == HELLO + NEED_MAIL + SENDER_OK + NO_VALID + UNKNOWN_MBX + NO_VALID + RCPT_OK + (
        b"501 5.5.4 Syntax: DATA\r\n" + GO_AHEAD + queued(1)
    )


@pytest.mark.parametrize(
    "content, stored",
    [
        (b".\r\n", b""),
        (b"Subject: hi\r\n\r\nbody\r\n.\r\n", b"Subject: hi\r\n\r\nbody\r\n"),
        (b"..leading dot\r\n...two\r\n.\r\n", b".leading dot\r\n..two\r\n"),
        (b"a\r\n..\r\nb\r\n.\r\n", b"a\r\n.\r\nb\r\n"),
        (b"bare\nlf\r\n.\r\n", b"bare\r\nlf\r\n"),
        (b"a\n.\nb\r\n.\r\n", b"a\r\n\r\nb\r\n"),  # <LF>.<LF> is a (stuffed) line, not the end
        (b"a\n.\r\nb\r\n.\r\n", b"a\r\n\r\nb\r\n"),  # <LF>.<CRLF> neither
        (b"a\r\n.\nb\r\n.\r\n", b"a\r\n\r\nb\r\n"),  # <CRLF>.<LF> neither
        (b"a\n..b\r\n.\r\n", b"a\r\n.b\r\n"),
        (b"a\n.\r\n.\r\n", b"a\r\n\r\n"),
        (b"lone\rcr\r\r\n.\r\n", b"lone\rcr\r\r\n"),
        (b"x" * 5000 + b"\r\n.\r\n", b"x" * 5000 + b"\r\n"),  # no line limit in content
        (b"\r\n.\r\n", b"\r\n"),
        (b"8bit \xff\xfe\x00 bytes\r\n.\r\n", b"8bit \xff\xfe\x00 bytes\r\n"),
    ],
)
def test_data_content_is_decoded_to_wire_form(content, stored):
    r = session(MAIL + TO_ALICE + b"DATA\r\n" + content + b"QUIT\r\n")
    assert r.output == TX_OK + GO_AHEAD + queued(1) + BYE
    assert r.delivered == [stored]


def test_lf_dot_lf_never_ends_data_so_nothing_is_smuggled():
    smuggled = b"MAIL FROM:<evil@x.example>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\nforged\r\n"
    r = session(MAIL + TO_ALICE + b"DATA\r\nreal\n.\n" + smuggled + b".\r\n")
    assert r.output == TX_OK + GO_AHEAD + queued(1)
    assert r.delivered == [b"real\r\n\r\n" + smuggled]
    assert sum(isinstance(e, CheckRecipient) for e in r.events) == 1


def test_delivery_answers_and_transaction_reset():
    r = session(MAIL + TO_ALICE + b"DATA\r\nFAIL\r\n.\r\nDATA\r\n"
                + MAIL + TO_ALICE + b"DATA\r\nok\r\n.\r\nRCPT TO:<x>\r\n")
    assert r.output == TX_OK + GO_AHEAD + b"452 4.3.1 Insufficient system storage\r\n" + NEED_MAIL + (
        SENDER_OK + RCPT_OK + GO_AHEAD + queued(1) + NEED_MAIL
    )
    assert r.delivered == [b"FAIL\r\n", b"ok\r\n"]


def test_pipelined_transactions_in_one_packet():
    one = MAIL + TO_ALICE + b"RCPT TO:<bob@example.com>\r\nDATA\r\n"
    r = session(one + b"first\r\n.\r\n" + one + b"second\r\n.\r\nQUIT\r\nNOOP\r\n")
    step = SENDER_OK + RCPT_OK * 2 + GO_AHEAD
    assert r.output == HELLO + step + queued(1) + step + queued(2) + BYE
    assert r.delivered == [b"first\r\n", b"second\r\n"]
    assert r.envelopes[0] == envelope(recipients=("alice@example.com", "bob@example.com"))
    assert r.events[-1] == CloseConnection("quit")


@pytest.mark.parametrize(
    "wire, stored, size, delivered",
    [
        (b"a\nb\nc\r\n", b"a\r\nb\r\nc\r\n", 9, True),  # 7 octets on the wire, 9 stored
        (b"a\nb\nc\r\n", b"a\r\nb\r\nc\r\n", 8, False),
        (b"..a\r\n..b\r\n", b".a\r\n.b\r\n", 8, True),  # 10 on the wire, 8 stored
        (b"..a\r\n..b\r\n", b".a\r\n.b\r\n", 7, False),
    ],
)
def test_actual_size_limit_counts_the_decoded_content(wire, stored, size, delivered):
    r = session(MAIL + TO_ALICE + b"DATA\r\n" + wire + b".\r\n" + MAIL, max_message_size=size)
    head = GREETING + ehlo_reply(size=size) + SENDER_OK + RCPT_OK + GO_AHEAD
    assert r.output == head + (queued(1) if delivered else TOO_BIG) + SENDER_OK
    assert r.delivered == ([stored] if delivered else [])


def test_oversized_data_is_read_to_its_end_then_refused():
    content = (b"y" * 99 + b"\n") * 50 + b"\r\n.\r\n"
    r = session(MAIL + TO_ALICE + b"DATA\r\n" + content + b"NOOP\r\n", max_message_size=1000)
    assert r.output == GREETING + ehlo_reply(size=1000) + SENDER_OK + RCPT_OK + GO_AHEAD + TOO_BIG + OK
    assert r.delivered == []


# ---------------------------------------------------------------------------------- BDAT
def test_bdat_chunks_with_crlf_split_across_chunks():
    r = session(MAIL + TO_ALICE + b"BDAT 3\r\nab\rBDAT 4\r\n\n..cBDAT 2 LAST\r\n\r\n")
    assert r.output == TX_OK + b"250 2.0.0 3 octets received\r\n250 2.0.0 4 octets received\r\n" + queued(1)
    assert r.delivered == [b"ab\r\n..c\r\n"]  # raw: no unstuffing


@pytest.mark.parametrize(
    "chunks, stored",
    [
        (b"BDAT 0 LAST\r\n", b""),
        (b"BDAT 5\r\nhelloBDAT 0 LAST\r\n", b"hello\r\n"),
        (b"BDAT 4 last\r\na\nb\n", b"a\r\nb\r\n"),
        (b"BDAT 3 LAST\r\na\r\r", b"a\r\r\r\n"),
        (b"BDAT 5  LAST \r\n.\r\n.\r", b".\r\n.\r\r\n"),
        (b"BDAT 007 LAST\r\nQUIT\r\n\n", b"QUIT\r\n\r\n"),
    ],
)
def test_bdat_content(chunks, stored):
    r = session(MAIL + TO_ALICE + chunks + b"NOOP\r\n")
    assert r.delivered == [stored]
    assert r.output.endswith(queued(1) + OK)


def test_bdat_refused_chunks_are_still_read():
    r = session(b"BDAT 6\r\nRSET\r\n" + MAIL + b"BDAT 4 LAST\r\nQUIT" + b"RCPT TO:<nobody@example.com>\r\n"
                + b"BDAT 3\r\nabc" + b"NOOP\r\n")
    assert r.output == HELLO + NEED_MAIL + SENDER_OK + NO_VALID + UNKNOWN_MBX + NO_VALID + OK
    assert r.delivered == []


def test_bdat_without_mail_before_helo_is_read_too():
    assert run(b"BDAT 4 LAST\r\nNOOPNOOP\r\n").output == GREETING + NEED_MAIL + OK


@pytest.mark.parametrize(
    "line", [b"BDAT", b"BDAT x", b"BDAT -1", b"BDAT 1 FIRST", b"BDAT 1 LAST x", b"BDAT 0x10", "BDAT ١".encode()]
)
@pytest.mark.parametrize("prefix", [b"", MAIL, MAIL + TO_ALICE])
def test_bdat_syntax_error_closes_the_connection(prefix, line):
    r = session(prefix + line + b"\r\nabc\r\nNOOP\r\n")
    answers = {b"": b"", MAIL: SENDER_OK, MAIL + TO_ALICE: SENDER_OK + RCPT_OK}[prefix]
    assert r.output == HELLO + answers + b"501 5.5.4 Syntax: BDAT <size> [LAST]\r\n"
    assert r.events[-1] == CloseConnection("bdat-syntax")


def test_bdat_over_the_limit_discards_and_resets():
    r = session(MAIL + TO_ALICE + b"BDAT 6\r\n123456BDAT 5\r\n12345BDAT 2 LAST\r\nxy" + MAIL + TO_ALICE
                + b"BDAT 2 LAST\r\nok", max_message_size=10)
    assert r.output == GREETING + ehlo_reply(size=10) + SENDER_OK + RCPT_OK + (
        b"250 2.0.0 6 octets received\r\n" + TOO_BIG + NEED_MAIL + SENDER_OK + RCPT_OK + queued(1)
    )
    assert r.delivered == [b"ok\r\n"]


def test_bdat_limit_applies_after_normalisation():
    r = session(MAIL + TO_ALICE + b"BDAT 8 LAST\r\na\nb\nc\nd\n", max_message_size=10)
    assert r.output == GREETING + ehlo_reply(size=10) + SENDER_OK + RCPT_OK + TOO_BIG
    # The limit applies to the content as delivered, so an appended CRLF counts too.
    r = session(MAIL + TO_ALICE + b"BDAT 10 LAST\r\n0123456789", max_message_size=10)
    assert r.output.endswith(TOO_BIG)
    r = session(MAIL + TO_ALICE + b"BDAT 10 LAST\r\n01234567\r\n", max_message_size=10)
    assert r.delivered == [b"01234567\r\n"]


def test_data_and_rcpt_after_bdat_are_refused():
    r = session(MAIL + TO_ALICE + b"BDAT 2\r\nabDATA\r\nRCPT TO:<bob@example.com>\r\nBDAT 0 LAST\r\n")
    assert r.output == TX_OK + b"250 2.0.0 2 octets received\r\n" + (
        b"503 5.5.1 DATA not allowed after BDAT\r\n503 5.5.1 RCPT not allowed after BDAT\r\n" + queued(1)
    )
    assert r.delivered == [b"ab\r\n"]


def test_rset_drops_chunks():
    r = session(MAIL + TO_ALICE + b"BDAT 2\r\nabRSET\r\n" + MAIL + TO_ALICE + b"BDAT 2 LAST\r\ncd")
    assert r.delivered == [b"cd\r\n"]


# -------------------------------------------------------------------- other commands
@pytest.mark.parametrize(
    "line, expected",
    [
        (b"NOOP", OK),
        (b"NOOP anything at all", OK),
        (b"RSET", OK),
        (b"RSET ", OK),
        (b"RSET now", b"501 5.5.4 Syntax: RSET\r\n"),
        (b"VRFY alice", b"252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery\r\n"),
        (b"VRFY", b"252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery\r\n"),
        (b"EXPN staff", b"502 5.5.1 EXPN not available\r\n"),
        (b"HELP", b"214 2.0.0 Commands: HELO EHLO STARTTLS AUTH MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP\r\n"),
        (b"HELP MAIL", b"214 2.0.0 Commands: HELO EHLO STARTTLS AUTH MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP\r\n"),
        (b"QUIT now", b"501 5.5.4 Syntax: QUIT\r\n"),
        (b"TURN", UNKNOWN),
        (b"", UNKNOWN),
        (b" NOOP", UNKNOWN),
        ("MÄIL FROM:<a@b.example>".encode(), UNKNOWN),
        (b"NOOP \xff", BAD_TEXT),
        (b"NOOP a\x00b", BAD_TEXT),
        (b"EHLO a\rb", BAD_TEXT),
        (b"x" * 998, UNKNOWN),
        (b"x" * 999, TOO_LONG),
    ],
)
def test_simple_commands(line, expected):
    assert session(line + b"\r\nQUIT\r\n").output == HELLO + expected + BYE


def test_rset_keeps_the_greeting_and_works_before_it():
    r = run(b"RSET\r\n" + MAIL + EHLO + MAIL + b"RSET\r\n" + TO_ALICE + MAIL)
    assert r.output == GREETING + OK + NEED_HELO + ehlo_reply() + SENDER_OK + OK + NEED_MAIL + SENDER_OK


def test_quit_closes_and_later_input_is_ignored():
    r = session(b"QUIT\r\nNOOP\r\n")
    assert r.output == HELLO + BYE
    assert r.events == [CloseConnection("quit")]


def test_overlong_line_is_discarded_to_its_end():
    r = session(b"MAIL FROM:<" + b"a" * 3000 + b"@b.example>\r\n" + MAIL)
    assert r.output == HELLO + TOO_LONG + SENDER_OK


def test_max_command_line_is_configurable():
    line = b"NOOP " + b"x" * 1995 + b"\r\n"  # 2002 octets
    assert session(line, max_command_line=2002).output == HELLO + OK
    assert session(line, max_command_line=2001).output == HELLO + TOO_LONG


# ---------------------------------------------------------------------------- STARTTLS
def test_starttls_discards_pipelined_plaintext():
    r = run([EHLO + b"STARTTLS\r\nMAIL FROM:<evil@x.example>\r\nRCPT TO:<bob@example.com>\r\n",
             b"MAIL FROM:<a@b.example>\r\n" + EHLO + MAIL + TO_ALICE + b"DATA\r\n.\r\n"], offer_tls=True)
    assert r.output == GREETING + ehlo_reply(starttls=True) + TLS_GO + NEED_HELO + ehlo_reply() + SENDER_OK + (
        RCPT_OK + GO_AHEAD + queued(1)
    )
    assert r.events[0] == StartTls()
    assert [e.address for e in r.events if isinstance(e, CheckRecipient)] == ["alice@example.com"]
    assert r.envelopes == [envelope(protocol="ESMTPS", tls=True)]


def test_bytes_received_during_the_handshake_are_ignored():
    conn = SmtpServer(SmtpConfig(fqdn=FQDN, offer_tls=True))
    conn.receive_data(b"EHLO a\r\nSTARTTLS\r\nMAIL FROM:<evil@x.example>\r\n")
    assert conn.next_event() == StartTls()
    assert conn.state is State.TLS_NEGOTIATING
    assert conn.bytes_buffered == 0  # the pipelined plaintext is gone at once
    conn.receive_data(b"MAIL FROM:<evil@x.example>\r\n")
    assert conn.bytes_buffered == 0
    assert conn.next_event() is PAUSED
    conn.tls_started()
    assert conn.state is State.CONNECTED
    conn.receive_data(b"EHLO a\r\n")
    assert conn.next_event() is NEED_DATA
    assert b"".join(conn.data_to_send()).endswith(b"250 CHUNKING\r\n")


@pytest.mark.parametrize(
    "script, config, tls_active, expected",
    [
        (b"STARTTLS x\r\n", {"offer_tls": True}, False, b"501 5.5.4 Syntax: STARTTLS\r\n"),
        (b"STARTTLS\r\n", {}, False, b"502 5.5.1 STARTTLS not available\r\n"),
        (b"STARTTLS\r\n", {"offer_tls": True}, True, b"503 5.5.1 TLS already active\r\n"),
        (MAIL + b"STARTTLS\r\n", {"offer_tls": True}, False,
         SENDER_OK + b"503 5.5.1 STARTTLS not allowed during a mail transaction\r\n"),
    ],
)
def test_starttls_refusals(script, config, tls_active, expected):
    r = session(script + b"NOOP\r\n", tls_active=tls_active, **config)
    assert r.output.endswith(expected + OK)
    assert not any(isinstance(e, StartTls) for e in r.events)


def test_starttls_before_ehlo_and_after_auth_forgets_the_login():
    r = run([EHLO + ALICE_PLAIN + b"STARTTLS\r\n", EHLO + MAIL + TO_ALICE + b"DATA\r\n.\r\n"],
            offer_tls=True, offer_basic=True)
    assert r.envelopes == [envelope(protocol="ESMTPS", tls=True)]
    r = run([b"STARTTLS\r\n", EHLO], offer_tls=True)
    assert r.output == GREETING + TLS_GO + ehlo_reply()


# -------------------------------------------------------------------------------- AUTH
AUTH_CFG = {"offer_basic": True}
AUTH_HELLO = GREETING + ehlo_reply(auth=True)
LOGIN_PROMPTS = b"334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n"


@pytest.mark.parametrize(
    "client, prompts, mechanism",
    [
        (ALICE_PLAIN, b"", "PLAIN"),
        (b"auth plain\r\n" + plain(b"alice", b"secret") + b"\r\n", b"334 \r\n", "PLAIN"),
        (b"AUTH LOGIN\r\n" + b64(b"alice") + b"\r\n" + b64(b"secret") + b"\r\n", LOGIN_PROMPTS, "LOGIN"),
        (b"AUTH LOGIN " + b64(b"alice") + b"\r\n" + b64(b"secret") + b"\r\n", b"334 UGFzc3dvcmQ6\r\n", "LOGIN"),
    ],
)
def test_auth_mechanisms(client, prompts, mechanism):
    r = session(client + MAIL + TO_ALICE + b"DATA\r\n.\r\n", **AUTH_CFG)
    assert r.output == AUTH_HELLO + prompts + AUTH_OK + SENDER_OK + RCPT_OK + GO_AHEAD + queued(1)
    assert r.events[0] == Authenticate("alice", "secret", mechanism)
    assert "secret" not in repr(r.events[0])
    assert r.envelopes == [envelope(protocol="ESMTPA", authenticated="alice")]


def test_auth_plain_authzid_is_passed_on():
    r = session(b"AUTH PLAIN " + b64(b"boss\0alice\0secret") + b"\r\n", **AUTH_CFG)
    assert r.events[0] == Authenticate("alice", "secret", "PLAIN", "boss")


@pytest.mark.parametrize(
    "client, expected",
    [
        (b"AUTH PLAIN not*base64\r\n", b"501 5.5.2 Invalid base64 data\r\n"),
        (b"AUTH PLAIN\r\n!!!\r\n", b"334 \r\n501 5.5.2 Invalid base64 data\r\n"),
        (b"AUTH LOGIN\r\n" + b64(b"alice") + b"\r\n====\r\n", LOGIN_PROMPTS + b"501 5.5.2 Invalid base64 data\r\n"),
        (b"AUTH PLAIN " + b64(b"alice:secret") + b"\r\n", b"501 5.5.2 Malformed authentication response\r\n"),
        (b"AUTH PLAIN\r\n*\r\n", b"334 \r\n501 5.0.0 Authentication cancelled\r\n"),
        (b"AUTH LOGIN\r\n*\r\n", b"334 VXNlcm5hbWU6\r\n501 5.0.0 Authentication cancelled\r\n"),
        (b"AUTH LOGIN\r\n" + b64(b"alice") + b"\r\n*\r\n", LOGIN_PROMPTS + b"501 5.0.0 Authentication cancelled\r\n"),
        (b"AUTH CRAM-MD5\r\n", b"504 5.5.4 Unrecognized authentication type\r\n"),
        (b"AUTH\r\n", b"501 5.5.4 Syntax: AUTH mechanism [initial-response]\r\n"),
        (b"AUTH PLAIN a b\r\n", b"501 5.5.4 Syntax: AUTH mechanism [initial-response]\r\n"),
        (b"AUTH PLAIN\r\n" + b"A" * 1200 + b"\r\n", b"334 \r\n" + TOO_LONG),
    ],
)
def test_auth_client_errors(client, expected):
    r = session(client + b"NOOP\r\n", **AUTH_CFG)
    assert r.output == AUTH_HELLO + expected + OK
    assert not any(isinstance(e, Authenticate) for e in r.events)


def test_auth_cancel_is_not_a_protocol_error_but_bad_base64_is():
    cancel = b"AUTH PLAIN\r\n*\r\n"
    assert session(cancel * 3 + b"NOOP\r\n", max_errors=2, **AUTH_CFG).output.endswith(OK)
    bad = b"AUTH PLAIN !\r\n"
    assert session(bad * 2, max_errors=2, **AUTH_CFG).output.endswith(TOO_MANY_ERRORS)


def test_auth_failures_and_the_failure_limit():
    bad = b"AUTH PLAIN " + plain(b"alice", b"wrong") + b"\r\n"
    flaky = b"AUTH PLAIN " + plain(b"flaky", b"x") + b"\r\n"
    disabled = b"AUTH PLAIN " + plain(b"carol", b"pw") + b"\r\n"
    r = session(bad + flaky + flaky + disabled + bad + b"NOOP\r\n", **AUTH_CFG)
    temporary = b"454 4.7.0 Temporary authentication failure, try again later\r\n"
    assert r.output == AUTH_HELLO + AUTH_BAD + temporary * 2 + AUTH_BAD + (
        b"421 4.7.0 mx.example.com Too many authentication failures, closing connection\r\n"
    )
    assert r.events[-1] == CloseConnection("too-many-auth-failures")


def test_auth_sequence_and_policy_refusals():
    r = session(ALICE_PLAIN + ALICE_PLAIN + MAIL + ALICE_PLAIN, **AUTH_CFG)
    assert r.output == AUTH_HELLO + AUTH_OK + b"503 5.5.1 Already authenticated\r\n" + SENDER_OK + (
        b"503 5.5.1 AUTH not allowed during a mail transaction\r\n"
    )
    r = session(MAIL + ALICE_PLAIN, **AUTH_CFG)
    assert r.output == AUTH_HELLO + SENDER_OK + b"503 5.5.1 AUTH not allowed during a mail transaction\r\n"
    assert run(ALICE_PLAIN, **AUTH_CFG).output == GREETING + NEED_HELO
    assert session(ALICE_PLAIN).output == HELLO + b"503 5.5.1 AUTH not available\r\n"


def test_basic_requiring_tls_answers_538_before_tls():
    cfg = dict(offer_tls=True, offer_basic=True, basic_requires_tls=True)
    r = run([EHLO + ALICE_PLAIN + b"AUTH LOGIN\r\n" + b"STARTTLS\r\n", EHLO + ALICE_PLAIN], **cfg)
    encryption = b"538 5.7.11 Encryption required for requested authentication mechanism\r\n"
    assert r.output == GREETING + ehlo_reply(starttls=True) + encryption * 2 + TLS_GO + ehlo_reply(auth=True) + AUTH_OK
    assert [type(e) for e in r.events] == [StartTls, Authenticate, CloseConnection]


def test_require_tls_refuses_auth_with_530():
    r = session(ALICE_PLAIN, offer_basic=True, offer_tls=True, require_tls=True)
    assert r.output == GREETING + ehlo_reply(starttls=True, auth=True) + TLS_FIRST


# ----------------------------------------------------------------------- error limit
def test_too_many_errors_closes_with_421():
    r = session(b"BOGUS\r\n" * 4 + b"NOOP\r\n" + b"DATA\r\n" + b"NOOP\r\n")
    assert r.output == HELLO + UNKNOWN * 4 + OK + TOO_MANY_ERRORS
    assert r.events == [CloseConnection("too-many-errors")]


def test_policy_refusals_do_not_count_as_errors():
    r = session(MAIL[:-2] + b" SIZE=99\r\n" + MAIL + b"DATA\r\nBDAT 1\r\nx" + b"RSET\r\n" + b"EXPN x\r\n" + TO_ALICE,
                max_errors=1, max_message_size=10)
    expn = b"502 5.5.1 EXPN not available\r\n"
    assert r.output == GREETING + ehlo_reply(size=10) + TOO_BIG + SENDER_OK + NO_VALID * 2 + OK + expn + (
        TOO_MANY_ERRORS
    )


@pytest.mark.parametrize(
    "line",
    [b"MAIL FROM:x", b"MAIL FROM:<a b@c>", b"RCPT TO:<a@b.example>", b"DATA", b"XYZZY", b"x" * 1100,
     b"AUTH LOGIN", b"STARTTLS x", MAIL[:-2] + b" FOO=1", "MAIL FROM:<é@b.example>".encode()],
)
def test_each_client_error_counts(line):
    r = session(line + b"\r\n" + b"NOOP\r\n", max_errors=1, offer_tls=True)
    assert r.output == GREETING + ehlo_reply(starttls=True) + TOO_MANY_ERRORS


# --------------------------------------------------------------------------------- EOF
@pytest.mark.parametrize(
    "script",
    [MAIL + TO_ALICE + b"DATA\r\nunfinished\r\n", MAIL + TO_ALICE + b"DATA\r\nx\r\n.\r",
     MAIL + TO_ALICE + b"BDAT 10 LAST\r\nshort", MAIL + TO_ALICE + b"BDAT 2\r\nab", b"AUTH PLAIN\r\n"],
)
def test_eof_drops_unfinished_content(script):
    r = session(script, offer_basic=True)
    assert r.delivered == []
    assert r.events[-1] == CloseConnection("eof")


def test_eof_while_paused_lets_the_delivery_finish_then_closes():
    conn = SmtpServer(SmtpConfig(fqdn=FQDN))
    conn.receive_data(EHLO + MAIL + TO_ALICE)
    assert conn.next_event() == CheckRecipient("alice@example.com", "sender@remote.example")
    conn.recipient_accepted()
    conn.receive_data(b"DATA\r\nhi\r\n.\r\nQUIT\r\n")
    assert isinstance(conn.next_event(), Deliver)
    assert conn.state is State.DELIVERING
    assert conn.bytes_buffered == len(b"QUIT\r\n")
    conn.receive_data(b"")
    assert conn.next_event() is PAUSED
    conn.delivered("Q9")
    assert conn.next_event() == CloseConnection("eof")
    assert conn.next_event() is NEED_DATA
    assert b"".join(conn.data_to_send()).endswith(b"queue id Q9\r\n")


# ------------------------------------------------------------- the adapter's view
def test_paused_core_keeps_later_commands_buffered():
    conn = SmtpServer(SmtpConfig(fqdn=FQDN, remote_ip=IP))
    assert conn.data_to_send() == [GREETING]
    conn.receive_data(TX + b"NOOP\r\n")
    assert conn.next_event() == CheckRecipient("alice@example.com", "sender@remote.example")
    assert conn.next_event() is PAUSED
    assert conn.state is State.CHECKING_RECIPIENT
    assert conn.bytes_buffered == len(b"NOOP\r\n")
    assert conn.data_to_send() == [ehlo_reply(), SENDER_OK]
    conn.recipient_rejected(reply(550, "5.7.1", "Not for you"))
    assert conn.next_event() is NEED_DATA
    assert conn.data_to_send() == [b"550 5.7.1 Not for you\r\n", OK]
    assert conn.state is State.MAIL


def test_receiving_content_tells_content_from_commands():
    conn = SmtpServer(SmtpConfig())
    conn.receive_data(TX)
    conn.next_event()
    conn.recipient_accepted()
    seen = []
    for part in (b"DATA\r\n", b"secret\r\n", b".\r\n", b"BDAT 3\r\n", b"abc"):
        seen.append(conn.receiving_content)
        conn.receive_data(part)
        while (ev := conn.next_event()) not in (NEED_DATA, PAUSED):
            if isinstance(ev, Deliver):
                conn.delivered("Q1")
                conn.receive_data(MAIL + TO_ALICE)
            elif isinstance(ev, CheckRecipient):
                conn.recipient_accepted()
    assert seen == [False, True, True, False, True]
    assert not conn.receiving_content


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.auth_succeeded(),
        lambda c: c.auth_failed(AuthFailure.TEMPORARY),
        lambda c: c.tls_started(),
        lambda c: c.recipient_accepted(),
        lambda c: c.recipient_rejected(UNKNOWN_MAILBOX),
        lambda c: c.delivered("Q1"),
        lambda c: c.delivery_failed(TEMPORARY_FAILURE),
    ],
)
def test_answers_out_of_turn_are_adapter_bugs(call):
    conn = SmtpServer(SmtpConfig())
    with pytest.raises(LocalProtocolError):
        call(conn)


def test_refusals_must_be_negative_and_queue_ids_one_line():
    conn = SmtpServer(SmtpConfig())
    conn.receive_data(TX + b"DATA\r\n.\r\n")
    conn.next_event()
    with pytest.raises(LocalProtocolError):
        conn.recipient_rejected(reply(250, "2.1.5", "fine"))
    conn.recipient_accepted()
    assert isinstance(conn.next_event(), Deliver)
    with pytest.raises(LocalProtocolError):
        conn.delivery_failed(reply(250, "2.0.0", "OK"))
    with pytest.raises(ValueError):
        conn.delivered("Q1\r\n250 fake")
    conn.delivered("Q1")
    assert conn.state is State.READY


# --------------------------------------------------------------- values and the table
def test_reply_values_for_adapters():
    assert UNKNOWN_MAILBOX.to_bytes() == UNKNOWN_MBX
    assert RELAY_DENIED("other.org").to_bytes() == (
        b"550 5.7.1 Relaying to other.org denied: no send connector for this domain "
        b"(postroom send-connector new NAME --address-spaces other.org)\r\n"
    )
    assert TEMPORARY_FAILURE.to_bytes() == b"451 4.3.0 Temporary failure, try again later\r\n"
    assert STORAGE_FULL.to_bytes() == b"452 4.3.1 Insufficient system storage\r\n"
    assert reply(550, "5.7.1", "No").to_bytes() == b"550 5.7.1 No\r\n"
    assert Reply(250, "", "a", ("b", "c")).to_bytes() == b"250-a\r\n250-b\r\n250 c\r\n"
    assert len(reply(550, "5.1.1", "é" * 600).to_bytes()) <= 512


@pytest.mark.parametrize(
    "args",
    [(199, "", "x"), (600, "", "x"), (550, "4.1.1", "x"), (550, "5.1", "x"), (250, "2.0.0", "a\r\nb"),
     (250, "2.0.0", "a\x00")],
)
def test_bad_replies_fail_where_they_are_built(args):
    with pytest.raises(ValueError):
        reply(*args)


@pytest.mark.parametrize(
    "kw",
    [{"fqdn": ""}, {"fqdn": "a b"}, {"banner": "two\r\nlines"}, {"remote_ip": "1\n"}, {"max_command_line": 511},
     {"max_errors": 0}, {"max_auth_failures": 0}, {"max_recipients": 0}, {"max_message_size": 0}],
)
def test_config_is_validated(kw):
    with pytest.raises(ValueError):
        SmtpConfig(**kw)


def test_every_state_that_reads_commands_knows_every_command():
    commands = set("EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY EXPN HELP STARTTLS AUTH".split())
    reading = {s for s, handlers in TRANSITIONS.items() if handlers and "" not in handlers and "\0" not in handlers}
    assert reading == {State.CONNECTED, State.READY, State.MAIL, State.RCPT, State.CHUNKING}
    for state in reading:
        assert set(TRANSITIONS[state]) == commands, state
    assert set(TRANSITIONS) == set(State)


def test_sentinels_are_shared_with_pop3():
    assert NEED_DATA is pop3.NEED_DATA and PAUSED is pop3.PAUSED
    assert LocalProtocolError is pop3.LocalProtocolError
