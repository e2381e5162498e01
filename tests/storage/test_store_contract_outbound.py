"""The Store contract for sending mail out: send connectors (organisation-wide, unique by name
in any case) and each server's transport settings (the defaults until written). Runs once per
backend (fixtures in conftest.py), through the Store protocol only."""
from __future__ import annotations

import pytest

from postroom.errors import Conflict, NotFound, ValidationError
from postroom.model import PopSettings, SendConnector, Server, TransportSettings
from postroom.storage import AuditNote

from .test_store_contract import SERVER, services_for

pytestmark = [pytest.mark.store_config]

SEALED = "aesgcm:v1:" + "A" * 40  # the stored form of a password (the store never sees it in clear)


def relay(name: str = "Partner Relay") -> SendConnector:
    """A connector with most properties away from their defaults."""
    return SendConnector(name=name).with_changes(
        enabled=False, address_spaces="partner.example;5,*.partner.example", dns_routing=False,
        smart_hosts="relay.example.net:587,[2001:db8::25]", port=2525, smart_host_auth="basic",
        auth_username="app", auth_password=SEALED, require_tls=True, tls_auth_level="domain-validation",
        tls_domain="relay.example.net", dane=False, max_message_size="10MB", fqdn="mail.example.com",
        source_servers="EX01,EX02", connection_inactivity_timeout="5m", source_ip="192.0.2.10", protocol_log=True)


def note(action: str) -> AuditNote:
    return AuditNote("tester", action, "send-connector/x", None, {"ok": True}, "api")


def test_send_connector_round_trip(store, run):
    async def body():
        assert await store.list_send_connectors() == []
        connector = relay()
        version = await store.config_version()
        await store.add_send_connector(connector, audit=note("send-connector.new"))
        assert await store.config_version() > version
        loaded = await store.get_send_connector("partner relay")  # names compare in any case
        assert loaded == connector and isinstance(loaded.address_spaces, tuple)
        assert loaded.auth_password == SEALED
        assert await store.list_send_connectors() == [connector]

        changed = connector.with_changes(enabled=True, auth_password=None, smart_host_auth="none")
        version = await store.config_version()
        await store.put_send_connector(changed)
        assert await store.config_version() > version
        assert await store.get_send_connector("Partner Relay") == changed
        other_case = SendConnector(name="PARTNER RELAY").with_changes(address_spaces="*", source_servers="EX01")
        await store.put_send_connector(other_case)
        kept = await store.get_send_connector("Partner Relay")
        assert kept.name == "Partner Relay", "put_send_connector keeps the stored name"
        assert kept.address_spaces == ("*;1",)

        await store.remove_send_connector("partner RELAY", audit=note("send-connector.remove"))
        assert await store.list_send_connectors() == []
        with pytest.raises(NotFound):
            await store.get_send_connector("Partner Relay")
        assert [e.action for e in await store.list_audit(10)] == ["send-connector.remove", "send-connector.new"]
    run(body())


def test_send_connectors_are_listed_by_name_ignoring_case(store, run):
    async def body():
        for name in ("zeta", "Alpha", "beta"):
            await store.add_send_connector(relay(name))
        assert [c.name for c in await store.list_send_connectors()] == ["Alpha", "beta", "zeta"]
    run(body())


def test_send_connector_refusals(store, run):
    async def body():
        await store.add_send_connector(relay())
        version, audit = await store.config_version(), await store.list_audit(10)
        with pytest.raises(Conflict, match="'Partner Relay' already exists"):
            await store.add_send_connector(relay("PARTNER relay"), audit=note("send-connector.new"))
        with pytest.raises(NotFound, match="Missing"):
            await store.put_send_connector(relay("Missing"), audit=note("send-connector.set"))
        with pytest.raises(NotFound, match="Missing"):
            await store.remove_send_connector("Missing", audit=note("send-connector.remove"))
        with pytest.raises(ValidationError):
            await store.add_send_connector("not a connector")  # type: ignore[arg-type]
        # a refused write changes nothing and leaves no audit entry
        assert (await store.config_version(), await store.list_audit(10)) == (version, audit)
    run(body())


def test_transport_settings_read_as_defaults_until_written(store, run):
    async def body():
        await store.add_server(SERVER, services_for("EX01"), PopSettings())
        await store.add_server(Server("EX02", "ex02.example.com"), services_for("EX02"), PopSettings())
        assert await store.get_transport_settings("EX01") == TransportSettings()
        settings = TransportSettings().with_changes(
            dns_servers="127.0.0.1:5353,[::1]:53", transient_failure_retry_attempts=3,
            transient_failure_retry_interval="30s", message_expiration_timeout="1d", max_hop_count=30,
            recipient_rate_limit_per_day=0)
        version = await store.config_version()
        await store.put_transport_settings("EX01", settings, audit=note("transport.set"))
        assert await store.config_version() > version
        assert await store.get_transport_settings("EX01") == settings
        assert await store.get_transport_settings("EX02") == TransportSettings(), "per server"
        again = settings.with_changes(max_hop_count=40)
        await store.put_transport_settings("EX01", again)
        assert await store.get_transport_settings("EX01") == again
        assert (await store.list_audit(1))[0].action == "transport.set"
    run(body())


def test_transport_settings_of_a_missing_server(store, run):
    async def body():
        with pytest.raises(NotFound, match="NOPE"):
            await store.get_transport_settings("NOPE")
        version = await store.config_version()
        with pytest.raises(NotFound, match="NOPE"):
            await store.put_transport_settings("NOPE", TransportSettings(), audit=note("transport.set"))
        assert await store.config_version() == version and await store.list_audit(10) == []
    run(body())


def test_send_connectors_and_transport_settings_survive_a_reopen(make_store, store, run):
    async def body():
        await store.add_server(SERVER, services_for("EX01"), PopSettings())
        await store.add_send_connector(relay())
        settings = TransportSettings().with_changes(message_retry_interval="1m")
        await store.put_transport_settings("EX01", settings)
        other = make_store()
        await other.open()
        try:
            assert await other.list_send_connectors() == [relay()]
            assert await other.get_transport_settings("EX01") == settings
        finally:
            await other.close()
    run(body())
