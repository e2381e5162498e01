"""Send connectors and transport settings in the service layer: role checks and audit, the
smart-host password sealed (AES-GCM, DATA/secrets.key) and never shown anywhere (views, audit
log, the database, a backup, the support bundle)."""
from __future__ import annotations

import io
import os
import sqlite3
import stat
import tarfile

import pytest

from postroom import sealing
from postroom.errors import Conflict, Forbidden, NotFound, Unavailable, ValidationError
from postroom.model import MASK, SendConnector, TransportSettings, route
from postroom.service import backup, doctor, send_connectors, transport

PASSWORD = "s3cret relay password"
RELAY = dict(address_spaces="partner.example;5,*.partner.example", dns_routing=False,
             smart_hosts="relay.example.net:587", smart_host_auth="basic", auth_username="app",
             auth_password=PASSWORD, require_tls=True)


def new_relay(context, run, name: str = "Relay") -> dict:
    return run(send_connectors.new_send_connector(context("organization-management"), name,
                                                  SendConnector.changes(RELAY)))


def everything_readable(store, run, data_dir: str) -> str:
    """What the store and the audit log hold, as text."""
    with sqlite3.connect(os.path.join(data_dir, "postroom.db")) as conn:
        rows = conn.execute("SELECT name, settings FROM send_connectors").fetchall()
    return repr(rows) + repr([(e.before, e.after) for e in run(store.list_audit(1000))])


def test_new_defaults_its_source_server_and_answers_the_masked_view(context, run, store) -> None:
    view = run(send_connectors.new_send_connector(context("organization-management"), "Internet",
                                                  SendConnector.changes(address_spaces="*")))
    assert (view["name"], view["address_spaces"], view["source_servers"]) == ("Internet", ["*;1"], ["EX01"])
    assert view["dns_routing"] is True and view["auth_password"] is None
    assert run(send_connectors.show_send_connector(context("view-only"), "INTERNET")) == view
    assert run(send_connectors.list_send_connectors(context("view-only"))) == [view]
    [entry] = [e for e in run(store.list_audit(10)) if e.action == "send-connector.new"]
    assert (entry.target, entry.after) == ("send-connector/Internet", view)


def test_the_password_is_sealed_masked_and_opens_with_the_key(context, run, store, data_dir) -> None:
    view = new_relay(context, run)
    assert view["auth_password"] == MASK
    stored = run(store.get_send_connector("relay"))
    assert stored.auth_password.startswith(sealing.PREFIX)
    assert sealing.unseal(data_dir, stored.auth_password, send_connectors.password_purpose("Relay")) == PASSWORD
    assert PASSWORD not in everything_readable(store, run, data_dir)
    assert stored.auth_password not in repr([(e.before, e.after) for e in run(store.list_audit(1000))])
    key = os.stat(sealing.key_path(data_dir))
    assert stat.S_IMODE(key.st_mode) == 0o600 and key.st_size == 32
    with pytest.raises(Unavailable):  # bound to its connector: a copy elsewhere does not open
        sealing.unseal(data_dir, stored.auth_password, send_connectors.password_purpose("Other"))


def test_changing_or_removing_the_password_is_audited_masked(context, run, store, data_dir) -> None:
    new_relay(context, run)
    ctx = context("organization-management")
    before = run(store.get_send_connector("Relay")).auth_password
    run(send_connectors.set_send_connector(ctx, "Relay", SendConnector.changes(auth_password="another one")))
    after = run(store.get_send_connector("Relay")).auth_password
    assert after != before and sealing.unseal(data_dir, after, send_connectors.password_purpose("Relay")) == \
        "another one"
    entry = run(store.list_audit(1))[0]
    assert (entry.action, entry.before, entry.after) == ("send-connector.set", {"auth_password": MASK},
                                                         {"auth_password": MASK})
    with pytest.raises(ValidationError) as refused:  # basic authentication needs it
        run(send_connectors.set_send_connector(ctx, "Relay", SendConnector.changes(auth_password="")))
    assert refused.value.field == "auth_password"
    view = run(send_connectors.set_send_connector(ctx, "Relay", SendConnector.changes(
        smart_host_auth="none", auth_password="")))
    assert view["auth_password"] is None and run(store.get_send_connector("Relay")).auth_password is None
    with pytest.raises(ValidationError) as refused:
        run(send_connectors.set_send_connector(ctx, "Relay", SendConnector.changes(auth_password=MASK)))
    assert refused.value.field == "auth_password" and "how a set password is shown" in refused.value.message
    with pytest.raises(ValidationError):
        run(send_connectors.set_send_connector(ctx, "Relay", SendConnector.changes(auth_password="two\nlines")))


