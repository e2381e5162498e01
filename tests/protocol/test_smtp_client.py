"""SMTP client core: scripted server replies (bytes) in, exact client bytes and events out.

Whole sessions run with the server's bytes fed at every chunk size (they must give the same
bytes and events); single steps check what one write holds (pipelining groups).
"""
from __future__ import annotations

import base64

import pytest
from smtp_client_driver import MESSAGE, envelope, run

from postroom.protocol.smtp_client import (
    ALLOWED, NEED_DATA, AuthDone, Closed, ContentDone, EhloDone, Envelope, Greeting, LocalProtocolError,
    ProtocolViolation, RecipientSpec, RecipientsDone, Reply, RsetDone, SmtpClient, State, TlsReady, dot_stuff,
)

GREETING = b"220 mx.example.net ESMTP Postfix\r\n"
MAIL_OK = b"250 2.1.0 Ok\r\n"
RCPT_OK = b"250 2.1.5 Ok\r\n"
GO = b"354 End data with <CR><LF>.<CR><LF>\r\n"
QUEUED = b"250 2.0.0 Ok: queued as 4Xy\r\n"
BYE = b"221 2.0.0 Bye\r\n"
UNKNOWN = b"550 5.1.1 <x@example.net>: Recipient address rejected: User unknown\r\n"


def ehlo(*extensions: str, name: str = "mx.example.net") -> bytes:
    lines = [name, *extensions]
    return b"".join(f"250{'-' if i < len(lines) - 1 else ' '}{text}\r\n".encode() for i, text in enumerate(lines))


FULL = ehlo("PIPELINING", "SIZE 10240000", "8BITMIME", "ENHANCEDSTATUSCODES", "DSN", "SMTPUTF8")
PLAIN = ehlo("8BITMIME", "ENHANCEDSTATUSCODES")  # no PIPELINING, no SIZE, no DSN


def sent(adapter) -> bytes:
    return b"".join(adapter.out)


def kinds(adapter) -> list[str]:
    return [type(e).__name__ for e in adapter.events]


def session(*replies: bytes, **kw):
    """Run the session at every chunk size; all runs must agree. Returns the whole-feed run."""
    data = b"".join(replies)
    whole = run([data], **kw)
    for chunk in [*range(1, 12), 13, 64, 200]:
        other = run([data], chunk, **kw)
        assert sent(other) == sent(whole), chunk
        assert other.events == whole.events, chunk
    return whole


def ready(*extensions: str, **options) -> SmtpClient:
    """A client greeted and EHLO'd by a server offering `extensions`; output drained."""
    client = SmtpClient("client.example", **options)
    client.receive_data(GREETING)
    assert isinstance(client.next_event(), Greeting)
    client.ehlo()
    client.receive_data(ehlo(*extensions))
    assert isinstance(client.next_event(), EhloDone)
    client.data_to_send()
    return client


def feed(client: SmtpClient, data: bytes) -> list:
    client.receive_data(data)
    events = []
    while (ev := client.next_event()) is not NEED_DATA:
        events.append(ev)
    return events


def out(client: SmtpClient) -> bytes:
    return b"".join(client.data_to_send())


# ------------------------------------------------------------------------- whole sessions
def test_pipelined_session_bytes_and_events():
    a = session(GREETING, FULL, MAIL_OK, RCPT_OK, UNKNOWN, GO, QUEUED, BYE,
                messages=[(envelope("b@example.net", "x@example.net"), MESSAGE)])
    assert sent(a) == (b"EHLO client.example\r\n"
                       b"MAIL FROM:<a@example.com> SIZE=22\r\nRCPT TO:<b@example.net>\r\nRCPT TO:<x@example.net>\r\n"
                       b"DATA\r\n" + MESSAGE + b".\r\nQUIT\r\n")
    assert kinds(a) == ["Greeting", "EhloDone", "RecipientsDone", "ContentDone", "Closed"]
    done = a.events[2]
    assert done.content_wanted and done.mail_reply.enhanced == "2.1.0"
    assert [r.code for r in done.rcpt_replies] == [250, 550]
    assert done.final_replies() == [None, done.rcpt_replies[1]]
    assert done.rcpt_replies[1].text == "550 5.1.1 <x@example.net>: Recipient address rejected: User unknown"
    assert a.events[3].reply.text == "250 2.0.0 Ok: queued as 4Xy"
    assert a.events[-1] == Closed(Reply(221, "2.0.0", ("Bye",)))
    assert a.client.state is State.CLOSED


