"""What only the PostgreSQL store has to show: several nodes on one database (the mailbox lock
across nodes, released when a node dies; concurrent migrations; the last two entries of one
body removed at once), the storage layout, and a clear answer when the server is unreachable.
The Store contract itself runs against PostgreSQL in test_store_contract*.py."""
from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

import asyncpg
import pytest

from pg_support import fresh_store_url
from postroom.errors import Conflict, NotFound, Unavailable, ValidationError
from postroom.model import OutboundSubmission, QueueKey, RecipientResult, RecipientStatus
from postroom.storage import open_store, store_url
from postroom.storage.postgres import PostgresStore
from waiting import until

MESSAGE = b"Subject: shared\r\n\r\nOne body, two mailboxes.\r\n"
PARTNER = QueueKey.dns("partner.example", "Internet")


@pytest.fixture
def url() -> Iterator[str]:
    yield from fresh_store_url()


async def opened(url: str) -> PostgresStore:
    store = PostgresStore(url)
    await store.open()
    await store.migrate()
    return store


async def scalar(url: str, sql: str) -> Any:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


def test_the_mailbox_lock_holds_across_nodes_and_goes_with_its_node(url, run):
    async def body():
        node_a, node_b = await opened(url), await opened(url)
        try:
            box = (await node_a.create_mailbox("alice@example.com", "Alice", "h")).id
            assert await node_a.try_lock_mailbox(box, "a-session") is True
            assert await node_b.try_lock_mailbox(box, "b-session") is False  # B answers [IN-USE]
            await node_a.unlock_mailbox(box, "a-session")
            assert await node_b.try_lock_mailbox(box, "b-session") is True
            assert await node_a.try_lock_mailbox(box, "a-session") is False
            # Node B dies (its lock connection is cut, as when the process is killed): the
            # database releases the lock and node A may take the mailbox at once.
            # Only B's own lock connection: other test workers hold advisory locks too.
            assert node_b._lock_conn is not None
            await scalar(url, f"SELECT pg_terminate_backend({node_b._lock_conn.get_server_pid()})")
            await until(lambda: node_a.try_lock_mailbox(box, "a-session"), 5, "the dead node's lock to be released")
        finally:
            await node_a.close()
            await node_b.close()
    run(body())


def test_closing_a_node_releases_its_locks(url, run):
    async def body():
        node_a, node_b = await opened(url), await opened(url)
        try:
            box = (await node_a.create_mailbox("alice@example.com", "Alice", "h")).id
            assert await node_a.try_lock_mailbox(box, "a-session")
            await node_a.close()
            assert await node_b.try_lock_mailbox(box, "b-session") is True
        finally:
            await node_a.close()
            await node_b.close()
    run(body())


def test_one_node_per_server_name(url, run):
    # Advisory locks are database-wide: names no other test (worker) claims at the same time.
    first, second = (f"CLAIM-{uuid.uuid4().hex[:8]}" for _ in range(2))

    async def body():
        node_a, node_b = await opened(url), await opened(url)
        try:
            await node_a.claim_server(first)
            with pytest.raises(Conflict, match="already served by another node"):
                await node_b.claim_server(first)
            await node_b.claim_server(second)
            await node_a.close()
            third = await opened(url)
            await third.claim_server(first)  # the first node is gone: its claim went with it
            await third.close()
        finally:
            await node_a.close()
            await node_b.close()
    run(body())


def test_nodes_starting_together_migrate_once(url, run):
    async def body():
        stores = [PostgresStore(url) for _ in range(4)]
        for store in stores:
            await store.open()
        try:
            applied = await asyncio.gather(*[store.migrate() for store in stores])
            assert sorted(applied, key=len)[:3] == [[], [], []]
            assert max(applied, key=len)[0] == 1
        finally:
            for store in stores:
                await store.close()
    run(body())


def test_removing_the_last_two_entries_at_once_removes_the_body(url, run):
    async def body():
        node_a, node_b = await opened(url), await opened(url)
        try:
            for round_ in range(10):
                alice = (await node_a.create_mailbox(f"alice{round_}@example.com", "A", "h")).id
                bob = (await node_a.create_mailbox(f"bob{round_}@example.com", "B", "h")).id
                first, second = await node_a.deliver_message([alice, bob], MESSAGE)
                assert await asyncio.gather(node_a.delete_messages(alice, [first.id]),
                                            node_b.delete_messages(bob, [second.id])) == [1, 1]
            assert await scalar(url, "SELECT count(*) FROM message_bodies") == 0
        finally:
            await node_a.close()
            await node_b.close()
    run(body())


