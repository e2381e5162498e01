"""The Store contract, mail: delivering, listing, reading and deleting messages, the POP3
mailbox lock and moving messages between stores (MailStore and DeliveryStore). Every backend
must pass it, through the Store protocol only."""
from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from postroom.errors import Conflict, NotFound, ValidationError
from postroom.model import MessageInfo

from waiting import until

from .test_store_contract import EIGHT_BIT, MESSAGE, is_utc_iso, mailbox, wire

pytestmark = [pytest.mark.store_mail, pytest.mark.store_delivery]


# messages -----------------------------------------------------------------------------------

def test_deliver_round_trips_exact_octets(store, run):
    async def body():
        box = await mailbox(store)
        infos = [await store.deliver(box, data) for data in (MESSAGE, EIGHT_BIT, b"\r\n")]
        assert [i.size for i in infos] == [len(MESSAGE), len(EIGHT_BIT), 2]
        assert all(is_utc_iso(i.received_at) for i in infos)
        for info, data in zip(infos, (MESSAGE, EIGHT_BIT, b"\r\n")):
            assert await store.read_message(box, info.id) == data
        assert await store.list_messages(box) == infos
        assert await store.mailbox_usage(box) == (3, len(MESSAGE) + len(EIGHT_BIT) + 2)
        uidls = [i.uidl for i in infos]
        assert len(set(uidls)) == 3
        for uidl in uidls:
            assert 1 <= len(uidl) <= 70 and all(0x21 <= ord(c) <= 0x7E for c in uidl)
    run(body())


def test_deliver_ten_megabytes(store, run):
    async def body():
        box = await mailbox(store)
        line = bytes(b for b in range(256) if b not in (10, 13)) * 3  # 762 octets, 8-bit
        big = wire(b"Subject: big", b"", *([line] * 13_200))
        assert len(big) > 10_000_000
        info = await store.deliver(box, big)
        assert info.size == len(big)
        assert await store.read_message(box, info.id) == big
        assert await store.mailbox_usage(box) == (1, len(big))
    run(body())


@pytest.mark.parametrize("bad", [b"", b"no line end", b"bare LF\n", b"ends with CR\r", b"x\r\n\r"])
def test_deliver_refuses_data_not_in_wire_form(store, run, bad):
    async def body():
        box = await mailbox(store)
        with pytest.raises(ValidationError) as caught:
            await store.deliver(box, bad)
        assert caught.value.field == "message"
        with pytest.raises(ValidationError):
            await store.deliver_many(box, [MESSAGE, bad])
        assert await store.list_messages(box) == []
    run(body())


def test_deliver_to_missing_mailbox(store, run):
    async def body():
        box = await mailbox(store)
        with pytest.raises(NotFound):
            await store.deliver(box + 1000, MESSAGE)
        with pytest.raises(NotFound):
            await store.deliver_many(box + 1000, [MESSAGE])
        assert await store.mailbox_usage(box + 1000) == (0, 0)
    run(body())


def test_deliver_many_is_ordered(store, run):
    async def body():
        box = await mailbox(store)
        bodies = [wire(f"Subject: {n}".encode(), b"", b"x" * n) for n in range(20)]
        infos = await store.deliver_many(box, bodies)
        assert [i.size for i in infos] == [len(b) for b in bodies]
        assert [i.id for i in infos] == sorted(i.id for i in infos)
        assert await store.list_messages(box) == infos
        assert [await store.read_message(box, i.id) for i in infos] == bodies
        assert await store.deliver_many(box, []) == []
    run(body())


def test_concurrent_deliveries_are_all_durable(make_store, run):
    async def body():
        store = make_store()
        await store.open()
        await store.migrate()
        box = await mailbox(store)
        bodies = [wire(f"Message-ID: <{n}@example.net>".encode(), b"", bytes([n]) * 1000) for n in range(50)]
        infos = await asyncio.gather(*[store.deliver(box, data) for data in bodies])
        assert len({i.id for i in infos}) == 50 and len({i.uidl for i in infos}) == 50
        await store.close()

        store = make_store()
        await store.open()
        try:
            listed = await store.list_messages(box)
            assert sorted(listed, key=lambda i: i.id) == listed
            assert {i.id: i for i in listed} == {i.id: i for i in infos}
            for info, data in zip(infos, bodies):
                assert await store.read_message(box, info.id) == data
        finally:
            await store.close()
    run(body())


