"""`postroom doctor send ADDRESS` against a real node, a fake DNS and Postfix's smtp-sink: one test
per outcome class (no connector, null MX, NXDOMAIN, connection refused, queued with the last
reply, delivered), each reading the CLI's JSON and exit code as an admin would, and following
the fix it names where it is a command.

Lab (as tests/e2e/test_outbound_delivery.py): smtp-sink on 127.0.0.21 accepts, on .22 defers
every RCPT (4xx); nothing listens on .23. The send connector routes `*.test` only, so
partner.example has no connector. Retry timers are long, so a deferred message stays queued.
"""
from __future__ import annotations

import json
import shlex
import smtplib

import pytest

from .harness import Postroom, wait_until
from .relay_lab import relay_lab
from .test_outbound_delivery import _dumped

pytestmark = pytest.mark.e2e

ORDER = ["recipient", "delivery-service", "send-connector", "dns", "dane", "next-hop", "queue", "tracking"]
ZONE = {
    "mx-ok.test": {"MX": ["10 mx1.mx-ok.test."]},
    "mx1.mx-ok.test": {"A": ["127.0.0.21"]},
    "mx-tempfail.test": {"MX": ["10 mx.mx-tempfail.test."]},
    "mx.mx-tempfail.test": {"A": ["127.0.0.22"]},
    "mx-refused.test": {"MX": ["10 mx.mx-refused.test."]},
    "mx.mx-refused.test": {"A": ["127.0.0.23"]},
    "null-mx.test": {"MX": ["0 ."], "A": ["127.0.0.21"]},
}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    sinks = [("127.0.0.21", ("-d", "{dump}/%M.")), ("127.0.0.22", ("-r", "rcpt"))]
    with relay_lab(tmp_path_factory.mktemp("doctor-send"), ZONE, sinks, address_spaces="*.test",
                   transport=("--transient-failure-retry-interval", "10m", "--message-retry-interval", "10m",
                              "--outbound-connection-failure-retry-interval", "10m")) as found:
        yield found


def doctor(node: Postroom, address: str, *options: str) -> tuple[int, dict[str, dict]]:
    result = node.cli("doctor", "send", address, "--json", *options, check=False)
    assert result.returncode in (0, 1), result.stderr
    checks = json.loads(result.stdout)
    assert [c["name"] for c in checks] == ORDER
    assert all(set(c) == {"name", "status", "detail", "fix", "page"} for c in checks)
    return result.returncode, {c["name"]: c for c in checks}


def _submit(node: Postroom, rcpt: str, subject: str) -> None:
    body = f"From: app@example.com\r\nTo: {rcpt}\r\nSubject: {subject}\r\n\r\nhello {subject}\r\n"
    with smtplib.SMTP("127.0.0.1", node.relay_port, timeout=10) as client:
        client.sendmail("app@example.com", [rcpt], body)


def _events(node: Postroom, rcpt: str) -> list[str]:
    return [r["event_id"] for r in node.cli_json("log", "tracking", "--recipient", rcpt)]


def test_no_send_connector_names_the_fix_and_the_fix_works(lab):
    node, _ = lab
    code, checks = doctor(node, "bob@partner.example")
    assert code == 1
    assert checks["recipient"]["status"] == "pass"
    assert checks["delivery-service"]["status"] == "pass"
    found = checks["send-connector"]
    assert found["status"] == "fail"
    assert "no send connector's address spaces match partner.example" in found["detail"]
    assert "550 5.7.1" in found["detail"]
    assert found["fix"].startswith("postroom send-connector set Internet --address-spaces ")
    for name in ("dns", "dane", "next-hop"):
        assert checks[name]["status"] == "warn" and checks[name]["detail"].startswith("not checked")
    assert checks["tracking"]["status"] == "warn"  # no message was ever received for it
    words = shlex.split(found["fix"])[1:]
    try:
        node.cli(*words)
        _, after = doctor(node, "bob@partner.example", "--no-connect")
        assert after["send-connector"]["status"] == "pass"
        assert after["send-connector"]["detail"].startswith("Internet routes partner.example")
        assert after["dns"]["status"] == "fail"  # partner.example is not in the fake DNS
    finally:
        node.cli("send-connector", "set", "Internet", "--address-spaces", "*.test")