def test_bookkeeping_commits_without_waiting_for_the_wal_flush(url, run, monkeypatch):
    async def body():
        store = await opened(url)
        try:
            settings: list[str] = []

            async def probe(conn: asyncpg.Connection) -> None:
                settings.append(await conn.fetchval("SHOW synchronous_commit"))
            await store._transaction(probe)
            await store._transaction(probe, durable=False)
            await store._transaction(probe)  # SET LOCAL: the next transaction on the connection waits again
            assert settings == ["on", "off", "on"]

            durable: list[bool] = []
            transaction = store._transaction

            async def recorded(fn: Any, *args: Any, **kwargs: Any) -> Any:
                durable.append(kwargs.get("durable", True))
                return await transaction(fn, *args, **kwargs)
            monkeypatch.setattr(store, "_transaction", recorded)
            outbound = OutboundSubmission("a@example.com", [("b@partner.example", None, None, PARTNER)])
            await store.deliver_message([], MESSAGE, outbound=outbound)
            claim, = await store.claim_due("node-a", (datetime.now(timezone.utc) + timedelta(seconds=1)).isoformat(),
                                           60, 10)
            sent = [RecipientResult("b@partner.example", RecipientStatus.SENT, "250 ok")]
            assert await store.finish_attempt(claim.message.id, "node-a", sent) is True
            assert durable == [True, True, False]  # the mail and its claim wait for the disk; the verdict not
        finally:
            await store.close()
    run(body())


def test_a_pop3_delete_and_the_end_of_delivery_at_once_remove_the_shared_body(url, run):
    # The last local entry (POP3 DELE on one node) and the queued copy (a delivery worker's
    # finish_attempt on another) go at the same moment: the body goes too, never left over.
    async def body():
        node_a, node_b = await opened(url), await opened(url)
        try:
            for round_ in range(10):
                alice = (await node_a.create_mailbox(f"alice{round_}@example.com", "A", "h")).id
                outbound = OutboundSubmission("alice@example.com", [("bob@partner.example", None, None, PARTNER)],
                                              at="2030-01-01T00:00:00Z")
                entry, = await node_a.deliver_message([alice], MESSAGE, outbound=outbound)
                claim, = await node_b.claim_due("EX02/1", "2030-01-01T00:00:01Z", 60, 10)
                sent = [RecipientResult("bob@partner.example", RecipientStatus.SENT, "250 2.0.0 ok")]
                assert await asyncio.gather(node_a.delete_messages(alice, [entry.id]),
                                            node_b.finish_attempt(claim.message.id, "EX02/1", sent)) == [1, True]
            assert await scalar(url, "SELECT count(*) FROM message_bodies") == 0
            assert await scalar(url, "SELECT count(*) FROM queue_recipients") == 0
        finally:
            await node_a.close()
            await node_b.close()
    run(body())


def test_bodies_are_stored_in_the_database_byte_exact(url, run):
    async def body():
        store = await opened(url)
        try:
            box = (await store.create_mailbox("alice@example.com", "Alice", "h")).id
            data = b"Subject: big\r\n\r\n" + bytes(range(256)).replace(b"\r", b"").replace(b"\n", b"") * 4096 + b"\r\n"
            info = await store.deliver(box, data)
            assert await store.read_message(box, info.id) == data
            assert await scalar(url, "SELECT sum(octet_length(data)) FROM message_bodies") == len(data)
        finally:
            await store.close()
    run(body())


def test_an_unreachable_server_is_unavailable_without_its_password(run):
    async def body():
        store = PostgresStore("postgresql://postroom:s3cret@127.0.0.1:9/postroom")
        with pytest.raises(Unavailable) as caught:
            await store.open()
        assert "s3cret" not in caught.value.message
        assert "127.0.0.1:9" in caught.value.message
    run(body())


