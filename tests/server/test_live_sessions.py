"""The node's side of `postroom session list|end` (server/live_sessions.py), in-process over real
sockets: what a node lists of its POP3 and SMTP sessions (state, user, source), and how it ends
one: POP3 `-ERR [SYS/TEMP]` with no deletion applied and the mailbox free again, SMTP `421
4.3.2`, a session busy with content dropped after the grace period; requests made before the
node started end nothing."""
from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

from live_session_support import StandInSession
from postroom.errors import Unavailable
from postroom.model import PopSettings, SessionEndRequest
from postroom.protocol.pop3 import Pop3Config, Pop3Server
from postroom.protocol.smtp import SmtpConfig, SmtpServer
from postroom.protocol.smtp import State as SmtpState
from postroom.server import live_sessions
from postroom.server.live_sessions import SessionEnds, describe, listed
from waiting import until

from .test_pop3_session import PLAIN, converse, start_service
from .test_smtp_session import connect, connector, plain, running

POP3_ENDED = b"-ERR [SYS/TEMP] session ended by an administrator\r\n"
SMTP_ENDED = b"421 4.3.2 Session ended by an administrator\r\n"


def request(**target) -> SessionEndRequest:
    return SessionEndRequest("TEST", seen_at=time.time(), requested_at="2026-01-01T00:00:00+00:00",
                             requested_by="admin", **target)


def test_a_pop3_session_is_listed_and_ended_without_applying_its_deletions(tmp_path):
    async def main():
        store, server, port, service = await start_service(tmp_path, PopSettings(**PLAIN))
        mailbox = await store.get_mailbox("alice@example.com")
        await store.deliver(mailbox.id, b"Subject: keep me\r\n\r\nbody\r\n")
        replies, reader, writer = await converse(port, b"USER alice@example.com", b"PASS pw-1", b"DELE 1")
        assert replies[-1].startswith(b"+OK")
        _, idle_reader, idle_writer = await converse(port)  # connected, not logged in
        await until(lambda: len(service.sessions) == 2, what="both sessions")
        shown = listed(service.sessions)
        assert shown["live_sessions_truncated"] is False
        rows = {row["state"]: row for row in shown["live_sessions"]}
        assert set(rows) == {"authenticated", "pre-auth"}
        alice = rows["authenticated"]
        assert (alice["service"], alice["user"], alice["source"], alice["tls"], alice["connector"]) == (
            "pop3", "alice@example.com", "127.0.0.1", False, None)
        assert alice["id"].startswith("TEST-") and alice["since"].endswith("+00:00")
        assert rows["pre-auth"]["user"] is None

        ends = SessionEnds(store, "TEST", {"pop3": service})
        ended = ends.end(request(mailbox="Alice@Example.com"))  # addresses match in any case
        assert [row["id"] for row in ended] == [alice["id"]]
        assert await asyncio.wait_for(reader.read(), 3) == POP3_ENDED  # the reply, then the end
        assert len(await store.list_messages(mailbox.id)) == 1  # DELE 1 was not applied
        again, again_reader, again_writer = await converse(port, b"USER alice@example.com", b"PASS pw-1")
        assert again[-1].startswith(b"+OK")  # the mailbox lock was given back
        assert ends.end(request(session=rows["pre-auth"]["id"]))[0]["state"] == "pre-auth"
        assert await asyncio.wait_for(idle_reader.read(), 3) == POP3_ENDED
        for w in (writer, idle_writer, again_writer):
            w.close()
        server.close()
        await store.close()

    asyncio.run(main())


def test_smtp_states_and_ending_a_session_with_421(tmp_path):
    async def main():
        async with running(tmp_path, connector(permission_groups=("anonymous", "users"),
                                               auth=("basic",))) as env:
            client, _ = await connect(env.port)

            def state() -> str:
                (session,) = env.service.sessions
                return describe(session, asyncio.get_running_loop().time())["state"]

            await until(lambda: len(env.service.sessions) == 1, what="the session")
            assert state() == "connected"
            await client.send(b"EHLO client.example")
            assert state() == "greeted"
            assert (await client.send(b"AUTH PLAIN " + plain("alice@example.com", "pw-1"))).startswith(b"235")
            assert state() == "authenticated"
            await client.send(b"MAIL FROM:<alice@example.com>")
            (session,) = env.service.sessions
            row = describe(session, asyncio.get_running_loop().time())
            assert (row["state"], row["user"], row["connector"]) == ("in-transaction", "alice@example.com", "Test")
            ended = SessionEnds(env.store, "TEST", {"smtp": env.service}).end(request(session=row["id"]))
            assert [r["id"] for r in ended] == [row["id"]]
            assert await client.reply() == SMTP_ENDED
            assert await asyncio.wait_for(client.reader.read(), 3) == b""

    asyncio.run(main())


