"""Draining sessions at shutdown, in-process: what is in flight finishes, idle sessions are
told and closed, and a POP3 session's DELE marks are never applied without QUIT."""
from __future__ import annotations

import asyncio

from postroom.model import PopSettings
from postroom.protocol.pop3 import Pop3Config, Pop3Server
from postroom.protocol.smtp import SmtpConfig, SmtpServer
from postroom.protocol.smtp import State as SmtpState
from waiting import until

from .test_pop3_session import PLAIN, converse
from .test_pop3_session import start_service as start

BYE = b"-ERR [SYS/TEMP] server shutting down\r\n"


class SlowReads:
    """Delegates to a real store; reading a message takes `delay` seconds."""

    def __init__(self, store, delay: float) -> None:
        self._store, self._delay = store, delay
        self.reading = False

    def __getattr__(self, name):
        return getattr(self._store, name)

    async def read_message(self, *args):
        self.reading = True
        await asyncio.sleep(self._delay)  # the slow store is the behaviour under test
        return await self._store.read_message(*args)




def test_a_retr_in_flight_finishes_then_the_session_is_closed(tmp_path):
    async def main():
        slow: list[SlowReads] = []
        store, server, port, service = await start(tmp_path, PopSettings(**PLAIN),
                                                   wrap=lambda s: slow.append(SlowReads(s, 0.3)) or slow[0])
        mailbox = await store.get_mailbox("alice@example.com")
        await store.deliver(mailbox.id, b"Subject: one\r\n\r\nbody\r\n")
        await store.deliver(mailbox.id, b"Subject: two\r\n\r\nbody\r\n")
        replies, reader, writer = await converse(port, b"USER alice@example.com", b"PASS pw-1", b"DELE 2")
        assert replies[-1].startswith(b"+OK")
        writer.write(b"RETR 1\r\nNOOP\r\n")  # the NOOP is pipelined behind the RETR
        await until(lambda: slow[0].reading, what="the RETR to be answered")
        service.drain_sessions()
        assert (await reader.readline()).startswith(b"+OK")
        rest = await asyncio.wait_for(reader.read(), 3)
        assert rest == b"Subject: one\r\n\r\nbody\r\n.\r\n" + BYE  # whole message, then goodbye, then EOF
        await until(lambda: not service.sessions, what="the drained session to go")
        assert len(await store.list_messages(mailbox.id)) == 2  # DELE 2 was not applied
        writer.close()
        server.close()
        await store.close()

    asyncio.run(main())


def test_idle_sessions_are_closed_at_once_and_new_ones_too(tmp_path):
    async def main():
        store, server, port, service = await start(tmp_path, PopSettings(**PLAIN))
        mailbox = await store.get_mailbox("alice@example.com")
        await store.deliver(mailbox.id, b"Subject: one\r\n\r\nbody\r\n")
        replies, reader, writer = await converse(port, b"USER alice@example.com", b"PASS pw-1", b"DELE 1")
        assert replies[-1].startswith(b"+OK")
        service.drain_sessions()
        assert await asyncio.wait_for(reader.read(), 3) == BYE
        # A connection accepted while stopping gets its greeting and the goodbye.
        _, late_reader, late_writer = await converse(port)
        assert await asyncio.wait_for(late_reader.read(), 3) == BYE
        assert len(await store.list_messages(mailbox.id)) == 1
        for w in (writer, late_writer):
            w.close()
        server.close()
        await store.close()

    asyncio.run(main())


def test_smtp_core_shuts_down_only_between_commands():
    core = SmtpServer(SmtpConfig(fqdn="mx.example.com", anonymous_allowed=True))
    core.receive_data(b"EHLO a.example\r\nMAIL FROM:<a@example.net>\r\nRCPT TO:<b@example.com>\r\n")
    event = core.next_event()
    core.recipient_accepted()
    core.receive_data(b"DATA\r\nSubject: x\r\n\r\nhal")
    assert core.next_event() is not None and core.state is SmtpState.DATA
    core.data_to_send()
    assert core.shutdown() is False  # content is arriving: the message comes first
    core.receive_data(b"f\r\n.\r\nQUIT\r\n")
    deliver = core.next_event()
    assert type(deliver).__name__ == "Deliver" and type(event).__name__ == "CheckRecipient"
    assert core.shutdown() is False  # the delivery is being answered
    core.delivered("Q1")
    assert core.shutdown() is True
    out = b"".join(core.data_to_send())
    assert out.startswith(b"250 2.6.0") and out.endswith(b"421 4.3.2 Service shutting down\r\n")
    assert type(core.next_event()).__name__ == "CloseConnection"  # the pipelined QUIT is dropped


def test_pop3_core_shutdown_in_transaction_commits_nothing():
    core = Pop3Server(Pop3Config(login_type="plain-text-login"))
    core.receive_data(b"USER a\r\nPASS b\r\n")
    core.next_event()
    core.auth_succeeded([])
    assert core.shutdown() is True
    events = [core.next_event()]
    assert type(events[0]).__name__ == "CloseConnection" and events[0].reason == "shutdown"
    assert b"".join(core.data_to_send()).endswith(BYE)
