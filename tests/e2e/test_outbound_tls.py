"""Outbound TLS end to end: a real `postroom serve` delivers to real STARTTLS peers.

The peers are aiosmtpd servers (an SMTP implementation independent of postroom's) on loopback,
with certificates from a test CA (trustme): 127.0.0.28 on the lab's sink port, found through
the fake DNS as the MX of several domains, and 127.0.0.29, a smart host that wants AUTH after
STARTTLS. The served node trusts the test CA through SSL_CERT_FILE, as it would trust a real
one through the system store. What each peer saw (TLS or not, the login, the mail) is what the
tests assert on, with the queue's own view of a message that must not leave.
"""
from __future__ import annotations

import hashlib
import smtplib
import ssl
from dataclasses import dataclass, field
from typing import Any

import pytest
import trustme
from aiosmtpd import controller as aiosmtpd_controller
from aiosmtpd import smtp as aiosmtpd_smtp
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from .harness import Postroom, free_port, wait_until
from .relay_lab import relay_lab

pytestmark = pytest.mark.e2e

PEER, SMART = "127.0.0.28", "127.0.0.29"
SMART_USER, SMART_PASSWORD = "relay-account", "smart-host-secret-7"
ZONE = {
    "tls.test": {"MX": ["10 mx.tls.test."]},
    "mx.tls.test": {"A": [PEER]},
    "dane-ok.test": {"MX": ["10 mx.dane-ok.test."]},
    "mx.dane-ok.test": {"A": [PEER]},
    "dane-bad.test": {"MX": ["10 mx.dane-bad.test."]},
    "mx.dane-bad.test": {"A": [PEER]},
    "smart.test": {"A": [SMART]},
}


@dataclass
class Received:
    tls: bool
    login: str | None
    sender: str
    recipients: list[str]
    content: bytes


@dataclass
class Peer:
    """What an aiosmtpd peer saw: every MAIL FROM (a message sent in clear would show here even
    if its data never came) and every message received."""

    mail_from: list[tuple[str, bool]] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, options: list) -> str:
        self.mail_from.append((address, session.ssl is not None))
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        login = session.auth_data.login.decode() if session.authenticated and session.auth_data else None
        self.received.append(Received(session.ssl is not None, login, envelope.mail_from, list(envelope.rcpt_tos),
                                      envelope.content))
        return "250 2.0.0 Ok: queued"

    def subjects(self) -> list[str]:
        return [line.split(b":", 1)[1].strip().decode() for r in self.received
                for line in r.content.splitlines() if line.startswith(b"Subject:")]


