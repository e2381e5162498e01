"""The Store contract, outbound queue (QueueStore, and DeliveryStore.deliver_message's
`outbound`): what is queued with a delivery, claims and leases, the end of an attempt,
poison messages, the viewer and the admin actions. Runs once per backend (conftest.py),
through the Store protocol only. Times are given (`now`), never the wall clock, so a
two-day schedule is tested in no time."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from postroom.errors import Conflict, NotFound, ValidationError
from postroom.model import (
    MessageStatus, OutboundSubmission, QueueKey, QueueStatus, RecipientResult, RecipientStatus, TrackingEvent,
    TrackingEventId,
)
from postroom.storage import AuditNote, SpooledBody
from postroom.storage import queued_body_pieces

from .test_store_contract import EIGHT_BIT, MESSAGE, mailbox

pytestmark = [pytest.mark.store_queue, pytest.mark.store_delivery]

T0 = datetime(2030, 1, 1, tzinfo=timezone.utc)
HEAD = b"Received: from client.example ([192.0.2.1]) by ex01.example.com\r\n"
PARTNER = QueueKey.dns("partner.example", "Internet")
OTHER = QueueKey.dns("other.example", "Internet")
RELAY = QueueKey.smart_host("Smart relay")


def at(seconds: float = 0) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


def same_time(a: str | None, b: str) -> bool:
    return a is not None and datetime.fromisoformat(a) == datetime.fromisoformat(b)


def submission(*recipients: tuple[str, Any], sender: str = "alice@example.com", **fields: Any) -> OutboundSubmission:
    return OutboundSubmission(sender, [(address, None, None, queue) for address, queue in recipients],
                              at=fields.pop("at", at()), **fields)


async def queue_one(store, *recipients: tuple[str, Any], data: bytes = MESSAGE, **fields: Any) -> OutboundSubmission:
    outbound = submission(*(recipients or (("bob@partner.example", PARTNER),)), **fields)
    assert await store.deliver_message([], data, head=HEAD, outbound=outbound) == []
    return outbound


def result(address: str, status: RecipientStatus, reply: str = "", retry_in: float | None = None,
           when: float = 0, **fields: Any) -> RecipientResult:
    return RecipientResult(address, status, reply, None if retry_in is None else at(when + retry_in), at=at(when),
                           **fields)


# queued with a delivery ---------------------------------------------------------------------

def test_deliver_message_queues_remote_recipients_with_the_local_copy_in_one_body(store, run):
    async def body():
        alice = await mailbox(store)
        outbound = OutboundSubmission(
            "alice@example.com",
            [("bob@partner.example", "rfc822;Bob@Partner.example", "SUCCESS,FAILURE", PARTNER),
             ("carol@other.example", None, "NEVER", OTHER.name), ("dan@partner.example", None, None, PARTNER)],
            envid="ENV1", ret="hdrs", smtputf8=True, body_8bit=True, submitter="alice@example.com",
            client_ip="192.0.2.1", origin_server="EX01", message_id_header="<m1@example.com>", at=at())
        infos = await store.deliver_message([alice], EIGHT_BIT, head=HEAD, outbound=outbound)
        assert len(infos) == 1 and await store.read_message(alice, infos[0].id) == HEAD + EIGHT_BIT

        message, recipients = await store.get_queued_message(outbound.queue_id)
        assert message.id == outbound.queue_id and len(message.id) == 12
        assert (message.sender, message.size, message.envid, message.ret, message.smtputf8, message.body_8bit,
                message.submitter, message.client_ip, message.origin_server, message.message_id_header) == (
            "alice@example.com", len(HEAD + EIGHT_BIT), "ENV1", "HDRS", True, True, "alice@example.com",
            "192.0.2.1", "EX01", "<m1@example.com>")
        assert message.status == MessageStatus.ACTIVE and message.crash_count == 0 and message.lease_holder is None
        assert same_time(message.created_at, at())
        assert [(r.address, r.orcpt, r.notify, r.domain, r.queue, r.status, r.attempts, r.delay_notified)
                for r in recipients] == [
            ("bob@partner.example", "rfc822;Bob@Partner.example", "SUCCESS,FAILURE", "partner.example", PARTNER.name,
             RecipientStatus.READY, 0, False),
            ("carol@other.example", None, "NEVER", "other.example", OTHER.name, RecipientStatus.READY, 0, False),
            ("dan@partner.example", None, None, "partner.example", PARTNER.name, RecipientStatus.READY, 0, False)]
        assert all(same_time(r.next_attempt_at, at()) for r in recipients)
        assert await store.read_queued_body(outbound.queue_id) == HEAD + EIGHT_BIT

        queues = await store.list_queues(now=at(1))
        assert [(q.name, q.delivery_type, q.next_hop, q.connector, q.status, q.message_count) for q in queues] == [
            (OTHER.name, "dns-connector-delivery", "other.example", "Internet", QueueStatus.READY, 1),
            (PARTNER.name, "dns-connector-delivery", "partner.example", "Internet", QueueStatus.READY, 1)]
        assert await store.queue_counts() == {"active": 1, "suspended": 0, "poison": 0}
    run(body())


def test_the_250_promise_a_fresh_store_sees_the_queued_message(make_store, run):
    # deliver_message returns once the message is durable: another store instance (another
    # process, or this one after a crash) finds it, body included.
    async def body():
        first = make_store()
        await first.open()
        await first.migrate()
        outbound = await queue_one(first, ("bob@partner.example", PARTNER), ("ann@relay.example", RELAY))
        second = make_store()
        await second.open()
        try:
            message, recipients = await second.get_queued_message(outbound.queue_id)
            assert [r.address for r in recipients] == ["bob@partner.example", "ann@relay.example"]
            assert await second.read_queued_body(outbound.queue_id) == HEAD + MESSAGE
            claims = await second.claim_due("EX02/1", at(1), 60, 10)
            assert [c.message.id for c in claims] == [outbound.queue_id]
        finally:
            await second.close()
            await first.close()
    run(body())


def test_outbound_only_and_refusals_store_nothing(store, run):
    async def body():
        alice = await mailbox(store)
        with pytest.raises(ValidationError) as caught:
            await store.deliver_message([], MESSAGE)
        assert caught.value.field == "mailbox_ids"
        # A mailbox gone: neither the local entries nor the queued copy are stored.
        outbound = submission(("bob@partner.example", PARTNER))
        with pytest.raises(NotFound):
            await store.deliver_message([alice, 999_999], MESSAGE, outbound=outbound)
        assert await store.list_messages(alice) == []
        with pytest.raises(NotFound):
            await store.get_queued_message(outbound.queue_id)
        assert await store.list_queues(now=at(1)) == []

        bad: list[tuple[str, Any]] = [
            ("outbound", ("bob@partner.example",)),
            ("recipients", submission()),
            ("recipients", submission(("bob@partner.example", PARTNER), ("bob@partner.example", OTHER))),
            ("recipients", submission(("no-at-sign", PARTNER))),
            ("queue", submission(("bob@partner.example", "nowhere"))),
            ("ret", submission(("bob@partner.example", PARTNER), ret="ALL")),
            ("queue_id", submission(("bob@partner.example", PARTNER), queue_id="q1")),
            ("smtputf8", submission(("bob@partner.example", PARTNER), smtputf8="yes")),
        ]
        for field, value in bad:
            with pytest.raises(ValidationError) as caught:
                await store.deliver_message([alice], MESSAGE, outbound=value)
            assert caught.value.field == field, value
        assert await store.list_messages(alice) == [] and await store.list_queued_messages() == []
    run(body())


def test_a_queue_id_already_queued_is_a_conflict_and_nothing_is_stored(store, run):
    async def body():
        alice = await mailbox(store)
        first = await queue_one(store)
        again = submission(("carol@other.example", OTHER), queue_id=first.queue_id)
        with pytest.raises(Conflict):
            await store.deliver_message([alice], MESSAGE, outbound=again)
        assert await store.list_messages(alice) == []
        _, recipients = await store.get_queued_message(first.queue_id)
        assert [r.address for r in recipients] == ["bob@partner.example"]
    run(body())


def test_concurrent_deliveries_with_outbound_share_commits_and_each_is_queued(store, run):
    # Group commit: many deliveries at once (local + remote) each come back durable.
    async def body():
        alice = await mailbox(store)
        outbounds = [submission((f"r{n}@partner.example", PARTNER)) for n in range(40)]
        results = await asyncio.gather(*(store.deliver_message([alice], MESSAGE, outbound=o) for o in outbounds))
        assert all(len(infos) == 1 for infos in results)
        queued = await store.list_queued_messages(limit=100)
        assert {m.id for m in queued} == {o.queue_id for o in outbounds}
        assert len(await store.list_messages(alice)) == 40
    run(body())


@pytest.mark.parametrize("spooled_size", [10, 5 << 20])
def test_a_spooled_message_is_queued_and_read_back_in_pieces(store, run, tmp_path, spooled_size):
    start = (bytes(range(256)) * (spooled_size // 256 + 1))[:spooled_size]
    path = tmp_path / "spooled.msg"
    path.write_bytes(start)
    rest = b"\r\nlast line\r\n"
    whole = HEAD + start + rest

    async def body():
        outbound = submission(("bob@partner.example", PARTNER))
        await store.deliver_message([], memoryview(rest), head=HEAD, spooled=SpooledBody(str(path), spooled_size),
                                    outbound=outbound)
        message, _ = await store.get_queued_message(outbound.queue_id)
        assert message.size == len(whole)
        pieces = [piece async for piece in queued_body_pieces(store, message, 1 << 20)]
        assert all(len(piece) <= 1 << 20 for piece in pieces)
        assert len(pieces) == -(-len(whole) // (1 << 20))
        assert b"".join(pieces) == whole
        assert await store.read_queued_body(message.id, len(whole) - 5) == whole[-5:]
        assert await store.read_queued_body(message.id, 7, 0) == b""
        assert await store.read_queued_body(message.id, len(whole)) == b""
        with pytest.raises(ValidationError) as caught:
            await store.read_queued_body(message.id, len(whole) + 1)
        assert caught.value.field == "offset"
        with pytest.raises(ValidationError):
            await store.read_queued_body(message.id, -1)
    run(body())


# claims and leases --------------------------------------------------------------------------

def test_claim_takes_due_messages_with_a_lease(store, run):
    async def body():
        early = await queue_one(store, at=at(0))
        late = await queue_one(store, ("carol@other.example", OTHER), at=at(100))
        assert await store.claim_due("EX01/1", at(-1), 60, 10) == []  # nothing due yet

        claims = await store.claim_due("EX01/1", at(10), 60, 10)
        assert [c.message.id for c in claims] == [early.queue_id]
        claim = claims[0]
        assert claim.message.lease_holder == "EX01/1" and same_time(claim.message.lease_until, at(70))
        assert claim.message.crash_count == 1
        assert [r.address for r in claim.recipients] == ["bob@partner.example"]
        assert (await store.list_queues(now=at(10)))[1].status == QueueStatus.ACTIVE

        # Held: nobody else gets it until the lease ends; the later message is due at 100.
        assert await store.claim_due("EX01/2", at(69), 60, 10) == []
        both = await store.claim_due("EX01/2", at(100), 60, 10)
        assert [c.message.id for c in both] == [early.queue_id, late.queue_id]
        assert both[0].message.crash_count == 2  # its first claim ended without finish_attempt
        assert await store.claim_due("EX01/2", at(100), 60, 0) == []
    run(body())


def test_a_submission_queued_claimed_is_its_submitter_s_claim(store, run):
    """OutboundSubmission.lease_holder: the submitting node's worker takes the message as it is
    queued; what is stored is what `claimed()` hands it, a claim like claim_due's."""
    async def body():
        outbound = await queue_one(store, ("bob@partner.example", PARTNER), ("carol@other.example", OTHER),
                                   at=at(0), lease_holder="EX01/1", lease_seconds=60)
        message, recipients = await store.get_queued_message(outbound.queue_id)
        claim = outbound.claimed(len(HEAD) + len(MESSAGE))
        assert message.lease_holder == "EX01/1" and same_time(message.lease_until, at(60))
        assert claim.message.crash_count == message.crash_count == 1  # a claim: a crash if never finished
        assert claim.message == message
        assert sorted(claim.recipients, key=lambda r: r.address) == sorted(recipients, key=lambda r: r.address)
        assert await store.claim_due("EX02/1", at(59), 60, 10) == []  # held by its submitter
        assert await store.finish_attempt(outbound.queue_id, "EX01/1", [
            result("bob@partner.example", RecipientStatus.SENT), result("carol@other.example", RecipientStatus.SENT)])
        with pytest.raises(NotFound):
            await store.get_queued_message(outbound.queue_id)

        died = await queue_one(store, at=at(100), lease_holder="EX01/1", lease_seconds=60)
        assert await store.claim_due("EX02/1", at(159), 60, 10) == []
        again = await store.claim_due("EX02/1", at(160), 60, 10)  # its submitter died: the lease ran out
        assert [c.message.id for c in again] == [died.queue_id] and again[0].message.crash_count == 2

        for fields, field in (({"lease_holder": "EX01/1", "lease_seconds": 60, "at": ""}, "at"),
                              ({"lease_holder": "", "lease_seconds": 60}, "lease_holder"),
                              ({"lease_holder": "EX01/1", "lease_seconds": 0}, "lease_seconds")):
            with pytest.raises(ValidationError) as caught:
                await queue_one(store, **fields)
            assert caught.value.field == field
    run(body())


