"""model/outbound.py: the routing function (most specific address space, then cost, then name),
address spaces, smart hosts, the send connector's cross-field rules and the transport settings'
values; and sealing.py."""
from __future__ import annotations

import pytest

from postroom import sealing
from postroom.errors import Unavailable, ValidationError
from postroom.model import DeliveryType, SendConnector, TransportSettings, parse_address_space, route

SEALED = "aesgcm:v1:" + "B" * 40


def connector(name: str, spaces: str, *, servers: str = "EX01", **props) -> SendConnector:
    return SendConnector(name=name).with_changes(address_spaces=spaces, source_servers=servers, **props)


def chosen(connectors, domain: str, server: str = "EX01") -> str | None:
    found = route(connectors, domain, server)
    return None if found is None else found.connector.name


# route() ---------------------------------------------------------------------------------------
def test_no_connector_routes_nothing() -> None:
    assert route([], "partner.example", "EX01") is None


def test_the_most_specific_address_space_wins_over_cost() -> None:
    connectors = [connector("Internet", "*"), connector("Partners", "*.example;50"),
                  connector("Partner", "partner.example;90"), connector("Subs", "*.partner.example;1")]
    assert chosen(connectors, "partner.example") == "Partner"  # exact beats *.same of equal length
    assert chosen(connectors, "mx.partner.example") == "Subs"
    assert chosen(connectors, "a.b.partner.example") == "Subs"
    assert chosen(connectors, "other.example") == "Partners"
    assert chosen(connectors, "example") == "Partners"  # *.example covers example itself
    assert chosen(connectors, "elsewhere.org") == "Internet"
    assert chosen(connectors, "notpartner.example") == "Partners"  # a suffix is matched by labels, not text


def test_then_the_lowest_cost_then_the_name() -> None:
    assert chosen([connector("A", "*;5"), connector("B", "*;2")], "x.example") == "B"
    assert chosen([connector("b", "*;2"), connector("A", "*;2")], "x.example") == "A"
    assert chosen([connector("A", "*;2"), connector("b", "*;2")], "x.example") == "A"
    # one connector with several spaces: its best match counts
    assert chosen([connector("A", "*;1"), connector("B", "*;9,x.example;9")], "x.example") == "B"


def test_disabled_connectors_and_other_servers_are_skipped() -> None:
    connectors = [connector("Internet", "*", servers="EX01,EX02"), connector("Partner", "partner.example",
                                                                             enabled=False),
                  connector("EX02 only", "partner.example", servers="EX02")]
    assert chosen(connectors, "partner.example", "EX01") == "Internet"
    assert chosen(connectors, "partner.example", "EX02") == "EX02 only"
    assert chosen(connectors, "partner.example", "EX03") is None


def test_the_route_names_the_next_hop_and_delivery_type() -> None:
    dns = route([connector("Internet", "*")], "Partner.Example.", "EX01")
    assert (dns.next_hop_domain, dns.delivery_type, dns.address_space) == ("partner.example",
                                                                          DeliveryType.DNS.value, "*;1")
    assert dns.delivery_type == "dns-connector-delivery"
    assert dns.queue == "dns-connector-delivery/partner.example/Internet"
    smart = route([connector("Relay", "*", dns_routing=False, smart_hosts="relay.example.net")], "a.example", "EX01")
    assert (smart.next_hop_domain, smart.delivery_type) == ("Relay", "smart-host-connector-delivery")
    assert smart.queue == route([smart.connector], "b.example", "EX01").queue  # one queue for all its mail


# values ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("text,parsed", [
    ("*", ("*", 1)), ("Example.COM", ("example.com", 1)), ("*.example.com;10", ("*.example.com", 10)),
    ("SMTP:*;1", ("*", 1)), (" partner.example ; 100 ", ("partner.example", 100)), ("*.com", ("*.com", 1)),
])
def test_address_spaces(text: str, parsed: tuple[str, int]) -> None:
    assert parse_address_space("address_spaces", text) == parsed


@pytest.mark.parametrize("text", ["*example.com", "exa mple.com", "example.com;0", "example.com;101", "*.*.example",
                                  "example.com;x", "-bad-.example", "a.*.example"])
def test_bad_address_spaces_are_refused(text: str) -> None:
    with pytest.raises(ValidationError) as refused:
        parse_address_space("address_spaces", text)
    assert refused.value.field == "address_spaces"


def test_address_spaces_are_canonical_and_listed_once() -> None:
    assert connector("X", "*, Example.com;3").address_spaces == ("*;1", "example.com;3")
    with pytest.raises(ValidationError, match="listed twice"):
        connector("X", "example.com,EXAMPLE.com;5")


def test_smart_hosts() -> None:
    made = connector("X", "*", dns_routing=False,
                     smart_hosts="Relay.Example.NET:587, 192.0.2.25, [2001:DB8::25]:2525,relay.example.net:587")
    assert made.smart_hosts == ("relay.example.net:587", "192.0.2.25", "[2001:db8::25]:2525")
    for bad in ("relay.example.net:0", "2001:db8::25", "[nope]:25", "bad host", "relay.example.net:99999"):
        with pytest.raises(ValidationError) as refused:
            connector("X", "*", dns_routing=False, smart_hosts=bad)
        assert refused.value.field == "smart_hosts", bad