def _check_login(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> Any:
    ok = (isinstance(auth_data, aiosmtpd_smtp.LoginPassword) and auth_data.login == SMART_USER.encode()
          and auth_data.password == SMART_PASSWORD.encode())
    return aiosmtpd_smtp.AuthResult(success=ok, handled=False, auth_data=auth_data)


def _tlsa(pem: bytes) -> str:
    """A DANE-EE SPKI SHA2-256 record (3 1 1) for the certificate."""
    spki = x509.load_pem_x509_certificate(pem).public_key().public_bytes(Encoding.DER,
                                                                          PublicFormat.SubjectPublicKeyInfo)
    return f"3 1 1 {hashlib.sha256(spki).hexdigest()}"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    ca = trustme.CA()
    leaf = ca.issue_cert("mx.tls.test", "mx.dane-ok.test", "mx.dane-bad.test", "smart.test")
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(server_context)
    root = tmp_path_factory.mktemp("outbound-tls")
    ca_file = root / "test-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))

    smart_peer, smart_port = Peer(), free_port()
    smart = aiosmtpd_controller.Controller(
        smart_peer, hostname=SMART, port=smart_port, server_hostname="smart.test", tls_context=server_context,
        require_starttls=True,
        authenticator=_check_login, auth_required=True, auth_require_tls=True)
    smart.start()

    def prepare(node: Postroom) -> None:
        node.env["SSL_CERT_FILE"] = str(ca_file)  # the node trusts the test CA as a system CA
        node.cli("send-connector", "new", "Partner", "--address-spaces", "partner.test", "--no-dns-routing",
                 "--smart-hosts", f"smart.test:{smart_port}", "--smart-host-auth", "basic",
                 "--auth-username", SMART_USER, "--require-tls", "--tls-auth-level", "domain-validation",
                 "--tls-domain", "smart.test", "--auth-password-stdin", input=SMART_PASSWORD + "\n")
        node.cli("send-connector", "new", "Misnamed", "--address-spaces", "misnamed.test", "--no-dns-routing",
                 "--smart-hosts", f"smart.test:{smart_port}", "--require-tls", "--tls-auth-level",
                 "domain-validation", "--tls-domain", "other.example")

    try:
        with relay_lab(root / "node", ZONE, [], transport=("--transient-failure-retry-interval", "1s"),
                       prepare=prepare) as (node, _dump):
            peer = Peer()
            # The DNS-routed peer listens on the lab's sink port; its TLSA records name that port.
            matching = _tlsa(leaf.cert_chain_pems[0].bytes())
            node.dns.zone[f"_{node.sink_port}._tcp.mx.dane-ok.test"] = {"TLSA": [matching]}
            node.dns.zone[f"_{node.sink_port}._tcp.mx.dane-bad.test"] = {"TLSA": ["3 1 1 " + "00" * 32]}
            node.dns.authenticated.update({"dane-ok.test", "dane-bad.test"})
            # (named in its greeting: a greeting with the node's own name would be a loop)
            dns_routed = aiosmtpd_controller.Controller(peer, hostname=PEER, port=node.sink_port,
                                                        server_hostname="mx.tls.test", tls_context=server_context)
            dns_routed.start()
            try:
                yield node, peer, smart_peer
            finally:
                dns_routed.stop()
    finally:
        smart.stop()


def _submit(node: Postroom, rcpt: str, subject: str) -> None:
    body = f"From: app@example.com\r\nTo: {rcpt}\r\nSubject: {subject}\r\n\r\nhello {subject}\r\n"
    with smtplib.SMTP("127.0.0.1", node.relay_port, timeout=10) as client:
        client.sendmail("app@example.com", [rcpt], body)


def _recipient(node: Postroom, address: str) -> dict:
    for message in node.cli_json("queue", "messages"):
        detail = node.cli_json("message", "show", message["id"])
        for recipient in detail["recipients"]:
            if recipient["address"] == address:
                return recipient
    return {}


def test_opportunistic_starttls_encrypts_the_delivery(lab):
    node, peer, _ = lab
    _submit(node, "bob@tls.test", "opportunistic")
    wait_until(lambda: "opportunistic" in peer.subjects(), 15, "the TLS peer to receive the message")
    received = [r for r in peer.received if b"Subject: opportunistic" in r.content][0]
    assert received.tls and received.recipients == ["bob@tls.test"]


def test_dane_records_that_match_the_certificate_let_the_message_through(lab):
    node, peer, _ = lab
    _submit(node, "carol@dane-ok.test", "dane-match")
    wait_until(lambda: "dane-match" in peer.subjects(), 15, "the DANE peer to receive the message")
    assert [r.tls for r in peer.received if b"dane-match" in r.content] == [True]
    sent = [r for r in node.cli_json("log", "tracking", "--recipient", "carol@dane-ok.test") if r["event_id"] == "SEND"]
    assert sent and "250" in sent[0]["status"]


def test_dane_records_that_do_not_match_defer_the_message_and_nothing_goes_in_clear(lab):
    node, peer, _ = lab
    _submit(node, "dave@dane-bad.test", "dane-mismatch")
    recipient = wait_until(lambda: (r := _recipient(node, "dave@dane-bad.test")) and r["last_reply"] and r, 15,
                           "the first attempt to end")
    assert recipient["status"] == "retry"
    assert "4.7.5" in recipient["last_reply"] and "DANE" in recipient["last_reply"]
    assert not any(address == "app@example.com" and not tls for address, tls in peer.mail_from)
    assert "dane-mismatch" not in peer.subjects()


def test_a_smart_host_gets_the_login_only_over_tls_with_its_name_checked(lab):
    node, _, smart = lab
    _submit(node, "erin@partner.test", "via-smart-host")
    wait_until(lambda: "via-smart-host" in smart.subjects(), 15, "the smart host to receive the message")
    received = [r for r in smart.received if b"via-smart-host" in r.content][0]
    assert received.tls and received.login == SMART_USER
    # the secret never shows in the connector's view
    shown = node.cli("send-connector", "show", "Partner").stdout
    assert SMART_PASSWORD not in shown


def test_a_smart_host_whose_certificate_names_another_domain_gets_nothing(lab):
    node, _, smart = lab
    before = len(smart.mail_from)
    _submit(node, "frank@misnamed.test", "misnamed")
    recipient = wait_until(lambda: (r := _recipient(node, "frank@misnamed.test")) and r["last_reply"] and r, 15,
                           "the first attempt to end")
    assert recipient["status"] == "retry" and "4.7.5" in recipient["last_reply"]
    assert "other.example" in recipient["last_reply"]
    assert len(smart.mail_from) == before