def test_limit_orders_oldest_first(store, run):
    async def body():
        ids = [(await queue_one(store, at=at(n))).queue_id for n in range(5)]
        first = await store.claim_due("EX01/1", at(10), 60, 2)
        second = await store.claim_due("EX01/1", at(10), 60, 10)
        assert [c.message.id for c in first] == ids[:2] and [c.message.id for c in second] == ids[2:]
    run(body())


def test_extend_and_release_a_lease(store, run):
    async def body():
        outbound = await queue_one(store)
        await store.claim_due("EX01/1", at(0), 60, 10)
        assert await store.extend_lease(outbound.queue_id, "EX01/1", at(50), 120) is True
        assert await store.extend_lease(outbound.queue_id, "EX01/9", at(50), 120) is False
        assert await store.claim_due("EX01/2", at(100), 60, 10) == []  # the lease runs to 170 now
        message, _ = await store.get_queued_message(outbound.queue_id)
        assert same_time(message.lease_until, at(170))

        other = await queue_one(store, ("carol@other.example", OTHER))
        assert len(await store.claim_due("EX01/1", at(100), 60, 10)) == 1  # `other`: `outbound` is held
        assert await store.extend_leases("EX01/1", at(150), 60) == 2  # every message it holds, at once
        assert await store.extend_leases("EX01/9", at(150), 60) == 0
        for message_id in (outbound.queue_id, other.queue_id):
            assert same_time((await store.get_queued_message(message_id))[0].lease_until, at(210))
        assert await store.extend_lease(outbound.queue_id, "EX01/1", at(50), 120) is True  # back to 170
        assert await store.finish_attempt(other.queue_id, "EX01/1", [result("carol@other.example",
                                                                           RecipientStatus.SENT)])

        await store.release_claim(outbound.queue_id, "EX01/9")  # not the holder: nothing happens
        assert (await store.get_queued_message(outbound.queue_id))[0].lease_holder == "EX01/1"
        await store.release_claim(outbound.queue_id, "EX01/1")
        message, _ = await store.get_queued_message(outbound.queue_id)
        assert message.lease_holder is None and message.crash_count == 0  # released: not a crash
        again = await store.claim_due("EX01/2", at(100), 60, 10)
        assert [c.message.crash_count for c in again] == [1]
        with pytest.raises(ValidationError) as caught:
            await store.claim_due("EX01/2", at(100), 0, 10)
        assert caught.value.field == "lease_seconds"
        with pytest.raises(ValidationError) as caught:
            await store.claim_due("", at(100), 60, 10)
        assert caught.value.field == "holder"
        with pytest.raises(ValidationError) as caught:
            await store.claim_due("EX01/2", "yesterday", 60, 10)
        assert caught.value.field == "now"
        for limit in (-1, 1001):
            with pytest.raises(ValidationError) as caught:
                await store.claim_due("EX01/2", at(100), 60, limit)
            assert caught.value.field == "limit"
    run(body())