def test_a_session_receiving_a_message_is_dropped_after_the_grace_period(tmp_path, monkeypatch):
    monkeypatch.setattr(live_sessions, "END_GRACE", 0.2)

    async def main():
        async with running(tmp_path, connector()) as env:
            client, _ = await connect(env.port)
            await client.send(b"EHLO client.example", b"MAIL FROM:<a@example.net>", b"RCPT TO:<bob@example.com>",
                              b"DATA")
            client.writer.write(b"Subject: half\r\n\r\nthe first half")  # and never the end of data
            (session,) = env.service.sessions
            await until(lambda: session.conn.state is SmtpState.DATA, what="DATA content")
            started = time.monotonic()
            SessionEnds(env.store, "TEST", {"smtp": env.service}).end(request(session=session.id))
            try:  # dropped: no reply can be given in the middle of DATA
                rest = await asyncio.wait_for(client.reader.read(), 3)
            except ConnectionResetError:
                rest = b""
            assert rest == b""
            assert 0.15 < time.monotonic() - started < 2
            bob = await env.store.get_mailbox("bob@example.com")
            assert await env.store.list_messages(bob.id) == []

    asyncio.run(main())


class Requests:
    """The SessionControl role as a node uses it (pending, finish), in memory; `down` fails the
    next answer."""

    def __init__(self, *pending: SessionEndRequest) -> None:
        self.pending, self.answers, self.down = list(pending), {}, False

    async def pending_session_ends(self, server):
        return [r for r in self.pending if r.server == server and r.id not in self.answers]

    async def finish_session_end(self, request_id, done_at, ended):
        if self.down:
            self.down = False
            raise Unavailable("database is locked")
        self.answers[request_id] = list(ended)


def test_poll_answers_each_request_and_one_made_before_the_node_started_ends_nothing():
    async def main():
        alice = StandInSession("TEST-1", "pop3", "alice@example.com", "192.0.2.10", None)
        services = {"pop3": SimpleNamespace(sessions={alice})}
        stale = SessionEndRequest("TEST", session="TEST-1", seen_at=time.time() - 60, requested_at="x",
                                  requested_by="a", id=1)
        store = Requests(stale)
        ends = SessionEnds(store, "TEST", services)
        await ends.poll()
        assert store.answers == {1: []} and not alice.ended  # an earlier process's TEST-1
        store.pending.append(SessionEndRequest("TEST", mailbox="alice@example.com", seen_at=time.time(),
                                               requested_at="x", requested_by="a", id=2))
        store.down = True
        await ends.poll()  # the answer could not be stored: the session is ended, the answer comes next time
        assert alice.ended and alice.grace == live_sessions.END_GRACE and 2 not in store.answers
        await ends.poll()
        assert [row["id"] for row in store.answers[2]] == ["TEST-1"]  # what was ended then

    asyncio.run(main())


def test_the_list_is_bounded_and_keeps_the_oldest(monkeypatch):
    monkeypatch.setattr(live_sessions, "MAX_LISTED", 2)

    async def main():
        sessions = [StandInSession(f"TEST-{n}", "pop3", None, "192.0.2.1", None, age=n) for n in range(1, 5)]
        shown = listed(sessions)
        assert [row["id"] for row in shown["live_sessions"]] == ["TEST-4", "TEST-3"]
        assert shown["live_sessions_truncated"] is True
        assert listed(sessions[:2])["live_sessions_truncated"] is False

    asyncio.run(main())


def test_the_cores_answer_an_administrators_end_with_their_own_reply():
    pop3 = Pop3Server(Pop3Config(login_type="plain-text-login"))
    pop3.receive_data(b"USER a\r\nPASS b\r\n")
    pop3.next_event()
    pop3.auth_succeeded([])
    assert pop3.shutdown(ended_by_admin=True) is True
    assert pop3.next_event().reason == "ended by admin"
    assert b"".join(pop3.data_to_send()).endswith(POP3_ENDED)
    smtp = SmtpServer(SmtpConfig(fqdn="mx.example.com", anonymous_allowed=True))
    smtp.receive_data(b"EHLO a.example\r\n")
    smtp.next_event()
    assert smtp.shutdown(ended_by_admin=True) is True
    assert b"".join(smtp.data_to_send()).endswith(SMTP_ENDED)
