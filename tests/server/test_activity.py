"""Activity counters on the node: 10-minute buckets in memory, what POP3, IMAP4 and SMTP sessions
count, and the node's flush to the store (counts kept when the store cannot take them)."""
from __future__ import annotations

import asyncio

from postroom.activity import (
    IMAP4_LOGIN_FAILED, IMAP4_LOGIN_OK, POP3_LOGIN_FAILED, POP3_LOGIN_OK, SMTP_DELIVERED, Activity, bucket_name,
    bucket_start,
)
from postroom.auth import Authenticator, hash_password
from postroom.errors import Unavailable
from postroom.model import ImapSettings, LoginType, PopSettings
from postroom.server.node import Node
from postroom.server.imap4 import ImapService
from postroom.server.pop3 import Pop3Service
from postroom.service.setup import initialise
from postroom.storage import open_store
from postroom.web.app import node_admin_app
from waiting import until

T0 = 1714564800.0  # 2024-05-01T12:00:00Z, a bucket boundary


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_buckets_are_ten_minutes_named_by_their_start():
    assert bucket_start(T0) == T0 and bucket_start(T0 + 599.9) == T0 and bucket_start(T0 + 600) == T0 + 600
    assert bucket_name(T0 + 123) == "2024-05-01T12:00:00.000000+00:00"
    assert bucket_name(T0 - 1) == "2024-05-01T11:50:00.000000+00:00"


def test_record_counts_per_bucket_and_drain_starts_again():
    clock = Clock(T0 + 5)
    activity = Activity(clock)
    activity.record(POP3_LOGIN_OK)
    activity.record(POP3_LOGIN_OK)
    clock.now = T0 + 601
    activity.record(POP3_LOGIN_FAILED)
    clock.now = T0 + 300  # the clock was set back: still counted, in its own bucket
    activity.record(SMTP_DELIVERED)
    b0, b1 = bucket_name(T0), bucket_name(T0 + 600)
    assert activity.drain() == {(b0, POP3_LOGIN_OK): 2, (b1, POP3_LOGIN_FAILED): 1, (b0, SMTP_DELIVERED): 1}
    assert activity.drain() == {}


def test_restore_merges_back_and_drops_what_is_a_day_old():
    clock = Clock(T0 + 86400 + 5)
    activity = Activity(clock)
    activity.record(POP3_LOGIN_OK)
    now = bucket_name(clock.now)
    activity.restore({(now, POP3_LOGIN_OK): 2, (bucket_name(T0 + 600), SMTP_DELIVERED): 1,
                      (bucket_name(T0 - 600), SMTP_DELIVERED): 9})
    assert activity.drain() == {(now, POP3_LOGIN_OK): 3, (bucket_name(T0 + 600), SMTP_DELIVERED): 1}


async def _serve(tmp_path, service_type, settings):
    """A store with alice@example.com (pw-1) and `service_type` listening: (store, activity, service, server, port)."""
    store = open_store(str(tmp_path))
    await store.open()
    await store.migrate()
    await store.add_domain("example.com")
    await store.create_mailbox("alice@example.com", "Alice", hash_password("pw-1"))
    activity = Activity()
    service = service_type(store, Authenticator(failure_delay=0.01), "TEST", activity=activity)
    service.configure(settings, None, None)
    server = await asyncio.get_running_loop().create_server(service.protocol_factory(False, "t"), "127.0.0.1", 0)
    return store, activity, service, server, server.sockets[0].getsockname()[1]


async def _counts_when_done(store, activity, service, server) -> dict[str, int]:
    """Once every session ended: the activity counted, summed by kind."""
    await until(lambda: not service.sessions, what="every session to end")
    server.close()
    await store.close()
    totals: dict[str, int] = {}
    for (_, kind), n in activity.drain().items():
        totals[kind] = totals.get(kind, 0) + n
    return totals