def test_pipelining_sends_mail_rcpts_and_data_in_one_write():
    client = ready("PIPELINING", "SIZE 0")
    assert client.begin(envelope("b@example.net", "c@example.net")) is None
    assert client.data_to_send() == [b"MAIL FROM:<a@example.com> SIZE=22\r\n", b"RCPT TO:<b@example.net>\r\n",
                                     b"RCPT TO:<c@example.net>\r\n", b"DATA\r\n"]
    assert feed(client, MAIL_OK + RCPT_OK) == [] and out(client) == b""  # nothing more until DATA's answer
    [done] = feed(client, RCPT_OK + GO)
    assert done.content_wanted and client.state is State.CONTENT


def test_without_pipelining_one_command_at_a_time():
    client = ready("8BITMIME")
    client.begin(envelope("b@example.net", "x@example.net", "c@example.net"))
    assert out(client) == b"MAIL FROM:<a@example.com>\r\n"
    assert feed(client, MAIL_OK) == [] and out(client) == b"RCPT TO:<b@example.net>\r\n"
    assert feed(client, RCPT_OK) == [] and out(client) == b"RCPT TO:<x@example.net>\r\n"
    assert feed(client, UNKNOWN) == [] and out(client) == b"RCPT TO:<c@example.net>\r\n"
    assert feed(client, RCPT_OK) == [] and out(client) == b"DATA\r\n"
    [done] = feed(client, GO)
    assert done.content_wanted and [r.code for r in done.rcpt_replies] == [250, 550, 250]


def test_without_pipelining_refused_mail_sends_no_rcpt_and_no_rset():
    client = ready()
    client.begin(envelope("b@example.net", "c@example.net"))
    out(client)
    refused = b"553 5.7.1 <a@example.com>: Sender address rejected\r\n"
    [done] = feed(client, refused)
    assert out(client) == b""
    assert not done.content_wanted and done.data_reply is None
    assert done.rcpt_replies == (done.mail_reply, done.mail_reply)  # each recipient fails as its sender did
    assert [r.code for r in done.final_replies()] == [553, 553]
    assert client.state is State.READY


def test_without_pipelining_nobody_accepted_no_data_then_rset():
    client = ready()
    client.begin(envelope("x@example.net"))
    out(client)
    feed(client, MAIL_OK)
    assert out(client) == b"RCPT TO:<x@example.net>\r\n"
    [done] = feed(client, UNKNOWN)
    assert out(client) == b"RSET\r\n"  # the server holds a sender: reset before the next message
    assert done.data_reply is None and not done.content_wanted
    assert feed(client, b"250 2.0.0 Ok\r\n") == []  # the client's own RSET: no event
    assert client.state is State.READY


def test_pipelined_all_refused_data_refused_then_rset():
    a = session(GREETING, FULL, MAIL_OK, UNKNOWN, b"554 5.5.1 Error: no valid recipients\r\n", b"250 2.0.0 Ok\r\n",
                BYE, messages=[(envelope("x@example.net"), MESSAGE)])
    assert sent(a).endswith(b"DATA\r\nRSET\r\nQUIT\r\n")
    done = a.events[2]
    assert not done.content_wanted and done.data_reply.code == 554
    assert [r.code for r in done.final_replies()] == [550]
    assert kinds(a) == ["Greeting", "EhloDone", "RecipientsDone", "Closed"]


def test_pipelined_data_go_ahead_with_nobody_accepted_ends_empty():
    # RFC 2920 3.1: a server that answers DATA with 354 though no RCPT succeeded gets "." alone
    a = session(GREETING, FULL, MAIL_OK, UNKNOWN, GO, b"554 5.5.1 No recipients\r\n", BYE,
                messages=[(envelope("x@example.net"), MESSAGE)])
    assert sent(a).endswith(b"DATA\r\n.\r\nQUIT\r\n")
    assert MESSAGE not in sent(a)
    assert not a.events[2].content_wanted and kinds(a)[-1] == "Closed"


def test_data_refused_with_accepted_recipients_decides_them():
    a = session(GREETING, FULL, MAIL_OK, RCPT_OK, UNKNOWN, b"451 4.3.0 Try later\r\n", b"250 2.0.0 Ok\r\n", BYE,
                messages=[(envelope("b@example.net", "x@example.net"), MESSAGE)])
    done = a.events[2]
    assert [r.text for r in done.final_replies()] == ["451 4.3.0 Try later", done.rcpt_replies[1].text]
    assert sent(a).endswith(b"DATA\r\nRSET\r\nQUIT\r\n")


