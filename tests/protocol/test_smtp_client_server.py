"""The SMTP client core talking to postroom's own SMTP server core, in memory: whatever the
message, the server receives exactly the client's message (CRLF-normalised, ending in CRLF),
by DATA (dot-stuffing) and by BDAT, with and without pipelining."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from smtp_client_driver import Adapter, envelope

from postroom.protocol import smtp as S
from postroom.protocol._smtp_client_commands import crlf
from postroom.protocol.smtp_client import NEED_DATA, ContentDone, RecipientsDone, SmtpClient


class PieceAdapter(Adapter):
    """Sends each message in pieces cut at `cuts` (offsets), the last one marked last."""

    cuts: list[int] = []

    def answer(self, ev) -> None:
        if isinstance(ev, RecipientsDone) and ev.content_wanted:
            edges = [0, *sorted({c % (len(self.current) + 1) for c in self.cuts}), len(self.current)]
            for start, end in zip(edges, edges[1:]):
                self.client.send_content(self.current[start:end], last=False)
            self.client.send_content(b"")
        else:
            super().answer(ev)


def deliver(messages: list[bytes], *, chunking: bool, pipelining: bool,
            cuts: list[int] | None = None) -> tuple[list[bytes], list]:
    server = S.SmtpServer(S.SmtpConfig(fqdn="mx.example.net"))
    kind = Adapter if cuts is None else PieceAdapter
    client = kind(SmtpClient("client.example", chunking=chunking, pipelining=pipelining),
                  messages=[(envelope(f"r{i}@example.net", size=len(m)), m) for i, m in enumerate(messages)])
    client.cuts = cuts or []
    received: list[bytes] = []
    to_client = b"".join(server.data_to_send())
    for _ in range(10_000):
        client.client.receive_data(to_client)
        client.pump()
        to_server, client.out = b"".join(client.out), []
        if client.closed:
            break
        server.receive_data(to_server)
        while (ev := server.next_event()) is not S.NEED_DATA and ev is not S.PAUSED:
            if isinstance(ev, S.CheckRecipient):
                server.recipient_accepted()
            elif isinstance(ev, S.Deliver):
                assert ev.spooled == 0
                received.append(bytes(ev.content))
                server.delivered(f"Q{len(received)}")
            elif isinstance(ev, S.CloseConnection):
                break
        to_client = b"".join(server.data_to_send())
    else:
        raise AssertionError("the conversation never ended")
    return received, client.events


def expected(message: bytes) -> bytes:
    wire = crlf(message)
    return wire if not wire or wire.endswith(b"\r\n") else wire + b"\r\n"


LINES = st.lists(st.sampled_from([b"", b".", b"..", b".x", b"x.", b"a", b"\r", b"\n", b"\r\n", b".\r\n", b"\n.\n",
                                  "é".encode(), b"\x00", b" . "]), max_size=30).map(b"".join)


@settings(max_examples=300, deadline=None)
@given(st.lists(LINES, min_size=1, max_size=3), st.booleans(), st.booleans())
def test_server_receives_exactly_the_message(messages, chunking, pipelining):
    received, events = deliver(messages, chunking=chunking, pipelining=pipelining)
    assert received == [expected(m) for m in messages]
    assert [e.reply.code for e in events if isinstance(e, ContentDone)] == [250] * len(messages)


@settings(max_examples=300, deadline=None)
@given(st.lists(LINES, min_size=1, max_size=2), st.booleans(), st.lists(st.integers(0, 500), max_size=6))
def test_server_receives_exactly_the_message_sent_in_pieces(messages, chunking, cuts):
    received, events = deliver(messages, chunking=chunking, pipelining=True, cuts=cuts)
    assert received == [expected(m) for m in messages]
    assert [e.reply.code for e in events if isinstance(e, ContentDone)] == [250] * len(messages)


def test_big_message_with_dots_both_ways():
    message = b"Subject: big\r\n\r\n" + b".dot line\r\nplain line\r\n" * 20000
    for chunking in (True, False):
        received, _ = deliver([message], chunking=chunking, pipelining=True)
        assert received == [message]
    assert NEED_DATA is S.NEED_DATA