def test_pop3_logins_are_counted_succeeded_or_failed(tmp_path):
    async def main():
        store, activity, service, server, port = await _serve(
            tmp_path, Pop3Service, PopSettings(login_type=LoginType.PLAIN_TEXT_LOGIN))
        for password in (b"pw-1", b"wrong", b"wrong"):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            await reader.readline()
            for line in (b"USER alice@example.com", b"PASS " + password, b"QUIT"):
                writer.write(line + b"\r\n")
                await reader.readline()
            writer.close()
        # a plain-text login where the login type requires TLS is refused: a failure too
        service.configure(PopSettings(login_type=LoginType.SECURE_LOGIN), None, None)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await reader.readline()
        writer.write(b"USER alice@example.com\r\n")
        assert (await reader.readline()).startswith(b"-ERR")
        writer.close()
        counts = await _counts_when_done(store, activity, service, server)
        assert counts.get(POP3_LOGIN_OK) == 1 and counts.get(POP3_LOGIN_FAILED) == 3

    asyncio.run(main())


def test_imap4_logins_are_counted_apart_from_pop3s(tmp_path):
    async def main():
        store, activity, service, server, port = await _serve(
            tmp_path, ImapService, ImapSettings(login_type=LoginType.PLAIN_TEXT_LOGIN))
        for password in (b"pw-1", b"wrong"):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            await reader.readline()
            writer.write(b"a LOGIN alice@example.com " + password + b"\r\n")
            reply = await reader.readline()
            assert reply.startswith(b"a OK" if password == b"pw-1" else b"a NO"), reply
            writer.write(b"b LOGOUT\r\n")
            await reader.readline()
            writer.close()
        counts = await _counts_when_done(store, activity, service, server)
        assert counts.get(IMAP4_LOGIN_OK) == 1 and counts.get(IMAP4_LOGIN_FAILED) == 1
        assert POP3_LOGIN_OK not in counts and POP3_LOGIN_FAILED not in counts

    asyncio.run(main())


class FailingStore:
    """A store whose add_activity is unavailable until `up` is set."""

    def __init__(self, store) -> None:
        self.store, self.up = store, False

    def __getattr__(self, name):
        return getattr(self.store, name)

    async def add_activity(self, server, counts):
        if not self.up:
            raise Unavailable("database is locked")
        await self.store.add_activity(server, counts)


def test_the_node_flushes_to_the_store_and_keeps_counts_it_could_not_store(tmp_path):
    async def main():
        data = str(tmp_path / "var")
        await initialise(data, dev=True, server_name="EX01")
        store = open_store(data)
        await store.open()
        flaky = FailingStore(store)
        node = Node(flaky, data, "EX01", admin_app=node_admin_app, authenticator=Authenticator(failure_delay=0))
        node.activity = Activity(Clock(T0 + 5))  # one bucket, whenever the test runs
        try:
            for kind in (POP3_LOGIN_OK, POP3_LOGIN_FAILED, SMTP_DELIVERED, SMTP_DELIVERED):
                node.activity.record(kind)
            await node.flush_activity()  # the store is down: nothing lost
            flaky.up = True
            node.activity.record(SMTP_DELIVERED)
            await node.flush_activity()
            b0 = bucket_name(T0)
            assert await store.list_activity("EX01", b0) == [
                ("EX01", b0, POP3_LOGIN_FAILED, 1), ("EX01", b0, POP3_LOGIN_OK, 1), ("EX01", b0, SMTP_DELIVERED, 3)]
            assert node.activity.drain() == {}
        finally:
            node.admin.close()
            await store.close()

    asyncio.run(main())


def test_an_smtp_message_counts_once_however_many_recipients(tmp_path):
    from .test_smtp_session import ACCEPTED, connect, connector, running

    async def main():
        async with running(tmp_path, connector()) as env:
            env.service.activity = activity = Activity()
            client, _ = await connect(env.port)
            await client.send(b"EHLO client.example")
            assert ACCEPTED.fullmatch(await client.mail([b"alice@example.com", b"bob@example.com"]))
            assert ACCEPTED.fullmatch(await client.mail([b"alice@example.com"]))
            await client.send(b"QUIT")
        assert sum(activity.drain().values()) == 2

    asyncio.run(main())
