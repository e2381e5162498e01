"""Submission policy through the SMTP adapter, over real sockets: send-as grants from the store,
per-mailbox rate limits (what the wire says, what the store holds) including many concurrent
sessions of one mailbox, reservations given back, and the hop limit from the node's limits."""
from __future__ import annotations

import asyncio

import pytest

from postroom.server.smtp_connectors import ConnectorRuntime, core_config
from postroom.server.submission import SubmissionLimits, SubmissionQuota

from .test_smtp_session import (
    ACCEPTED, AUTH_OK, RCPT_OK, SENDER_OK, START_DATA, Client, SlowStore, connect, connector, plain, run, running,
)

DENIED = b"550 5.7.1 Client does not have permission to send as this sender\r\n"
LOOP = b"554 5.4.6 Hop count exceeded - possible mail loop\r\n"
SUBMISSION = dict(auth=("basic",), permission_groups=("users",))


def msg_rate(limit: int, period: str = "minute") -> bytes:
    return (b"450 4.7.0 Message rate limit exceeded: alice@example.com may submit %d messages per %s;"
            b" try again later\r\n" % (limit, period.encode()))


def rcpt_rate(limit: int, period: str = "minute") -> bytes:
    return (b"450 4.7.0 Recipient rate limit exceeded: alice@example.com may submit %d recipients per %s;"
            b" try again later\r\n" % (limit, period.encode()))


def content(sender: bytes = b"alice@example.com", *extra: bytes) -> bytes:
    return b"From: " + sender + b"\r\n" + b"".join(e + b"\r\n" for e in extra) + b"Subject: hi\r\n\r\nbody\r\n"


async def login(port: int, user: str = "alice@example.com") -> Client:
    client, _ = await connect(port)
    await client.send(b"EHLO client.example")
    assert await client.send(b"AUTH PLAIN " + plain(user, "pw-1")) == AUTH_OK
    return client


async def send(client: Client, sender: bytes, recipients: list[bytes], data: bytes) -> bytes:
    """MAIL, RCPTs, DATA: the first refusal, or the reply to the content."""
    answer = await client.send(b"MAIL FROM:<" + sender + b">")
    if answer != SENDER_OK:
        return answer
    for recipient in recipients:
        answer = await client.send(b"RCPT TO:<" + recipient + b">")
        if answer != RCPT_OK:
            return answer
    assert await client.send(b"DATA") == START_DATA
    client.writer.write(data + b".\r\n")
    return await client.reply()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# ------------------------------------------------------------------------------- send as
def test_an_authenticated_session_sends_only_as_its_mailbox_and_its_grants(tmp_path):
    async def main():
        async with running(tmp_path, connector(**SUBMISSION)) as env:
            await env.store.update_mailbox("alice@example.com", send_as=("sales@example.com", "*@apps.example"))
            client = await login(env.port)
            assert await send(client, b"bob@example.com", [b"bob@example.com"], content()) == DENIED
            assert await send(client, b"", [b"bob@example.com"], content()) == DENIED
            assert await client.send(b"RCPT TO:<bob@example.com>") == b"503 5.5.1 Need MAIL command\r\n"
            for sender in (b"Alice@Example.com", b"sales@example.com", b"crm@apps.example"):
                assert ACCEPTED.fullmatch(await send(client, sender, [b"bob@example.com"], content(sender)))
            # the header From is checked at the end of the content: nothing is stored
            assert await send(client, b"alice@example.com", [b"bob@example.com"],
                              content(b"Bob <bob@example.com>")) == DENIED
            assert await send(client, b"alice@example.com", [b"bob@example.com"],
                              content(b"alice@example.com", b"From: ceo@bank.example")) == DENIED
            await client.send(b"QUIT")
            stored = await env.messages("bob@example.com")
            assert len(stored) == 3 and all(b"From: bob@" not in m and b"ceo@" not in m for m in stored)

    run(main())


def test_bob_without_grants_cannot_send_as_alice_but_anonymous_senders_are_not_checked(tmp_path):
    async def main():
        async with running(tmp_path, connector(**SUBMISSION), connector("Internet", bindings=("127.0.0.1:2525",),
                                                                         remote_ip_ranges=("10.0.0.0/8",))) as env:
            client = await login(env.port, "bob@example.com")
            assert await send(client, b"alice@example.com", [b"alice@example.com"], content()) == DENIED
            assert ACCEPTED.fullmatch(await send(client, b"bob@example.com", [b"alice@example.com"],
                                                 content(b"bob@example.com")))
        async with running(tmp_path / "anon", connector()) as env:
            client, _ = await connect(env.port)
            await client.send(b"EHLO client.example")
            assert ACCEPTED.fullmatch(await send(client, b"alice@example.com", [b"bob@example.com"],
                                                 content(b"ceo@bank.example")))

    (tmp_path / "anon").mkdir()
    run(main())