def test_two_messages_on_one_connection():
    a = session(GREETING, FULL, MAIL_OK, RCPT_OK, GO, QUEUED, MAIL_OK, RCPT_OK, GO, QUEUED, BYE,
                messages=[(envelope("b@example.net"), MESSAGE), (envelope("c@example.net", sender=""), b"x\r\n")])
    assert kinds(a) == ["Greeting", "EhloDone", "RecipientsDone", "ContentDone", "RecipientsDone", "ContentDone",
                        "Closed"]
    assert b"MAIL FROM:<> SIZE=22\r\nRCPT TO:<c@example.net>\r\nDATA\r\nx\r\n.\r\nQUIT\r\n" in sent(a)


# ----------------------------------------------------------------------------- content
@pytest.mark.parametrize("message, wire", [
    (b"", b".\r\n"),
    (b"no newline", b"no newline\r\n.\r\n"),
    (b".starts\r\nmid\r\n.\r\n..two\r\nend.\r\n", b"..starts\r\nmid\r\n..\r\n...two\r\nend.\r\n.\r\n"),
    (b"Subject: x\r\n\r\n.", b"Subject: x\r\n\r\n..\r\n.\r\n"),
    (b"a\nb\r\n", b"a\r\nb\r\n.\r\n"),  # bare LF made CRLF
    (b"x\n.\nsmuggled\r\n", b"x\r\n..\r\nsmuggled\r\n.\r\n"),  # SMTP smuggling: <LF>.<LF>
    (b"x\r\n.\nMAIL FROM:<e@vil>\r\n", b"x\r\n..\r\nMAIL FROM:<e@vil>\r\n.\r\n"),  # <CRLF>.<LF>
    (b"x\r.\rsmuggled\r\n", b"x\r\n..\r\nsmuggled\r\n.\r\n"),  # bare CRs
])
def test_dot_stuffing_and_line_ends(message, wire):
    client = ready("PIPELINING")
    client.begin(envelope())
    out(client)
    feed(client, MAIL_OK + RCPT_OK + GO)
    client.send_content(message)
    assert out(client) == wire
    assert client.state is State.CONTENT_SENT
    [done] = feed(client, QUEUED)
    assert isinstance(done, ContentDone) and client.state is State.READY


def test_clean_content_is_not_copied():
    message = b"Subject: x\r\n\r\n" + b"line\r\n" * 1000
    [first, end] = dot_stuff(message)
    assert first is message and end == b".\r\n"


def test_bdat_when_chunking_is_offered():
    a = session(GREETING, ehlo("PIPELINING", "CHUNKING", "8BITMIME", "SIZE 0"), MAIL_OK, RCPT_OK,
                b"250 2.0.0 Ok: 28 bytes queued\r\n", BYE,
                messages=[(envelope(body_8bit=True), b".dot\nbody \xc3\xa9\r\n")])
    assert sent(a) == (b"EHLO client.example\r\nMAIL FROM:<a@example.com> SIZE=22 BODY=8BITMIME\r\n"
                       b"RCPT TO:<b@example.net>\r\nBDAT 15 LAST\r\n.dot\r\nbody \xc3\xa9\r\nQUIT\r\n")
    done = a.events[2]
    assert done.content_wanted and done.data_reply is None
    assert kinds(a)[3] == "ContentDone"


def test_chunking_without_pipelining_uses_data():
    client = ready("CHUNKING")  # RFC 3030 4.2: BDAT chunks are pipelined only with PIPELINING
    client.begin(envelope())
    feed(client, MAIL_OK)
    feed(client, RCPT_OK)
    assert out(client).endswith(b"DATA\r\n")


def content_client(*extensions: str) -> SmtpClient:
    client = ready("PIPELINING", *extensions)
    client.begin(envelope())
    out(client)
    [done] = feed(client, MAIL_OK + RCPT_OK + (b"" if "CHUNKING" in extensions else GO))
    assert done.content_wanted
    return client


