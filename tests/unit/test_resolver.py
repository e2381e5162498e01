"""The delivery resolver against the in-process fake DNS server (tests/dns_support.py): next-hop
selection as the relay lab's fake domains define it (MX order, equal preferences shuffled,
implicit MX, null MX, NXDOMAIN permanent, SERVFAIL and timeouts temporary, MX hosts without an
address), its TTL cache (with an injected clock), the AD bit, and TLSA records."""
from __future__ import annotations

import asyncio
import random
import socket
import time

import dns.nameserver
import pytest

from dns_support import LAB_BEHAVIOURS, LAB_ZONE, FakeDns, fake_dns, running_fake_dns  # noqa: F401 (fake_dns: a fixture)
from postroom.dane import TlsaRecord
from postroom.errors import ValidationError
from postroom.resolver import DnsFailure, Resolver, parse_server


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def run(coro):
    return asyncio.run(coro)


async def lab(**behaviours):
    merged = {key: set(value) for key, value in LAB_BEHAVIOURS.items()}
    for key, value in behaviours.items():
        merged.setdefault(key, set()).update(value)
    return await FakeDns(LAB_ZONE, **merged).start()


def summary(answer):
    """What a delivery sees: the hosts and addresses in order, or the error."""
    if answer.error is not None:
        return (answer.error.kind, answer.error.status, answer.error.permanent)
    return [(h.name, h.preference, h.addresses) for h in answer.hosts]


# -- the relay lab's fake domains, one by one -----------------------------------------------------

@pytest.mark.parametrize("domain, expected", [
    ("mx-ok.test", [("mx1.mx-ok.test", 10, ["127.0.0.21"])]),
    ("mx-fallback.test", [("mx1.mx-fallback.test", 10, ["127.0.0.23"]), ("mx2.mx-fallback.test", 20, ["127.0.0.21"])]),
    ("a-only.test", [("a-only.test", 0, ["127.0.0.21"])]),
    ("null-mx.test", ("null-mx", "5.1.10", True)),
    ("nxdomain.test", ("nxdomain", "5.4.4", True)),
    ("mx-nohost.test", ("no-address", "5.4.4", True)),
    ("servfail.test", ("servfail", "4.4.3", False)),
    ("dns-timeout.test", ("timeout", "4.4.3", False)),
])
def test_next_hops_of_the_lab_domains(domain, expected):
    async def scenario():
        server = await lab()
        try:
            return summary(await Resolver([server.address], timeout=0.5).mx_hosts(domain))
        finally:
            await server.stop()
    assert run(scenario()) == expected


def test_mx_hosts_come_in_preference_order_with_ipv4_first():
    zone = {"example.test": {"MX": ["30 c.example.test.", "10 a.example.test.", "20 b.example.test."]},
            "a.example.test": {"A": ["192.0.2.1", "192.0.2.2"], "AAAA": ["2001:db8::1"]},
            "b.example.test": {"AAAA": ["2001:db8::2"]},
            "c.example.test": {"A": ["192.0.2.3"]}}

    async def scenario():
        async with FakeDns(zone) as server:
            return await Resolver([server.address]).mx_hosts("Example.TEST.")
    answer = run(scenario())
    first = answer.hosts[0]
    assert sorted(first.addresses[:2]) == ["192.0.2.1", "192.0.2.2"] and first.addresses[2:] == ["2001:db8::1"]
    assert summary(answer)[1:] == [("b.example.test", 20, ["2001:db8::2"]), ("c.example.test", 30, ["192.0.2.3"])]
    assert [(h.name, h.preference) for h in answer.hosts][:1] == [("a.example.test", 10)]
    assert (answer.implicit, answer.null_mx, answer.domain) == (False, False, "example.test")


