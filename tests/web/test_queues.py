"""The queue viewer through the REST API and the console (Mail flow > Queues), on the web
fixtures' install with three queued messages (queue_support.fill_queue): what each role group
may read and do, the audit entries, the one JSON error shape, the export's octets, the NDR of
a removal with --ndr, and the chart of outbound delivery."""
from __future__ import annotations

import re
import time
from html import unescape
from urllib.parse import quote

import pytest
from queue_support import ACTIVE_ID, BOUNCE_ID, OTHER, PARTNER, SENDER, SUSPENDED_ID

from postroom.activity import OUTBOUND_FAILED, OUTBOUND_SENT, QUEUE_LENGTH_SAMPLES, QUEUE_LENGTH_SUM, bucket_name
from postroom.model import MessageStatus

from .conftest import ROLE_GROUPS
from .test_console_pages_ops import console, csrf, notice_after, post  # noqa: F401 (fixture)

ACTORS = ("organization-management", "server-management")
Q = "/api/v1/queues"
M = "/api/v1/queue-messages"


def audit(run, store, action: str) -> list:
    return [e for e in run(store.list_audit(100)) if e.action == action]


# reading -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("role", ROLE_GROUPS)
def test_every_role_group_reads_the_queues_and_messages(api, principals, role):
    who = principals[role].bearer
    queues = api.get(Q, headers=who).json()
    assert [(q["name"], q["status"], q["message_count"]) for q in queues] == [
        (OTHER.name, "ready", 2), (PARTNER.name, "ready", 2)]
    assert queues[1]["delivery_type"] == "dns-connector-delivery" and queues[1]["next_hop"] == "partner.example"
    messages = api.get(M, headers=who).json()
    assert [(m["id"], m["status"], m["sender"]) for m in messages] == [
        (ACTIVE_ID, "active", SENDER), (SUSPENDED_ID, "suspended", SENDER), (BOUNCE_ID, "active", "")]
    detail = api.get(f"{M}/{SUSPENDED_ID}", headers=who).json()
    assert [(r["address"], r["queue"], r["status"]) for r in detail["recipients"]] == [
        ("carol@partner.example", PARTNER.name, "ready"), ("dan@other.example", OTHER.name, "ready")]


def test_messages_filtered_by_queue_and_status(api, principals):
    who = principals["view-only"].bearer
    in_partner = api.get(M, params={"queue": PARTNER.name}, headers=who).json()
    assert [m["id"] for m in in_partner] == [ACTIVE_ID, SUSPENDED_ID]
    suspended = api.get(M, params={"status": "suspended"}, headers=who).json()
    assert [m["id"] for m in suspended] == [SUSPENDED_ID]
    missing = api.get(M, params={"queue": "dns-connector-delivery/nowhere.example/Internet"}, headers=who)
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == (  # with the queues there are
        f"queue 'dns-connector-delivery/nowhere.example/Internet' does not exist (existing: '{OTHER.name}', "
        f"'{PARTNER.name}')")
    assert missing.json()["error"]["allowed"] == [OTHER.name, PARTNER.name]
    wrong = api.get(M, params={"status": "frozen"}, headers=who)
    assert wrong.status_code == 400 and wrong.json()["error"]["field"] == "status"
    assert wrong.json()["error"]["allowed"] == ["active", "suspended", "poison"]


# acting --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("role", ("recipient-management", "view-only"))
def test_roles_without_the_queues_right_are_refused_and_audited(api, principals, run, store, role):
    who = principals[role].bearer
    for method, path in (("POST", f"{Q}/{PARTNER.name}/suspend"), ("POST", f"{Q}/{PARTNER.name}/retry"),
                         ("POST", f"{M}/{ACTIVE_ID}/suspend"), ("DELETE", f"{M}/{ACTIVE_ID}"),
                         ("GET", f"{M}/{SUSPENDED_ID}/export")):
        answer = api.request(method, path, headers=who)
        assert answer.status_code == 403, (path, answer.text)
        assert "server-config" in answer.json()["error"]["message"]
    refused = [e for e in run(store.list_audit(100)) if e.outcome == "refused"]
    assert {e.action for e in refused} == {"queue.suspend", "queue.retry", "message.suspend", "message.remove",
                                          "message.export"}
    message, _ = run(store.get_queued_message(ACTIVE_ID))
    assert message.status == MessageStatus.ACTIVE
    assert [q.status.value for q in run(store.list_queues()) if q.name == PARTNER.name] == ["ready"]


@pytest.mark.parametrize("role", ACTORS)
def test_suspend_and_resume_a_queue_audited(api, principals, run, store, role):
    who = principals[role].bearer
    answer = api.post(f"{Q}/{PARTNER.name}/suspend", headers=who)
    assert answer.status_code == 200 and answer.json()["status"] == "suspended"
    assert [q["status"] for q in api.get(Q, headers=who).json() if q["name"] == PARTNER.name] == ["suspended"]
    # the slashes of a queue name may come encoded, too
    answer = api.post(f"{Q}/{quote(PARTNER.name, safe='')}/resume", headers=who)
    assert answer.status_code == 200 and answer.json()["status"] == "ready"
    [suspend] = audit(run, store, "queue.suspend")
    [resume] = audit(run, store, "queue.resume")
    assert (suspend.target, suspend.before, suspend.after, suspend.actor, suspend.channel) == (
        f"queue/{PARTNER.name}", {"suspended": False}, {"suspended": True}, principals[role].name, "api")
    assert (resume.before, resume.after) == ({"suspended": True}, {"suspended": False})