def test_content_in_pieces_with_data():
    client = content_client()
    pieces = [b"Subject: x\r", b"\n\r\n", b".dot at a piece start\r\nmid", b".no dot-stuffing here\r\n", b".",
              b"\r", b"\nlast without newline"]
    for piece in pieces:
        client.send_content(piece, last=False)
        assert client.state is State.CONTENT and client.waiting_for is None
    client.send_content(b"", last=True)
    assert out(client) == (b"Subject: x\r\n\r\n..dot at a piece start\r\nmid.no dot-stuffing here\r\n..\r\n"
                           b"last without newline\r\n.\r\n")
    assert client.state is State.CONTENT_SENT
    [done] = feed(client, QUEUED)
    assert done.reply.code == 250


def test_content_in_pieces_with_bdat():
    client = content_client("CHUNKING")
    client.send_content(b"Subject: x\r", last=False)
    client.send_content(b"", last=False)  # nothing to send: no chunk
    client.send_content(b"\n\r\nbody", last=False)
    client.send_content(b"", last=True)
    assert out(client) == b"BDAT 10\r\nSubject: xBDAT 8\r\n\r\n\r\nbodyBDAT 2 LAST\r\n\r\n"
    assert feed(client, b"250 2.0.0 10 octets\r\n250 2.0.0 8 octets\r\n") == []
    assert feed(client, b"250 2.0.0 Ok: queued\r\n") == [ContentDone(Reply(250, "2.0.0", ("Ok: queued",)))]


def test_refused_bdat_chunk_decides_the_message():
    client = content_client("CHUNKING")
    client.send_content(b"a" * 100 + b"\r\n", last=False)
    client.send_content(b"end\r\n")
    assert feed(client, b"552 5.3.4 Message too big\r\n503 5.5.1 Error: no transaction\r\n") == [
        ContentDone(Reply(552, "5.3.4", ("Message too big",)))]


def test_chunking_can_be_turned_off():
    client = ready("PIPELINING", "CHUNKING", chunking=False)
    client.begin(envelope())
    assert out(client).endswith(b"DATA\r\n")


def test_bdat_transaction_can_be_given_up_with_rset():
    client = ready("CHUNKING", "PIPELINING")
    client.begin(envelope())
    assert out(client) == b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\n"
    feed(client, MAIL_OK)
    [done] = feed(client, RCPT_OK)
    assert done.content_wanted
    client.rset()
    assert out(client) == b"RSET\r\n"
    [ev] = feed(client, b"250 2.0.0 Ok\r\n")
    assert isinstance(ev, RsetDone) and client.state is State.READY


# -------------------------------------------------------------------------- parameters
def test_dsn_parameters_when_offered():
    client = ready("PIPELINING", "DSN")
    env = Envelope("a@example.com", [RecipientSpec("b@example.net", "success,failure", "rfc822;B+x=y@example.net"),
                                     RecipientSpec("c@example.net", "never"), RecipientSpec("d@example.net")],
                   100, ret="hdrs", envid="id+1 =x")
    client.begin(env)
    assert out(client) == (b"MAIL FROM:<a@example.com> RET=HDRS ENVID=id+2B1+20+3Dx\r\n"
                           b"RCPT TO:<b@example.net> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;B+2Bx+3Dy@example.net\r\n"
                           b"RCPT TO:<c@example.net> NOTIFY=NEVER\r\nRCPT TO:<d@example.net>\r\nDATA\r\n")


def test_no_dsn_parameters_without_dsn():
    client = ready("PIPELINING")
    client.begin(Envelope("a@example.com", [RecipientSpec("b@example.net", "FAILURE", "rfc822;b@example.net")],
                          100, ret="FULL", envid="x"))
    assert out(client) == b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n"


def test_utf8_orcpt_is_utf8_addr_xtext():
    client = ready("PIPELINING", "DSN", "SMTPUTF8")
    client.begin(Envelope("a@example.com", [RecipientSpec("b@example.net", None, "rfc822;jö@example.net")], 1))
    assert b"ORCPT=utf-8;j\\x{F6}@example.net" in out(client)


def test_smtputf8_parameter_when_needed_and_offered():
    client = ready("PIPELINING", "SMTPUTF8", "8BITMIME")
    client.begin(envelope("jö@example.net", body_8bit=True))
    assert out(client) == ("MAIL FROM:<a@example.com> BODY=8BITMIME SMTPUTF8\r\nRCPT TO:<jö@example.net>\r\n"
                           "DATA\r\n").encode()