def test_two_crashes_make_a_poison_message_until_an_admin_resumes_it(store, run):
    async def body():
        poisoned = await queue_one(store, ("bob@partner.example", PARTNER), ("ann@relay.example", RELAY),
                                   message_id_header="<p@example.com>")
        healthy = await queue_one(store, ("carol@other.example", OTHER), at=at(1))
        assert len(await store.claim_due("EX01/1", at(10), 60, 10)) == 2  # crash 1 for both
        # EX01/1 died (a holder names one worker of one process): EX01/2 takes the oldest...
        healthy_claim = await store.claim_due("EX01/2", at(100), 60, 1)  # crash 2 for the poisoned one...
        assert [c.message.id for c in healthy_claim] == [poisoned.queue_id]
        assert await store.claim_due("EX01/2", at(100), 60, 1) != []  # and the healthy one
        done = await store.finish_attempt(healthy.queue_id, "EX01/2",
                                          [result("carol@other.example", RecipientStatus.RETRY, "451 4.3.0",
                                                  retry_in=1000, when=100)])
        assert done is False

        # ...whose lease runs out again as EX01/2 dies: at its next claim it is set aside, not returned.
        assert await store.claim_due("EX01/3", at(200), 60, 10) == []
        message, _ = await store.get_queued_message(poisoned.queue_id)
        assert message.status == MessageStatus.POISON and message.lease_holder is None
        assert await store.queue_counts() == {"active": 1, "suspended": 0, "poison": 1}
        rows = await store.list_tracking(queue_id=poisoned.queue_id)
        assert [(r.event_id, r.server, r.recipient, r.message_id) for r in rows] == [
            (TrackingEventId.POISONMESSAGE, "EX01", "bob@partner.example", "<p@example.com>"),
            (TrackingEventId.POISONMESSAGE, "EX01", "ann@relay.example", "<p@example.com>")]
        queues = await store.list_queues(now=at(200))
        assert [q.name for q in queues] == [OTHER.name, "poison"]  # its queues no longer count it
        assert (queues[-1].status, queues[-1].message_count) == (QueueStatus.SUSPENDED, 1)
        assert [m.id for m in await store.list_queued_messages(queue="poison")] == [poisoned.queue_id]
        assert await store.claim_due("EX01/3", at(10_000), 60, 10) != []  # the healthy one only
        assert (await store.get_queued_message(poisoned.queue_id))[0].status == MessageStatus.POISON

        with pytest.raises(Conflict):
            await store.suspend_message(poisoned.queue_id)
        with pytest.raises(ValidationError):
            await store.retry_queue("poison")
        await store.resume_message(poisoned.queue_id)
        message, _ = await store.get_queued_message(poisoned.queue_id)
        assert (message.status, message.crash_count) == (MessageStatus.ACTIVE, 0)
        claims = await store.claim_due("EX01/3", at(10_000), 60, 10)
        assert [c.message.id for c in claims] == [poisoned.queue_id]
    run(body())