def test_only_organization_management_changes_and_refusals_are_audited(context, run, store) -> None:
    for role in ("server-management", "recipient-management", "view-only"):
        with pytest.raises(Forbidden):
            run(send_connectors.new_send_connector(context(role), "X", SendConnector.changes(address_spaces="*")))
    assert run(store.list_send_connectors()) == []
    refused = [e for e in run(store.list_audit(10)) if e.action == "send-connector.new"]
    assert [e.outcome for e in refused] == ["refused"] * 3 and refused[0].target == "send-connector/X"
    new_relay(context, run)
    for call in (lambda ctx: send_connectors.set_send_connector(ctx, "Relay", SendConnector.changes(enabled=False)),
                 lambda ctx: send_connectors.remove_send_connector(ctx, "Relay")):
        with pytest.raises(Forbidden):
            run(call(context("server-management")))
    assert run(store.get_send_connector("Relay")).enabled is True


def test_refusals_name_their_field(context, run) -> None:
    ctx = context("organization-management")
    cases = [
        ({"address_spaces": "*", "smart_hosts": "relay.example.net"}, "smart_hosts"),  # DNS routing is on
        ({"address_spaces": "*", "dns_routing": False}, "smart_hosts"),
        ({"smart_hosts": "relay.example.net"}, "address_spaces"),
        ({"address_spaces": "*partner.example"}, "address_spaces"),
        ({"address_spaces": "partner.example;0"}, "address_spaces"),
        ({"address_spaces": "*", "source_servers": "EX09"}, "source_servers"),
        ({"address_spaces": "*", "tls_auth_level": "encryption-only"}, "tls_auth_level"),  # needs require_tls
        ({"address_spaces": "*", "require_tls": True, "tls_auth_level": "domain-validation"}, "tls_domain"),
        ({"address_spaces": "*", "smart_host_auth": "basic"}, "smart_host_auth"),
        ({"address_spaces": "*", "port": 0}, "port"),
        ({"address_spaces": "*", "colour": "blue"}, "colour"),
    ]
    for props, field in cases:
        with pytest.raises(ValidationError) as refused:
            run(send_connectors.new_send_connector(ctx, "X", SendConnector.changes(props)))
        assert refused.value.field == field, (props, refused.value)
    with pytest.raises(ValidationError) as refused:
        run(send_connectors.new_send_connector(ctx, "X", SendConnector.changes(
            address_spaces="*", smart_hosts="relay.example.net")))
    assert "dns_routing" in refused.value.message or "DNS routing" in refused.value.message


def test_names_are_unique_ignoring_case_and_missing_ones_say_so(context, run) -> None:
    new_relay(context, run)
    with pytest.raises(Conflict):
        new_relay(context, run, "RELAY")
    with pytest.raises(NotFound):
        run(send_connectors.show_send_connector(context("view-only"), "Nope"))
    with pytest.raises(NotFound):
        run(send_connectors.remove_send_connector(context("organization-management"), "Nope"))


def test_a_set_that_changes_nothing_writes_nothing(context, run, store) -> None:
    new_relay(context, run)
    version, audit = run(store.config_version()), run(store.list_audit(1000))
    view = run(send_connectors.set_send_connector(context("organization-management"), "Relay",
                                                  SendConnector.changes(enabled=True, port="25")))
    assert view["enabled"] is True
    assert (run(store.config_version()), run(store.list_audit(1000))) == (version, audit)


def test_remove_audits_the_masked_view(context, run, store) -> None:
    view = new_relay(context, run)
    removed = run(send_connectors.remove_send_connector(context("organization-management"), "relay"))
    assert removed == view and run(store.list_send_connectors()) == []
    entry = run(store.list_audit(1))[0]
    assert (entry.action, entry.before, entry.after) == ("send-connector.remove", view, None)


def test_what_the_store_holds_routes_mail(context, run, store) -> None:
    new_relay(context, run)
    run(send_connectors.new_send_connector(context("organization-management"), "Internet",
                                           SendConnector.changes(address_spaces="*")))
    connectors = run(store.list_send_connectors())
    assert route(connectors, "mx.partner.example", "EX01").connector.name == "Relay"
    assert route(connectors, "other.example", "EX01").next_hop_domain == "other.example"
    assert route(connectors, "other.example", "EX02") is None