def test_equal_preferences_are_shuffled_on_every_call_even_from_the_cache():
    zone = {"eq.test": {"MX": ["10 x.eq.test.", "10 y.eq.test.", "10 z.eq.test.", "20 last.eq.test."]},
            **{f"{h}.eq.test": {"A": [f"192.0.2.{i}"]} for i, h in enumerate(["x", "y", "z", "last"], 1)}}

    async def scenario():
        async with FakeDns(zone) as server:
            resolver = Resolver([server.address], rng=random.Random(7))
            orders = [tuple(h.name for h in (await resolver.mx_hosts("eq.test")).hosts) for _ in range(40)]
            return orders, len(server.queries_for("eq.test", "MX"))
    orders, mx_queries = run(scenario())
    assert {order[-1] for order in orders} == {"last.eq.test"}
    assert {frozenset(order[:3]) for order in orders} == {frozenset({"x.eq.test", "y.eq.test", "z.eq.test"})}
    assert len(set(orders)) >= 3  # 6 possible orders; a fixed order would give 1
    assert mx_queries == 1


def test_null_mx_never_uses_the_domains_address_records():
    async def scenario():
        server = await lab()
        try:
            answer = await Resolver([server.address]).mx_hosts("null-mx.test")
            return answer, server.queries_for("null-mx.test")
        finally:
            await server.stop()
    answer, queries = run(scenario())
    assert answer.null_mx and answer.hosts == [] and not answer.implicit
    assert answer.error.text == "Domain does not accept mail (null MX) (null-mx.test MX: MX 0 .)"
    assert [q.rdtype for q in queries] == ["MX"]


def test_implicit_mx_when_the_domain_has_no_mx():
    async def scenario():
        server = await lab()
        try:
            return await Resolver([server.address]).mx_hosts("a-only.test")
        finally:
            await server.stop()
    answer = run(scenario())
    assert answer.implicit and not answer.null_mx and answer.error is None


def test_no_mx_and_no_address_is_permanent():
    zone = {"bare.test": {"TXT": ['"v=spf1 -all"']}}

    async def scenario():
        async with FakeDns(zone) as server:
            return await Resolver([server.address]).mx_hosts("bare.test")
    answer = run(scenario())
    assert answer.implicit and summary(answer) == ("no-address", "5.4.4", True)


def test_a_host_without_address_is_skipped_and_reported():
    zone = {"part.test": {"MX": ["10 missing.part.test.", "20 ok.part.test."]},
            "ok.part.test": {"A": ["192.0.2.9"]}}

    async def scenario():
        async with FakeDns(zone) as server:
            return await Resolver([server.address]).mx_hosts("part.test")
    answer = run(scenario())
    assert summary(answer) == [("ok.part.test", 20, ["192.0.2.9"])]
    assert [(h.name, h.error.kind, h.error.detail) for h in answer.unusable] == [("missing.part.test", "no-address",
                                                                                  "NXDOMAIN")]


def test_a_temporary_failure_of_one_host_wins_over_a_permanent_one():
    zone = {"mixed.test": {"MX": ["10 missing.mixed.test.", "20 broken.mixed.test."]}}

    async def scenario():
        async with FakeDns(zone, servfail={"broken.mixed.test"}) as server:
            return await Resolver([server.address]).mx_hosts("mixed.test")
    answer = run(scenario())
    assert summary(answer) == ("servfail", "4.4.3", False)
    assert answer.error.name == "broken.mixed.test"


def test_the_timeout_bounds_the_lookup():
    async def scenario():
        server = await lab()
        try:
            started = time.monotonic()
            answer = await Resolver([server.address], timeout=0.4).mx_hosts("dns-timeout.test")
            return answer, time.monotonic() - started
        finally:
            await server.stop()
    answer, elapsed = run(scenario())
    assert answer.error.kind == "timeout" and answer.error.temporary
    assert elapsed < 2.0


def test_an_unreachable_server_is_a_temporary_failure():
    async def scenario():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:  # a port nobody answers on
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        return await Resolver([f"127.0.0.1:{port}"], timeout=0.5).mx_hosts("mx-ok.test")
    answer = run(scenario())
    assert answer.error.kind in ("servfail", "timeout") and answer.error.status == "4.4.3"