def test_a_lease_that_ran_out_in_its_holder_s_hands_is_not_a_crash(store, run):
    # A worker that was slow to renew (a stalled machine) claims its own message again: it is
    # still delivering it, so that claim counts no crash and never sets the message aside.
    async def body():
        outbound = await queue_one(store)
        other = await queue_one(store, ("carol@other.example", OTHER))
        assert [c.message.crash_count for c in await store.claim_due("EX01/1", at(10), 60, 10)] == [1, 1]
        for round_, when in enumerate((100, 200, 300)):
            claims = await store.claim_due("EX01/1", at(when), 60, 10)
            assert sorted((c.message.id, c.message.crash_count) for c in claims) == sorted([
                (outbound.queue_id, 1), (other.queue_id, 1)]), round_
            assert all(same_time(c.message.lease_until, at(when + 60)) for c in claims)
        assert await store.queue_counts() == {"active": 2, "suspended": 0, "poison": 0}
        assert await store.finish_attempt(outbound.queue_id, "EX01/1", [result("bob@partner.example",
                                                                              RecipientStatus.SENT)]) is True
        # Another holder taking it over is a crash as before: two, and it is set aside.
        assert [c.message.crash_count for c in await store.claim_due("EX01/2", at(400), 60, 10)] == [2]
        assert await store.claim_due("EX01/3", at(500), 60, 10) == []
        assert (await store.get_queued_message(other.queue_id))[0].status == MessageStatus.POISON
    run(body())