def test_refused_smtputf8_message_to_server_without_smtputf8():
    client = ready("PIPELINING", "8BITMIME")
    for env in (envelope(smtputf8=True), envelope("jö@example.net"), envelope(sender="ö@example.com")):
        refusal = client.begin(env)
        assert refusal.local and refusal.permanent and refusal.enhanced == "5.6.7"
        assert refusal.text == "554 5.6.7 SMTPUTF8 is required, but was not offered by the server"
        assert out(client) == b"" and client.state is State.READY


def test_refused_message_larger_than_size():
    client = ready("PIPELINING", "SIZE 1000")
    refusal = client.begin(envelope(size=1001))
    assert refusal.text == "552 5.3.4 Message size (1001 octets) exceeds the server's limit of 1000 octets"
    assert refusal.permanent and out(client) == b""
    assert client.begin(envelope(size=1000)) is None
    assert out(client).startswith(b"MAIL FROM:<a@example.com> SIZE=1000\r\n")


def test_8bit_body_without_8bitmime_is_sent_and_noted():
    client = ready("PIPELINING")
    client.begin(envelope(body_8bit=True))
    assert out(client).startswith(b"MAIL FROM:<a@example.com>\r\n")  # no BODY= it was not offered
    [done] = feed(client, MAIL_OK + RCPT_OK + GO)
    assert done.notes == ("8-bit body sent unchanged to a server that did not offer 8BITMIME",)


@pytest.mark.parametrize("bad", [
    lambda: RecipientSpec("b@example.net\r\nRCPT TO:<evil@x>"), lambda: RecipientSpec("b>@x"),
    lambda: Envelope("a@x\n", [RecipientSpec("b@x")], 1), lambda: Envelope("a@x", [], 1),
    lambda: RecipientSpec("b@x", notify="NEVER,SUCCESS"), lambda: RecipientSpec("b@x", notify="SOMETIMES"),
    lambda: RecipientSpec("b@x", orcpt="b@x"), lambda: Envelope("a@x", [RecipientSpec("b@x")], 1, ret="ALL"),
    lambda: Envelope("a@x", [RecipientSpec("b@x")], 1, envid="a\x00"), lambda: SmtpClient("bad name"),
])
def test_bad_values_refused_where_they_are_made(bad):
    with pytest.raises(ValueError):
        bad()


# ------------------------------------------------------------------------------ replies
@pytest.mark.parametrize("wire, code, enhanced, lines", [
    (b"250 2.1.0 Ok\r\n", 250, "2.1.0", ("Ok",)),
    (b"250-2.1.0 first\r\n250-2.1.0 second\r\n250 2.1.0 third\r\n", 250, "2.1.0", ("first", "second", "third")),
    (b"250 Ok\n", 250, None, ("Ok",)),  # bare LF
    (b"250\r\n", 250, None, ("",)),  # no text at all
    (b"250 \r\n", 250, None, ("",)),
    (b"250 4.1.0 odd\r\n", 250, None, ("4.1.0 odd",)),  # enhanced code of another class: text
    (b"250 2.1.0\r\n", 250, "2.1.0", ("",)),
    (b"250 Ok \xe9t\xc3\xa9\x01\tx\r\n", 250, None, ("Ok \ufffdt\u00e9  x",)),  # 8-bit, control characters
    (b"250 2.0.0  two spaces\r\n", 250, "2.0.0", ("two spaces",)),
])
def test_reply_parsing(wire, code, enhanced, lines):
    for chunk in range(1, len(wire) + 1):
        client = SmtpClient("c.example")
        for i in range(0, len(wire), chunk):
            client.receive_data(wire[i:i + chunk])
        [ev] = [e for e in iter(client.next_event, NEED_DATA)]
        assert ev == Greeting(Reply(code, enhanced, lines))


def test_reply_classes():
    assert Reply(250, None, ()).positive and Reply(354, None, ()).intermediate
    assert Reply(451, None, ()).transient and Reply(550, None, ()).permanent
    assert not Reply(451, None, ()).permanent and not Reply(550, None, ()).positive


def test_capabilities_parsed():
    client = ready("pipelining", "SIZE 35882577", "8BITMIME", "AUTH=LOGIN", "AUTH PLAIN login", "STARTTLS",
                   "ENHANCEDSTATUSCODES", "SMTPUTF8", "CHUNKING", "DSN", "X-EXPS GSSAPI NTLM", "")
    caps = client.capabilities
    assert caps.esmtp and caps.pipelining and caps.eightbitmime and caps.starttls and caps.chunking and caps.dsn
    assert caps.smtputf8 and caps.enhancedstatuscodes and caps.size == 35882577
    assert caps.auth_mechs == {"PLAIN", "LOGIN"}
    assert ready("SIZE").capabilities.size == 0 and ready().capabilities.size is None