def test_invalid_names_are_permanent_without_a_query():
    async def scenario():
        async with FakeDns({}) as server:
            resolver = Resolver([server.address])
            answers = [await resolver.mx_hosts(name) for name in ("a..b.test", "x" * 64 + ".test")]
            return answers, server.queries
    answers, queries = run(scenario())
    assert [summary(a) for a in answers] == [("bad-name", "5.1.2", True)] * 2
    assert queries == []


def test_an_address_literal_domain_is_its_own_host():
    async def scenario():
        async with FakeDns({}) as server:
            resolver = Resolver([server.address])
            return [summary(await resolver.mx_hosts(d)) for d in ("[192.0.2.7]", "[IPv6:2001:db8::7]")], server.queries
    answers, queries = run(scenario())
    assert answers == [[("[192.0.2.7]", 0, ["192.0.2.7"])], [("[ipv6:2001:db8::7]", 0, ["2001:db8::7"])]]
    assert queries == []


def test_an_mx_target_is_a_name_never_an_address():
    zone = {"numeric.test": {"MX": ["10 192.0.2.1."]}}

    async def scenario():
        async with FakeDns(zone) as server:
            resolver = Resolver([server.address])
            return await resolver.mx_hosts("numeric.test"), await resolver.mx_hosts("192.0.2.1")
    numeric_mx, bare_address = run(scenario())
    assert summary(numeric_mx) == ("no-address", "5.4.4", True)
    assert summary(bare_address) == ("nxdomain", "5.4.4", True)  # a domain, unlike [192.0.2.1]


def test_cnames_are_followed_to_the_address():
    zone = {"cn.test": {"MX": ["10 mail.cn.test."]}, "mail.cn.test": {"CNAME": ["real.cn.test."]},
            "real.cn.test": {"A": ["192.0.2.44"]}}

    async def scenario():
        async with FakeDns(zone) as server:
            return await Resolver([server.address]).mx_hosts("cn.test")
    assert summary(run(scenario())) == [("mail.cn.test", 10, ["192.0.2.44"])]


def test_a_truncated_udp_answer_is_asked_again_over_tcp():
    zone = {"big.test": {"MX": [f"{i} mx{i}.big.test." for i in range(1, 4)]},
            **{f"mx{i}.big.test": {"A": [f"192.0.2.{i}"]} for i in range(1, 4)}}

    async def scenario():
        async with FakeDns(zone, truncate={"big.test"}) as server:
            answer = await Resolver([server.address]).mx_hosts("big.test")
            return answer, [q.transport for q in server.queries_for("big.test", "MX")]
    answer, transports = run(scenario())
    assert [h.name for h in answer.hosts] == ["mx1.big.test", "mx2.big.test", "mx3.big.test"]
    assert transports == ["udp", "tcp"]


# -- addresses -----------------------------------------------------------------------------------

def test_addresses_ipv4_first_and_failures_raise_with_the_reason():
    zone = {"smart.test": {"AAAA": ["2001:db8::5"], "A": ["192.0.2.5"]}}

    async def scenario():
        async with FakeDns(zone, servfail={"down.test"}) as server:
            resolver = Resolver([server.address])
            found = await resolver.addresses("smart.test")
            literal = await resolver.addresses("192.0.2.99")
            errors = []
            for name in ("nothere.test", "down.test"):
                with pytest.raises(DnsFailure) as failure:
                    await resolver.addresses(name)
                errors.append((failure.value.error.kind, failure.value.error.permanent))
            return found, literal, errors
    found, literal, errors = run(scenario())
    assert found == ["192.0.2.5", "2001:db8::5"]
    assert literal == ["192.0.2.99"]
    assert errors == [("no-address", True), ("servfail", False)]


# -- the cache -----------------------------------------------------------------------------------