# ---------------------------------------------------------------------------- rate limits
def test_message_rate_per_minute_refuses_at_mail_then_recovers(tmp_path):
    async def main():
        async with running(tmp_path, connector(**SUBMISSION)) as env:
            clock = Clock()
            env.service.quota = SubmissionQuota(SubmissionLimits(message_rate_per_minute=2), clock)
            client = await login(env.port)
            for _ in range(2):
                assert ACCEPTED.fullmatch(await send(client, b"alice@example.com", [b"bob@example.com"], content()))
            assert await send(client, b"alice@example.com", [b"bob@example.com"], content()) == msg_rate(2)
            other = await login(env.port)  # the limit is the mailbox's, not the session's
            assert await other.send(b"MAIL FROM:<alice@example.com>") == msg_rate(2)
            bob = await login(env.port, "bob@example.com")  # another mailbox is not affected
            assert await bob.send(b"MAIL FROM:<bob@example.com>") == SENDER_OK
            clock.now += 61
            assert ACCEPTED.fullmatch(await send(client, b"alice@example.com", [b"bob@example.com"], content()))
            assert len(await env.messages("bob@example.com")) == 3
            assert env.service.quota.counts("alice@example.com")["messages_minute"] == 1

    run(main())


def test_recipient_rate_refuses_rcpt_and_the_message_goes_to_the_others(tmp_path):
    async def main():
        async with running(tmp_path, connector(**SUBMISSION)) as env:
            env.service.set_limits(SubmissionLimits(message_rate_per_minute=0, recipient_rate_per_day=3))
            client = await login(env.port)
            assert await client.send(b"MAIL FROM:<alice@example.com>") == SENDER_OK
            for rcpt in (b"bob", b"alice", b"postmaster"):  # an unknown recipient costs nothing
                await client.send(b"RCPT TO:<" + rcpt + b"@example.com>")
            assert await client.send(b"RCPT TO:<bob@example.com>") == RCPT_OK
            assert await client.send(b"RCPT TO:<alice@example.com>") == rcpt_rate(3, "day")
            assert await client.send(b"DATA") == START_DATA
            client.writer.write(content() + b".\r\n")
            assert ACCEPTED.fullmatch(await client.reply())
            # bob named twice counts twice (recipients as given) but gets one copy
            assert len(await env.messages("bob@example.com")) == 1 and len(await env.messages("alice@example.com")) == 1
            assert env.service.quota.counts("alice@example.com")["recipients_day"] == 3

    run(main())


def test_reservations_are_given_back_when_no_message_is_stored(tmp_path):
    async def main():
        async with running(tmp_path, connector(**SUBMISSION)) as env:
            env.service.set_limits(SubmissionLimits(message_rate_per_minute=1, recipient_rate_per_minute=2))
            client = await login(env.port)
            # RSET, a refused From, a dropped connection: each gives its reservations back
            assert await client.send(b"MAIL FROM:<alice@example.com>", b"RCPT TO:<bob@example.com>") == RCPT_OK
            assert await client.send(b"RSET") == b"250 2.0.0 OK\r\n"
            assert await send(client, b"alice@example.com", [b"bob@example.com", b"alice@example.com"],
                              content(b"bob@example.com")) == DENIED
            dropped = await login(env.port)
            assert await dropped.send(b"MAIL FROM:<alice@example.com>", b"RCPT TO:<bob@example.com>") == RCPT_OK
            assert await client.send(b"MAIL FROM:<alice@example.com>") == msg_rate(1)  # held by `dropped`
            dropped.writer.close()
            for _ in range(100):
                if env.service.quota.counts("alice@example.com")["messages_minute"] == 0:
                    break
                await asyncio.sleep(0.01)
            assert ACCEPTED.fullmatch(await send(client, b"alice@example.com",
                                                 [b"bob@example.com", b"alice@example.com"], content()))
            assert env.service.quota.counts("alice@example.com") == {
                "messages_minute": 1, "messages_day": 0, "recipients_minute": 2, "recipients_day": 2}

    run(main())