def test_a_backup_holds_neither_the_password_nor_the_key(context, run, store, data_dir, tmp_path) -> None:
    new_relay(context, run)
    sealed = run(store.get_send_connector("Relay")).auth_password
    result = run(backup.backup(context("organization-management"), str(tmp_path / "backup.tar.gz")))
    assert sealing.KEY_FILE not in result["files"]
    with tarfile.open(result["backup"]) as archive:
        names = archive.getnames()
        contents = b"".join(archive.extractfile(m).read() for m in archive.getmembers() if m.isfile())
    assert sealing.KEY_FILE not in names
    assert PASSWORD.encode() not in contents and sealed.encode() in contents  # only the sealed form
    with open(sealing.key_path(data_dir), "rb") as handle:
        assert handle.read() not in contents


def test_the_support_bundle_shows_the_connectors_without_the_password(context, run, store) -> None:
    new_relay(context, run)
    sealed = run(store.get_send_connector("Relay")).auth_password
    data = run(doctor.support_bundle(context("view-only"), "demo@example.com", []))
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        files = {m.name.split("/", 1)[1]: archive.extractfile(m).read().decode() for m in archive.getmembers()}
    assert '"name": "Relay"' in files["send-connectors.json"] and MASK in files["send-connectors.json"]
    assert '"message_expiration_timeout": 172800' in files["transport.json"]
    for text in files.values():
        assert PASSWORD not in text and sealed not in text and sealed[len(sealing.PREFIX):][:20] not in text


def test_a_missing_or_foreign_key_is_a_clear_error(context, run, store, data_dir, tmp_path) -> None:
    new_relay(context, run)
    sealed = run(store.get_send_connector("Relay")).auth_password
    purpose = send_connectors.password_purpose("Relay")
    with pytest.raises(Unavailable) as missing:
        sealing.unseal(str(tmp_path), sealed, purpose)
    assert "secrets.key" in missing.value.message
    sealing.seal(str(tmp_path), "x", "y")  # another install's key
    with pytest.raises(Unavailable) as foreign:
        sealing.unseal(str(tmp_path), sealed, purpose)
    assert "does not open" in foreign.value.message


# transport settings --------------------------------------------------------------------------
def test_transport_reads_as_the_defaults_until_set(context, run) -> None:
    view = run(transport.show_transport(context("view-only")))
    assert view == {"server": "EX01", **TransportSettings().to_dict()}
    assert (view["transient_failure_retry_attempts"], view["transient_failure_retry_interval"],
            view["message_expiration_timeout"], view["max_hop_count"]) == (6, 300, 172800, 100)
    with pytest.raises(NotFound):
        run(transport.show_transport(context("view-only"), "EX09"))


def test_transport_set_is_audited_with_what_changed(context, run, store) -> None:
    view = run(transport.set_transport(context("server-management"), None, TransportSettings.changes(
        message_expiration_timeout="30s", delay_notification_timeout="10s", dns_servers="127.0.0.1:5353")))
    assert (view["message_expiration_timeout"], view["delay_notification_timeout"], view["dns_servers"]) == \
        (30, 10, ["127.0.0.1:5353"])
    assert run(store.get_transport_settings("EX01")).message_expiration_timeout == 30
    entry = run(store.list_audit(1))[0]
    assert (entry.action, entry.target) == ("transport.set", "server/EX01/transport")
    assert entry.before == {"dns_servers": [], "delay_notification_timeout": 14400,
                            "message_expiration_timeout": 172800}


def test_transport_refusals(context, run, store) -> None:
    for role in ("recipient-management", "view-only"):
        with pytest.raises(Forbidden):
            run(transport.set_transport(context(role), None, TransportSettings.changes(max_hop_count=5)))
    ctx = context("organization-management")
    for props, field in (({"delay_notification_timeout": "3d"}, "delay_notification_timeout"),
                         ({"transient_failure_retry_attempts": 16}, "transient_failure_retry_attempts"),
                         ({"dns_servers": "resolver.example"}, "dns_servers"),
                         ({"message_retry_interval": "forever"}, "message_retry_interval")):
        with pytest.raises(ValidationError) as refused:
            run(transport.set_transport(ctx, None, TransportSettings.changes(props)))
        assert refused.value.field == field
    with pytest.raises(ValidationError):
        run(transport.set_transport(ctx, None, TransportSettings.changes()))
    assert run(store.get_transport_settings("EX01")) == TransportSettings()
