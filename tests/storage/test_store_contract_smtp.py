"""The Store contract, SMTP side: receive connectors, multi-recipient delivery, message
tracking. Runs once per backend (fixtures in conftest.py), through the Store protocol only."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from postroom.errors import Conflict, NotFound, Unavailable, ValidationError
from postroom.model import (
    MessageInfo, PopSettings, ReceiveConnector, Server, TrackingEvent, TrackingEventId, default_connectors,
)
from postroom.storage import SpooledBody

from .test_store_contract import EIGHT_BIT, MESSAGE, SERVER, is_utc_iso, mailbox, services_for, wire

pytestmark = [pytest.mark.store_config, pytest.mark.store_delivery, pytest.mark.store_evidence]

OTHER = Server("EX02", "ex02.example.com")


def client(server: str = "EX01", name: str | None = None) -> ReceiveConnector:
    """A connector with most properties away from their defaults."""
    return ReceiveConnector(name or f"Client {server}", server).with_changes(
        bindings="127.0.0.1:2587,[::1]:2587", remote_ip_ranges="10.0.0.0/8,192.168.1.1-192.168.1.9,2001:db8::/32",
        auth="tls,basic,basic-require-tls", permission_groups="users", require_tls=True,
        max_message_size="10MB", max_recipients_per_message=50, max_inbound_connections=100,
        max_inbound_connections_per_source=5, connection_timeout="5m", connection_inactivity_timeout=60,
        banner="220 Client submission", fqdn="mail.example.com", protocol_log=True,
    )


async def two_servers(store) -> None:
    await store.add_server(SERVER, services_for("EX01"), PopSettings())
    await store.add_server(OTHER, services_for("EX02"), PopSettings())


def receive(recipient: str, *, event_id: Any = TrackingEventId.RECEIVE, sender: str = "Bob@Example.NET",
            queue_id: str = "Q1", message_id: str = "<m1@example.net>", size: int = 100,
            status: str = "250 2.1.5") -> TrackingEvent:
    """A tracking row as the SMTP side writes it (event_id may be a bad value on purpose)."""
    return TrackingEvent(event_id, "EX01", "SMTP", queue_id, message_id, sender, recipient, status,
                         size, "192.0.2.7", "Default EX01")


def same_row(stored: TrackingEvent, sent: TrackingEvent) -> bool:
    """Equal but for `at` and `id`, which the store sets."""
    return stored.to_dict() | {"at": "", "id": 0} == sent.to_dict()


# receive connectors -------------------------------------------------------------------------

def test_connector_round_trip_get_put_remove(store, run):
    async def body():
        await store.add_server(SERVER, services_for("EX01"), PopSettings())
        assert await store.list_connectors("EX01") == []
        connector = client()
        await store.add_connector(connector)
        loaded = await store.get_connector("EX01", "Client EX01")
        assert loaded == connector
        assert isinstance(loaded.bindings, tuple) and isinstance(loaded.auth, tuple)
        assert await store.get_connector("EX01", "CLIENT ex01") == connector  # names compare in any case
        assert await store.list_connectors("EX01") == [connector]

        changed = connector.with_changes(enabled=False, max_message_size="20MB", banner=None, require_tls=False)
        await store.put_connector(changed)
        assert await store.get_connector("EX01", "Client EX01") == changed
        other_case = ReceiveConnector("client ex01", "EX01").with_changes(max_recipients_per_message=7)
        await store.put_connector(other_case)
        kept = await store.get_connector("EX01", "Client EX01")
        assert kept.name == "Client EX01", "put_connector keeps the stored name"
        assert kept.max_recipients_per_message == 7 and kept.enabled is True

        await store.remove_connector("EX01", "CLIENT EX01")
        assert await store.list_connectors("EX01") == []
        with pytest.raises(NotFound):
            await store.get_connector("EX01", "Client EX01")
    run(body())


def test_connector_refusals(store, run):
    async def body():
        await store.add_server(SERVER, services_for("EX01"), PopSettings())
        await store.add_connector(client())
        with pytest.raises(Conflict, match="'Client EX01' already exists on server EX01"):
            await store.add_connector(client())
        with pytest.raises(Conflict, match="'Client EX01' already exists on server EX01"):
            await store.add_connector(client(name="client ex01"))
        with pytest.raises(NotFound, match="NOPE"):
            await store.add_connector(client("NOPE"))
        with pytest.raises(NotFound, match="Missing"):
            await store.get_connector("EX01", "Missing")
        with pytest.raises(NotFound):
            await store.get_connector("NOPE", "Client EX01")
        with pytest.raises(NotFound, match="Missing"):
            await store.put_connector(client(name="Missing"))
        with pytest.raises(NotFound):
            await store.put_connector(client("NOPE", name="Client EX01"))
        with pytest.raises(NotFound, match="Missing"):
            await store.remove_connector("EX01", "Missing")
        with pytest.raises(NotFound):
            await store.list_connectors("NOPE")
        assert await store.list_connectors() == [client()]
    run(body())


def test_connector_names_are_unique_per_server(store, run):
    async def body():
        await two_servers(store)
        for server in ("EX02", "EX01"):
            for name in ("Relay", "default", "Client"):
                await store.add_connector(client(server, name))
        assert [c.name for c in await store.list_connectors("EX01")] == ["Client", "default", "Relay"]
        assert [(c.server, c.name) for c in await store.list_connectors()] == [
            ("EX01", "Client"), ("EX01", "default"), ("EX01", "Relay"),
            ("EX02", "Client"), ("EX02", "default"), ("EX02", "Relay"),
        ]
        await store.put_connector(client("EX02", "Relay").with_changes(enabled=False))
        assert (await store.get_connector("EX01", "Relay")).enabled is True
        assert (await store.get_connector("EX02", "Relay")).enabled is False
        await store.remove_connector("EX01", "Relay")
        assert await store.get_connector("EX02", "Relay") == client("EX02", "Relay").with_changes(enabled=False)
        assert [c.name for c in await store.list_connectors("EX01")] == ["Client", "default"]
    run(body())


def test_connector_writes_bump_config_version(store, run):
    async def body():
        await store.add_server(SERVER, services_for("EX01"), PopSettings())
        seen = [await store.config_version()]

        async def bumped() -> None:
            now = await store.config_version()
            assert now > seen[-1], "a connector write must increase config_version"
            seen.append(now)

        await store.add_connector(client())

        await bumped()
        await store.put_connector(client().with_changes(enabled=False))
        await bumped()
        await store.remove_connector("EX01", "Client EX01")
        await bumped()
        await store.add_server(OTHER, services_for("EX02"), PopSettings(), default_connectors("EX02"))
        await bumped()

        before = await store.config_version()
        for failing in (store.add_connector(client("EX02", "Default EX02")), store.add_connector(client("NOPE")),
                        store.put_connector(client(name="Missing")), store.remove_connector("EX01", "Missing")):
            with pytest.raises((Conflict, NotFound)):
                await failing
        await store.get_connector("EX02", "Client EX02")
        await store.list_connectors()
        assert await store.config_version() == before
    run(body())


def test_add_server_with_connectors(store, run):
    async def body():
        connectors = default_connectors("EX01", dev=True)
        await store.add_server(SERVER, services_for("EX01"), PopSettings(), connectors)
        assert await store.list_connectors("EX01") == sorted(connectors, key=lambda c: c.name.lower())
        for connector in connectors:
            assert await store.get_connector("EX01", connector.name) == connector
        with pytest.raises(Conflict, match="EX01"):
            await store.add_server(SERVER, services_for("EX01"), PopSettings(), [client()])
        assert len(await store.list_connectors("EX01")) == 2

        # refused whole: nothing of the server is stored
        with pytest.raises(ValidationError) as caught:
            await store.add_server(OTHER, services_for("EX02"), PopSettings(), [client("EX01")])
        assert caught.value.field == "connectors"
        with pytest.raises(ValidationError) as caught:
            await store.add_server(OTHER, services_for("EX02"), PopSettings(),
                                   [client("EX02", "Relay"), client("EX02", "RELAY")])
        assert caught.value.field == "connectors"
        with pytest.raises(NotFound):
            await store.get_server("EX02")
        assert await store.list_servers() == [SERVER]
        assert [c.server for c in await store.list_connectors()] == ["EX01", "EX01"]
    run(body())


def test_connectors_persist_across_reopen(make_store, run):
    async def body():
        store = make_store()
        await store.open()
        await store.migrate()
        await store.add_server(SERVER, services_for("EX01"), PopSettings(), default_connectors("EX01"))
        await store.add_connector(client(name="Relay"))
        listed = await store.list_connectors()
        await store.close()
        store = make_store()
        await store.open()
        try:
            assert await store.list_connectors() == listed
            assert [c.name for c in listed] == ["Client EX01", "Default EX01", "Relay"]
            assert await store.get_connector("EX01", "Relay") == client(name="Relay")
        finally:
            await store.close()
    run(body())


# multi-recipient delivery -------------------------------------------------------------------

def test_deliver_message_to_three_mailboxes(store, run):
    async def body():
        alice = await mailbox(store)
        bob = await mailbox(store, "bob@example.com", "Bob")
        carol = await mailbox(store, "carol@example.com", "Carol")
        earlier = await store.deliver(bob, MESSAGE)
        infos = await store.deliver_message([carol, alice, bob], EIGHT_BIT)
        assert len(infos) == 3 and all(isinstance(i, MessageInfo) for i in infos)
        assert len({i.id for i in infos}) == 3 and len({i.uidl for i in infos}) == 3
        assert [i.id for i in infos] == sorted(i.id for i in infos), "entries are made in the given order"
        assert earlier.uidl not in {i.uidl for i in infos}
        assert all(i.size == len(EIGHT_BIT) and is_utc_iso(i.received_at) for i in infos)
        for box, info in zip((carol, alice, bob), infos):
            assert await store.read_message(box, info.id) == EIGHT_BIT
        assert await store.list_messages(carol) == [infos[0]]
        assert await store.list_messages(alice) == [infos[1]]
        assert await store.list_messages(bob) == [earlier, infos[2]]
        with pytest.raises(NotFound):
            await store.read_message(alice, infos[0].id)  # carol's entry, not alice's

        assert await store.delete_messages(alice, [infos[1].id]) == 1
        assert await store.read_message(carol, infos[0].id) == EIGHT_BIT
        assert await store.read_message(bob, infos[2].id) == EIGHT_BIT
        await store.remove_mailbox("carol@example.com")
        assert await store.read_message(bob, infos[2].id) == EIGHT_BIT
        assert await store.mailbox_usage(bob) == (2, len(MESSAGE) + len(EIGHT_BIT))
        assert await store.delete_messages(bob, [earlier.id, infos[2].id]) == 2
        assert await store.list_messages(bob) == []
        with pytest.raises(NotFound):
            await store.read_message(bob, infos[2].id)
    run(body())


def test_deliver_message_to_a_removed_mailbox_stores_nothing(store, run):
    async def body():
        alice = await mailbox(store)
        gone = await mailbox(store, "gone@example.com", "Gone")
        bob = await mailbox(store, "bob@example.com", "Bob")
        await store.remove_mailbox("gone@example.com")
        events = [receive("alice@example.com"), receive("bob@example.com")]
        with pytest.raises(NotFound):
            await store.deliver_message([alice, gone, bob], MESSAGE, events)
        assert await store.list_messages(alice) == [] and await store.list_messages(bob) == []
        assert await store.list_tracking() == []
        infos = await store.deliver_message([alice, bob], MESSAGE, events)
        assert [await store.list_messages(b) for b in (alice, bob)] == [[infos[0]], [infos[1]]]
        assert len(await store.list_tracking()) == 2
    run(body())


def test_deliver_message_refusals(store, run):
    async def body():
        box = await mailbox(store)
        for bad in (b"", b"no line end", b"bare LF\n"):
            with pytest.raises(ValidationError) as caught:
                await store.deliver_message([box], bad)
            assert caught.value.field == "message"
        with pytest.raises(ValidationError):
            await store.deliver_message([], MESSAGE)
        with pytest.raises(ValidationError):
            await store.deliver_message([str(box)], MESSAGE)
        with pytest.raises(ValidationError):
            await store.deliver_message([box], MESSAGE, [receive("a@example.com", event_id="BOUNCE")])
        with pytest.raises(ValidationError):
            await store.deliver_message([box], MESSAGE, [receive("a@example.com", size=-1)])
        assert await store.list_messages(box) == []
        assert await store.list_tracking() == []
    run(body())


@pytest.mark.parametrize("size", [100, 20_000, 1 << 20])  # one bound value, and written in place
def test_deliver_message_stores_the_head_then_the_data(store, run, size):
    # SMTP passes its trace headers apart and the content as a view of its receive buffer.
    head = b"Received: from client.example ([192.0.2.1])\r\n\tby mx (postroom); Fri, 27 Nov 2026\r\n"
    content = (b"Subject: x\r\n\r\n" + b"\xff\x00 line \r\n" * size)[: size - 2] + b"\r\n"
    buffer = bytearray(b"junk before" + content + b"junk after")

    async def body():
        alice = await mailbox(store)
        bob = await mailbox(store, "bob@example.com", "Bob")
        view = memoryview(buffer).toreadonly()[11:11 + len(content)]
        infos = await store.deliver_message([alice, bob], view, head=head)
        assert [i.size for i in infos] == [len(head) + len(content)] * 2
        for box, info in zip((alice, bob), infos):
            assert await store.read_message(box, info.id) == head + content
        assert await store.mailbox_usage(alice) == (1, len(head) + len(content))
        only_head = await store.deliver_message([alice], b"", head=head)  # an empty message gets its headers
        assert await store.read_message(alice, only_head[0].id) == head
    run(body())


@pytest.mark.parametrize("spooled_size", [1, 3 << 20])  # from an octet to several read pieces
def test_deliver_message_from_a_spooled_file(store, run, tmp_path, spooled_size):
    # A big SMTP message: its start in a spool file, the rest (ending in CRLF) in memory.
    head = b"Received: from client.example ([192.0.2.1])\r\n"
    start = bytes(range(256)) * (spooled_size // 256 + 1)
    start = start[:spooled_size]
    path = tmp_path / "spooled.msg"
    path.write_bytes(start + b"octets after the size are not part of it")
    rest = b"\nlast line\r\n"

    async def body():
        alice = await mailbox(store)
        bob = await mailbox(store, "bob@example.com", "Bob")
        spooled = SpooledBody(str(path), spooled_size)
        infos = await store.deliver_message([alice, bob], memoryview(rest), [receive("alice@example.com")],
                                            head=head, spooled=spooled)
        whole = head + start + rest
        assert [i.size for i in infos] == [len(whole)] * 2
        for box, info in zip((alice, bob), infos):
            assert await store.read_message(box, info.id) == whole
        assert [row.queue_id for row in await store.list_tracking()] == ["Q1"]
        assert path.exists()  # the caller's file: the store only read it
    run(body())


def test_deliver_message_from_a_spooled_file_that_cannot_be_read(store, run, tmp_path):
    path = tmp_path / "short.msg"
    path.write_bytes(b"x" * 100)

    async def body():
        box = await mailbox(store)
        for spooled in (SpooledBody(str(path), 101), SpooledBody(str(tmp_path / "missing.msg"), 10)):
            with pytest.raises(Unavailable):
                await store.deliver_message([box], b"end\r\n", [receive("alice@example.com")], spooled=spooled)
        for bad in (SpooledBody(str(path), -1), (str(path), 10), SpooledBody(str(path), True)):
            with pytest.raises(ValidationError) as caught:
                await store.deliver_message([box], b"end\r\n", spooled=bad)
            assert caught.value.field == "spooled"
        assert await store.list_messages(box) == [] and await store.list_tracking() == []
    run(body())


def test_deliver_message_refuses_a_head_not_in_wire_form(store, run):
    async def body():
        box = await mailbox(store)
        for bad in (b"Received: no line end", "Received: text\r\n"):
            with pytest.raises(ValidationError) as caught:
                await store.deliver_message([box], MESSAGE, head=bad)
            assert caught.value.field == "head"
        with pytest.raises(ValidationError) as caught:
            await store.deliver_message([box], b"", head=b"")
        assert caught.value.field == "message"
        assert await store.list_messages(box) == []
    run(body())


def test_concurrent_multi_recipient_deliveries(store, run):
    async def body():
        boxes = [await mailbox(store, f"user{n}@example.com", f"User {n}") for n in range(4)]
        bodies = [wire(f"Message-ID: <{n}@example.net>".encode(), b"", bytes([65 + n]) * 500) for n in range(20)]
        results = await asyncio.gather(*[
            store.deliver_message(boxes[n % 2:], data, [receive("user0@example.com", queue_id=f"q{n}")])
            for n, data in enumerate(bodies)
        ])
        for n, (data, infos) in enumerate(zip(bodies, results)):
            for box, info in zip(boxes[n % 2:], infos):
                assert await store.read_message(box, info.id) == data
        assert len(await store.list_messages(boxes[0])) == 10
        assert len(await store.list_messages(boxes[3])) == 20
        assert sorted(e.queue_id for e in await store.list_tracking()) == sorted(f"q{n}" for n in range(20))
    run(body())


# message tracking ---------------------------------------------------------------------------

def test_tracking_rows_go_with_the_delivery(store, run):
    async def body():
        alice = await mailbox(store)
        bob = await mailbox(store, "bob@example.com", "Bob")
        sent = [receive("alice@example.com"), receive("bob@example.com"),
                TrackingEvent(TrackingEventId.DELIVER, "EX01", "STOREDRIVER", "Q1", "<m1@example.net>",
                              "Bob@Example.NET", "alice@example.com", "", len(MESSAGE))]
        await store.deliver_message([alice, bob], MESSAGE, sent)
        rows = await store.list_tracking()
        assert len(rows) == 3 and all(same_row(r, s) for r, s in zip(rows, sent))
        assert rows[2].event_id is TrackingEventId.DELIVER
        assert all(is_utc_iso(r.at) for r in rows)
        assert [r.id for r in rows] == sorted({r.id for r in rows}) and rows[0].id > 0

        fail = receive("nobody@example.com", event_id=TrackingEventId.FAIL, status="550 5.1.1 unknown mailbox",
                       queue_id="Q2", size=0)
        await store.append_tracking([fail])
        await store.append_tracking([])
        rows = await store.list_tracking()
        assert len(rows) == 4 and same_row(rows[3], fail) and rows[3].at >= rows[2].at
        with pytest.raises(ValidationError):
            await store.append_tracking([fail, receive("x@example.com", event_id="nope")])
        assert len(await store.list_tracking()) == 4
        await store.remove_mailbox("alice@example.com")
        assert len(await store.list_tracking()) == 4, "the log outlives mailboxes"
    run(body())


def test_tracking_filters(store, run):
    async def body():
        await store.append_tracking([
            receive("alice@example.com"),
            receive("bob@example.com"),
            receive("alice@example.com", sender="carol@example.org", queue_id="Q2", message_id="<m2@example.org>"),
            receive("Alice@Example.com", event_id=TrackingEventId.FAIL, queue_id="Q3", sender="",
                    message_id="", status="550 5.7.1 relay denied"),
            receive("bob@example.com", event_id=TrackingEventId.DELIVER, queue_id="Q2"),
        ])
        rows = await store.list_tracking()
        assert len(rows) == 5

        async def picked(**filters) -> list[int]:
            return [rows.index(r) for r in await store.list_tracking(**filters)]

        assert await picked(sender="bob@example.net") == [0, 1, 4]
        assert await picked(sender="BOB@EXAMPLE.NET") == [0, 1, 4]
        assert await picked(sender="bob@example") == []  # exact, not a substring
        assert await picked(sender="") == [3]  # the null sender
        assert await picked(recipient="ALICE@example.com") == [0, 2, 3]
        assert await picked(recipient="alice") == []
        assert await picked(message_id="<m2@example.org>") == [2]
        assert await picked(message_id="") == [3]
        assert await picked(queue_id="Q2") == [2, 4]
        assert await picked(queue_id="q2") == []
        assert await picked(event_id=TrackingEventId.FAIL) == [3]
        assert await picked(event_id="DELIVER") == [4]
        assert await picked(event_id="receive") == [0, 1, 2]
        assert await picked(queue_id="Q2", recipient="bob@example.com") == [4]
        assert await picked(sender="bob@example.net", event_id="RECEIVE", recipient="alice@example.com") == [0]
        with pytest.raises(ValidationError) as caught:
            await store.list_tracking(event_id="BOUNCE")
        assert caught.value.field == "event_id"
    run(body())


def test_tracking_limit_keeps_the_newest_oldest_first(store, run):
    async def body():
        await store.append_tracking([receive(f"u{n}@example.com", queue_id=f"Q{n}") for n in range(30)])
        everything = await store.list_tracking()
        assert [r.queue_id for r in everything] == [f"Q{n}" for n in range(30)]
        assert await store.list_tracking(limit=5) == everything[-5:]
        assert await store.list_tracking(limit=30) == everything
        assert await store.list_tracking(limit=100) == everything
        assert await store.list_tracking(limit=0) == []
        await store.append_tracking([receive("u1@example.com", queue_id="Q99")])
        latest = await store.list_tracking(recipient="u1@example.com", limit=1)
        assert [r.queue_id for r in latest] == ["Q99"]
        assert await store.list_tracking(limit=1000) == everything + latest
        for bad in (-1, 1.5, "10", True, None):
            with pytest.raises(ValidationError) as caught:
                await store.list_tracking(limit=bad)
            assert caught.value.field == "limit"
    run(body())


def test_tracking_since(store, run):
    async def body():
        # 2 ms between the batches: the clock must move for the rows to get distinct times
        await store.append_tracking([receive("a@example.com", queue_id="Q1")])
        await asyncio.sleep(0.002)  # the clock must move
        await store.append_tracking([receive("b@example.com", queue_id="Q2"), receive("c@example.com", queue_id="Q2")])
        await asyncio.sleep(0.002)  # the clock must move
        await store.append_tracking([receive("d@example.com", queue_id="Q3")])
        rows = await store.list_tracking()
        second = datetime.fromisoformat(rows[1].at)
        assert rows[0].at < rows[1].at == rows[2].at < rows[3].at

        async def queues(since) -> list[str]:
            return [r.queue_id for r in await store.list_tracking(since=since)]

        assert await queues(rows[1].at) == ["Q2", "Q2", "Q3"]  # at or after
        assert await queues(second.astimezone(timezone(timedelta(hours=2))).isoformat()) == ["Q2", "Q2", "Q3"]
        assert await queues(second.strftime("%Y-%m-%dT%H:%M:%S.%fZ")) == ["Q2", "Q2", "Q3"]
        assert await queues(second.replace(tzinfo=None).isoformat()) == ["Q2", "Q2", "Q3"]  # no offset: UTC
        assert await queues((second + timedelta(microseconds=1)).isoformat()) == ["Q3"]
        assert await queues("2000-01-01") == ["Q1", "Q2", "Q2", "Q3"]
        assert await queues((datetime.now(timezone.utc) + timedelta(days=1)).isoformat()) == []
        assert [r.queue_id for r in await store.list_tracking(since=rows[0].at, limit=2)] == ["Q2", "Q3"]
        assert [r.recipient for r in await store.list_tracking(since=rows[1].at, queue_id="Q2")] == [
            "b@example.com", "c@example.com"]
        for bad in ("yesterday", "2024-13-01", ""):
            with pytest.raises(ValidationError) as caught:
                await store.list_tracking(since=bad)
            assert caught.value.field == "since"
    run(body())


def test_remove_tracking_before_a_time_oldest_first_a_batch_at_a_time(store, run):
    async def body():
        for queue in ("Q1", "Q2", "Q3"):
            await store.append_tracking([receive("a@example.com", queue_id=queue)])
            await asyncio.sleep(0.002)  # the clock must move: each row gets a time of its own
        rows = await store.list_tracking()
        before = await store.config_version()
        assert await store.remove_tracking(rows[0].at) == 0  # older than, not at
        assert await store.remove_tracking(rows[2].at, limit=1) == 1  # the oldest goes first
        assert [r.queue_id for r in await store.list_tracking()] == ["Q2", "Q3"]
        await store.append_tracking([receive("b@example.com", queue_id="Q4")])  # maybe still waiting for its batch
        tomorrow = (datetime.now(timezone.utc) + timedelta(days=1)).isoformat()
        assert await store.remove_tracking(tomorrow, limit=2) == 2
        assert [r.queue_id for r in await store.list_tracking()] == ["Q4"]
        assert await store.remove_tracking(tomorrow) == 1
        assert await store.list_tracking() == []
        assert await store.config_version() == before  # a log, not configuration
        for kwargs, field in (({"before": "yesterday"}, "before"), ({"before": tomorrow, "limit": -1}, "limit"),
                              ({"before": tomorrow, "limit": "9"}, "limit")):
            with pytest.raises(ValidationError) as caught:
                await store.remove_tracking(**kwargs)
            assert caught.value.field == field
    run(body())


def test_mail_and_tracking_leave_config_version_alone(store, run):
    async def body():
        box = await mailbox(store)
        before = await store.config_version()
        infos = await store.deliver_message([box], MESSAGE, [receive("alice@example.com")])
        await store.append_tracking([receive("x@example.com", event_id=TrackingEventId.FAIL)])
        await store.delete_messages(box, [infos[0].id])
        await store.list_tracking()
        assert await store.config_version() == before
    run(body())


def test_tracking_persists_across_reopen(make_store, run):
    """Rows read before closing and rows never read (whatever a backend still held for its
    log is written by close) are there after reopening; a refused delivery leaves none."""
    async def body():
        store = make_store()
        await store.open()
        await store.migrate()
        box = await mailbox(store)
        with pytest.raises(NotFound):
            await store.deliver_message([box, box + 1000], MESSAGE, [receive("alice@example.com", queue_id="QX")])
        await store.deliver_message([box], MESSAGE, [receive("alice@example.com", queue_id="Q1")])
        rows = await store.list_tracking()
        await store.append_tracking([receive("nobody@example.com", event_id=TrackingEventId.FAIL, queue_id="Q2")])
        await store.close()
        store = make_store()
        await store.open()
        try:
            reopened = await store.list_tracking()
            assert reopened[:1] == rows
            assert [(r.event_id, r.queue_id) for r in reopened] == [
                (TrackingEventId.RECEIVE, "Q1"), (TrackingEventId.FAIL, "Q2")]
        finally:
            await store.close()
    run(body())


def test_smtp_methods_need_an_open_store(make_store, run):
    async def body():
        store = make_store()
        await store.open()
        await store.migrate()
        await store.add_server(SERVER, services_for("EX01"), PopSettings())
        box = await mailbox(store)
        await store.close()
        calls = [
            store.add_connector(client()), store.list_connectors(), store.get_connector("EX01", "Client EX01"),
            store.put_connector(client()), store.remove_connector("EX01", "Client EX01"),
            store.deliver_message([box], MESSAGE), store.append_tracking([receive("a@example.com")]),
            store.append_tracking([]), store.list_tracking(), store.remove_tracking("2024-05-01T00:00:00Z"),
        ]
        for call in calls:
            with pytest.raises(Unavailable):
                await call
    run(body())