def test_two_workers_claiming_at_once_never_get_the_same_message(make_store, run):
    # Two store instances (on PostgreSQL: two nodes with their own pools) claim the same
    # queue at once, over and over: every message is claimed exactly once.
    async def body():
        stores = [make_store() for _ in range(2)]
        for one in stores:
            await one.open()
        await stores[0].migrate()
        try:
            queued = set()
            for n in range(60):
                queued.add((await queue_one(stores[n % 2], at=at(n % 7))).queue_id)

            async def worker(one, name: str) -> list[str]:
                got: list[str] = []
                while True:
                    claims = await one.claim_due(name, at(100), 600, 3)
                    if not claims:
                        return got
                    got += [c.message.id for c in claims]
                    await asyncio.sleep(0)

            first, second, third = await asyncio.gather(worker(stores[0], "EX01/1"), worker(stores[1], "EX02/1"),
                                                        worker(stores[1], "EX02/2"))
            claimed = first + second + third
            assert len(claimed) == len(set(claimed)) == 60
            assert set(claimed) == queued
        finally:
            for one in stores:
                await one.close()
    run(body())


# the end of an attempt ------------------------------------------------------------------------

def test_finish_attempt_records_each_recipient_and_ends_the_lease(store, run):
    async def body():
        alice = await mailbox(store)
        outbound = submission(("bob@partner.example", PARTNER), ("dan@partner.example", PARTNER),
                              ("carol@other.example", OTHER))
        infos = await store.deliver_message([alice], MESSAGE, head=HEAD, outbound=outbound)
        qid = outbound.queue_id
        await store.claim_due("EX01/1", at(0), 60, 10)
        sent = TrackingEvent(TrackingEventId.SEND, "EX01", "SMTP", qid, "", "alice@example.com",
                             "bob@partner.example", "250 2.0.0 ok", len(HEAD + MESSAGE), "", "Internet")
        done = await store.finish_attempt(qid, "EX01/1", [
            result("bob@partner.example", RecipientStatus.SENT, "250 2.0.0 ok", when=5),
            result("dan@partner.example", RecipientStatus.RETRY, "451 4.7.1 greylisted", retry_in=300, when=5),
            result("carol@other.example", RecipientStatus.RETRY, "421 4.4.2 timeout", retry_in=600, when=5),
        ], [sent])
        assert done is False
        message, recipients = await store.get_queued_message(qid)
        assert message.lease_holder is None and message.lease_until is None and message.crash_count == 0
        state = {r.address: r for r in recipients}
        assert (state["bob@partner.example"].status, state["bob@partner.example"].attempts,
                state["bob@partner.example"].last_reply) == (RecipientStatus.SENT, 1, "250 2.0.0 ok")
        assert state["bob@partner.example"].next_attempt_at is None
        assert same_time(state["bob@partner.example"].last_attempt_at, at(5))
        assert state["dan@partner.example"].status == RecipientStatus.RETRY
        assert same_time(state["dan@partner.example"].next_attempt_at, at(305))
        assert [(r.event_id, r.recipient) for r in await store.list_tracking(queue_id=qid)] == [
            (TrackingEventId.SEND, "bob@partner.example")]

        queues = {q.name: q for q in await store.list_queues(now=at(10))}
        # partner.example: a success in this attempt clears its last error; other.example keeps it.
        assert queues[PARTNER.name].last_error is None and queues[PARTNER.name].status == QueueStatus.RETRY
        assert queues[OTHER.name].last_error == "421 4.4.2 timeout"
        assert same_time(queues[PARTNER.name].next_retry_at, at(305))
        assert same_time(queues[OTHER.name].next_retry_at, at(605))

        # Only dan is due at 305; carol at 605.
        claims = await store.claim_due("EX01/1", at(305), 60, 10)
        assert [r.address for r in claims[0].recipients] == ["dan@partner.example"]
        assert await store.finish_attempt(qid, "EX01/1", [
            result("dan@partner.example", RecipientStatus.FAILED, "550 5.1.1 no such user", when=306)]) is False
        claims = await store.claim_due("EX01/1", at(605), 60, 10)
        assert [r.address for r in claims[0].recipients] == ["carol@other.example"]
        assert await store.finish_attempt(qid, "EX01/1", [
            result("carol@other.example", RecipientStatus.EXPIRED, "421 4.4.2 timeout", when=606)]) is True

        # Every recipient final: the queued message goes; the local copy keeps the body.
        with pytest.raises(NotFound):
            await store.get_queued_message(qid)
        with pytest.raises(NotFound):
            await store.read_queued_body(qid)
        assert await store.read_message(alice, infos[0].id) == HEAD + MESSAGE
        assert await store.list_queues(now=at(700)) == []
        assert await store.queue_counts() == {"active": 0, "suspended": 0, "poison": 0}
    run(body())


