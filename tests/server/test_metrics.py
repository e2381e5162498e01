"""The node's Prometheus metrics: one registry per node, hot-path counters, scrape-time gauges,
and GET /metrics on the admin app (authenticated, text exposition, absent without metrics)."""
from __future__ import annotations

import asyncio
import base64
import logging

import httpx
from prometheus_client.parser import text_string_to_metric_families

from postroom.auth import Authenticator
from postroom.lockout import AbuseGuard
from postroom.model import Block
from postroom.server.evidence import report_login
from postroom.server.metrics import Metrics, login_result
from postroom.service import LOCAL_OPERATOR, Context, admins
from postroom.service.authentication import AdminAuthenticator
from postroom.service.setup import initialise
from postroom.storage import open_store
from postroom.web import create_app


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_login_results_become_ok_or_the_reason():
    assert login_result("succeeded") == "ok"
    assert login_result("failed (bad-credentials)") == "bad-credentials"
    assert login_result("failed (blocked)") == "blocked"
    assert login_result("refused (tls-required)") == "tls-required"


def test_each_node_has_its_own_registry_and_counts():
    first, second = Metrics(), Metrics()
    first.connection("pop3")
    first.connection("pop3")
    first.connection("smtp")
    first.login("pop3", "succeeded")
    first.login("pop3", "failed (bad-credentials)")
    first.login("pop3", "failed (bad-credentials)")
    first.received(1000, 0.003)
    first.retrieved(700)
    got = samples(first)
    assert got[("postroom_connections_total", (("service", "pop3"),))] == 2
    assert got[("postroom_connections_total", (("service", "smtp"),))] == 1
    assert got[("postroom_logins_total", (("result", "ok"), ("service", "pop3")))] == 1
    assert got[("postroom_logins_total", (("result", "bad-credentials"), ("service", "pop3")))] == 2
    assert got[("postroom_messages_received_total", ())] == 1
    assert got[("postroom_bytes_received_total", ())] == 1000
    assert got[("postroom_messages_retrieved_total", ())] == 1
    assert got[("postroom_bytes_sent_total", ())] == 700
    assert got[("postroom_delivery_seconds_count", ())] == 1
    assert got[("postroom_delivery_seconds_bucket", (("le", "0.005"),))] == 1
    assert got[("postroom_delivery_seconds_bucket", (("le", "0.0025"),))] == 0
    assert got[("postroom_blocked_sources", ())] == 0  # nothing watched yet
    other = samples(second)
    assert ("postroom_connections_total", (("service", "pop3"),)) not in other
    assert other[("postroom_messages_received_total", ())] == 0


def test_live_gauges_are_read_at_scrape_time():
    now = [1000.0]
    guard = AbuseGuard(clock=lambda: now[0])
    open_sessions = {"pop3": 3, "smtp": 0, "admin": 1}
    metrics = Metrics()
    metrics.watch(lambda: open_sessions, guard.blocked_sources)
    guard.adopt([Block("source", "192.0.2.7", 900.0, 1500.0, 10, "pop3"),
                 Block("source", "192.0.2.8", 900.0, 1200.0, 10, "smtp"),
                 Block("mailbox", "bob@example.com", 900.0, 1500.0, 20, "pop3")])
    got = samples(metrics)
    assert got[("postroom_sessions", (("service", "pop3"),))] == 3
    assert got[("postroom_sessions", (("service", "admin"),))] == 1
    assert got[("postroom_blocked_sources", ())] == 2  # mailbox blocks are not sources
    open_sessions["pop3"] = 0
    now[0] = 1300.0  # one source block expired
    got = samples(metrics)
    assert got[("postroom_sessions", (("service", "pop3"),))] == 0
    assert got[("postroom_blocked_sources", ())] == 1


def test_report_login_counts_every_service_once():
    metrics = Metrics()
    logger = logging.getLogger("test.metrics")
    report_login(logger, None, "smtp", "succeeded", "192.0.2.1", "a@example.com", metrics=metrics)
    report_login(logger, None, "pop3", "refused (tls-required)", "192.0.2.1", "a@example.com", metrics=metrics)
    got = samples(metrics)
    assert got[("postroom_logins_total", (("result", "ok"), ("service", "smtp")))] == 1
    assert got[("postroom_logins_total", (("result", "tls-required"), ("service", "pop3")))] == 1


def test_metrics_endpoint_needs_an_admin_and_is_absent_without_metrics(tmp_path, monkeypatch):
    monkeypatch.setenv("POSTROOM_AUTH_FAILURE_DELAY", "0")
    data = str(tmp_path / "var")

    async def main():
        await initialise(data, dev=True, server_name="EX01")
        store = open_store(data)
        await store.open()
        auth = AdminAuthenticator(store, Authenticator(failure_delay=0))
        try:
            ctx = Context(store, LOCAL_OPERATOR, "EX01", data)
            await admins.new_admin(ctx, "viewer", "viewer password", ["view-only"])
            token = (await admins.new_token(ctx, "viewer", description="scraper"))["token"]
            metrics = Metrics()
            metrics.connection("pop3")
            basic = "Basic " + base64.b64encode(b"viewer:viewer password").decode()
            for app, expect in ((create_app(store, "EX01", data, auth, metrics), 200),
                                (create_app(store, "EX01", data, auth), 404)):
                async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
                    anonymous = await client.get("/metrics")
                    wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope.nope"})
                    by_token = await client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
                    by_basic = await client.get("/metrics", headers={"Authorization": basic})
                    schema = (await client.get("/api/v1/openapi.json")).json()
                assert "/metrics" not in schema["paths"]
                if expect == 404:
                    assert anonymous.status_code == by_token.status_code == 404
                    assert anonymous.json()["error"]["code"] == "not_found"
                    continue
                assert anonymous.status_code == 401 and wrong.status_code == 401
                assert anonymous.json()["error"]["code"] == "unauthenticated"
                assert "Bearer" in anonymous.headers["WWW-Authenticate"]
                for response in (by_token, by_basic):
                    assert response.status_code == 200, response.text
                    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
                    assert 'postroom_connections_total{service="pop3"} 1.0' in response.text
        finally:
            auth.close()
            await store.close()

    asyncio.run(main())