def test_the_password_is_only_ever_held_sealed() -> None:
    with pytest.raises(ValidationError) as refused:
        connector("X", "*", auth_password="clear text")
    assert refused.value.field == "auth_password"
    made = connector("X", "*", dns_routing=False, smart_hosts="relay.example.net", smart_host_auth="basic",
                     auth_username="app", auth_password=SEALED)
    assert made.to_dict()["auth_password"] == SEALED and made.view()["auth_password"] == "********"
    assert SendConnector.from_dict(made.to_dict()) == made


@pytest.mark.parametrize("props,field", [
    ({"dns_routing": True, "smart_hosts": "relay.example.net"}, "smart_hosts"),
    ({"dns_routing": False}, "smart_hosts"),
    ({"smart_host_auth": "basic"}, "smart_host_auth"),
    ({"dns_routing": False, "smart_hosts": "r.example", "smart_host_auth": "basic", "auth_password": SEALED},
     "auth_username"),
    ({"dns_routing": False, "smart_hosts": "r.example", "smart_host_auth": "basic", "auth_username": "u"},
     "auth_password"),
    ({"tls_auth_level": "certificate-validation"}, "tls_auth_level"),
    ({"require_tls": True, "tls_auth_level": "domain-validation"}, "tls_domain"),
    ({"require_tls": True, "tls_domain": "example.net"}, "tls_domain"),
    ({"tls_auth_level": "sometimes"}, "tls_auth_level"),
    ({"max_message_size": "1KB"}, "max_message_size"),
    ({"connection_inactivity_timeout": "2d"}, "connection_inactivity_timeout"),
    ({"source_ip": "mail.example.com"}, "source_ip"),
    ({"fqdn": "not a name"}, "fqdn"),
])
def test_cross_field_rules_name_their_field(props: dict, field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        connector("X", "*", **props)
    assert refused.value.field == field


def test_a_connector_needs_an_address_space_and_a_source_server() -> None:
    with pytest.raises(ValidationError) as refused:
        SendConnector(name="X").with_changes(source_servers="EX01")
    assert refused.value.field == "address_spaces"
    with pytest.raises(ValidationError) as refused:
        SendConnector(name="X").with_changes(address_spaces="*")
    assert refused.value.field == "source_servers"


def test_transport_settings_values() -> None:
    made = TransportSettings().with_changes(
        dns_servers="127.0.0.1, 127.0.0.1:5353, ::1, [::1]:53", message_expiration_timeout="2.00:00:00",
        delay_notification_timeout="4h", transient_failure_retry_interval="30s", message_retry_interval=60)
    assert made.dns_servers == ("127.0.0.1", "127.0.0.1:5353", "::1", "[::1]:53")
    assert (made.message_expiration_timeout, made.delay_notification_timeout,
            made.transient_failure_retry_interval, made.message_retry_interval) == (172800, 14400, 30, 60)
    assert TransportSettings().with_changes(dns_servers="none").dns_servers == ()
    for props, field in (({"dns_servers": "dns.example"}, "dns_servers"),
                         ({"transient_failure_retry_interval": "13h"}, "transient_failure_retry_interval"),
                         ({"message_expiration_timeout": "0"}, "message_expiration_timeout"),
                         ({"delay_notification_timeout": "2d"}, "delay_notification_timeout"),
                         ({"max_per_domain_outbound_connections": 0}, "max_per_domain_outbound_connections"),
                         ({"recipient_rate_limit_per_day": -1}, "recipient_rate_limit_per_day")):
        with pytest.raises(ValidationError) as refused:
            TransportSettings().with_changes(**props)
        assert refused.value.field == field, props


# sealing ---------------------------------------------------------------------------------------
def test_the_delivery_worker_opens_a_connector_password(tmp_path) -> None:
    made = connector("Relay", "*", dns_routing=False, smart_hosts="relay.example.net", smart_host_auth="basic",
                     auth_username="app", auth_password=sealing.seal(str(tmp_path), "pw 1", "send-connector/relay/"
                                                                     "auth_password"))
    assert made.password_purpose == "send-connector/relay/auth_password"
    assert sealing.smart_host_password(str(tmp_path), made) == "pw 1"
    assert sealing.smart_host_password(str(tmp_path), connector("Internet", "*")) is None
    with pytest.raises(Unavailable, match="secrets.key"):
        sealing.smart_host_password(str(tmp_path / "other-node"), made)


def test_seal_and_unseal(tmp_path) -> None:
    sealed = sealing.seal(str(tmp_path), "pässword", "send-connector/x/auth_password")
    assert sealed.startswith(sealing.PREFIX) and "pässword" not in sealed
    assert sealed != sealing.seal(str(tmp_path), "pässword", "send-connector/x/auth_password")  # a fresh nonce
    assert sealing.unseal(str(tmp_path), sealed, "send-connector/x/auth_password") == "pässword"
    damaged = sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB")
    with pytest.raises(Unavailable):
        sealing.unseal(str(tmp_path), damaged, "send-connector/x/auth_password")
    (tmp_path / sealing.KEY_FILE).write_bytes(b"short")
    with pytest.raises(Unavailable, match="not a postroom secrets key"):
        sealing.unseal(str(tmp_path), sealed, "send-connector/x/auth_password")