def test_retry_makes_waiting_recipients_due(api, principals, run, store):
    answer = api.post(f"{Q}/{PARTNER.name}/retry", headers=principals["server-management"].bearer)
    assert answer.status_code == 200 and answer.json()["name"] == PARTNER.name
    assert answer.json()["recipients_due_now"] == 0  # all were due already
    [entry] = audit(run, store, "queue.retry")
    assert entry.after == {"recipients_due_now": 0}


def test_unknown_queue_and_poison_queue_are_clear_errors(api, principals):
    who = principals["organization-management"].bearer
    missing = api.post(f"{Q}/dns-connector-delivery/nowhere.example/Internet/suspend", headers=who)
    assert missing.status_code == 404
    error = missing.json()["error"]
    assert (error["status"], error["message"], error["field"]) == (
        404, "queue 'dns-connector-delivery/nowhere.example/Internet' does not exist", None)
    poison = api.post(f"{Q}/poison/retry", headers=who)
    assert poison.status_code == 400 and poison.json()["error"]["field"] == "queue"
    assert "never retried" in poison.json()["error"]["message"]
    bad = api.post(f"{Q}/nonsense/retry", headers=who)  # neither a queue's name, next hop nor start of a name
    assert bad.status_code == 404 and bad.json()["error"]["allowed"] == [OTHER.name, PARTNER.name]


def test_suspend_resume_message_and_poison_conflict(api, principals, run, store):
    who = principals["server-management"].bearer
    answer = api.post(f"{M}/{ACTIVE_ID}/suspend", headers=who)
    assert answer.status_code == 200 and answer.json()["status"] == "suspended"
    assert run(store.get_queued_message(ACTIVE_ID))[0].status == MessageStatus.SUSPENDED
    answer = api.post(f"{M}/{ACTIVE_ID}/resume", headers=who)
    assert answer.status_code == 200 and answer.json()["status"] == "active"
    assert [(e.before, e.after) for e in audit(run, store, "message.suspend")] == [
        ({"status": "active"}, {"status": "suspended"})]
    # make BOUNCE_ID poison: claimed three times, its lease running out twice
    for n, now in enumerate(("2099-01-01T00:00:00+00:00", "2099-01-01T01:00:00+00:00",
                             "2099-01-01T02:00:00+00:00")):
        run(store.claim_due(f"EX01/t{n}", now, 60, 10))
    assert run(store.get_queued_message(BOUNCE_ID))[0].status == MessageStatus.POISON
    assert any(q["name"] == "poison" for q in api.get(Q, headers=who).json())
    refused = api.post(f"{M}/{BOUNCE_ID}/suspend", headers=who)
    assert refused.status_code == 409
    assert refused.json()["error"]["message"] == (
        f"queued message {BOUNCE_ID} is a poison message: it cannot be suspended; resume it "
        f"(postroom message resume {BOUNCE_ID}) or remove it")
    assert api.post(f"{M}/{BOUNCE_ID}/resume", headers=who).json()["status"] == "active"


def test_export_only_a_suspended_message_as_it_would_be_sent(api, principals, run, store):
    who = principals["server-management"].bearer
    refused = api.get(f"{M}/{ACTIVE_ID}/export", headers=who)
    assert refused.status_code == 409 and refused.headers["content-type"].startswith("application/json")
    assert "only a suspended message can be exported" in refused.json()["error"]["message"]
    answer = api.get(f"{M}/{SUSPENDED_ID}/export", headers=who)
    assert answer.status_code == 200 and answer.headers["content-type"] == "message/rfc822"
    stored = run(store.read_queued_body(SUSPENDED_ID))
    assert stored.startswith(b"Return-Path: <demo@example.com>\r\n")
    assert answer.content == stored[stored.index(b"\r\n") + 2:]  # the Return-Path is not sent on
    assert answer.content.startswith(b"Received: from client.example")
    assert b"Subject: Held invoice\r\n" in answer.content
    [entry] = audit(run, store, "message.export")
    assert entry.target == f"message/{SUSPENDED_ID}" and entry.after == {"size": len(stored)}
    missing = api.get(f"{M}/0A00000000FF/export", headers=who)
    assert missing.status_code == 404 and missing.json()["error"]["message"] == \
        "queued message '0A00000000FF' does not exist"