def test_a_failing_delivery_fails_alone(store, run):
    async def body():
        box = await mailbox(store)
        missing = box + 1000
        targets = [box if n % 3 else missing for n in range(30)]
        results = await asyncio.gather(*[store.deliver(t, MESSAGE) for t in targets], return_exceptions=True)
        for target, result in zip(targets, results):
            if target == missing:
                assert isinstance(result, NotFound)
            else:
                assert isinstance(result, MessageInfo)
        good = [r for r in results if isinstance(r, MessageInfo)]
        assert len(good) == 20
        assert await store.list_messages(box) == sorted(good, key=lambda i: i.id)
    run(body())


def test_uidls_are_stable_across_reopen(make_store, run):
    async def body():
        store = make_store()
        await store.open()
        await store.migrate()
        box = await mailbox(store)
        first = await store.deliver_many(box, [MESSAGE, EIGHT_BIT, MESSAGE])
        await store.close()
        for _ in range(2):
            store = make_store()
            await store.open()
            try:
                assert await store.list_messages(box) == first
            finally:
                await store.close()
    run(body())


def test_list_messages_oldest_first_and_ids_never_reused(store, run):
    async def body():
        box = await mailbox(store)
        infos = [await store.deliver(box, wire(str(n).encode())) for n in range(5)]
        assert await store.list_messages(box) == infos
        assert await store.delete_messages(box, [infos[-1].id]) == 1
        newer = await store.deliver(box, MESSAGE)
        assert newer.id > infos[-1].id and newer.uidl not in {i.uidl for i in infos}
        assert await store.list_messages(box) == infos[:-1] + [newer]
    run(body())


def test_delete_messages(store, run):
    async def body():
        alice = await mailbox(store)
        bob = await mailbox(store, "bob@example.com", "Bob")
        mine = [await store.deliver(alice, wire(str(n).encode())) for n in range(4)]
        theirs = await store.deliver(bob, MESSAGE)
        removed = await store.delete_messages(alice, [mine[0].id, mine[2].id, theirs.id, 999_999, mine[0].id])
        assert removed == 2
        assert await store.list_messages(alice) == [mine[1], mine[3]]
        assert await store.list_messages(bob) == [theirs]
        assert await store.read_message(bob, theirs.id) == MESSAGE
        with pytest.raises(NotFound):
            await store.read_message(alice, mine[0].id)
        with pytest.raises(NotFound):
            await store.read_message(alice, theirs.id)  # exists, but in another mailbox
        assert await store.delete_messages(alice, []) == 0
        assert await store.delete_messages(alice, [mine[0].id]) == 0
        assert await store.mailbox_usage(alice) == (2, mine[1].size + mine[3].size)
    run(body())


def test_delete_messages_is_durable(make_store, run):
    async def body():
        store = make_store()
        await store.open()
        await store.migrate()
        box = await mailbox(store)
        infos = await store.deliver_many(box, [wire(str(n).encode()) for n in range(600)])
        assert await store.delete_messages(box, [i.id for i in infos[:550]]) == 550
        await store.close()
        store = make_store()
        await store.open()
        try:
            assert await store.list_messages(box) == infos[550:]
        finally:
            await store.close()
    run(body())


