"""GET /metrics on a running node: real POP3 and SMTP clients move exactly the counters they should."""
from __future__ import annotations

import poplib
import smtplib
import ssl

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from .harness import Postroom, wait_until
from .messages import message

pytestmark = pytest.mark.e2e

USER, PASSWORD = "metrics@example.com", "pw-metrics-1"


def scrape(server: Postroom, **kwargs) -> httpx.Response:
    return httpx.get(f"http://127.0.0.1:{server.http_port}/metrics", timeout=10, **kwargs)


def values(response: httpx.Response) -> dict[tuple[str, frozenset], float]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}


def pop3(server: Postroom) -> poplib.POP3_SSL:
    context = ssl.create_default_context(cafile=server.cert)
    return poplib.POP3_SSL("127.0.0.1", server.pops_port, context=context, timeout=10)


def test_metrics_count_logins_deliveries_and_retrievals(tmp_path):
    server = Postroom(tmp_path)
    server.init()
    server.new_mailbox(USER, PASSWORD)
    server.start()
    try:
        admin = ("admin", server.admin_password)
        before = values(scrape(server, auth=admin))
        assert before[("postroom_messages_received_total", frozenset())] == 0
        assert before[("postroom_delivery_seconds_count", frozenset())] == 0

        data = message("metered")
        with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as client:
            assert client.sendmail("sender@example.net", [USER], data) == {}

        client = pop3(server)
        client.user(USER)
        client.pass_(PASSWORD)
        _, lines, _ = client.retr(1)
        client.quit()
        retrieved = b"\r\n".join(lines) + b"\r\n"

        client = pop3(server)
        client.user(USER)
        with pytest.raises(poplib.error_proto):
            client.pass_("not the password")
        client.quit()

        # The session counts drop when the connections' ends reach the node.
        def pop3_idle() -> bool:
            return values(scrape(server, auth=admin))[("postroom_sessions", frozenset({("service", "pop3")}))] == 0
        wait_until(pop3_idle, 5, "the POP3 sessions to end")
        got = values(scrape(server, auth=admin))

        def metric(name: str, **labels: str) -> float:
            return got[(name, frozenset(labels.items()))]

        assert metric("postroom_logins_total", service="pop3", result="ok") == 1
        assert metric("postroom_logins_total", service="pop3", result="bad-credentials") == 1
        assert not any(k[0] == "postroom_logins_total" and ("service", "smtp") in k[1] for k in got)
        assert metric("postroom_messages_received_total") == 1
        assert metric("postroom_bytes_received_total") == len(data)
        assert metric("postroom_delivery_seconds_count") == 1
        assert 0 < metric("postroom_delivery_seconds_sum") < 10
        assert metric("postroom_delivery_seconds_bucket", le="+Inf") == 1
        assert metric("postroom_messages_retrieved_total") == 1
        assert metric("postroom_bytes_sent_total") == len(retrieved) > len(data)  # with the trace headers
        # The harness's readiness probe connects too: at least our own connections are counted.
        assert metric("postroom_connections_total", service="pop3") >= 2
        assert metric("postroom_connections_total", service="smtp") >= 1
        assert metric("postroom_connections_total", service="admin") >= 1
        assert metric("postroom_sessions", service="admin") >= 1  # this scrape
        assert metric("postroom_blocked_sources") == 0  # loopback is trusted: never blocked

        anonymous = scrape(server)
        assert anonymous.status_code == 401
        assert anonymous.json()["error"]["code"] == "unauthenticated"
        assert scrape(server, auth=("admin", "wrong")).status_code == 401
        token = server.cli_json("admin", "token", "new", "admin", "--description", "prometheus")["token"]
        by_token = scrape(server, headers={"Authorization": f"Bearer {token}"})
        assert values(by_token)[("postroom_messages_received_total", frozenset())] == 1
    finally:
        server.stop()
