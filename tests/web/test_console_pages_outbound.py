"""Mail flow in the console: the Send connectors page (list, new, properties tabs, remove) and the
transport settings form, through the ASGI app on the web fixtures' dev install, reading the store
between requests. Send connectors need organization-management; the transport settings the
server right; every other role sees them read-only and is refused (and audited) if it posts.
"""
from __future__ import annotations

import re
from html import unescape

import pytest

from postroom.model import MASK, SendConnector, TransportSettings

from .conftest import SERVER
from .test_console_pages_ops import CSRF, console, csrf, notice_after, post  # noqa: F401 (fixture)

LIST = "/console/send-connectors"
TRANSPORT = f"/console/servers/{SERVER}/transport"
PASSWORD = "relay secret 42"


@pytest.fixture(autouse=True)
def no_spare(run, store) -> None:
    """The web fixtures' install has a send connector (Spare) for the API's tests: not here."""
    run(store.remove_send_connector("Spare"))


def add(run, store, name: str = "Internet", **props) -> SendConnector:
    connector = SendConnector(name=name).with_changes(**{"address_spaces": "*", "source_servers": SERVER, **props})
    run(store.add_send_connector(connector))
    return connector


def audit(run, store, prefix: str) -> list:
    return [e for e in run(store.list_audit(100)) if e.action.startswith(prefix)]


def test_the_list_says_when_there_is_none_and_shows_each_connector(console, run, store):
    client = console()
    page = client.get(LIST).text
    assert "No send connectors" in page and "550 5.7.1" in page
    add(run, store)
    add(run, store, "Partner", address_spaces="partner.example;5", dns_routing=False, smart_hosts="relay.example.net")
    page = unescape(client.get(LIST).text)
    assert "Mail flow › Send connectors" in page
    rows = re.findall(r"<tr>\s*<td><a href=\"([^\"]+)\">([^<]+)</a></td>(.*?)</tr>", page, re.S)
    assert [(url, name) for url, name, _ in rows] == [(f"{LIST}/Internet", "Internet"), (f"{LIST}/Partner", "Partner")]
    assert "DNS (MX records)" in rows[0][2] and "Smart hosts: relay.example.net" in rows[1][2]
    assert 'href="/console/send-connectors"' in page and f'href="{TRANSPORT}"' in page  # the navigation


def test_new_creates_with_the_local_server_as_source_and_audits(console, run, store):
    client = console()
    form = client.get(f"{LIST}/new").text
    assert f">{SERVER}</textarea>" in form  # the source servers start as this server
    answer = post(client, f"{LIST}/new", csrf(client, LIST), name="Partner Relay",
                  address_spaces="partner.example;5\n*.partner.example", smart_hosts="relay.example.net:587",
                  source_servers=SERVER)  # the DNS routing box left unticked
    assert "created: mail for partner.example;5, *.partner.example;1 is sent through relay.example.net:587" in \
        notice_after(client, answer)
    assert answer.headers["location"] == f"{LIST}/Partner%20Relay"
    stored = run(store.get_send_connector("partner relay"))
    assert (stored.dns_routing, stored.smart_hosts, stored.source_servers) == (False, ("relay.example.net:587",),
                                                                               (SERVER,))
    [entry] = audit(run, store, "send-connector.new")
    assert (entry.actor, entry.channel, entry.target) == ("org", "console", "send-connector/Partner Relay")


def test_a_refused_new_connector_is_shown_next_to_its_field_and_nothing_is_stored(console, run, store):
    client = console()
    answer = post(client, f"{LIST}/new", csrf(client, LIST), name="Bad", address_spaces="*partner.example",
                  dns_routing="on", source_servers=SERVER)
    assert answer.status_code == 400
    assert 'id="error-address_spaces"' in answer.text and "*partner.example" in unescape(answer.text)
    add(run, store)
    answer = post(client, f"{LIST}/new", csrf(client, LIST), name="INTERNET", address_spaces="*", dns_routing="on",
                  source_servers=SERVER)
    assert answer.status_code == 400 and 'id="error-name"' in answer.text and "already exists" in answer.text
    assert [c.name for c in run(store.list_send_connectors())] == ["Internet"]


def test_the_delivery_tab_sets_a_smart_host_with_a_password_that_is_never_shown(console, run, store, data_dir):
    add(run, store)
    client = console()
    token = csrf(client, f"{LIST}/Internet")
    answer = post(client, f"{LIST}/Internet", token, tab="delivery", smart_hosts="relay.example.net:587", port="25",
                  smart_host_auth="basic", auth_username="app", auth_password=PASSWORD)
    notice = notice_after(client, answer)
    assert "smart hosts: relay.example.net:587" in notice and "password: set" in notice
    stored = run(store.get_send_connector("Internet"))
    assert stored.auth_password and PASSWORD not in stored.auth_password and stored.dns_routing is False
    page = client.get(f"{LIST}/Internet?tab=delivery").text
    assert PASSWORD not in page and stored.auth_password not in page and "A password is set" in page
    # an empty password field keeps the password; the box removes it (basic then needs one: refused)
    post(client, f"{LIST}/Internet", token, tab="delivery", smart_hosts="relay.example.net:587", port="2525",
         smart_host_auth="basic", auth_username="app", auth_password="")
    assert run(store.get_send_connector("Internet")).auth_password == stored.auth_password
    refused = post(client, f"{LIST}/Internet", token, tab="delivery", smart_hosts="relay.example.net:587",
                   port="2525", smart_host_auth="basic", auth_username="app", remove_auth_password="on")
    assert refused.status_code == 400 and 'id="error-auth_password"' in refused.text
    for entry in audit(run, store, "send-connector"):
        assert PASSWORD not in str(entry.after) and stored.auth_password not in str(entry.after)
        assert entry.after.get("auth_password") in (None, MASK)