def test_a_later_success_clears_the_queue_s_last_error(store, run):
    async def body():
        first = await queue_one(store)
        await store.claim_due("EX01/1", at(1), 60, 10)
        greylisted = result("bob@partner.example", RecipientStatus.RETRY, "451 4.7.1 greylisted", retry_in=300, when=1)
        assert await store.finish_attempt(first.queue_id, "EX01/1", [greylisted]) is False
        queues = {q.name: q for q in await store.list_queues(now=at(2))}
        assert queues[PARTNER.name].last_error == "451 4.7.1 greylisted"
        await store.claim_due("EX01/1", at(301), 60, 10)
        assert await store.finish_attempt(first.queue_id, "EX01/1", [
            result("bob@partner.example", RecipientStatus.SENT, "250 2.0.0 ok", when=301)]) is True
        queues = {q.name: q for q in await store.list_queues(now=at(302))}
        assert PARTNER.name not in queues or queues[PARTNER.name].last_error is None
        second = await queue_one(store)  # the queue row stays or comes back: no stale error either way
        queues = {q.name: q for q in await store.list_queues(now=at(303))}
        assert queues[PARTNER.name].last_error is None and queues[PARTNER.name].message_count == 1
        assert (await store.get_queued_message(second.queue_id))[0].id == second.queue_id
    run(body())


def test_the_queued_body_outlives_the_local_copy(store, run):
    async def body():
        alice = await mailbox(store)
        outbound = submission(("bob@partner.example", PARTNER))
        infos = await store.deliver_message([alice], EIGHT_BIT, outbound=outbound)
        assert await store.delete_messages(alice, [infos[0].id]) == 1
        assert await store.read_queued_body(outbound.queue_id) == EIGHT_BIT
        await store.remove_mailbox("alice@example.com")
        assert await store.read_queued_body(outbound.queue_id) == EIGHT_BIT
    run(body())