@pytest.mark.parametrize("wire, text", [
    (b"hello\r\n", "malformed reply line 'hello'"),
    (b"250-first\r\n251 second\r\n", "reply code 251 within a 250 reply"),
    (b"199 x\r\n", "malformed reply line '199 x'"),
    (b"25\r\n", "malformed reply line '25'"),
    (b"250x\r\n", "malformed reply line '250x'"),
    (b"2" * 5000 + b"\r\n", "reply line longer than 4096 octets"),
    (b"250-x\r\n" * 300, "reply longer than 256 lines"),
])
def test_malformed_greeting_is_a_violation(wire, text):
    client = SmtpClient("c.example")
    events = feed(client, wire)
    assert events[0] == ProtocolViolation(text)
    assert isinstance(events[1], Greeting) and events[1].reply.local and events[1].reply.enhanced == "4.5.0"
    assert events[-1] == Closed(None) and len(events) == 3
    assert client.state is State.CLOSED and feed(client, GREETING) == [] and out(client) == b""


def test_unexpected_intermediate_reply_is_a_violation():
    client = ready("PIPELINING")
    client.begin(envelope())
    out(client)
    events = feed(client, GO)  # 354 to MAIL
    assert events[0] == ProtocolViolation("354 is no answer to MAIL FROM")
    done = events[1]
    assert isinstance(done, RecipientsDone) and done.mail_reply.local and done.mail_reply.transient
    assert events[-1] == Closed(None)


def test_unsolicited_replies():
    client = ready("PIPELINING")
    [ev] = feed(client, b"421 4.4.2 mx.example.net Error: timeout exceeded\r\n")
    assert ev == Closed(Reply(421, "4.4.2", ("mx.example.net Error: timeout exceeded",)))
    client = ready("PIPELINING")
    assert [type(e) for e in feed(client, b"250 Ok\r\n")] == [ProtocolViolation, Closed]


# -------------------------------------------------------------------- greeting and EHLO
def test_refused_greeting_quits():
    a = session(b"554 5.7.1 mx.example.net: no SMTP service here\r\n", BYE)
    assert sent(a) == b"QUIT\r\n"
    greeting = a.events[0]
    assert not greeting.reply.positive and greeting.reply.permanent
    assert kinds(a) == ["Greeting", "Closed"] and a.events[1].reply.code == 221


def test_greeting_421_closes():
    a = session(b"421 4.3.2 Service shutting down\r\n")
    assert sent(a) == b""
    assert kinds(a) == ["Greeting", "Closed"] and a.events[1].reply.code == 421


def test_ehlo_refused_falls_back_to_helo():
    a = session(GREETING, b"502 5.5.2 Error: command not recognized\r\n", b"250 mx.example.net\r\n",
                MAIL_OK, RCPT_OK, GO, QUEUED, BYE, messages=[(envelope(body_8bit=True, size=10**9), MESSAGE)])
    assert sent(a).startswith(b"EHLO client.example\r\nHELO client.example\r\nMAIL FROM:<a@example.com>\r\n")
    ehlo_done = a.events[1]
    assert ehlo_done.reply.code == 250 and not ehlo_done.capabilities.esmtp
    assert kinds(a) == ["Greeting", "EhloDone", "RecipientsDone", "ContentDone", "Closed"]


def test_ehlo_and_helo_refused():
    a = session(GREETING, b"550 5.7.1 go away\r\n", b"550 5.7.1 go away\r\n", BYE)
    assert sent(a) == b"EHLO client.example\r\nHELO client.example\r\nQUIT\r\n"
    assert not a.events[1].reply.positive


# ---------------------------------------------------------------------------- 421 and EOF
def test_421_during_envelope_answers_the_rest():
    a = session(GREETING, FULL, MAIL_OK, b"421 4.7.0 mx.example.net Error: too many errors\r\n",
                messages=[(envelope("b@example.net", "c@example.net"), MESSAGE)])
    done = a.events[2]
    closing = Reply(421, "4.7.0", ("mx.example.net Error: too many errors",))
    assert done.rcpt_replies == (closing, closing) and not done.content_wanted
    assert a.events[3] == Closed(closing) and b"RSET" not in sent(a) and b"QUIT" not in sent(a)