def test_remove_with_ndr_tells_the_sender(api, principals, run, store):
    who = principals["organization-management"].bearer
    demo = run(store.get_mailbox(SENDER))
    before = len(run(store.list_messages(demo.id)))
    answer = api.delete(f"{M}/{SUSPENDED_ID}", params={"ndr": "true"}, headers=who)
    assert answer.status_code == 200 and answer.json()["ndr"] == "mailbox"
    assert [r["address"] for r in answer.json()["recipients"]] == ["carol@partner.example", "dan@other.example"]
    assert api.get(f"{M}/{SUSPENDED_ID}", headers=who).status_code == 404
    messages = run(store.list_messages(demo.id))
    assert len(messages) == before + 1
    report = run(store.read_message(demo.id, messages[-1].id)).decode()
    assert "Subject: Undeliverable: Held invoice" in report
    assert "Final-Recipient: rfc822; carol@partner.example\r\nAction: failed\r\nStatus: 5.3.0" in report
    assert "dan@other.example" not in report.split("Content-Type: message/rfc822")[0]  # NOTIFY=NEVER
    assert "Original-Recipient: rfc822; carol@partner.example" in report
    assert "Content-Type: message/rfc822" in report and "Hello carol@partner.example." in report
    [entry] = audit(run, store, "message.remove")
    assert entry.before == {"sender": SENDER, "size": entry.before["size"], "status": "suspended",
                            "recipients": ["carol@partner.example", "dan@other.example"]}
    assert entry.after == {"removed": True, "with_ndr": True}


def test_remove_without_ndr_and_from_the_null_sender(api, principals, run, store):
    who = principals["organization-management"].bearer
    demo = run(store.get_mailbox(SENDER))
    before = len(run(store.list_messages(demo.id)))
    assert api.delete(f"{M}/{ACTIVE_ID}", headers=who).json()["ndr"] is None
    bounce = api.delete(f"{M}/{BOUNCE_ID}", params={"ndr": "true"}, headers=who).json()
    assert bounce["ndr"].startswith("not sent: the sender is <>")
    assert len(run(store.list_messages(demo.id))) == before
    assert [m["id"] for m in api.get(M, headers=who).json()] == [SUSPENDED_ID]


# the console -----------------------------------------------------------------------------------
def test_console_page_shows_queues_messages_and_the_chart(console, run, store):
    now = time.time()
    run(store.add_activity("EX01", {(bucket_name(now), OUTBOUND_SENT): 7, (bucket_name(now), OUTBOUND_FAILED): 2,
                                    (bucket_name(now), QUEUE_LENGTH_SUM): 30,
                                    (bucket_name(now), QUEUE_LENGTH_SAMPLES): 10}))
    page = unescape(console("view-only").get("/console/queues").text)
    assert "Mail flow › Queues" in page
    rows = re.findall(r'<tr data-queue="([^"]+)".*?<td class="status">(\w+)</td>\s*<td>(\d+)</td>', page, re.S)
    assert rows == [(OTHER.name, "ready", "2"), (PARTNER.name, "ready", "2")]
    assert re.findall(r'<tr data-message="(\w+)">', page) == [ACTIVE_ID, SUSPENDED_ID, BOUNCE_ID]
    assert "<td><></td>" in page  # the null sender
    assert "Recipients sent (7)" in page and "Recipients failed (2)" in page and "Queue length (messages) (now 3)" \
        in page
    assert "Read-only: changing this needs the organization-management or server-management role group." in page
    assert f'disabled aria-label="Retry queue {PARTNER.name}"' in page


def test_console_actions_and_their_notices(console, run, store):
    client = console("server-management")
    token = csrf(client, "/console/queues")
    notice = notice_after(client, post(client, "/console/queues/action", token, queue=PARTNER.name, action="suspend"))
    assert notice == f"Queue {PARTNER.name} suspended: nothing in it is delivered until it is resumed."
    page = unescape(client.get("/console/queues").text)
    assert f'aria-label="Resume queue {PARTNER.name}"' in page
    notice = notice_after(client, post(client, "/console/queues/message/action", token, id=ACTIVE_ID,
                                       action="suspend"))
    assert notice == f"Message {ACTIVE_ID} suspended: it is not delivered until resumed."
    notice = notice_after(client, post(client, "/console/queues/message/action", token, id=SUSPENDED_ID,
                                       action="remove-ndr"))
    assert notice == (f"Message {SUSPENDED_ID} removed from the queue. A non-delivery report to <{SENDER}> was "
                      "delivered to its mailbox.")
    assert [e.channel for e in audit(run, store, "message.remove")] == ["console"]
    detail = unescape(client.get(f"/console/queues/message?id={ACTIVE_ID}").text)
    assert "Queued message " + ACTIVE_ID in detail and 'data-recipient="bob@partner.example"' in detail
    assert f'aria-label="Resume message {ACTIVE_ID}"' in detail


def test_console_refusals_are_shown_on_the_page(console, run, store):
    viewer = console("view-only")
    answer = post(viewer, "/console/queues/action", csrf(viewer, "/console/queues"), queue=PARTNER.name,
                  action="suspend")
    assert answer.status_code == 403 and "may not do this" in unescape(answer.text)
    manager = console("server-management")
    answer = post(manager, "/console/queues/message/action", csrf(manager, "/console/queues"), id="0A00000000FF",
                  action="resume")
    assert answer.status_code == 404 and "queued message '0A00000000FF' does not exist" in unescape(answer.text)
    assert run(store.get_queued_message(ACTIVE_ID))[0].status == MessageStatus.ACTIVE