def test_answers_are_cached_for_their_ttl():
    zone = {"ttl.test": {"MX": ["10 one.ttl.test."], "ttl": 60},
            "one.ttl.test": {"A": ["192.0.2.1"], "ttl": 600}, "two.ttl.test": {"A": ["192.0.2.2"]}}

    async def scenario():
        clock = Clock()
        async with FakeDns(zone) as server:
            resolver = Resolver([server.address], clock=clock)
            first = await resolver.mx_hosts("ttl.test")
            zone["ttl.test"]["MX"] = ["10 two.ttl.test."]
            clock.now += 59
            cached = await resolver.mx_hosts("ttl.test")
            queries_while_cached = len(server.queries)
            clock.now += 2
            fresh = await resolver.mx_hosts("ttl.test")
            return first, cached, queries_while_cached, fresh, server.queries_for("ttl.test", "MX")
    first, cached, queries_while_cached, fresh, mx_queries = run(scenario())
    assert [h.name for h in first.hosts] == [h.name for h in cached.hosts] == ["one.ttl.test"]
    assert queries_while_cached == 3  # MX, A, AAAA: the second call asked nothing
    assert [h.name for h in fresh.hosts] == ["two.ttl.test"]
    assert len(mx_queries) == 2


def test_negative_answers_are_cached_for_the_soa_minimum():
    async def scenario():
        clock = Clock()
        async with FakeDns({}, negative_ttl=120) as server:
            resolver = Resolver([server.address], clock=clock)
            await resolver.mx_hosts("gone.test")
            clock.now += 119
            await resolver.mx_hosts("gone.test")
            counted = len(server.queries)
            server.zone["gone.test"] = {"MX": ["10 back.gone.test."], "A": ["192.0.2.1"]}
            server.zone["back.gone.test"] = {"A": ["192.0.2.8"]}
            clock.now += 2
            return counted, await resolver.mx_hosts("gone.test")
    counted, answer = run(scenario())
    assert counted == 1
    assert summary(answer) == [("back.gone.test", 10, ["192.0.2.8"])]


def test_server_failures_are_remembered_briefly():
    async def scenario():
        clock = Clock()
        async with FakeDns({"flaky.test": {"MX": ["10 mx.flaky.test."]}, "mx.flaky.test": {"A": ["192.0.2.3"]}},
                           servfail={"flaky.test"}) as server:
            resolver = Resolver([server.address], clock=clock)
            first = await resolver.mx_hosts("flaky.test")
            server.servfail.clear()
            clock.now += 29
            second = await resolver.mx_hosts("flaky.test")
            clock.now += 2
            third = await resolver.mx_hosts("flaky.test")
            return [summary(a) for a in (first, second, third)]
    first, second, third = run(scenario())
    assert first == second == ("servfail", "4.4.3", False)
    assert third == [("mx.flaky.test", 10, ["192.0.2.3"])]


def test_the_cache_is_bounded_least_recently_used_out_first():
    zone = {f"h{i}.test": {"A": [f"192.0.2.{i}"]} for i in range(1, 4)}

    async def scenario():
        async with FakeDns(zone) as server:
            resolver = Resolver([server.address], cache_size=4)  # two hosts: A and AAAA each
            for name in ("h1.test", "h2.test", "h1.test", "h3.test", "h1.test", "h2.test"):
                await resolver.addresses(name)
            return [q.name for q in server.queries if q.rdtype == "A"]
    assert run(scenario()) == ["h1.test", "h2.test", "h3.test", "h2.test"]


def test_concurrent_identical_lookups_share_one_query():
    async def scenario():
        server = await lab()
        try:
            resolver = Resolver([server.address])
            answers = await asyncio.gather(*(resolver.mx_hosts("mx-ok.test") for _ in range(20)))
            return answers, server.queries
        finally:
            await server.stop()
    answers, queries = run(scenario())
    assert {tuple(a.hosts[0].addresses) for a in answers} == {("127.0.0.21",)}
    assert sorted((q.name, q.rdtype) for q in queries) == [("mx-ok.test", "MX"), ("mx1.mx-ok.test", "A"),
                                                           ("mx1.mx-ok.test", "AAAA")]


