"""Fake adapters and output checkers shared by the fuzz properties and the corpus replay.

Each `run_*` feeds a list of byte chunks through one core, answers its events the way the
server would (a tiny fake: password "good" logs on, anything else fails; every recipient not
starting with "bad" is accepted; every delivery succeeds; TLS handshakes complete at once),
then checks the invariants every input must keep:

- nothing escapes `receive_data()` / `next_event()`: the cores turn peer violations
  (`RemoteProtocolError`) into replies, and `LocalProtocolError` is only for adapter bugs,
  which this fake never makes;
- every reply is well-formed (`check_pop3_output`, `check_smtp_output`);
- output is bounded relative to input;
- after `CloseConnection` nothing more is produced, whatever arrives.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from postroom.model import LoginType
from postroom.protocol import pop3 as P
from postroom.protocol import smtp as S
from postroom.protocol import smtp_client as C
from postroom.protocol._common import NEED_DATA, PAUSED

#: Output may be at most this many times the input, plus a fixed allowance (greeting, one
#: big CAPA/EHLO/RETR answer). Every reply answers a line of at least one octet.
OUTPUT_FACTOR = 200
OUTPUT_SLACK = 8192

MESSAGE = b"Subject: fuzz\r\n\r\n.leading dot\r\nbody\r\n..two\r\n.\r\nend\r\n"


@dataclass
class Msg:
    id: int
    size: int
    uidl: str


MAILDROP = [Msg(1, len(MESSAGE), "uid-1"), Msg(2, len(MESSAGE), "uid-2"), Msg(3, 7, "uid-3")]


def _drive(conn: Any, chunks: list[bytes], answer, close_type: type, eof: bool) -> tuple[bytes, list[Any]]:
    out: list[bytes] = list(conn.data_to_send())
    events: list[Any] = []
    closed = False
    for chunk in [*chunks, *([b""] if eof else [])]:
        if closed:
            break
        conn.receive_data(chunk)
        for _ in range(100_000):
            ev = conn.next_event()
            out.extend(conn.data_to_send())
            if ev is NEED_DATA:
                break
            assert ev is not PAUSED, f"PAUSED with every event answered (state {conn.state})"
            events.append(ev)
            if isinstance(ev, close_type):
                closed = True
                break
            answer(conn, ev)
        else:
            raise AssertionError("next_event() never asked for more data")
    assert all(isinstance(part, bytes) for part in out)
    if closed:
        # Nothing more after a close, whatever the peer sends.
        for late in (b"QUIT\r\n", b"EHLO x\r\nUSER a\r\n", b""):
            conn.receive_data(late)
            assert conn.next_event() is NEED_DATA
            assert conn.data_to_send() == []
    return b"".join(out), events


def _check_bounded(inp: list[bytes], out: bytes) -> None:
    size = sum(len(c) for c in inp)
    assert len(out) <= OUTPUT_FACTOR * size + OUTPUT_SLACK, (len(out), size)


# ------------------------------------------------------------------------------------ POP3
def pop3_answer(conn: P.Pop3Server, ev: Any) -> None:
    if isinstance(ev, P.Authenticate):
        if ev.password == "good":
            conn.auth_succeeded(MAILDROP)
        else:
            conn.auth_failed(P.AuthFailure.BAD_CREDENTIALS if hasattr(P, "AuthFailure") else "bad-credentials")
    elif isinstance(ev, P.StartTls):
        conn.tls_started()
    elif isinstance(ev, P.Retrieve):
        if ev.message_id == 3:
            conn.message_failed(permanent=False)
        else:
            conn.message_content(MESSAGE)
    elif isinstance(ev, P.Commit):
        conn.update_done(True)
    elif isinstance(ev, P.LoginRefused):
        pass
    else:
        raise AssertionError(f"unexpected POP3 event {ev!r}")


_POP3_STATUS = re.compile(rb"(\+OK|-ERR)( [^\r\n]*)?|\+ [A-Za-z0-9+/=]*")


def check_pop3_output(out: bytes) -> None:
    """Every response is +OK/-ERR (or a SASL "+ " challenge), or multi-line data after +OK
    ending with "."; lines are CRLF-terminated, status lines at most 512 octets."""
    assert out == b"" or out.endswith(b"\r\n"), out[-80:]
    lines = out.split(b"\r\n")[:-1]
    for line in lines:
        assert b"\n" not in line and b"\r" not in line, line
    i = 0
    while i < len(lines):
        line = lines[i]
        assert len(line) + 2 <= 512, line[:80]
        assert _POP3_STATUS.fullmatch(line), line[:120]
        i += 1
        if line.startswith(b"+OK") and i < len(lines) and not _POP3_STATUS.fullmatch(lines[i]):
            # Multi-line data (none of our data lines looks like a status line): ends with ".".
            while True:
                assert i < len(lines), "multi-line response without its terminating '.'"
                data = lines[i]
                i += 1
                if data == b".":
                    break
                assert not (data.startswith(b".") and not data.startswith(b"..")), data


def run_pop3(chunks: list[bytes], eof: bool = True, *, tls_active: bool = False,
             login_type: LoginType = LoginType.PLAIN_TEXT_LOGIN) -> tuple[bytes, list[Any]]:
    conn = P.Pop3Server(P.Pop3Config(login_type=login_type), tls_active=tls_active,
                        tls_available=not tls_active)
    out, events = _drive(conn, chunks, pop3_answer, P.CloseConnection, eof)
    check_pop3_output(out)
    _check_bounded(chunks, out)
    return out, events


# ------------------------------------------------------------------------------------ SMTP
SMTP_CONFIG = S.SmtpConfig(offer_tls=True, offer_basic=True, max_message_size=20_000,
                           max_recipients=5, remote_ip="192.0.2.1")
FQDN = SMTP_CONFIG.fqdn.encode()


def smtp_answer(conn: S.SmtpServer, ev: Any) -> None:
    if isinstance(ev, S.Authenticate):
        if ev.password == "good":
            conn.auth_succeeded(S.SendAs(ev.username, ["a@b", "*@b.example"]))  # the corpus's senders
        else:
            conn.auth_failed(S.AuthFailure.BAD_CREDENTIALS)
    elif isinstance(ev, S.StartTls):
        conn.tls_started()
    elif isinstance(ev, S.CheckSender):
        if ev.sender.lower().startswith("slow"):
            conn.sender_rejected(S.reply(450, "4.7.0", "Message rate limit exceeded"))
        else:
            conn.sender_accepted()
    elif isinstance(ev, S.CheckRecipient):
        if ev.address.lower().startswith("bad"):
            conn.recipient_rejected(S.UNKNOWN_MAILBOX)
        else:
            conn.recipient_accepted()
    elif isinstance(ev, S.Deliver):
        content = bytes(ev.content)  # bytes, or a read-only view of the receive buffer
        assert len(content) <= SMTP_CONFIG.max_message_size
        assert content == b"" or content.endswith(b"\r\n")
        conn.delivered("Q1")
    else:
        raise AssertionError(f"unexpected SMTP event {ev!r}")


_SMTP_LINE = re.compile(rb"([2-5]\d\d)([ -])([^\r\n]*)")
_ENHANCED = re.compile(rb"([245])\.\d{1,3}\.\d{1,3} ")


def check_smtp_output(out: bytes) -> None:
    """3-digit code + space/dash, CRLF, at most 512 octets a line, continuation lines share the
    code, and an enhanced status code of the same class on every reply but the greeting,
    HELO/EHLO, 334 challenges and 354 (RFC 2034 leaves those out)."""
    assert out == b"" or out.endswith(b"\r\n"), out[-80:]
    lines = out.split(b"\r\n")[:-1]
    first: re.Match[bytes] | None = None
    for index, line in enumerate(lines):
        assert len(line) + 2 <= 512, line[:80]
        m = _SMTP_LINE.fullmatch(line)
        assert m, line[:120]
        if first is not None:
            assert m.group(1) == first.group(1), (first.group(0), line)
        else:
            first = m
            code, text = m.group(1), m.group(3)
            exempt = (index == 0 and code == b"220") or code in (b"334", b"354") or (
                code == b"250" and (text == FQDN or text.startswith(FQDN + b" Hello")))
            if not exempt:
                e = _ENHANCED.match(text)
                assert e and e.group(1) == code[:1], line[:120]
        if m.group(2) == b" ":
            first = None
    assert first is None, "multi-line reply never finished"


def run_smtp(chunks: list[bytes], eof: bool = True, *, config: S.SmtpConfig = SMTP_CONFIG,
             tls_active: bool = False) -> tuple[bytes, list[Any]]:
    conn = S.SmtpServer(config, tls_active=tls_active)
    out, events = _drive(conn, chunks, smtp_answer, S.CloseConnection, eof)
    check_smtp_output(out)
    _check_bounded(chunks, out)
    return out, events


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    """`data` cut at the given offsets (taken modulo its length, sorted)."""
    if not data:
        return [data]
    points = sorted({c % (len(data) + 1) for c in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in zip(edges, edges[1:]) if b > a] or [data]


# ------------------------------------------------------------------------------ SMTP client
CLIENT_MESSAGE = b"Subject: fuzz\r\n\r\n.leading dot\r\nbare\nLF\r\n.\r\nend"
CLIENT_ENVELOPES = [
    C.Envelope("a@example.com", [C.RecipientSpec("b@example.net", "FAILURE,DELAY", "rfc822;b@example.net"),
                                 C.RecipientSpec("c@example.net")], len(CLIENT_MESSAGE), body_8bit=True,
               ret="HDRS", envid="env+1"),
    C.Envelope("", [C.RecipientSpec("jö@example.net")], 1000),  # needs SMTPUTF8: may be refused by begin()
    C.Envelope("a@example.com", [C.RecipientSpec("d@example.net")], 10),
]
_EVENT_FOR = {"ehlo": C.EhloDone, "starttls": C.TlsReady, "auth": C.AuthDone, "begin": C.RecipientsDone,
              "send_content": C.ContentDone, "rset": C.RsetDone}


class ClientAdapter:
    """Answers the client core's events as the delivery worker would (STARTTLS when offered,
    AUTH after it, three messages, an RSET probe between them, QUIT), counting its calls."""

    def __init__(self, client: C.SmtpClient) -> None:
        self.client = client
        self.calls: list[str] = []
        self.messages = list(CLIENT_ENVELOPES)
        self.probed = False

    def call(self, name: str, *args: Any) -> Any:
        if self.client.state is not C.State.CLOSED:
            self.calls.append(name)
        return getattr(self.client, name)(*args)

    def answer(self, ev: Any) -> None:
        c = self.client
        if isinstance(ev, C.Greeting):
            self.call("ehlo" if ev.reply.positive else "quit")
        elif isinstance(ev, C.EhloDone):
            caps = ev.capabilities
            if not ev.reply.positive:
                self.call("quit")
            elif caps.starttls and not c.tls_active:
                self.call("starttls")
            elif c.tls_active and not c.authenticated and caps.auth_mechs & {"PLAIN", "LOGIN"}:
                self.call("auth", "user", "pass")
            else:
                self.next_message()
        elif isinstance(ev, C.TlsReady):
            if ev.reply.positive and c.state is C.State.TLS_STARTING:
                c.tls_started()  # the handshake succeeds at once
                self.call("ehlo")
            elif not ev.reply.positive:
                self.next_message()
        elif isinstance(ev, (C.AuthDone, C.ContentDone, C.RsetDone)):
            self.next_message()
        elif isinstance(ev, C.RecipientsDone):
            if ev.content_wanted:
                self.call("send_content", CLIENT_MESSAGE)
            else:
                self.next_message()

    def next_message(self) -> None:
        if self.client.state is C.State.CLOSED:
            return
        if not self.probed and len(self.messages) < len(CLIENT_ENVELOPES):
            self.probed = True
            self.call("rset")
            return
        while self.messages:
            if self.call("begin", self.messages.pop(0)) is None:
                return
            self.calls.pop()  # refused by begin(): no event will answer it
        self.call("quit")


def run_smtp_client(chunks: list[bytes], eof: bool = True, *, pipelining: bool = True) -> tuple[bytes, list[Any]]:
    """Feed server bytes to a client core answered by `ClientAdapter`; check that nothing
    escapes, that every command line is one line of ASCII or UTF-8 text, that each call gets
    exactly one event and Closed comes once, last, that output is bounded, and that nothing
    follows Closed."""
    client = C.SmtpClient("client.example", pipelining=pipelining)
    adapter = ClientAdapter(client)
    out, events = _drive(client, chunks, lambda conn, ev: adapter.answer(ev), C.Closed, eof)
    check_client_output(out)
    # A command is at most ~100 octets, the message below 100: a few per reply line received.
    assert len(out) <= 600 * (sum(c.count(b"\n") for c in chunks) + 1), len(out)
    closed = [e for e in events if isinstance(e, C.Closed)]
    assert len(closed) <= 1 and (not closed or events[-1] is closed[0])
    assert sum(isinstance(e, C.Greeting) for e in events) <= 1
    if closed:
        answered = [name for name in adapter.calls if name != "quit"]
        assert [type(e) for e in events if type(e) in _EVENT_FOR.values()] == [_EVENT_FOR[n] for n in answered]
    for ev in events:
        if isinstance(ev, C.RecipientsDone):
            assert len(ev.rcpt_replies) in (1, 2) and all(r is not None for r in ev.final_replies()) is (
                not ev.content_wanted)
    return out, events


_CLIENT_LINE = re.compile(
    rb"(EHLO|HELO) client\.example|STARTTLS|AUTH (PLAIN AHVzZXIAcGFzcw==|LOGIN)|dXNlcg==|cGFzcw==|\*|RSET|QUIT|DATA"
    rb"|MAIL FROM:<[^<>\r\n]*>( [A-Z0-9]+(=[!-~]+)?)*|RCPT TO:<[^<>\r\n]*>( [A-Z]+=[!-~]+)*|BDAT \d+ LAST")
_WIRE_MESSAGE = CLIENT_MESSAGE.replace(b"\r\n.", b"\r\n..").replace(b"bare\nLF", b"bare\r\nLF")


def check_client_output(out: bytes) -> None:
    """The client's bytes are command lines, each content block a whole framed message."""
    framed = (_WIRE_MESSAGE + b"\r\n.\r\n", CLIENT_MESSAGE.replace(b"bare\nLF", b"bare\r\nLF") + b"\r\n", b".\r\n")
    rest = out
    while rest:
        for block in framed:
            if rest.startswith(block):
                rest = rest[len(block):]
                break
        else:
            line, crlf, rest = rest.partition(b"\r\n")
            assert crlf and _CLIENT_LINE.fullmatch(line), line[:100]