def test_a_message_being_stored_when_the_client_leaves_still_counts(tmp_path):
    async def main():
        async with running(tmp_path, connector(**SUBMISSION), wrap=lambda s: SlowStore(s, 0.3)) as env:
            env.service.set_limits(SubmissionLimits(message_rate_per_minute=1))
            client = await login(env.port)
            assert await client.send(b"MAIL FROM:<alice@example.com>", b"RCPT TO:<bob@example.com>") == RCPT_OK
            assert await client.send(b"DATA") == START_DATA
            client.writer.write(content() + b".\r\n")
            await client.writer.drain()
            await asyncio.sleep(0.1)  # the store is writing it
            client.writer.close()
            for _ in range(100):
                if await env.messages("bob@example.com"):
                    break
                await asyncio.sleep(0.02)
            assert len(await env.messages("bob@example.com")) == 1
            assert env.service.quota.counts("alice@example.com")["messages_minute"] == 1
            assert await (await login(env.port)).send(b"MAIL FROM:<alice@example.com>") == msg_rate(1)

    run(main())


@pytest.mark.parametrize("sessions, limit", [(40, 7)])
def test_a_limit_holds_across_many_concurrent_sessions_of_one_mailbox(tmp_path, sessions, limit):
    """Every session logs on, then all send MAIL at the same moment and finish their message:
    exactly `limit` messages are stored, the others are refused 450 4.7.0, none is lost."""
    async def main():
        async with running(tmp_path, connector(**SUBMISSION, max_inbound_connections=500,
                                               max_inbound_connections_per_source=500)) as env:
            env.service.set_limits(SubmissionLimits(message_rate_per_minute=limit))
            clients = await asyncio.gather(*(login(env.port) for _ in range(sessions)))
            start = asyncio.Event()

            async def one(client: Client) -> bytes:
                await start.wait()
                return await send(client, b"alice@example.com", [b"bob@example.com"], content())

            tasks = [asyncio.create_task(one(c)) for c in clients]
            await asyncio.sleep(0.05)
            start.set()
            answers = await asyncio.gather(*tasks)
            assert sum(1 for a in answers if ACCEPTED.fullmatch(a)) == limit
            assert answers.count(msg_rate(limit)) == sessions - limit
            assert len(await env.messages("bob@example.com")) == limit

    run(main())


# ------------------------------------------------------------------------------- hop limit
def test_the_hop_limit_comes_from_the_node_limits(tmp_path):
    received = b"".join(b"Received: from h%d.example by h%d.example; Mon, 1 Jan 2024 00:00:00 +0000\r\n" % (i, i)
                        for i in range(3))

    async def main():
        async with running(tmp_path, connector()) as env:
            client, _ = await connect(env.port)
            await client.send(b"EHLO client.example")
            assert ACCEPTED.fullmatch(await send(client, b"x@remote.example", [b"bob@example.com"],
                                                 received + content(b"x@remote.example")))
            env.service.set_limits(SubmissionLimits(max_hop_count=2))
            hops = env.service.limits.max_hop_count
            env.service.configure([ConnectorRuntime(c, core_config(c, "mx.test", None, hops), None)
                                   for c in [connector()]], ["example.com"])
            client, _ = await connect(env.port)  # a new session gets the new limit
            await client.send(b"EHLO client.example")
            assert await send(client, b"x@remote.example", [b"bob@example.com"],
                              received + content(b"x@remote.example")) == LOOP
            assert len(await env.messages("bob@example.com")) == 1

    run(main())


# --------------------------------------------------------------------------- the counters
def test_windows_slide_and_never_let_more_than_the_limit_through():
    clock = Clock()
    quota = SubmissionQuota(SubmissionLimits(message_rate_per_minute=3, message_rate_per_day=5), clock)
    tickets = []
    for step in (0, 20, 40):
        clock.now = 1000 + step
        tickets.append(quota.begin("a@x"))
    clock.now = 1059
    refused = quota.begin("a@x")
    assert not hasattr(refused, "held") and refused.code == 450 and b"3 messages per minute" in refused.to_bytes()
    clock.now = 1062  # the first left the minute (its 1-second bucket too)
    tickets.append(quota.begin("a@x"))
    clock.now = 1090
    tickets.append(quota.begin("a@x"))
    clock.now = 1200
    assert b"5 messages per day" in quota.begin("a@x").to_bytes()
    quota.release(tickets[-1])  # not stored: given back
    assert hasattr(quota.begin("A@X"), "held")  # the same mailbox whatever the case
    clock.now = 1200 + 86400 + 600  # a day and one 10-minute bucket after the last one
    assert quota.counts("a@x")["messages_day"] == 0
    quota.sweep()
    assert quota.counts("a@x") == {"messages_minute": 0, "messages_day": 0, "recipients_minute": 0,
                                   "recipients_day": 0}


def test_limits_are_checked():
    with pytest.raises(ValueError):
        SubmissionLimits(message_rate_per_minute=-1)
    with pytest.raises(ValueError):
        SubmissionLimits(max_hop_count=0)
    assert SubmissionLimits() == SubmissionLimits(30, 0, 0, 10_000, 100)
