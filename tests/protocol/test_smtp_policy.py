"""SMTP core, submission policy: sender ownership of authenticated sessions (MAIL FROM at MAIL,
the header From at the end of the content), the CheckSender event the adapter answers (rate
limits), and the hop limit (RFC 5321 6.3) for every message. Each script runs at every chunk
size and answering order (test_smtp.run)."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_smtp import (
    ALICE_PLAIN, EHLO, GO_AHEAD, HELLO, MAIL, NEED_MAIL, RCPT_OK, SENDER_OK, TO_ALICE, ehlo_reply, plain, queued,
    run,
)
from test_smtp_spool import converse_taking

from postroom.protocol._smtp_policy import HeaderScan, from_addresses
from postroom.protocol.smtp import (
    NEED_DATA, Authenticate, CheckSender, Deliver, LocalProtocolError, SendAs, SmtpConfig, SmtpServer, reply,
)

DENIED = b"550 5.7.1 Client does not have permission to send as this sender\r\n"
LOOP = b"554 5.4.6 Hop count exceeded - possible mail loop\r\n"
THROTTLED = b"450 4.7.0 Message rate limit exceeded; try again later\r\n"
AUTH_OK = b"235 2.7.0 Authentication successful\r\n"
LOGGED_IN = HELLO.replace(ehlo_reply(), ehlo_reply(auth=True)) + AUTH_OK  # greeting, EHLO, AUTH
AUTH = dict(offer_basic=True)


def submit(commands: bytes, **config):
    """alice logs on (she may send as alice@example.com and *@remote.example), then `commands`."""
    return run(EHLO + ALICE_PLAIN + commands, **{**AUTH, **config})


def message(*headers: bytes, body: bytes = b"hello\r\n") -> bytes:
    return b"".join(h + b"\r\n" for h in headers) + b"\r\n" + body


def data(content: bytes) -> bytes:
    return b"DATA\r\n" + content + b".\r\n"


def senders(result) -> list[CheckSender]:
    return [e for e in result.events if isinstance(e, CheckSender)]


# ------------------------------------------------------------------------- MAIL FROM
@pytest.mark.parametrize("sender", [b"alice@example.com", b"Alice@EXAMPLE.com", b'"alice"@example.com',
                                    b"anyone@remote.example", b"Sales@Remote.Example"])
def test_authenticated_mail_from_an_owned_address_is_checked_by_the_adapter(sender):
    r = submit(b"MAIL FROM:<" + sender + b">\r\n" + TO_ALICE)
    assert r.output == LOGGED_IN + SENDER_OK + RCPT_OK
    assert senders(r) == [CheckSender(sender.decode(), "alice")]


@pytest.mark.parametrize("sender", [b"bob@example.com", b"alice@example.org", b"alice@sub.remote.example",
                                    b"alice@example.com.evil.example", b'"alice x"@example.com', b""])
def test_authenticated_mail_from_another_address_or_null_is_refused(sender):
    r = submit(b"MAIL FROM:<" + sender + b">\r\n" + TO_ALICE + b"DATA\r\n")
    assert r.output == LOGGED_IN + DENIED + NEED_MAIL + NEED_MAIL  # no transaction was started
    assert senders(r) == [] and not r.delivered


def test_the_refusal_is_not_a_protocol_error():
    r = submit(b"MAIL FROM:<bob@example.com>\r\n" * 6 + b"MAIL FROM:<alice@example.com>\r\n", max_errors=2)
    assert r.output == LOGGED_IN + DENIED * 6 + SENDER_OK


def test_the_adapter_may_refuse_the_sender_and_the_transaction_ends():
    r = submit(b"MAIL FROM:<throttled@remote.example>\r\n" + TO_ALICE + MAIL + TO_ALICE)
    assert r.output == LOGGED_IN + THROTTLED + NEED_MAIL + SENDER_OK + RCPT_OK


def test_anonymous_sessions_send_as_anyone_without_an_event():
    r = run(EHLO + b"MAIL FROM:<bob@example.com>\r\nMAIL FROM:<>\r\n")
    assert r.output == HELLO + SENDER_OK + b"503 5.5.1 Sender already specified\r\n"
    assert senders(r) == []


def test_without_grants_a_login_may_send_as_its_username_only():
    conn = SmtpServer(SmtpConfig(offer_basic=True))
    conn.receive_data(EHLO + ALICE_PLAIN + b"MAIL FROM:<bob@x.example>\r\nMAIL FROM:<Alice>\r\n")
    assert isinstance(conn.next_event(), Authenticate)
    conn.auth_succeeded()  # no SendAs given: the username itself, as an address
    conn.receive_data(b"MAIL FROM:<alice@x.example>\r\n")
    assert conn.next_event() is NEED_DATA
    assert b"".join(conn.data_to_send()).endswith(AUTH_OK + DENIED + b"501 5.1.7 Bad sender address syntax\r\n"
                                                   + DENIED)
    login = SmtpServer(SmtpConfig(offer_basic=True))
    login.receive_data(EHLO + b"AUTH PLAIN " + plain(b"me@x.example", b"pw") + b"\r\nMAIL FROM:<ME@x.example>\r\n")
    assert isinstance(login.next_event(), Authenticate)
    login.auth_succeeded()
    assert login.next_event() == CheckSender("ME@x.example", "me@x.example")


def test_answers_out_of_turn_are_adapter_bugs():
    conn = SmtpServer(SmtpConfig())
    with pytest.raises(LocalProtocolError):
        conn.sender_accepted()
    with pytest.raises(LocalProtocolError):
        conn.sender_rejected(reply(450, "4.7.0", "x"))


# ------------------------------------------------------------------------ header From
OWN = b"alice@example.com"
TX = b"MAIL FROM:<alice@example.com>\r\n" + TO_ALICE
TX_OK = SENDER_OK + RCPT_OK + GO_AHEAD


@pytest.mark.parametrize("header", [
    b"From: alice@example.com",
    b"From: Alice Example <Alice@Example.COM>",
    b'From: "Bob, on behalf" <alice@example.com> (Alice)',
    b"from:\r\n  Alice\r\n <alice@example.com>",
    b"From: Sales team: sales@remote.example, alice@example.com;",
    b"Subject: no From field at all",
])
def test_authenticated_header_from_owned_is_delivered(header):
    r = submit(TX + data(message(header, b"To: x@y.example")))
    assert r.output == LOGGED_IN + TX_OK + queued(1)
    assert len(r.delivered) == 1


@pytest.mark.parametrize("header", [
    b"From: bob@example.com",
    b"From: Alice <bob@example.com>",
    b"From: alice@example.com, bob@example.com",
    b"From: alice@example.com <bob@example.com>",  # an unquoted address as the display name
    b"FROM:\r\n\tbob@example.com",
    b"From: undisclosed:;",  # no address at all
    b"From: Alice <alice@example.com",  # cannot be parsed
])
def test_authenticated_header_from_not_owned_is_refused_at_the_end_of_data(header):
    r = submit(TX + data(message(header)) + TX + data(message(b"From: alice@example.com")))
    assert r.output == LOGGED_IN + TX_OK + DENIED + TX_OK + queued(1)
    assert len(r.delivered) == 1


def test_every_from_field_counts_and_only_in_the_header_section():
    second = message(b"From: alice@example.com", b"Subject: x", b"From: bob@example.com")
    body_only = message(b"From: alice@example.com", body=b"From: bob@example.com\r\n")
    r = submit(TX + data(second) + TX + data(body_only))
    assert r.output == LOGGED_IN + TX_OK + DENIED + TX_OK + queued(1)


def test_header_from_is_checked_for_bdat_too():
    content = message(b"From: bob@example.com")
    r = submit(TX + b"BDAT %d LAST\r\n" % len(content) + content + TX + b"BDAT 5\r\nFrom:BDAT 20 LAST\r\n"
               b" alice@example.com\r\n")
    assert r.output == LOGGED_IN + SENDER_OK + RCPT_OK + DENIED + SENDER_OK + RCPT_OK + (
        b"250 2.0.0 5 octets received\r\n") + queued(1)


def test_anonymous_sessions_may_use_any_header_from():
    r = run(EHLO + MAIL + TO_ALICE + data(message(b"From: bob@example.com")))
    assert r.output == HELLO + TX_OK + queued(1)


# ------------------------------------------------------------------------------ hop limit
def received(count: int) -> list[bytes]:
    return [b"Received: from hop%d.example by hop%d.example;\r\n\tMon, 1 Jan 2024 00:00:00 +0000" % (i, i + 1)
            for i in range(count)]


@pytest.mark.parametrize("config, count, refused", [
    ({}, 100, False), ({}, 101, True), ({"max_hop_count": 3}, 3, False), ({"max_hop_count": 3}, 4, True),
])
def test_more_received_fields_than_the_hop_limit_is_a_loop(config, count, refused):
    content = message(*received(count), b"From: x@y.example")
    r = run(EHLO + MAIL + TO_ALICE + data(content) + MAIL, **config)
    assert r.output == HELLO + SENDER_OK + RCPT_OK + GO_AHEAD + (LOOP if refused else queued(1)) + SENDER_OK
    assert len(r.delivered) == (0 if refused else 1)


def test_only_received_fields_of_the_header_section_count():
    content = message(*received(2), b"X-Received: a", b"Subject: Received: b", b"received :c",
                      body=b"Received: in the body\r\n" * 5)
    assert run(EHLO + MAIL + TO_ALICE + data(content), max_hop_count=3).output.endswith(queued(1))
    assert run(EHLO + MAIL + TO_ALICE + data(content), max_hop_count=2).output.endswith(LOOP)


def test_the_hop_limit_applies_to_authenticated_submissions_too():
    r = submit(TX + data(message(*received(2), b"From: alice@example.com")), max_hop_count=1)
    assert r.output == LOGGED_IN + TX_OK + LOOP


def test_hop_limit_must_be_positive():
    with pytest.raises(ValueError):
        SmtpConfig(max_hop_count=0)


# ------------------------------------------------------------------ content taken (spooled)
def test_header_read_from_taken_pieces_when_the_adapter_spools():
    """The adapter takes the start of the content (its spool): the core still sees the header."""
    content = message(*received(5), body=b"x" * 5000 + b"\r\n")
    stream = EHLO + MAIL + TO_ALICE + data(content)
    for size in (1, 7, 100, 4096):
        parts = [stream[i:i + size] for i in range(0, len(stream), size)]
        out, delivered, _ = converse_taking(parts, SmtpConfig(max_hop_count=4))
        assert out.endswith(LOOP) and delivered == [], size
        out, delivered, _ = converse_taking(parts, SmtpConfig(max_hop_count=5))
        assert out.endswith(b"queue id Q\r\n") and len(delivered) == 1, size


# ------------------------------------------------------------------------- the pieces
def test_send_as_grants():
    grants = SendAs("Alice@Example.com", ["bob@example.com", "*@Apps.Example"])
    assert grants.permits("alice@example.com") and grants.permits("BOB@example.com")
    assert grants.permits("noreply@apps.example") and grants.permits('"noreply"@apps.example')
    assert not grants.permits("x@sub.apps.example") and not grants.permits("@apps.example")
    assert not grants.permits("") and not grants.permits("carol@example.com")
    assert not SendAs("").permits("")  # never the null reverse-path, whatever the login


@pytest.mark.parametrize("value, addresses", [
    ("Alice <alice@example.com>", ["alice@example.com"]),
    (' "Doe, Jane" <jane@x.example>, (comment) bob@y.example', ["jane@x.example", "bob@y.example"]),
    ("a(c)@x.example", ["a@x.example"]),
    ("<@relay.example:a@x.example>", ["a@x.example"]),
    ("=?utf-8?q?J=2C_D?= <j@x.example>", ["j@x.example"]),
    ('"a@x.example" <b@y.example>', ["b@y.example"]),
    ("Team: a@x.example, b@y.example;", ["a@x.example", "b@y.example"]),
    ("undisclosed-recipients:;", []),
    ("alice", None), ("a@x.example <b@y.example>", None), ("<a@x.example> b@y.example", None),
    ("Alice <a@x.example", None), ("(unclosed a@x.example", None),
])
def test_from_addresses(value, addresses):
    assert from_addresses(value) == addresses


def test_header_scan_stops_at_the_empty_line_in_any_pieces():
    content = b"Received: a\r\n b\r\nFrom: x@y\r\n\r\nReceived: body\r\n"
    for size in range(1, len(content) + 1):
        scan = HeaderScan()
        for i in range(0, len(content), size):
            scan.feed(content[i:i + size])
        assert scan.done and scan.header == b"Received: a\r\n b\r\nFrom: x@y\r\n", size
        assert scan.received_count() == 1 and scan.from_fields() == [" x@y"]
    for size in (1, 2, 3, 100):  # no header fields: the content starts with the empty line
        empty, content = HeaderScan(), b"\r\nReceived: x\r\nFrom: y@z\r\n\r\n"
        for i in range(0, len(content), size):
            empty.feed(content[i:i + size])
        assert empty.done and empty.header == b"" and empty.received_count() == 0, size


def test_header_scan_reads_at_most_its_limit():
    scan = HeaderScan()
    scan.feed(memoryview(b"Received: x\r\n" * 40000))
    assert scan.done and len(scan.header) == HeaderScan.LIMIT


def test_a_whole_delivered_message_is_unchanged_by_the_scan():
    content = message(*received(3), b"From: alice@example.com")
    r = submit(TX + data(content))
    assert [bytes(d) for d in r.delivered] == [content]
    assert [e for e in r.events if isinstance(e, Deliver)][0].envelope.authenticated == "alice"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([b"\r", b"\n", b"\r\n", b"Received: x", b"From: a@b", b" ", b"y"]), max_size=30),
       st.lists(st.integers(min_value=1, max_value=9), min_size=1, max_size=10))
def test_header_scan_in_any_pieces_equals_the_scan_of_the_whole(parts, sizes):
    content = b"".join(parts)
    whole, pieces = HeaderScan(), HeaderScan()
    whole.feed(content)
    position, turn = 0, 0
    while position < len(content):
        size = sizes[turn % len(sizes)]
        pieces.feed(content[position:position + size])
        position, turn = position + size, turn + 1
    assert (pieces.header, pieces.done) == (whole.header, whole.done)
    end = content.find(b"\r\n\r\n")
    expected = b"" if content.startswith(b"\r\n") else content if end < 0 else content[:end + 2]
    assert whole.header == expected