def test_eof_after_content_may_have_been_delivered():
    a = session(GREETING, FULL, MAIL_OK, RCPT_OK, GO)
    done = a.events[-2]
    assert isinstance(done, ContentDone) and done.reply.local and done.reply.transient
    assert done.reply.text == ("421 4.4.2 Connection closed by the server while waiting for the reply to the end "
                               "of data; the message may have been delivered")
    assert a.events[-1] == Closed(None)


def test_eof_before_greeting_and_when_idle():
    a = session()
    assert kinds(a) == ["Greeting", "Closed"]
    assert a.events[0].reply.text == ("421 4.4.2 Connection closed by the server while waiting for the reply to "
                                      "the greeting")
    client = ready()
    assert feed(client, b"") == [Closed(None)]


def test_eof_after_quit_without_reply():
    client = ready()
    client.quit()
    assert out(client) == b"QUIT\r\n"
    assert feed(client, b"") == [Closed(None)]


def test_abort_answers_every_command_out():
    client = ready("PIPELINING")
    client.begin(envelope("b@example.net", "c@example.net"))
    feed(client, MAIL_OK)
    client.abort("Timed out")
    [done, closed] = feed(client, b"")
    assert done.mail_reply.code == 250
    assert [r.text for r in done.rcpt_replies] == ["421 4.4.2 Timed out while waiting for the reply to RCPT TO"] * 2
    assert closed == Closed(None) and out(client) == b""


def test_abort_while_content_wanted_gives_content_done():
    client = ready("CHUNKING", "PIPELINING")
    client.begin(envelope())
    feed(client, MAIL_OK + RCPT_OK)
    client.abort("TLS handshake failed")
    [done, closed] = feed(client, b"")
    assert done == ContentDone(Reply(421, "4.4.2", ("TLS handshake failed before all the content was sent",),
                                     local=True))


# ---------------------------------------------------------------------------- TLS and AUTH
TLS_EHLO = ehlo("PIPELINING", "STARTTLS", "AUTH PLAIN LOGIN")


def test_starttls_then_ehlo_again_and_auth_plain():
    after = ehlo("PIPELINING", "AUTH PLAIN LOGIN")
    a = run([GREETING + TLS_EHLO + b"220 2.0.0 Ready to start TLS\r\n",
             after + b"235 2.7.0 Authentication successful\r\n" + MAIL_OK + RCPT_OK + GO + QUEUED + BYE],
            starttls=True, credentials=("user@example.com", "sécret"))
    token = base64.b64encode("\0user@example.com\0sécret".encode())
    assert sent(a).startswith(b"EHLO client.example\r\nSTARTTLS\r\nEHLO client.example\r\nAUTH PLAIN " + token
                              + b"\r\nMAIL FROM")
    assert kinds(a) == ["Greeting", "EhloDone", "TlsReady", "EhloDone", "AuthDone", "RecipientsDone", "ContentDone",
                        "Closed"]
    assert a.client.authenticated and a.client.tls_active


def test_plaintext_after_starttls_go_ahead_is_never_read():
    client = ready("STARTTLS")
    client.starttls()
    events = feed(client, b"220 2.0.0 Ready to start TLS\r\n250-injected\r\n250 AUTH PLAIN\r\n")
    assert [type(e) for e in events] == [TlsReady]
    assert feed(client, b"250 more injected\r\n") == []
    client.tls_started()
    assert client.capabilities.starttls is False and client.state is State.GREETED
    client.ehlo()
    assert out(client) == b"STARTTLS\r\nEHLO client.example\r\n"
    [ev] = feed(client, ehlo("AUTH LOGIN"))
    assert isinstance(ev, EhloDone) and ev.capabilities.auth_mechs == {"LOGIN"}


def test_starttls_refused_goes_on_in_clear():
    client = ready("STARTTLS")
    client.starttls()
    [ev] = feed(client, b"454 4.7.0 TLS not available due to local problem\r\n")
    assert isinstance(ev, TlsReady) and ev.reply.transient and client.state is State.READY
    assert not client.tls_active