def test_finish_attempt_refusals_change_nothing(store, run):
    async def body():
        outbound = await queue_one(store, ("bob@partner.example", PARTNER), ("dan@partner.example", PARTNER))
        qid = outbound.queue_id
        ok = [result("bob@partner.example", RecipientStatus.SENT, "250 ok")]
        with pytest.raises(Conflict):  # nobody holds it
            await store.finish_attempt(qid, "EX01/1", ok)
        await store.claim_due("EX01/1", at(0), 60, 10)
        with pytest.raises(Conflict):
            await store.finish_attempt(qid, "EX01/2", ok)
        # The lease ran out and another worker claimed it: the first one's report is refused.
        await store.claim_due("EX01/2", at(61), 60, 10)
        with pytest.raises(Conflict):
            await store.finish_attempt(qid, "EX01/1", ok)

        bad = [
            ("results", [result("nobody@partner.example", RecipientStatus.SENT)]),
            ("results", ok + ok),
            ("results", ["bob@partner.example"]),
            ("next_attempt_at", [RecipientResult("bob@partner.example", RecipientStatus.RETRY, "451")]),
            ("status", [RecipientResult("bob@partner.example", "delivered", "250")]),
        ]
        for field, results in bad:
            with pytest.raises(ValidationError) as caught:
                await store.finish_attempt(qid, "EX01/2", results)
            assert caught.value.field == field
        message, recipients = await store.get_queued_message(qid)
        assert message.lease_holder == "EX01/2" and all(r.status == RecipientStatus.READY for r in recipients)

        await store.finish_attempt(qid, "EX01/2", ok)
        await store.claim_due("EX01/2", at(62), 60, 10)
        with pytest.raises(ValidationError) as caught:  # bob is final already
            await store.finish_attempt(qid, "EX01/2", ok)
        assert caught.value.field == "results"
        await store.remove_message(qid)
        with pytest.raises(NotFound):
            await store.finish_attempt(qid, "EX01/2", ok)
        with pytest.raises(ValidationError) as caught:
            await store.finish_attempt("not-an-id", "EX01/2", ok)
        assert caught.value.field == "message_id"
    run(body())


def test_delay_notified_is_kept(store, run):
    async def body():
        outbound = await queue_one(store, ("bob@partner.example", PARTNER), ("dan@partner.example", PARTNER))
        await store.set_delay_notified(outbound.queue_id, ["dan@partner.example"])
        _, recipients = await store.get_queued_message(outbound.queue_id)
        assert [r.delay_notified for r in recipients] == [False, True]
        await store.claim_due("EX01/1", at(0), 60, 10)
        await store.finish_attempt(outbound.queue_id, "EX01/1", [
            result("bob@partner.example", RecipientStatus.RETRY, "451", retry_in=60, delay_notified=True),
            result("dan@partner.example", RecipientStatus.RETRY, "451", retry_in=60)])
        _, recipients = await store.get_queued_message(outbound.queue_id)
        assert [r.delay_notified for r in recipients] == [True, True]
        with pytest.raises(NotFound):
            await store.set_delay_notified("0123456789AB", ["bob@partner.example"])
    run(body())


# the viewer and admin actions --------------------------------------------------------------

def note(action: str, target: str) -> AuditNote:
    return AuditNote("admin", action, target, None, None)


def test_suspend_resume_and_retry_a_queue(store, run):
    async def body():
        both = await queue_one(store, ("bob@partner.example", PARTNER), ("carol@other.example", OTHER))
        await store.suspend_queue(PARTNER.name, audit=note("queue.suspend", PARTNER.name))
        queues = {q.name: q for q in await store.list_queues(now=at(1))}
        assert queues[PARTNER.name].status == QueueStatus.SUSPENDED
        claims = await store.claim_due("EX01/1", at(1), 60, 10)
        assert [r.address for r in claims[0].recipients] == ["carol@other.example"]  # not the suspended queue's
        await store.finish_attempt(both.queue_id, "EX01/1", [result("carol@other.example", RecipientStatus.SENT)])
        assert await store.claim_due("EX01/1", at(2), 60, 10) == []

        await store.resume_queue(PARTNER.name, audit=note("queue.resume", PARTNER.name))
        claims = await store.claim_due("EX01/1", at(3), 60, 10)
        assert [r.address for r in claims[0].recipients] == ["bob@partner.example"]
        await store.finish_attempt(both.queue_id, "EX01/1", [
            result("bob@partner.example", RecipientStatus.RETRY, "451", retry_in=3600, when=3)])
        assert await store.claim_due("EX01/1", at(10), 60, 10) == []
        assert await store.retry_queue(PARTNER.name, now=at(10), audit=note("queue.retry", PARTNER.name)) == 1
        assert [c.message.id for c in await store.claim_due("EX01/1", at(10), 60, 10)] == [both.queue_id]
        actions = [entry.action for entry in await store.list_audit()]
        assert actions == ["queue.retry", "queue.resume", "queue.suspend"]

        for call in (store.suspend_queue, store.resume_queue, store.retry_queue):
            with pytest.raises(NotFound):
                await call("dns-connector-delivery/nowhere.example/Internet")
            with pytest.raises(ValidationError):
                await call("")
        assert [entry.action for entry in await store.list_audit()] == actions  # refused: no audit entry
    run(body())


