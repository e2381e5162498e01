"""`postroom send-connector new|set|list|show|remove` and `postroom transport show|set`: how mail
leaves, as Exchange's *-SendConnector and Set-TransportService have it."""
from __future__ import annotations

import os
import sqlite3
from typer.testing import CliRunner

from .conftest import Admin, flat, invoke

PASSWORD = "relay password 7"
EXCHANGE_DEFAULTS = {
    "enabled": True, "dns_routing": True, "smart_hosts": [], "port": 25, "smart_host_auth": "none",
    "auth_username": None, "auth_password": None, "require_tls": False, "tls_auth_level": None, "tls_domain": None,
    "dane": True, "max_message_size": 35 * 1024 * 1024, "fqdn": None, "connection_inactivity_timeout": 600,
    "source_ip": None, "protocol_log": False,
}
TRANSPORT_DEFAULTS = {
    "server": "EX01", "dns_servers": [], "transient_failure_retry_attempts": 6,
    "transient_failure_retry_interval": 300, "outbound_connection_failure_retry_interval": 600,
    "message_retry_interval": 900, "delay_notification_timeout": 4 * 3600, "message_expiration_timeout": 2 * 86400,
    "max_outbound_connections": 1000, "max_per_domain_outbound_connections": 20, "max_hop_count": 100,
    "message_rate_limit_per_minute": 30, "message_rate_limit_per_day": 0, "recipient_rate_limit_per_minute": 0,
    "recipient_rate_limit_per_day": 10000,
}


def stored_settings(admin: Admin) -> str:
    with sqlite3.connect(os.path.join(admin.data, "postroom.db")) as conn:
        return repr(conn.execute("SELECT name, settings FROM send_connectors").fetchall())


def test_init_creates_no_send_connector(admin: Admin) -> None:
    assert admin.json("send-connector", "list") == []
    assert "Internet" not in admin.ok("send-connector", "list").stdout


def test_new_internet_connector_has_exchange_defaults(admin: Admin) -> None:
    view = admin.json("send-connector", "new", "Internet", "--address-spaces", "*")
    assert view == {**EXCHANGE_DEFAULTS, "name": "Internet", "address_spaces": ["*;1"], "source_servers": ["EX01"]}
    assert admin.json("send-connector", "show", "internet") == view
    table = flat(admin.ok("send-connector", "list").stdout)
    assert "Internet" in table and "*;1" in table and "EX01" in table
    [entry] = admin.json("log", "audit", "--target", "send-connector/Internet")
    assert (entry["action"], entry["actor"], entry["channel"], entry["after"]) == (
        "send-connector.new", "local-operator", "cli", view)


def test_smart_host_with_password_from_stdin_is_never_shown(admin: Admin) -> None:
    view = admin.json("send-connector", "new", "Relay", "--address-spaces", "partner.example;5,*.partner.example",
                      "--no-dns-routing", "--smart-hosts", "relay.example.net:587,[2001:db8::25]",
                      "--smart-host-auth", "basic", "--auth-username", "app", "--auth-password-stdin",
                      "--require-tls", "--tls-auth-level", "domain-validation", "--tls-domain", "relay.example.net",
                      input=PASSWORD + "\n")
    assert view["smart_hosts"] == ["relay.example.net:587", "[2001:db8::25]"]
    assert (view["auth_password"], view["address_spaces"]) == ("********", ["partner.example;5",
                                                                            "*.partner.example;1"])
    for output in (admin.ok("send-connector", "show", "Relay").stdout, admin.ok("send-connector", "list").stdout,
                   admin.ok("log", "audit").stdout, stored_settings(admin)):
        assert PASSWORD not in output
    assert "aesgcm:v1:" in stored_settings(admin)  # sealed in the store
    assert os.stat(os.path.join(admin.data, "secrets.key")).st_mode & 0o777 == 0o600
    # the password is an option nowhere: it never sits in a shell history or a process list
    refused = admin("send-connector", "set", "Relay", "--auth-password", PASSWORD)
    assert refused.exit_code == 2 and "No such option" in flat(refused.output)