def test_auth_login_steps_and_observer_redacts():
    seen = []
    client = ready("AUTH LOGIN", tls_active=True)
    client.observer = lambda sent, line: seen.append((sent, line))
    client.auth("user", "pw")
    assert out(client) == b"AUTH LOGIN\r\n"
    assert feed(client, b"334 VXNlcm5hbWU6\r\n") == [] and out(client) == base64.b64encode(b"user") + b"\r\n"
    assert feed(client, b"334 UGFzc3dvcmQ6\r\n") == [] and out(client) == base64.b64encode(b"pw") + b"\r\n"
    [ev] = feed(client, b"235 2.7.0 Authentication successful\r\n")
    assert ev == AuthDone(Reply(235, "2.7.0", ("Authentication successful",))) and client.authenticated
    assert seen == [(True, "AUTH LOGIN"), (False, "334 VXNlcm5hbWU6"), (True, "****"), (False, "334 UGFzc3dvcmQ6"),
                    (True, "****"), (False, "235 2.7.0 Authentication successful")]


def test_auth_extra_challenge_is_cancelled_and_failure_reported():
    client = ready("AUTH PLAIN", tls_active=True)
    client.auth_plain("u", "p")
    out(client)
    assert feed(client, b"334 \r\n") == [] and out(client) == b"*\r\n"
    [ev] = feed(client, b"501 5.7.0 Authentication cancelled\r\n")
    assert not ev.reply.positive and not client.authenticated and client.state is State.READY


def test_auth_refused_in_clear_and_when_not_offered():
    with pytest.raises(LocalProtocolError, match="only sent over TLS"):
        ready("AUTH PLAIN").auth_plain("u", "p")
    with pytest.raises(LocalProtocolError, match="not offered"):
        ready("AUTH LOGIN", tls_active=True).auth_plain("u", "p")
    with pytest.raises(LocalProtocolError, match="not offered"):
        ready().starttls()


# --------------------------------------------------------------------------- adapter bugs
def test_commands_in_the_wrong_state_raise():
    client = SmtpClient("c.example")
    for call in (client.ehlo, client.quit, client.rset, client.tls_started, lambda: client.begin(envelope()),
                 lambda: client.send_content(b"x")):
        with pytest.raises(LocalProtocolError):
            call()
    client = ready("PIPELINING")
    client.begin(envelope())
    for call in (client.quit, client.rset, lambda: client.begin(envelope()), lambda: client.send_content(b"x")):
        with pytest.raises(LocalProtocolError):
            call()
    feed(client, MAIL_OK + RCPT_OK + GO)
    with pytest.raises(LocalProtocolError):  # after 354 only content: QUIT would be read as the message
        client.quit()
    assert set(ALLOWED[State.READY]) == {"starttls", "auth", "begin", "rset", "quit"}


def test_rset_probe_before_reuse():
    client = ready("PIPELINING")
    client.rset()
    assert out(client) == b"RSET\r\n" and client.state is State.RSET
    assert feed(client, b"250 2.0.0 Ok\r\n") == [RsetDone(Reply(250, "2.0.0", ("Ok",)))]
    client.rset()
    [done, closed] = feed(client, b"")
    assert done.reply.local and closed == Closed(None)


def test_commands_after_the_end_do_nothing():
    client = SmtpClient("c.example")
    [greeting, closed] = feed(client, b"421 4.3.2 Service shutting down\r\n")
    # the adapter answers the greeting it was given; the connection is already over
    client.quit()
    client.abort()
    assert out(client) == b"" and client.state is State.CLOSED
    client = ready("PIPELINING")
    feed(client, b"")
    refusal = client.begin(envelope())
    assert refusal.local and refusal.transient and out(client) == b""


def test_waiting_for_names_the_command_out():
    client = SmtpClient("c.example")
    assert client.waiting_for == "the greeting"
    client = ready("PIPELINING")
    assert client.waiting_for is None
    client.begin(envelope())
    assert client.waiting_for == "MAIL FROM"
    feed(client, MAIL_OK)
    assert client.waiting_for == "RCPT TO"
    feed(client, RCPT_OK + GO)
    client.send_content(MESSAGE)
    assert client.waiting_for == "the end of data"


def test_connection_lost_during_bdat_chunks_may_have_delivered():
    client = content_client("CHUNKING")
    client.send_content(b"first\r\n", last=False)
    client.send_content(b"second\r\n")
    [done, closed] = feed(client, b"")
    assert done.reply.text.endswith("while waiting for the reply to the end of data; the message may have been "
                                    "delivered")