lines = st.lists(st.binary(max_size=200).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")), max_size=30)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines)
def test_any_wire_message_round_trips(store, run, message_lines):
    data = wire(*message_lines) or b"\r\n"

    async def body():
        box = (await store.find_mailbox("h@example.com") or await store.create_mailbox("h@example.com", "", None)).id
        info = await store.deliver(box, data)
        assert info.size == len(data)
        assert await store.read_message(box, info.id) == data
    run(body())


# POP3 mailbox lock --------------------------------------------------------------------------

def test_mailbox_lock_is_exclusive(store, run):
    async def body():
        alice = await mailbox(store)
        bob = await mailbox(store, "bob@example.com", "Bob")
        assert await store.try_lock_mailbox(alice, "session-1") is True
        assert await store.try_lock_mailbox(alice, "session-2") is False
        assert await store.try_lock_mailbox(bob, "session-2") is True
        await store.unlock_mailbox(alice, "session-2")  # not the holder: no effect
        assert await store.try_lock_mailbox(alice, "session-3") is False
        await store.unlock_mailbox(alice, "session-1")
        assert await store.try_lock_mailbox(alice, "session-3") is True
        assert await store.try_lock_mailbox(alice, "session-1") is False
        await store.unlock_mailbox(alice, "session-3")
        await store.unlock_mailbox(bob, "session-2")
        winners = await asyncio.gather(*[store.try_lock_mailbox(alice, f"s{n}") for n in range(20)])
        assert winners.count(True) == 1
    run(body())


def test_a_lock_held_through_one_store_is_refused_through_another(make_store, run):
    """Another process on the same data (the CLI deleting a message while the node's POP3
    session holds the mailbox) sees the lock; it goes when its holder unlocks or closes."""
    async def body():
        node, other = make_store(), make_store()
        await node.open()
        try:
            await node.migrate()
            await other.open()
            alice = await mailbox(node)
            assert await node.try_lock_mailbox(alice, "pop3-session") is True
            assert await other.try_lock_mailbox(alice, "admin") is False
            await node.unlock_mailbox(alice, "pop3-session")
            assert await other.try_lock_mailbox(alice, "admin") is True
            assert await node.try_lock_mailbox(alice, "pop3-session") is False
            await other.close()  # a process that ends lets go of its locks
            await until(lambda: node.try_lock_mailbox(alice, "pop3-session"), what="the closed store's lock to go")
        finally:
            await other.close()  # closing twice is harmless
            await node.close()
    run(body())


# reading a message's start (a listing reads headers, not bodies) -----------------------------

def test_read_message_reads_at_most_size_octets(store, run):
    async def body():
        box = await mailbox(store)
        info = await store.deliver(box, MESSAGE)
        assert await store.read_message(box, info.id, 10) == MESSAGE[:10]
        assert await store.read_message(box, info.id, len(MESSAGE) + 100) == MESSAGE
        assert await store.read_message(box, info.id, 0) == b""
        with pytest.raises(NotFound):
            await store.read_message(box, info.id + 1, 10)
        other = await mailbox(store, "bob@example.com", "Bob")
        with pytest.raises(NotFound):  # another mailbox's message is not this mailbox's
            await store.read_message(other, info.id, 10)
        with pytest.raises(ValidationError):
            await store.read_message(box, info.id, -1)
    run(body())


# moving a store: messages keep their UIDL and arrival time ----------------------------------

def test_restored_messages_keep_uidl_and_arrival(store, run):
    async def body():
        alice = await mailbox(store)
        delivered = await store.deliver(alice, MESSAGE)
        moved = [(MessageInfo(99, "0123456789abcdef", 1, "2024-05-01T12:00:00Z"), EIGHT_BIT),
                 (MessageInfo(98, "uidl-two", 1, "2024-05-02T08:30:00+02:00"), MESSAGE)]
        infos = await store.restore_messages(alice, moved)
        assert [(i.uidl, i.size, i.received_at) for i in infos] == [
            ("0123456789abcdef", len(EIGHT_BIT), "2024-05-01T12:00:00.000000+00:00"),
            ("uidl-two", len(MESSAGE), "2024-05-02T06:30:00.000000+00:00")]
        assert delivered.id not in {i.id for i in infos} and len({i.id for i in infos}) == 2
        assert await store.list_messages(alice) == [delivered, *infos]
        assert await store.read_message(alice, infos[0].id) == EIGHT_BIT
        assert await store.restore_messages(alice, []) == []
    run(body())


def test_restoring_is_all_or_nothing(store, run):
    async def body():
        alice = await mailbox(store)
        first = await store.restore_messages(alice, [(MessageInfo(1, "same", 1, "2024-05-01T12:00:00Z"), MESSAGE)])
        with pytest.raises(Conflict):
            await store.restore_messages(alice, [(MessageInfo(2, "other", 1, "2024-05-01T12:00:00Z"), MESSAGE),
                                                 (MessageInfo(3, "same", 1, "2024-05-01T12:00:00Z"), MESSAGE)])
        with pytest.raises(NotFound):
            await store.restore_messages(alice + 1000, [(MessageInfo(4, "x", 1, "2024-05-01T12:00:00Z"), MESSAGE)])
        with pytest.raises(ValidationError):
            await store.restore_messages(alice, [(MessageInfo(5, "y", 1, "2024-05-01T12:00:00Z"), b"no crlf")])
        with pytest.raises(ValidationError):
            await store.restore_messages(alice, [(MessageInfo(6, "z", 1, "yesterday"), MESSAGE)])
        assert await store.list_messages(alice) == first
    run(body())