# -- DNSSEC: the AD bit, TLSA ----------------------------------------------------------------------

def test_tlsa_records_with_the_ad_bit_from_a_configured_server():
    async def scenario():
        server = await lab()
        try:
            resolver = Resolver([server.address])
            return (await resolver.mx_hosts("tls-peer.test"), await resolver.tlsa("mx.tls-peer.test"),
                    await resolver.mx_hosts("mx-ok.test"), server.queries)
        finally:
            await server.stop()
    secure_mx, tlsa, insecure_mx, queries = run(scenario())
    assert secure_mx.authenticated and secure_mx.hosts[0].authenticated
    assert not insecure_mx.authenticated and not insecure_mx.hosts[0].authenticated
    assert tlsa.name == "_25._tcp.mx.tls-peer.test" and tlsa.authenticated and tlsa.error is None
    assert tlsa.records == [TlsaRecord(3, 1, 1, bytes.fromhex("ab" * 32))]
    assert all(q.do for q in queries)  # every query asked for DNSSEC


def test_the_system_resolvers_ad_bit_is_not_trusted():
    async def scenario():
        server = await lab()
        try:
            resolver = Resolver()  # the system resolver, pointed at the fake server for the test
            resolver._stub.nameservers = [dns.nameserver.Do53Nameserver("127.0.0.1", server.port)]
            return await resolver.tlsa("mx.tls-peer.test")
        finally:
            await server.stop()
    answer = run(scenario())
    assert answer.records and not answer.authenticated


def test_tlsa_absent_is_empty_and_a_failed_lookup_is_an_error():
    async def scenario():
        server = await lab(servfail={"_25._tcp.mx.broken.test"})
        try:
            resolver = Resolver([server.address])
            return (await resolver.tlsa("mx1.mx-ok.test"), await resolver.tlsa("mx.broken.test"),
                    await resolver.tlsa("mx.tls-peer.test", 587))
        finally:
            await server.stop()
    absent, failed, other_port = run(scenario())
    assert (absent.records, absent.error) == ([], None)
    assert failed.records == [] and failed.error.kind == "servfail" and failed.error.temporary
    assert other_port.name == "_587._tcp.mx.tls-peer.test" and other_port.records == []


# -- settings and the fake server itself -------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("192.0.2.53", ("192.0.2.53", 53)), ("127.0.0.1:5353", ("127.0.0.1", 5353)),
    ("2001:db8::53", ("2001:db8::53", 53)), ("[2001:db8::53]:5353", ("2001:db8::53", 5353)),
])
def test_dns_server_settings(text, expected):
    assert parse_server(text) == expected


@pytest.mark.parametrize("text, words", [
    ("dns.example", "not an IP address"), ("127.0.0.1:0", "port must be a number from 1 to 65535"),
    ("127.0.0.1:x", "port must be"), ("[::1]x", "not ip, ip:port"),
])
def test_bad_dns_server_settings_name_the_field(text, words):
    with pytest.raises(ValidationError) as failure:
        Resolver([text])
    assert failure.value.field == "dns_servers" and words in str(failure.value)


def test_the_fake_server_runs_on_a_thread_for_synchronous_tests():
    with running_fake_dns({"sync.test": {"A": ["192.0.2.77"]}}) as server:
        assert asyncio.run(Resolver([server.address]).addresses("sync.test")) == ["192.0.2.77"]
        assert [q.transport for q in server.queries_for("sync.test")] == ["udp", "udp"]


def test_the_fixture_starts_servers_for_the_test(fake_dns):
    first = fake_dns({"one.test": {"A": ["192.0.2.1"]}})
    second = fake_dns({}, servfail={"one.test"})
    assert first.port != second.port
    assert asyncio.run(Resolver([first.address]).addresses("one.test")) == ["192.0.2.1"]
    with pytest.raises(DnsFailure):
        asyncio.run(Resolver([second.address]).addresses("one.test"))
