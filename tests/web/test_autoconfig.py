"""Thunderbird autoconfig and Outlook autodiscover: public documents generated from the live
IMAP4 and POP3 bindings and the submission connector."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import pytest

from postroom.model import ImapSettings, PopSettings
from postroom.service import imap, pop

from .conftest import MAILBOX_USER, Api

AUTOCONFIG = ("/.well-known/autoconfig/mail/config-v1.1.xml", "/mail/config-v1.1.xml")
AUTODISCOVER = "/autodiscover/autodiscover.xml"
RESPONSE_NS = "{http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a}"
REQUEST = """<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request>
    <EMailAddress>{address}</EMailAddress>
    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
  </Request>
</Autodiscover>"""


def document(answer: Any) -> ET.Element:
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/xml")
    return ET.fromstring(answer.content)


def thunderbird(api: Api, path: str) -> dict[str, Any]:
    root = document(api.get(f"{path}?emailaddress={MAILBOX_USER[0]}"))
    assert (root.tag, root.get("version")) == ("clientConfig", "1.1")
    provider = root.find("emailProvider")

    def servers(kind: str, kind_type: str) -> list[tuple[str, int, str, str, str]]:
        return [(s.findtext("hostname"), int(s.findtext("port")), s.findtext("socketType"), s.findtext("username"),
                 s.findtext("authentication")) for s in provider.findall(kind) if s.get("type") == kind_type]

    return {"domains": [d.text for d in provider.findall("domain")], "pop3": servers("incomingServer", "pop3"),
            "imap": servers("incomingServer", "imap"), "smtp": servers("outgoingServer", "smtp"),
            "incoming": [s.get("type") for s in provider.findall("incomingServer")]}


def outlook(answer: Any) -> list[dict[str, str]]:
    root = document(answer)
    account = root.find(f"{RESPONSE_NS}Response/{RESPONSE_NS}Account")
    assert account.findtext(f"{RESPONSE_NS}AccountType") == "email"
    assert account.findtext(f"{RESPONSE_NS}Action") == "settings"
    return [{child.tag.removeprefix(RESPONSE_NS): child.text for child in protocol}
            for protocol in account.findall(f"{RESPONSE_NS}Protocol")]


@pytest.mark.parametrize("path", AUTOCONFIG)
def test_thunderbird_autoconfig_names_the_live_settings(api: Api, path: str) -> None:
    settings = thunderbird(api, path)  # no sign-in: mail clients ask before anyone has credentials
    assert settings["domains"] == ["example.com", "spare.example"]
    assert settings["pop3"] == [("localhost", 1995, "SSL", "%EMAILADDRESS%", "password-cleartext"),
                                ("localhost", 1110, "STARTTLS", "%EMAILADDRESS%", "password-cleartext")]
    assert settings["smtp"] == [("localhost", 2587, "STARTTLS", "%EMAILADDRESS%", "password-cleartext")]
    assert settings["imap"] == [("localhost", 1993, "SSL", "%EMAILADDRESS%", "password-cleartext"),
                                ("localhost", 1143, "STARTTLS", "%EMAILADDRESS%", "password-cleartext")]
    assert settings["incoming"] == ["imap", "imap", "pop3", "pop3"]  # IMAP4 is what Thunderbird proposes


def test_outlook_autodiscover_names_the_live_settings(api: Api) -> None:
    for answer in (api.get(AUTODISCOVER), api.post(AUTODISCOVER, content=REQUEST.format(address=MAILBOX_USER[0]))):
        protocols = outlook(answer)
        pop3 = [(p["Server"], p["Port"], p["SSL"], p["Encryption"]) for p in protocols if p["Type"] == "POP3"]
        assert pop3 == [("localhost", "1995", "on", "SSL"), ("localhost", "1110", "off", "TLS")]
        imap4 = [(p["Server"], p["Port"], p["SSL"], p["Encryption"], p["AuthRequired"]) for p in protocols
                 if p["Type"] == "IMAP"]
        assert imap4 == [("localhost", "1993", "on", "SSL", "on"), ("localhost", "1143", "off", "TLS", "on")]
        smtp = [p for p in protocols if p["Type"] == "SMTP"]
        assert [(p["Server"], p["Port"], p["Encryption"], p["AuthRequired"]) for p in smtp] == \
            [("localhost", "2587", "TLS", "on")]


def test_autodiscover_echoes_the_requested_address_as_login_name(api: Api) -> None:
    protocols = outlook(api.post(AUTODISCOVER, content=REQUEST.format(address="Alice@Example.COM")))
    assert {p["LoginName"] for p in protocols} == {"alice@example.com"}
    assert all("LoginName" not in p for p in outlook(api.get(AUTODISCOVER)))


@pytest.mark.parametrize("body", [
    b"", b"garbage", b"<unclosed>", REQUEST.format(address="not an address").encode(),
    REQUEST.format(address="<script>alert(1)</script>").encode(),
    b'<?xml version="1.0" encoding="bogus"?><a/>', b"\xff\xfe\x00garbage",
    b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "alice@example.com">]><a><EMailAddress>&x;</EMailAddress></a>',
    REQUEST.format(address="alice@example.com").replace("utf-8", "utf-16").encode("utf-16").replace(
        b"<\x00A\x00u\x00", b"<\x00!\x00D\x00O\x00C\x00T\x00Y\x00P\x00E\x00 \x00a\x00>\x00<\x00A\x00u\x00", 1),
])
def test_a_malformed_request_still_gets_a_valid_answer(api: Api, body: bytes) -> None:
    protocols = outlook(api.post(AUTODISCOVER, content=body, headers={"Content-Type": "text/xml"}))
    assert [p["Type"] for p in protocols] == ["IMAP", "IMAP", "POP3", "POP3", "SMTP"]
    assert all("LoginName" not in p for p in protocols)


def test_the_documents_follow_a_pop_set(api: Api, operator, run) -> None:
    run(pop.set_pop(operator, None, PopSettings.changes(bindings="192.0.2.10:2110",
                                                        ssl_bindings="0.0.0.0:2995,[::]:2995")))
    for path in AUTOCONFIG:
        assert [s[:3] for s in thunderbird(api, path)["pop3"]] == [("localhost", 2995, "SSL"),
                                                                  ("192.0.2.10", 2110, "STARTTLS")]
    pop3 = [(p["Server"], p["Port"], p["SSL"]) for p in outlook(api.get(AUTODISCOVER)) if p["Type"] == "POP3"]
    assert pop3 == [("localhost", "2995", "on"), ("192.0.2.10", "2110", "off")]
    run(pop.set_pop(operator, None, PopSettings.changes(ssl_bindings="")))
    assert [s[:3] for s in thunderbird(api, AUTOCONFIG[0])["pop3"]] == [("192.0.2.10", 2110, "STARTTLS")]


def test_the_documents_follow_an_imap_set(api: Api, operator, run) -> None:
    run(imap.set_imap(operator, None, ImapSettings.changes(bindings="192.0.2.10:2143", ssl_bindings="")))
    for path in AUTOCONFIG:
        assert [s[:3] for s in thunderbird(api, path)["imap"]] == [("192.0.2.10", 2143, "STARTTLS")]
    imap4 = [(p["Server"], p["Port"], p["SSL"]) for p in outlook(api.get(AUTODISCOVER)) if p["Type"] == "IMAP"]
    assert imap4 == [("192.0.2.10", "2143", "off")]
    run(imap.set_imap(operator, None, ImapSettings.changes(bindings="")))
    assert thunderbird(api, AUTOCONFIG[0])["imap"] == [] and thunderbird(api, AUTOCONFIG[0])["incoming"] == ["pop3"] * 2


def test_reading_them_leaves_no_audit_entry(api: Api, store, run) -> None:
    before = len(run(store.list_audit(1000)))
    api.get(AUTOCONFIG[0])
    api.post(AUTODISCOVER, content=REQUEST.format(address=MAILBOX_USER[0]))
    assert len(run(store.list_audit(1000))) == before
