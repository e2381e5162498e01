"""The queue viewer's service layer (service/queue.py): role checks, audit in the change's own
transaction, and the NDR a removal with_ndr sends when the sender is remote (queued from <>)."""
from __future__ import annotations

import pytest
from audit_support import refuse_audit_inserts
from queue_support import ACTIVE_ID, BOUNCE_ID, PARTNER, SUSPENDED_ID, fill_queue

from postroom.errors import Conflict, Forbidden, NotFound, PostroomError, ValidationError
from postroom.model import MessageStatus, OutboundSubmission, SendConnector
from postroom.service import queue as queue_ops

ACTIONS = {
    "queue.suspend": lambda ctx: queue_ops.suspend_queue(ctx, PARTNER.name),
    "queue.resume": lambda ctx: queue_ops.resume_queue(ctx, PARTNER.name),
    "queue.retry": lambda ctx: queue_ops.retry_queue(ctx, PARTNER.name),
    "message.suspend": lambda ctx: queue_ops.suspend_message(ctx, ACTIVE_ID),
    "message.resume": lambda ctx: queue_ops.resume_message(ctx, SUSPENDED_ID),
    "message.remove": lambda ctx: queue_ops.remove_message(ctx, ACTIVE_ID, with_ndr=True),
    "message.export": lambda ctx: queue_ops.export_message_bytes(ctx, SUSPENDED_ID),
}


@pytest.fixture
def queued(store, run):
    run(fill_queue(store))
    return store


async def _state(store):
    return (await store.list_queues(), [await store.get_queued_message(m.id)
                                        for m in await store.list_queued_messages()])


@pytest.mark.parametrize("action", ACTIONS)
def test_acting_needs_the_server_right_and_a_refusal_is_audited(context, queued, run, action):
    state = run(_state(queued))
    for role in ("view-only", "recipient-management"):
        with pytest.raises(Forbidden, match="server-config"):
            run(ACTIONS[action](context(role)))
    assert run(_state(queued)) == state
    refused = [(e.action, e.outcome) for e in run(queued.list_audit(100)) if e.outcome == "refused"]
    assert refused == [(action, "refused")] * 2
    run(ACTIONS[action](context("server-management")))  # allowed
    assert [e.action for e in run(queued.list_audit(100)) if e.outcome == "success"][0] == action


@pytest.mark.parametrize("action", [a for a in ACTIONS if a != "message.export"])
def test_a_change_whose_audit_entry_cannot_be_written_changes_nothing(context, queued, run, action):
    if action == "queue.resume":
        run(queued.suspend_queue(PARTNER.name))
    state = run(_state(queued))
    run(refuse_audit_inserts(queued))
    with pytest.raises(PostroomError):
        run(ACTIONS[action](context("organization-management")))
    assert run(_state(queued)) == state


def test_reads_are_for_every_role_and_validate(context, queued, run):
    ctx = context("view-only")
    assert [q["name"] for q in run(queue_ops.list_queues(ctx))] == [
        "dns-connector-delivery/other.example/Internet", PARTNER.name]
    assert [m["id"] for m in run(queue_ops.list_messages(ctx, "poison"))] == []
    with pytest.raises(ValidationError) as error:
        run(queue_ops.list_messages(ctx, limit=0))
    assert error.value.field == "limit"
    with pytest.raises(NotFound, match="queue 'dns-connector-delivery/x.example/Internet' does not exist"):
        run(queue_ops.list_messages(ctx, "dns-connector-delivery/x.example/Internet"))
    with pytest.raises(Forbidden):
        run(queue_ops.list_queues(context()))


def test_poison_message_suspend_is_a_conflict_and_export_needs_suspended(context, queued, run):
    ctx = context("server-management")
    for n, now in enumerate(("2099-01-01T00:00:00+00:00", "2099-01-01T01:00:00+00:00", "2099-01-01T02:00:00+00:00")):
        run(queued.claim_due(f"EX01/t{n}", now, 60, 10))
    assert run(queued.get_queued_message(BOUNCE_ID))[0].status == MessageStatus.POISON
    with pytest.raises(Conflict, match="is a poison message: it cannot be suspended"):
        run(queue_ops.suspend_message(ctx, BOUNCE_ID))
    with pytest.raises(Conflict, match="only a suspended message can be exported"):
        run(queue_ops.export_message_bytes(ctx, BOUNCE_ID))
    assert run(queue_ops.resume_message(ctx, BOUNCE_ID))["status"] == "active"
    assert run(queued.get_queued_message(BOUNCE_ID))[0].crash_count == 0


def test_remove_with_ndr_for_a_remote_sender_queues_the_report_from_the_null_sender(context, queued, run):
    ctx = context("organization-management")
    run(queued.add_send_connector(SendConnector(name="Internet").with_changes(address_spaces="*",
                                                                                source_servers="EX01")))
    remote = OutboundSubmission("zoe@far.example", [("bob@partner.example", None, "FAILURE", PARTNER)],
                                queue_id="0A00000000AA", origin_server="EX01")
    run(queued.deliver_message([], b"Subject: From afar\r\n\r\nHi\r\n", outbound=remote))
    removed = run(queue_ops.remove_message(ctx, "0A00000000AA", with_ndr=True))
    assert removed["ndr"] == "queued"
    reports = [m for m in run(queued.list_queued_messages()) if m.sender == "" and m.id != BOUNCE_ID]
    assert len(reports) == 1
    report, recipients = run(queued.get_queued_message(reports[0].id))
    assert [(r.address, r.queue, r.notify) for r in recipients] == [
        ("zoe@far.example", "dns-connector-delivery/far.example/Internet", "NEVER")]
    body = run(queued.read_queued_body(report.id)).decode()
    assert "Subject: Undeliverable: From afar" in body and "Status: 5.3.0" in body
    rows = run(queued.list_tracking(queue_id="0A00000000AA", event_id="DSN"))
    assert [(r.recipient, r.server, r.status) for r in rows] == [
        ("bob@partner.example", "EX01", "failed 5.3.0 removed by organization-management")]


def test_retry_and_resume_leave_resubmit_rows_for_the_recipients_waiting(context, queued, run):
    ctx = context("server-management")
    run(queue_ops.retry_queue(ctx, PARTNER.name))
    rows = run(queued.list_tracking(event_id="RESUBMIT"))
    # the active message's recipient; the suspended one is not retried by its queue
    assert [(r.queue_id, r.recipient, r.source) for r in rows] == [(ACTIVE_ID, "bob@partner.example", "ADMIN")]
    assert rows[0].status == f"queue retried by {ctx.caller.name}"
    run(queue_ops.resume_message(ctx, SUSPENDED_ID))
    rows = run(queued.list_tracking(event_id="RESUBMIT", queue_id=SUSPENDED_ID))
    assert sorted(r.recipient for r in rows) == ["carol@partner.example", "dan@other.example"]
    assert {r.status for r in rows} == {f"resumed from suspended by {ctx.caller.name}"}
    run(queue_ops.suspend_message(ctx, SUSPENDED_ID))  # suspending resubmits nothing
    assert len(run(queued.list_tracking(event_id="RESUBMIT"))) == 3