def test_the_general_tab_is_on_by_default_and_the_dns_routing_box_is_on_delivery(console, run, store):
    add(run, store)
    client = console()
    page = client.get(f"{LIST}/Internet").text
    assert 'aria-selected="true">General' in page and 'name="address_spaces"' in page
    assert 'name="dns_routing"' not in page
    security = client.get(f"{LIST}/Internet?tab=security").text
    assert 'name="tls_auth_level"' in security and 'name="dane"' in security


def test_remove_from_the_list(console, run, store):
    add(run, store)
    client = console()
    answer = post(client, f"{LIST}/Internet/remove", csrf(client, LIST))
    assert "Send connector Internet removed" in notice_after(client, answer)
    assert run(store.list_send_connectors()) == []


@pytest.mark.parametrize("role", ["server-management", "view-only"])
def test_without_organization_management_send_connectors_are_read_only(console, run, store, role):
    add(run, store)
    client = console(role)
    page = client.get(LIST).text
    assert "New send connector" not in page and "organization-management" in page
    properties = client.get(f"{LIST}/Internet").text
    assert re.search(r'<button type="submit" disabled>Save</button>', properties)
    token = csrf(client, LIST)
    for url, fields in ((f"{LIST}/new", {"name": "X", "address_spaces": "*", "source_servers": SERVER}),
                        (f"{LIST}/Internet", {"tab": "general", "address_spaces": "x.example"}),
                        (f"{LIST}/Internet/remove", {})):
        assert post(client, url, token, **fields).status_code == 403
    assert [c.address_spaces for c in run(store.list_send_connectors())] == [("*;1",)]
    assert {e.outcome for e in audit(run, store, "send-connector")} == {"refused"}


def test_a_form_without_its_csrf_token_is_refused(console, run, store):
    client = console()
    assert post(client, f"{LIST}/new", None, name="X", address_spaces="*").status_code == 403
    assert run(store.list_send_connectors()) == []


def test_the_transport_form_shows_the_defaults_and_saves_with_audit(console, run, store):
    client = console("server-management")
    page = unescape(client.get(TRANSPORT).text)
    assert "Transport settings · server EX01" in page
    assert 'name="message_expiration_timeout" value="2d"' in page and 'name="max_hop_count" value="100"' in page
    answer = post(client, TRANSPORT, csrf(client, TRANSPORT), dns_servers="127.0.0.1:5353",
                  transient_failure_retry_attempts="3", transient_failure_retry_interval="30s",
                  outbound_connection_failure_retry_interval="10m", message_retry_interval="1m",
                  delay_notification_timeout="1h", message_expiration_timeout="1d", max_outbound_connections="1000",
                  max_per_domain_outbound_connections="20", max_hop_count="100", message_rate_limit_per_minute="30",
                  message_rate_limit_per_day="0", recipient_rate_limit_per_minute="0",
                  recipient_rate_limit_per_day="10000")
    notice = notice_after(client, answer)
    assert "message expiration timeout: 1d" in notice and "DNS servers: 127.0.0.1:5353" in notice
    stored = run(store.get_transport_settings(SERVER))
    assert stored == TransportSettings().with_changes(
        dns_servers="127.0.0.1:5353", transient_failure_retry_attempts=3, transient_failure_retry_interval=30,
        message_retry_interval=60, delay_notification_timeout=3600, message_expiration_timeout=86400)
    [entry] = audit(run, store, "transport.set")
    assert entry.after["message_expiration_timeout"] == 86400 and entry.before["message_expiration_timeout"] == 172800


def test_a_refused_transport_setting_is_shown_next_to_its_field(console, run, store):
    client = console()
    answer = post(client, TRANSPORT, csrf(client, TRANSPORT), delay_notification_timeout="3d",
                  message_expiration_timeout="2d")
    assert answer.status_code == 400 and 'id="error-delay_notification_timeout"' in answer.text
    assert 'value="3d"' in answer.text  # what was typed is kept
    assert run(store.get_transport_settings(SERVER)) == TransportSettings()


def test_view_only_sees_the_transport_settings_read_only(console, run, store):
    client = console("view-only")
    page = client.get(TRANSPORT).text
    assert re.search(r'<button type="submit" disabled>Save</button>', page)
    assert post(client, TRANSPORT, csrf(client, TRANSPORT), max_hop_count="5").status_code == 403
    assert run(store.get_transport_settings(SERVER)) == TransportSettings()