def test_idle_queue_rows_go_and_come_back_with_the_next_message(store, run):
    async def body():
        first = await queue_one(store, ("bob@partner.example", PARTNER), ("carol@other.example", OTHER))
        third = await queue_one(store, ("erin@relay.example", RELAY))
        await store.suspend_queue(RELAY.name)
        assert await store.remove_idle_queues() == 0  # each has a recipient
        await store.claim_due("EX01/1", at(1), 60, 10)
        await store.finish_attempt(first.queue_id, "EX01/1", [result("bob@partner.example", RecipientStatus.SENT),
                                                              result("carol@other.example", RecipientStatus.SENT)])
        await store.remove_message(third.queue_id)
        # partner and other are idle; the suspended relay queue stays (an admin's choice)
        assert await store.remove_idle_queues(limit=1) == 1
        assert await store.remove_idle_queues() == 1
        assert await store.remove_idle_queues() == 0
        with pytest.raises(NotFound):
            await store.suspend_queue(PARTNER.name)
        assert [q.name for q in await store.list_queues(now=at(2))] == [RELAY.name]
        again = await queue_one(store, ("dan@partner.example", PARTNER))
        assert {q.name: q.message_count for q in await store.list_queues(now=at(2))} == {PARTNER.name: 1, RELAY.name: 0}
        assert [c.message.id for c in await store.claim_due("EX01/1", at(3), 60, 10)] == [again.queue_id]
    run(body())


def test_pruning_idle_queues_never_breaks_a_delivery_queuing_for_them(make_store, run):
    async def body():
        store, pruner = make_store(), make_store()  # on PostgreSQL: two nodes with their own pools
        await store.open()
        await pruner.open()
        await store.migrate()
        try:
            for round_ in range(20):
                outbound = [submission(("bob@partner.example", PARTNER)) for _ in range(5)]
                results = await asyncio.gather(
                    *(store.deliver_message([], MESSAGE, head=HEAD, outbound=o) for o in outbound),
                    *(pruner.remove_idle_queues() for _ in range(3)))
                assert results[:5] == [[]] * 5
                claims = await store.claim_due(f"EX01/{round_}", at(1), 60, 100)
                assert len(claims) == 5
                for claim in claims:
                    await store.finish_attempt(claim.message.id, f"EX01/{round_}",
                                               [result("bob@partner.example", RecipientStatus.SENT)])
        finally:
            await pruner.close()
            await store.close()
    run(body())


def test_suspend_resume_and_remove_a_message(store, run):
    async def body():
        alice = await mailbox(store)
        kept = await queue_one(store)
        outbound = submission(("bob@partner.example", PARTNER), at=at(1))
        infos = await store.deliver_message([alice], MESSAGE, outbound=outbound)
        qid = outbound.queue_id
        await store.suspend_message(qid, audit=note("message.suspend", qid))
        assert [m.id for m in await store.list_queued_messages(status="suspended")] == [qid]
        assert [m.id for m in await store.list_queued_messages(status=MessageStatus.ACTIVE)] == [kept.queue_id]
        assert [c.message.id for c in await store.claim_due("EX01/1", at(5), 60, 10)] == [kept.queue_id]
        queue = (await store.list_queues(now=at(5)))[0]
        assert queue.message_count == 2  # a suspended message stays in its queue (Exchange)

        await store.resume_message(qid, audit=note("message.resume", qid))
        assert [c.message.id for c in await store.claim_due("EX01/2", at(5), 60, 10)] == [qid]

        message, recipients = await store.remove_message(qid, audit=note("message.remove", qid))
        assert message.id == qid and [r.address for r in recipients] == ["bob@partner.example"]
        with pytest.raises(NotFound):
            await store.get_queued_message(qid)
        assert await store.read_message(alice, infos[0].id) == MESSAGE  # the local copy stays
        for call in (store.suspend_message, store.resume_message, store.remove_message):
            with pytest.raises(NotFound):
                await call(qid)
        assert [e.action for e in await store.list_audit()] == ["message.remove", "message.resume",
                                                                "message.suspend"]
    run(body())


def test_list_queued_messages_filters(store, run):
    async def body():
        a = await queue_one(store, ("bob@partner.example", PARTNER), at=at(0))
        b = await queue_one(store, ("carol@other.example", OTHER), at=at(1))
        c = await queue_one(store, ("dan@partner.example", PARTNER), ("eve@other.example", OTHER), at=at(2))
        assert [m.id for m in await store.list_queued_messages()] == [a.queue_id, b.queue_id, c.queue_id]
        assert [m.id for m in await store.list_queued_messages(queue=PARTNER.name)] == [a.queue_id, c.queue_id]
        assert [m.id for m in await store.list_queued_messages(queue=OTHER.name, limit=1)] == [b.queue_id]
        assert await store.list_queued_messages(queue="smart-host-connector-delivery/none") == []
        with pytest.raises(ValidationError) as caught:
            await store.list_queued_messages(status="stuck")
        assert caught.value.field == "status" and "poison" in str(caught.value)
        with pytest.raises(ValidationError):
            await store.list_queued_messages(limit=-1)
        with pytest.raises(NotFound):
            await store.get_queued_message("0123456789AB")
    run(body())
