"""The send doctor's judgement of DNS, DANE and the next hop's TLS, on facts made here (the
live outcomes run against a real node in tests/e2e/test_doctor_send.py): what each check says
for an authenticated TLSA answer, a failed TLSA lookup of a signed host, the system resolver
(DANE not used), an MX that is this server, and a TLS handshake that fell back to clear text."""
from __future__ import annotations

from postroom.dane import TlsaRecord
from postroom.diagnostics import checks_send
from postroom.diagnostics.send import Attempt, SendFacts
from postroom.model import Server, Service, ServiceStatus, Startup, TransportSettings, route
from postroom.model.outbound import SendConnector
from postroom.nexthop.connection import Target, TlsPolicy
from postroom.nexthop.plan import HopPlan, tls_policy
from postroom.protocol.smtp_client import local_reply
from postroom.resolver import DnsError, MxHost, NextHopAnswer, TlsaAnswer

DOMAIN = "partner.example"
CONNECTOR = SendConnector.from_dict({"name": "Internet", "address_spaces": ["*"], "source_servers": ["EX01"]})
RECORD = TlsaRecord(3, 1, 1, b"\x01" * 32)


def facts(dns_servers: tuple[str, ...] = ("127.0.0.1:5353",), plan: HopPlan | None = None) -> SendFacts:
    f = SendFacts(address=f"bob@{DOMAIN}", server=Server("EX01", "mail.example.com"), local=True, data_dir="var",
                  smtp=Service("EX01", "smtp", Startup.AUTOMATIC, ServiceStatus.RUNNING), node_serving=True,
                  heartbeat_age=1.0, transport=TransportSettings.from_dict({"dns_servers": list(dns_servers)}),
                  connectors=[CONNECTOR], domains=["example.com"], receive=[],
                  route=route([CONNECTOR], DOMAIN, "EX01"), queues=[], queued=[], tracking=[])
    f.plan = plan
    return f


def answer(authenticated: bool = True) -> NextHopAnswer:
    return NextHopAnswer(DOMAIN, [MxHost("mx1.partner.example", 10, ["192.0.2.10"], authenticated=authenticated)],
                         authenticated=authenticated)


def target() -> tuple[Target, TlsPolicy]:
    return Target("mx1.partner.example", "192.0.2.10", 25), tls_policy(CONNECTOR, (RECORD,))


def test_authenticated_tlsa_records_make_tls_mandatory():
    tlsa = TlsaAnswer("_25._tcp.mx1.partner.example", [RECORD], authenticated=True)
    f = facts(plan=HopPlan((target(),), answer=answer(), tlsa=(("mx1.partner.example", tlsa),)))
    check = checks_send.dane(f)
    assert check.status == "pass"
    assert check.detail == ("mx1.partner.example: 1 TLSA record(s) at _25._tcp.mx1.partner.example, "
                            "DNSSEC-authenticated: TLS is mandatory and the certificate must match them")
    assert "DNSSEC-authenticated" in checks_send.dns(f).detail


def test_a_failed_tlsa_lookup_of_a_signed_host_keeps_mail_waiting():
    tlsa = TlsaAnswer("_25._tcp.mx1.partner.example", [], authenticated=False,
                      error=DnsError("servfail", "_25._tcp.mx1.partner.example", "TLSA"))
    failure = local_reply(451, "4.7.5", f"{DOMAIN}: no MX host usable with DANE (TLSA lookup failed)")
    f = facts(plan=HopPlan(failure=failure, answer=answer(), tlsa=(("mx1.partner.example", tlsa),),
                           skipped=("mx1.partner.example: TLSA lookup failed",)))
    check = checks_send.dane(f)
    assert check.status == "fail"
    assert "the TLSA lookup of _25._tcp.mx1.partner.example failed" in check.detail
    assert checks_send.next_hop(f).detail == "not checked: no target to connect to (see dns)"


def test_the_system_resolver_is_not_trusted_for_dane():
    f = facts(dns_servers=(), plan=HopPlan((target(),), answer=answer(False)))
    check = checks_send.dane(f)
    assert check.status == "pass" and check.detail.startswith("not used: the system resolver's DNSSEC answers")
    assert "the system resolver" in checks_send.dns(f).detail


def test_an_mx_that_is_this_server_is_a_loop_with_its_fix():
    here = Target("mx1.partner.example", "127.0.0.1", 25)
    f = facts(plan=HopPlan(failure=local_reply(554, "5.4.6", "mail for mx1.partner.example loops back to myself"),
                           permanent=True, answer=answer(), looped=(here,)))
    check = checks_send.dns(f)
    assert check.status == "fail"
    assert "mx1.partner.example [127.0.0.1]:25 is this server" in check.detail
    assert check.fix == f"postroom domain add {DOMAIN}"


def test_tls_results_in_the_next_hop_check():
    f = facts(plan=HopPlan((target(),), answer=answer()))
    f.connected = Attempt("mx1.partner.example [192.0.2.10]:25", greeting="mx1 ESMTP", starttls=True,
                          extensions=("PIPELINING", "STARTTLS", "SIZE 10240000"),
                          tls="TLSv1.3 (DANE matched 3 1 1)")
    check = checks_send.next_hop(f)
    assert check.status == "pass"
    assert check.detail == ('mx1.partner.example [192.0.2.10]:25: greeting "mx1 ESMTP"; EHLO offers PIPELINING, '
                            "STARTTLS, SIZE; STARTTLS: TLSv1.3 (DANE matched 3 1 1)")
    f.connected = Attempt("mx1.partner.example [192.0.2.10]:25", greeting="mx1 ESMTP", starttls=True,
                          clear_fallback=True, tls_error="451 4.7.5 TLS handshake with mx1 failed: bad record mac")
    f.attempts = [Attempt("mx0.partner.example [192.0.2.9]:25", error="451 4.4.1 connect: Connection refused"),
                  f.connected]
    check = checks_send.next_hop(f)
    assert check.status == "warn"
    assert check.detail.startswith("tried first: mx0.partner.example [192.0.2.9]:25: 451 4.4.1 connect")
    assert "the TLS handshake failed (451 4.7.5 TLS handshake with mx1 failed: bad record mac)" in check.detail