def test_backup_of_a_postgresql_store_points_at_postgresql_tools(url, run):
    async def body():
        store = await opened(url)
        try:
            with pytest.raises(ValidationError, match="pg_dump"):
                await store.snapshot("/tmp/never-written.db")
        finally:
            await store.close()
    run(body())


def test_which_store_a_data_directory_uses(tmp_path, monkeypatch):
    monkeypatch.delenv("POSTROOM_STORE", raising=False)
    data = str(tmp_path)
    assert store_url(data) == "embedded"
    (tmp_path / "node.json").write_text('{"server": "A", "store": "postgresql://db.example/postroom"}')
    assert store_url(data) == "postgresql://db.example/postroom"
    assert isinstance(open_store(data), PostgresStore)
    monkeypatch.setenv("POSTROOM_STORE", "embedded")
    assert store_url(data) == "embedded"
    assert store_url(data, "postgres://other/db") == "postgres://other/db"
    with pytest.raises(ValidationError) as caught:
        store_url(data, "mysql://root:pw@db/x")
    assert caught.value.field == "store" and "pw" not in caught.value.message
    assert "embedded" in (caught.value.allowed or [])


@pytest.mark.parametrize("error", [asyncpg.exceptions.DataCorruptedError, asyncpg.exceptions.IndexCorruptedError])
def test_damage_reported_by_postgresql_is_corruption_not_a_passing_outage(error: type[Exception]) -> None:
    from postroom.errors import StoreCorrupted
    from postroom.storage.postgres.base import translate

    translated = translate(error("could not read block 7 in file \"base/16384/2619\""), "postgresql://u:pw@db/mail")
    assert isinstance(translated, StoreCorrupted)
    assert "postgresql://u:***@db/mail is corrupted" in translated.message and "pw" not in translated.message


# the feed of mailbox changes (postgres/changes.py) ----------------------------------------

class Heard(list):
    def __call__(self, ids) -> None:
        self.append(None if ids is None else frozenset(ids))

    def has(self, mailbox_id: int) -> bool:
        return any(ids is not None and mailbox_id in ids for ids in self)


def test_a_lost_listener_connection_listens_again_and_wakes_everything(url, run):
    async def body():
        node_a, node_b = await opened(url), await opened(url)
        try:
            box = (await node_a.create_mailbox("alice@example.com", "Alice", "h")).id
            heard = Heard()
            await node_a.watch_mailboxes(heard)
            # Node A's listener connection is cut (PostgreSQL restarted, the network): a
            # notification sent meanwhile is lost, so A reports None (look at everything) once it
            # listens again, and hears later changes. Only this schema's listeners: other test
            # workers listen on the same database.
            killed = await scalar(url, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                                       " WHERE application_name = 'postroom_changes_' || current_schema()")
            assert killed == 1
            await until(lambda: None in heard, 10, "the listener to connect again")
            await node_b.deliver(box, MESSAGE)
            await until(lambda: heard.has(box), 5, "a delivery after the reconnection to be heard")
        finally:
            await node_a.close()
            await node_b.close()
    run(body())


def test_a_write_is_notified_at_its_commit_and_never_when_it_fails(url, run):
    async def body():
        node_a, node_b = await opened(url), await opened(url)
        try:
            box = (await node_a.create_mailbox("alice@example.com", "Alice", "h")).id
            later = (await node_a.create_mailbox("bob@example.com", "Bob", "h")).id
            heard_a, heard_b = Heard(), Heard()
            await node_a.watch_mailboxes(heard_a)
            await node_b.watch_mailboxes(heard_b)
            with pytest.raises(NotFound):  # all or nothing: the notification too
                await node_a.deliver_message([box, box + later + 1000], MESSAGE)
            await node_a.deliver(later, MESSAGE)
            await until(lambda: heard_b.has(later), 5, "the later delivery to be heard")
            assert not heard_b.has(box)
            # A's own write was reported as it returned, and its notification passed over: once B's
            # write reaches A (notifications arrive in commit order), A has heard of `later` once.
            await node_b.deliver(box, MESSAGE)
            await until(lambda: heard_a.has(box), 5, "B's delivery to be heard by A")
            assert [ids for ids in heard_a if ids is not None and later in ids] == [{later}]
        finally:
            await node_a.close()
            await node_b.close()
    run(body())
