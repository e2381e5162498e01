"""`doctor send` over the REST API and on the console's Troubleshooting page, and message
tracking's event and queue-id filters, on the web fixtures' dev install (no node serves it; its
one send connector, Spare, routes only spare.example). The live outcomes (null MX, NXDOMAIN,
refused, queued, delivered) are in tests/e2e/test_doctor_send.py; the roles in
test_permissions.py; the CLI's agreement in test_cli_api_parity.py."""
from __future__ import annotations

import re

from postroom.diagnostics.doctor_send import CHECK_NAMES

from .conftest import error_of
from .test_console_troubleshooting import viewer  # noqa: F401  (fixture)

DOCTOR = "/api/v1/doctor/send"
PAGE = "/console/troubleshooting"


def by_name(checks: list[dict]) -> dict[str, dict]:
    assert [c["name"] for c in checks] == list(CHECK_NAMES)
    assert all(set(c) == {"name", "status", "detail", "fix", "page"} for c in checks)
    return {c["name"]: c for c in checks}


def test_no_node_and_no_connector_are_the_failures(api, principals, data_dir):
    answer = api.get(f"{DOCTOR}/Zed@Partner.Example", headers=principals["view-only"].bearer)
    assert answer.status_code == 200, answer.text
    checks = by_name(answer.json())
    assert {n for n, c in checks.items() if c["status"] == "fail"} == {"delivery-service", "send-connector"}
    assert checks["recipient"]["detail"].startswith("partner.example is not an accepted domain")
    assert checks["delivery-service"]["fix"] == f"postroom serve --data {data_dir}"
    connector = checks["send-connector"]
    assert connector["detail"] == ("no send connector's address spaces match partner.example (Spare: "
                                   "spare.example;1): mail to partner.example is refused at submission with 550 "
                                   "5.7.1 (relaying denied)")
    assert connector["fix"] == "postroom send-connector set Spare --address-spaces 'spare.example;1,partner.example'"
    assert connector["page"] == "/console/send-connectors"
    for name in ("dns", "dane", "next-hop"):
        assert checks[name]["detail"] == "not checked: no send connector routes the domain (see send-connector)"
    assert checks["queue"]["status"] == "pass"  # (the install queues mail for bob@ and carol@, not zed@)
    assert checks["tracking"]["fix"] == "postroom log tracking --recipient zed@partner.example"
    assert checks["tracking"]["page"] == "/console/logs/tracking?recipient=zed@partner.example"


def test_a_local_address_is_not_sent_out(api, principals):
    checks = by_name(api.get(f"{DOCTOR}/alice@example.com", headers=principals["view-only"].bearer).json())
    assert checks["recipient"]["status"] == "warn"
    assert "example.com is an accepted domain" in checks["recipient"]["detail"]
    assert checks["send-connector"]["detail"] == "not checked: the recipient is local (see recipient)"


def test_a_bad_address_names_its_field(api, principals):
    error = error_of(api.get(f"{DOCTOR}/not-an-address", headers=principals["view-only"].bearer), 400)
    assert error["field"] == "address"
    error_of(api.get(f"{DOCTOR}/bob@partner.example?server=NOPE", headers=principals["view-only"].bearer), 404)


def test_tracking_filters_by_event_and_refuses_an_unknown_one(api, principals):
    headers = principals["view-only"].bearer
    answer = api.get("/api/v1/message-tracking?event_id=send", headers=headers)
    assert answer.status_code == 200 and answer.json() == []
    error = error_of(api.get("/api/v1/message-tracking?event_id=SENT", headers=headers), 400)
    assert error["field"] == "event_id"
    assert error["allowed"] == ["RECEIVE", "DELIVER", "FAIL", "SEND", "DEFER", "DSN", "RESUBMIT", "POISONMESSAGE"]
    error = error_of(api.get("/api/v1/message-tracking?queue_id=xyz", headers=headers), 400)
    assert error["field"] == "queue_id"


def test_the_console_runs_the_send_doctor(api, viewer):  # noqa: F811
    answer = api.get(f"{PAGE}?send_to=bob@partner.example")
    assert answer.status_code == 200, answer.text[:2000]
    page = answer.text
    found = dict(re.findall(r'<tr class="health-\w+" data-send-check="([\w-]+)">(.*?)</tr>', page, re.S))
    assert list(found) == list(CHECK_NAMES)
    row = found["send-connector"]
    assert '<td class="bad">fail</td>' in row
    assert "postroom send-connector set Spare --address-spaces &#39;spare.example;1,partner.example&#39;" in row
    assert '<a href="/console/send-connectors">Send connectors</a>' in row
    assert "2 checks failed" in page and "for mail to bob@partner.example" in page
    bad = api.get(f"{PAGE}?send_to=not-an-address")
    assert bad.status_code == 400 and 'id="send-error"' in bad.text


def test_the_tracking_page_filters_by_event(api, viewer):  # noqa: F811
    page = api.get("/console/logs/tracking?event_id=DEFER")
    assert page.status_code == 200
    assert '<option value="POISONMESSAGE" >POISONMESSAGE</option>' in page.text
    assert '<option value="DEFER" selected>DEFER</option>' in page.text
    bad = api.get("/console/logs/tracking?event_id=SENT")
    assert bad.status_code == 400 and "is not a tracking event id" in bad.text