def test_null_mx(lab):
    node, _ = lab
    code, checks = doctor(node, "x@null-mx.test")
    assert code == 1
    assert checks["send-connector"]["status"] == "pass"
    assert checks["dns"]["status"] == "fail"
    assert "publishes a null MX" in checks["dns"]["detail"] and "5.1.10" in checks["dns"]["detail"]
    assert "bounce" in checks["dns"]["detail"]
    assert checks["next-hop"]["detail"].startswith("not checked")


def test_nxdomain_names_the_resolver_of_the_transport_settings(lab):
    node, _ = lab
    code, checks = doctor(node, "x@no-such-domain.test")
    assert code == 1
    detail = checks["dns"]["detail"]
    assert checks["dns"]["status"] == "fail"
    assert "no-such-domain.test does not exist (NXDOMAIN" in detail
    assert f"DNS servers {node.dns.address} (transport settings)" in detail
    assert "5.4.4" in detail


def test_connection_refused(lab):
    node, _ = lab
    code, checks = doctor(node, "x@mx-refused.test")
    assert code == 1
    assert checks["dns"]["status"] == "pass" and "10 mx.mx-refused.test [127.0.0.23]" in checks["dns"]["detail"]
    hop = checks["next-hop"]
    assert hop["status"] == "fail"
    assert f"mx.mx-refused.test [127.0.0.23]:{node.sink_port}" in hop["detail"]
    assert "refused" in hop["detail"].lower()
    assert "retried" in hop["detail"]


def test_queued_with_the_last_reply(lab):
    node, _ = lab
    rcpt = "later@mx-tempfail.test"
    _submit(node, rcpt, "doctor-deferred")
    wait_until(lambda: "DEFER" in _events(node, rcpt), 20, "the DEFER tracking row")
    code, checks = doctor(node, rcpt)
    assert checks["next-hop"]["status"] in ("pass", "warn")  # the sink greets; it defers only RCPT
    assert f'mx.mx-tempfail.test [127.0.0.22]:{node.sink_port}: greeting "' in checks["next-hop"]["detail"]
    assert "EHLO offers 8BITMIME, " in checks["next-hop"]["detail"]
    assert "STARTTLS not offered: mail goes to this host in clear" in checks["next-hop"]["detail"]
    queued = checks["queue"]
    assert queued["status"] == "warn"
    assert "waits for a retry: 1 attempt(s), last reply \"4" in queued["detail"]
    assert "next retry" in queued["detail"]
    assert queued["fix"] == "postroom queue retry dns-connector-delivery/mx-tempfail.test/Internet"
    last = checks["tracking"]
    assert last["status"] == "warn" and "DEFER" in last["detail"]
    assert last["fix"] == f"postroom log tracking --recipient {rcpt}"
    tracked = node.cli_json("log", "tracking", "--recipient", rcpt, "--event", "DEFER")
    assert tracked and {r["event_id"] for r in tracked} == {"DEFER"}
    assert tracked[-1]["status"].startswith("4") and "[mx.mx-tempfail.test [127.0.0.22]]" in tracked[-1]["status"]


def test_delivered(lab):
    node, dump = lab
    rcpt = "bob@mx-ok.test"
    _submit(node, rcpt, "doctor-delivered")
    wait_until(lambda: _dumped(dump, "doctor-delivered"), 15, "the sink to receive the message")
    wait_until(lambda: "SEND" in _events(node, rcpt), 10, "the SEND tracking row")
    code, checks = doctor(node, rcpt)
    assert code == 0, checks
    assert checks["queue"]["status"] == "pass"
    assert checks["tracking"]["status"] == "pass"
    assert "the next hop took the last message" in checks["tracking"]["detail"]
    assert " SEND " in checks["tracking"]["detail"] and "250" in checks["tracking"]["detail"]
    assert checks["next-hop"]["status"] in ("pass", "warn")
    assert "mx1.mx-ok.test [127.0.0.21]" in checks["next-hop"]["detail"]