def test_set_changes_and_audits_only_what_changed(admin: Admin) -> None:
    admin.ok("send-connector", "new", "Internet", "--address-spaces", "*")
    view = admin.json("send-connector", "set", "Internet", "--disabled", "--max-message-size", "10MB",
                      "--connection-inactivity-timeout", "5m", "--fqdn", "Mail.Example.COM", "--no-dane")
    assert (view["enabled"], view["max_message_size"], view["connection_inactivity_timeout"], view["fqdn"],
            view["dane"]) == (False, 10 * 1024 * 1024, 300, "mail.example.com", False)
    entry = admin.audit(1)[0]
    assert entry["action"] == "send-connector.set"
    assert entry["before"] == {"enabled": True, "dane": True, "max_message_size": 35 * 1024 * 1024, "fqdn": None,
                               "connection_inactivity_timeout": 600}


def test_refusals_name_the_option_and_change_nothing(admin: Admin) -> None:
    admin.ok("send-connector", "new", "Internet", "--address-spaces", "*")
    before = admin.json("send-connector", "show", "Internet")
    refused = admin.fails(2, "send-connector", "set", "Internet", "--smart-hosts", "relay.example.net")
    assert "smart-hosts:" in refused.stderr and "--no-dns-routing" in flat(refused.stderr)
    refused = admin.fails(2, "send-connector", "new", "Bad", "--address-spaces", "*partner.example")
    assert "address-spaces:" in refused.stderr and "*.example.com" in flat(refused.stderr)
    refused = admin.fails(2, "send-connector", "set", "Internet", "--smart-host-auth", "ntlm")
    assert "smart-host-auth:" in refused.stderr and "none, basic" in flat(refused.stderr)
    refused = admin.fails(2, "send-connector", "set", "Internet", "--source-servers", "EX09")
    assert "source-servers:" in refused.stderr and "EX01" in refused.stderr
    admin.fails(2, "send-connector", "new", "Nothing")  # no address space
    admin.fails(4, "send-connector", "new", "INTERNET", "--address-spaces", "*")  # the name is taken
    admin.fails(3, "send-connector", "show", "Nope")
    assert admin.json("send-connector", "show", "Internet") == before
    assert [e["action"] for e in admin.audit()].count("send-connector.set") == 0


def test_remove(admin: Admin) -> None:
    admin.ok("send-connector", "new", "Internet", "--address-spaces", "*")
    assert "Removed send connector Internet" in admin.ok("send-connector", "remove", "internet").stdout
    assert admin.json("send-connector", "list") == []
    admin.fails(3, "send-connector", "remove", "Internet")


def test_transport_show_has_exchange_defaults_and_set_takes_durations(admin: Admin) -> None:
    assert admin.json("transport", "show") == TRANSPORT_DEFAULTS
    view = admin.json("transport", "set", "--message-expiration-timeout", "2h", "--delay-notification-timeout",
                      "30s", "--transient-failure-retry-interval", "00:01:00", "--message-retry-interval", "1m",
                      "--dns-servers", "127.0.0.1:5353", "--server", "EX01")
    assert view == {**TRANSPORT_DEFAULTS, "message_expiration_timeout": 7200, "delay_notification_timeout": 30,
                    "transient_failure_retry_interval": 60, "message_retry_interval": 60,
                    "dns_servers": ["127.0.0.1:5353"]}
    assert admin.json("transport", "show") == view
    entry = admin.audit(1)[0]
    assert (entry["action"], entry["target"]) == ("transport.set", "server/EX01/transport")
    refused = admin.fails(2, "transport", "set", "--delay-notification-timeout", "3h")
    assert "delay-notification-timeout:" in refused.stderr and "2h" in refused.stderr
    refused = admin.fails(2, "transport", "set", "--max-hop-count", "0")
    assert "max-hop-count:" in refused.stderr and "1..500" in refused.stderr
    admin.fails(3, "transport", "show", "--server", "EX09")


def test_transport_set_without_a_change_is_refused(admin: Admin) -> None:
    refused = admin.fails(2, "transport", "set")
    assert "nothing to change" in refused.stderr


def test_help_names_the_exchange_cmdlets() -> None:
    assert "Set-SendConnector" in flat(invoke(CliRunner(), ["send-connector", "--help"]).stdout)
    assert "Set-TransportService" in flat(invoke(CliRunner(), ["transport", "--help"]).stdout)
    help_text = flat(invoke(CliRunner(), ["send-connector", "new", "--help"]).stdout)
    assert "--auth-password-stdin" in help_text and "--address-spaces" in help_text

