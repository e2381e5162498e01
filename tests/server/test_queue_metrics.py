"""The outbound queue in GET /metrics and in the activity counters the queue viewer's chart
reads: the delivery worker feeds both (queue length sampled, recipients sent/failed counted)."""
from __future__ import annotations

import asyncio
import base64
import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

from postroom.activity import OUTBOUND_FAILED, OUTBOUND_SENT, QUEUE_LENGTH_SAMPLES, QUEUE_LENGTH_SUM, Activity
from postroom.auth import Authenticator
from postroom.model import RecipientResult, RecipientStatus
from postroom.server.metrics import Metrics
from postroom.server.outbound.worker import OutboundWorker
from postroom.service import LOCAL_OPERATOR, Context, admins
from postroom.service.authentication import AdminAuthenticator
from postroom.service.setup import initialise
from postroom.storage import open_store
from postroom.web import create_app


class Counts:
    async def queue_counts(self) -> dict[str, int]:
        return {"active": 4, "suspended": 1, "poison": 0}


def test_the_worker_feeds_the_queue_gauge_the_outcomes_and_the_chart(tmp_path, monkeypatch):
    monkeypatch.setenv("POSTROOM_AUTH_FAILURE_DELAY", "0")
    data = str(tmp_path / "var")
    metrics, activity = Metrics(), Activity(clock=lambda: 1_800_000_000.0)
    worker = OutboundWorker(Counts(), "EX01", hops=None, submit_report=None, clock=lambda: 1_800_000_000.0,
                            metrics=metrics, activity=activity)

    async def main() -> str:
        await worker._count_queue()
        worker._count_outcomes([RecipientResult("a@x.example", RecipientStatus.SENT),
                                RecipientResult("b@x.example", RecipientStatus.SENT),
                                RecipientResult("c@x.example", RecipientStatus.FAILED),
                                RecipientResult("d@x.example", RecipientStatus.EXPIRED),
                                RecipientResult("e@x.example", RecipientStatus.RETRY, next_attempt_at="x")])
        metrics.outbound_result("sent", 2.5)
        metrics.outbound_result("deferred", None)
        await initialise(data, dev=True, server_name="EX01")
        store = open_store(data)
        await store.open()
        try:
            await admins.new_admin(Context(store, LOCAL_OPERATOR, "EX01", data), "viewer", "viewer password",
                                   ["view-only"])
            app = create_app(store, "EX01", data, AdminAuthenticator(store, Authenticator(failure_delay=0)), metrics)
            basic = "Basic " + base64.b64encode(b"viewer:viewer password").decode()
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
                answer = await client.get("/metrics", headers={"Authorization": basic})
            assert answer.status_code == 200
            return answer.text
        finally:
            await store.close()

    text = asyncio.run(main())
    got = {(s.name, tuple(sorted(s.labels.items()))): s.value
           for family in text_string_to_metric_families(text) for s in family.samples}
    assert got[("postroom_queue_messages", (("status", "active"),))] == 4
    assert got[("postroom_queue_messages", (("status", "suspended"),))] == 1
    assert got[("postroom_queue_messages", (("status", "poison"),))] == 0
    assert got[("postroom_outbound_recipients_total", (("result", "sent"),))] == 1
    assert got[("postroom_outbound_recipients_total", (("result", "deferred"),))] == 1
    assert got[("postroom_outbound_delivery_seconds_count", ())] == 1
    counts = {kind: n for (_, kind), n in activity.drain().items()}
    assert counts == {QUEUE_LENGTH_SUM: 5, QUEUE_LENGTH_SAMPLES: 1, OUTBOUND_SENT: 2, OUTBOUND_FAILED: 2}


class Hops:
    """Next hops that take recipients and never finish: every message stays in flight."""

    def __init__(self) -> None:
        self.added: list[str] = []

    @staticmethod
    def key(found) -> str:
        return "smart-host"

    def add(self, key, found, attempt, recipients, done) -> None:
        self.added.append(attempt.message.id)


def test_a_lease_run_out_in_the_worker_s_own_hands_starts_no_second_delivery(tmp_path):
    # A stalled node (its lease renewals late) claims its own message again: it is still in
    # flight, so no second attempt starts, and the claim counts no crash (storage contract).
    from postroom.model import OutboundSubmission, QueueKey, SendConnector

    async def main() -> None:
        store = open_store(str(tmp_path / "var"))
        await store.open()
        await store.migrate()
        try:
            queued = OutboundSubmission("a@example.com", [("b@partner.example", None, None,
                                                          QueueKey.smart_host("Out"))])
            await store.deliver_message([], b"Subject: x\r\n\r\nx\r\n", outbound=queued)
            now = [time.time()]  # the message's age counts: a clock days ahead would expire it
            hops, claims = Hops(), []
            worker = OutboundWorker(store, "EX01", hops=hops, submit_report=None, clock=lambda: now[0],
                                    lease_seconds=30, poll_interval=0.01)
            other = OutboundWorker(store, "EX01", hops=hops, submit_report=None)
            assert worker.holder != other.holder  # a worker's own name: never a restarted node's
            worker.connectors = [SendConnector(name="Out").with_changes(address_spaces="*",
                                                                        smart_hosts="127.0.0.1:1",
                                                                        dns_routing=False, source_servers="EX01")]
            claim_due = store.claim_due

            async def counted(*args, **kwargs):
                found = await claim_due(*args, **kwargs)
                claims.append([c.message.id for c in found])
                return found
            store.claim_due = counted
            task = asyncio.create_task(worker._run())
            while not hops.added and not task.done():
                await asyncio.sleep(0.01)
            now[0] += 100  # the lease (30 s) ran out while the message was in flight
            before = len(claims)
            while not any(claims[before:]) and not task.done():
                await asyncio.sleep(0.01)
            assert hops.added == [queued.queue_id]  # claimed again, not delivered again
            message, _ = await store.get_queued_message(queued.queue_id)
            assert message.lease_holder == worker.holder and message.crash_count == 1
            worker._stopping.set()
            worker._wake.set()
            await task
        finally:
            await store.close()
    asyncio.run(main())
