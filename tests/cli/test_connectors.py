"""`postroom connector list|show|new|set|remove`: SMTP receive connectors, as Exchange has them."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trustme

from .conftest import Admin, flat

ALL_RANGES = ["0.0.0.0-255.255.255.255", "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"]
EXCHANGE_LIMITS = {
    "enabled": True, "remote_ip_ranges": ALL_RANGES, "require_tls": False, "max_message_size": 36 * 1024 * 1024,
    "max_recipients_per_message": 200, "max_inbound_connections": 5000, "max_inbound_connections_per_source": 20,
    "connection_timeout": 600, "connection_inactivity_timeout": 300, "banner": None, "fqdn": None,
    "certificate": None, "certificate_key": None, "protocol_log": False,
    # Set-TransportService -ReceiveProtocolLogMaxAge 30 days, -MaxDirectorySize 250 MB, -MaxFileSize 10 MB
    "protocol_log_max_age": 30 * 86400, "protocol_log_max_directory_size": 250 * 1024 * 1024,
    "protocol_log_max_file_size": 10 * 1024 * 1024,
    "proxy_protocol": False, "proxy_trusted_networks": [],  # no load balancer in front by default
}
NO_NODE = "no node serving this server (run `postroom serve`)"


def connectors(admin: Admin, *args: str) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in admin.json("connector", "list", *args)}


def connector(admin: Admin, name: str) -> dict[str, Any]:
    return admin.json("connector", "show", name)


def audit_for(admin: Admin, name: str) -> list[dict[str, Any]]:
    return admin.json("log", "audit", "--target", f"server/EX01/connector/{name}")


@pytest.fixture
def relay(admin: Admin) -> Admin:
    """A custom connector "Relay" on 127.0.0.1:2526, for set/remove tests."""
    admin.ok("connector", "new", "Relay", "--bindings", "127.0.0.1:2526", "--permission-groups", "users")
    return admin


# init's connectors -------------------------------------------------------------------------------
def test_init_dev_creates_default_and_client_connectors(admin: Admin) -> None:
    found = connectors(admin)
    assert list(found) == ["Client EX01", "Default EX01"]
    default, client = found["Default EX01"], found["Client EX01"]
    assert default == {
        **EXCHANGE_LIMITS, "name": "Default EX01", "server": "EX01", "bindings": ["127.0.0.1:2525"],
        "auth": ["tls", "basic", "basic-require-tls"], "permission_groups": ["anonymous", "users"],
        "state": NO_NODE, "listening": [], "errors": [],
    }
    assert client == {
        **EXCHANGE_LIMITS, "name": "Client EX01", "server": "EX01", "bindings": ["127.0.0.1:2587"],
        "auth": ["tls", "basic", "basic-require-tls"], "permission_groups": ["users"],
        "state": NO_NODE, "listening": [], "errors": [],
    }


def test_init_production_connectors_listen_on_25_and_587(plain_admin: Admin) -> None:
    found = connectors(plain_admin)
    assert found["Default EX01"]["bindings"] == ["0.0.0.0:25", "[::]:25"]
    assert found["Default EX01"]["permission_groups"] == ["anonymous", "users"]
    assert found["Default EX01"]["require_tls"] is False  # STARTTLS offered, not required
    assert found["Client EX01"]["bindings"] == ["0.0.0.0:587", "[::]:587"]
    assert found["Client EX01"]["permission_groups"] == ["users"]
    assert found["Client EX01"]["auth"] == ["tls", "basic", "basic-require-tls"]


def test_list_human_output_and_show_matches_list(admin: Admin) -> None:
    out = flat(admin.ok("connector", "list").stdout)
    assert "Default EX01" in out and "Client EX01" in out and "127.0.0.1:2587" in out and "no node" in out
    assert connector(admin, "Client EX01") == connectors(admin)["Client EX01"]
    shown = flat(admin.ok("connector", "show", "Client EX01").stdout)
    assert "permission-groups" in shown and "basic-require-tls" in shown


def test_list_for_all_servers_and_named_server(admin: Admin) -> None:
    assert [c["server"] for c in admin.json("connector", "list", "--server", "all")] == ["EX01", "EX01"]
    assert admin.json("connector", "list", "--server", "EX01") == admin.json("connector", "list")


def test_design_step_client_connector_enabled_with_tls_is_already_so(admin: Admin) -> None:
    before = admin.audit()
    view = admin.json("connector", "set", "Client EX01", "--enabled", "--auth", "tls,basic,basic-require-tls")
    assert view["enabled"] is True and view["auth"] == ["tls", "basic", "basic-require-tls"]
    assert admin.audit() == before  # nothing changed, nothing audited


# new -----------------------------------------------------------------------------------------------
def test_new_custom_connector_needs_bindings_and_has_no_permission_groups(admin: Admin) -> None:
    result = admin.fails(2, "connector", "new", "Relay")
    assert result.stderr.startswith("error: bindings:") and "custom" in result.stderr
    view = admin.json("connector", "new", "Relay", "--bindings", "127.0.0.1:2526")
    assert view == {**EXCHANGE_LIMITS, "name": "Relay", "server": "EX01", "bindings": ["127.0.0.1:2526"],
                    "auth": ["tls"], "permission_groups": [], "state": NO_NODE, "listening": [], "errors": []}
    assert connector(admin, "Relay") == view


@pytest.mark.parametrize("usage,expected", [
    ("internet", {"bindings": ["0.0.0.0:25", "[::]:25"], "permission_groups": ["anonymous"], "auth": ["tls"]}),
    ("client", {"bindings": ["0.0.0.0:587", "[::]:587"], "permission_groups": ["users"],
                "auth": ["tls", "basic", "basic-require-tls"]}),
    ("custom", {"bindings": ["127.0.0.1:2600"], "permission_groups": [], "auth": ["tls"]}),
])
def test_new_usage_types_start_as_exchange_does(admin: Admin, usage: str, expected: dict[str, Any]) -> None:
    extra = ["--bindings", "127.0.0.1:2600"] if usage == "custom" else []
    view = admin.json("connector", "new", "New", "--usage", usage, *extra)
    assert {key: view[key] for key in expected} == expected
    assert view["remote_ip_ranges"] == ALL_RANGES


def test_new_explicit_options_override_the_usage_type(admin: Admin) -> None:
    view = admin.json("connector", "new", "Submission", "--usage", "client", "--bindings", "127.0.0.1:2588",
                      "--auth", "tls,basic", "--permission-groups", "anonymous,users", "--max-message-size", "10MB",
                      "--disabled", "--require-tls", "--banner", "220 Submission only", "--fqdn", "mail.example.com",
                      "--connection-timeout", "5m", "--connection-inactivity-timeout", "1m",
                      "--protocol-log", "enabled",
                      "--remote-ip-ranges", "10.0.0.0/8,192.168.1.1-192.168.1.50",
                      "--max-recipients-per-message", "50", "--max-inbound-connections", "100",
                      "--max-inbound-connections-per-source", "5", "--protocol-log-max-age", "7d",
                      "--protocol-log-max-directory-size", "1GB", "--protocol-log-max-file-size", "unlimited",
                      "--proxy-protocol", "enabled", "--proxy-trusted-networks", "10.0.0.5,10.0.0.6")
    assert view == {
        "name": "Submission", "server": "EX01", "enabled": False, "bindings": ["127.0.0.1:2588"],
        "remote_ip_ranges": ["10.0.0.0/8", "192.168.1.1-192.168.1.50"], "auth": ["tls", "basic"],
        "permission_groups": ["anonymous", "users"], "require_tls": True, "max_message_size": 10 * 1024 * 1024,
        "max_recipients_per_message": 50, "max_inbound_connections": 100, "max_inbound_connections_per_source": 5,
        "connection_timeout": 300, "connection_inactivity_timeout": 60, "banner": "Submission only",
        "fqdn": "mail.example.com", "certificate": None, "certificate_key": None, "protocol_log": True,
        "protocol_log_max_age": 7 * 86400, "protocol_log_max_directory_size": 1024 ** 3,
        "protocol_log_max_file_size": 0, "proxy_protocol": True,
        "proxy_trusted_networks": ["10.0.0.5/32", "10.0.0.6/32"], "state": NO_NODE, "listening": [], "errors": [],
    }


def test_new_unknown_usage_names_the_usage_types(admin: Admin) -> None:
    result = admin.fails(2, "connector", "new", "X", "--usage", "partner", "--bindings", "127.0.0.1:2600")
    assert result.stderr.startswith("error: usage:")
    assert all(u in result.stderr for u in ("custom", "internet", "client"))


@pytest.mark.parametrize("name", ["Client EX01", "client ex01"])
def test_new_with_a_taken_name_is_a_conflict(admin: Admin, name: str) -> None:
    before = admin.audit()
    result = admin.fails(4, "connector", "new", name, "--bindings", "127.0.0.1:2600")
    assert "Client EX01" in result.stderr and "already exists" in result.stderr
    assert admin.audit() == before


@pytest.mark.parametrize("name", ["", "a/b", "x" * 65])
def test_new_with_a_bad_name_is_refused(admin: Admin, name: str) -> None:
    result = admin.fails(2, "connector", "new", name, "--bindings", "127.0.0.1:2600")
    assert result.stderr.startswith("error: name:")


# set round trips -------------------------------------------------------------------------------------
ROUND_TRIPS: list[tuple[list[str], dict[str, Any]]] = [
    (["--disabled"], {"enabled": False}),
    (["--bindings", "127.0.0.1:2700,[::1]:2700"], {"bindings": ["127.0.0.1:2700", "[::1]:2700"]}),
    (["--bindings", "[0:0:0:0:0:0:0:1]:2700"], {"bindings": ["[::1]:2700"]}),
    (["--remote-ip-ranges", "10.0.0.0/8"], {"remote_ip_ranges": ["10.0.0.0/8"]}),
    (["--remote-ip-ranges", "192.168.0.1, 10.1.1.1-10.1.1.9"], {"remote_ip_ranges": ["192.168.0.1",
                                                                                     "10.1.1.1-10.1.1.9"]}),
    (["--auth", "none"], {"auth": ["none"]}),
    (["--auth", "basic,tls"], {"auth": ["tls", "basic"]}),
    (["--auth", "TLS,Basic,Basic-Require-TLS"], {"auth": ["tls", "basic", "basic-require-tls"]}),
    (["--permission-groups", "anonymous"], {"permission_groups": ["anonymous"]}),
    (["--permission-groups", ""], {"permission_groups": []}),
    (["--require-tls"], {"require_tls": True}),
    (["--max-message-size", "36MB"], {"max_message_size": 37748736}),
    (["--max-message-size", "64KB"], {"max_message_size": 65536}),
    (["--max-message-size", "1GB"], {"max_message_size": 1024 ** 3}),
    (["--max-message-size", "100000"], {"max_message_size": 100000}),
    (["--max-recipients-per-message", "512000"], {"max_recipients_per_message": 512000}),
    (["--max-inbound-connections", "1"], {"max_inbound_connections": 1}),
    (["--max-inbound-connections-per-source", "10000"], {"max_inbound_connections_per_source": 10000}),
    (["--connection-timeout", "1h"], {"connection_timeout": 3600}),
    (["--connection-timeout", "86400"], {"connection_timeout": 86400}),
    (["--connection-inactivity-timeout", "00:01:00"], {"connection_inactivity_timeout": 60}),
    (["--banner", "EX01 mail"], {"banner": "EX01 mail"}),
    (["--banner", "220 EX01 mail"], {"banner": "EX01 mail"}),  # Exchange's banners carry the code
    (["--fqdn", "mail.example.com"], {"fqdn": "mail.example.com"}),
    (["--fqdn", "MAIL.Example.COM."], {"fqdn": "mail.example.com"}),
    (["--protocol-log", "enabled"], {"protocol_log": True}),
    (["--protocol-log", "disabled"], {"protocol_log": False}),
    (["--protocol-log-max-age", "30.00:00:00"], {"protocol_log_max_age": 30 * 86400}),
    (["--protocol-log-max-age", "0"], {"protocol_log_max_age": 0}),
    (["--protocol-log-max-directory-size", "500MB"], {"protocol_log_max_directory_size": 500 * 1024 ** 2}),
    (["--protocol-log-max-directory-size", "unlimited"], {"protocol_log_max_directory_size": 0}),
    (["--protocol-log-max-file-size", "64KB"], {"protocol_log_max_file_size": 65536}),
    (["--disabled", "--bindings", ""], {"enabled": False, "bindings": []}),
    (["--auth", "tls", "--require-tls", "--max-recipients-per-message", "10"],
     {"auth": ["tls"], "require_tls": True, "max_recipients_per_message": 10}),
]


@pytest.mark.parametrize("args,expected", ROUND_TRIPS, ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_set_round_trips_through_show(relay: Admin, args: list[str], expected: dict[str, Any]) -> None:
    before = connector(relay, "Relay")
    answer = relay.json("connector", "set", "Relay", *args)
    shown = connector(relay, "Relay")
    assert shown == {**before, **expected}  # the named properties changed, and nothing else
    assert answer == shown


def test_set_banner_and_fqdn_back_to_the_defaults(relay: Admin) -> None:
    relay.ok("connector", "set", "Relay", "--banner", "hello", "--fqdn", "mail.example.com")
    view = relay.json("connector", "set", "Relay", "--banner", "", "--fqdn", "")
    assert (view["banner"], view["fqdn"]) == (None, None)


def test_set_require_tls_and_back(relay: Admin) -> None:
    assert relay.json("connector", "set", "Relay", "--require-tls")["require_tls"] is True
    assert relay.json("connector", "set", "Relay", "--no-require-tls")["require_tls"] is False


def test_set_without_options_says_nothing_to_change(relay: Admin) -> None:
    result = relay.fails(2, "connector", "set", "Relay")
    assert "nothing to change" in result.stderr


# refused values ------------------------------------------------------------------------------------
# (arguments to `connector set Relay`, the option as the admin spells it, fragments of the message)
BAD_VALUES: list[tuple[list[str], str, list[str]]] = [
    (["--bindings", "localhost:25"], "bindings", ["IP:port"]),
    (["--bindings", "0.0.0.0:0"], "bindings", ["1..65535"]),
    (["--bindings", "999.0.0.1:25"], "bindings", ["not an IP address"]),
    (["--bindings", ""], "bindings", ["at least one"]),  # an enabled connector needs a listener
    (["--remote-ip-ranges", "10.0.0.0/33"], "remote-ip-ranges", ["CIDR"]),
    (["--remote-ip-ranges", "10.0.0.9-10.0.0.1"], "remote-ip-ranges", ["range"]),
    (["--remote-ip-ranges", "::1-10.0.0.1"], "remote-ip-ranges", ["range"]),
    (["--remote-ip-ranges", "everyone"], "remote-ip-ranges", ["CIDR"]),
    (["--remote-ip-ranges", ""], "remote-ip-ranges", ["at least one"]),
    (["--auth", "kerberos"], "auth", ["none", "tls", "basic", "basic-require-tls"]),
    (["--auth", ""], "auth", ["at least one"]),
    (["--permission-groups", "partners"], "permission-groups", ["anonymous", "users"]),
    (["--max-message-size", "65535"], "max-message-size", ["65536..2147483647"]),
    (["--max-message-size", "3GB"], "max-message-size", ["65536..2147483647"]),
    (["--max-message-size", "36 megabytes"], "max-message-size", ["36MB"]),
    (["--max-recipients-per-message", "0"], "max-recipients-per-message", ["1..512000"]),
    (["--max-recipients-per-message", "512001"], "max-recipients-per-message", ["1..512000"]),
    (["--max-inbound-connections", "none"], "max-inbound-connections", ["1..2147483647"]),
    (["--max-inbound-connections-per-source", "10001"], "max-inbound-connections-per-source", ["1..10000"]),
    (["--connection-timeout", "2 days"], "connection-timeout", ["hh:mm:ss"]),
    (["--connection-timeout", "86401"], "connection-timeout", ["1s..86400s"]),
    (["--connection-timeout", "5m"], "connection-inactivity-timeout", ["shorter than connection_timeout"]),
    (["--connection-inactivity-timeout", "10m"], "connection-inactivity-timeout", ["shorter"]),
    (["--connection-inactivity-timeout", "0"], "connection-inactivity-timeout", ["1s..86400s"]),
    (["--banner", "x" * 201], "banner", ["1 to 200 printable characters"]),
    (["--banner", "two\nlines"], "banner", ["1 to 200 printable characters"]),
    (["--fqdn", "not a host"], "fqdn", ["not a"]),
    (["--protocol-log", "verbose"], "protocol-log", ["enabled", "disabled"]),
    (["--protocol-log-max-age", "a month"], "protocol-log-max-age", ["30d", "30.00:00:00"]),
    (["--protocol-log-max-directory-size", "10"], "protocol-log-max-directory-size", ["0 or unlimited"]),
    (["--protocol-log-max-file-size", "2TB"], "protocol-log-max-file-size", ["1024..1099511627776"]),
    (["--certificate", "/nonexistent/cert.pem"], "certificate", ["does not exist"]),
    (["--certificate-key", "/some/key.pem"], "certificate-key", ["--certificate"]),
    # Exchange's AuthMechanism rules
    (["--auth", "none,tls"], "auth", ["none stands alone"]),
    (["--auth", "none,basic"], "auth", ["none stands alone"]),
    (["--auth", "basic,basic-require-tls"], "auth", ["basic-require-tls needs basic and tls"]),
    (["--auth", "tls,basic-require-tls"], "auth", ["basic-require-tls needs basic and tls"]),
    (["--auth", "basic", "--require-tls"], "require-tls", ["needs tls"]),
    (["--auth", "none", "--require-tls"], "require-tls", ["needs tls"]),
    # one good and one bad option: neither applies
    (["--banner", "fine", "--max-recipients-per-message", "0"], "max-recipients-per-message", []),
]


def case_id(value: object) -> str:
    return " ".join(value)[:40] if isinstance(value, list) else ""


@pytest.mark.parametrize("args,option,fragments", BAD_VALUES, ids=case_id)
def test_set_bad_value_is_refused_names_the_option_and_changes_nothing(
        relay: Admin, args: list[str], option: str, fragments: list[str]) -> None:
    before, audit_before = connector(relay, "Relay"), relay.audit()
    result = relay.fails(2, "connector", "set", "Relay", *args)
    message = flat(result.stderr)
    assert message.startswith(f"error: {option}:"), message
    for fragment in fragments:
        assert fragment in message, message
    assert connector(relay, "Relay") == before
    assert relay.audit() == audit_before


@pytest.mark.parametrize("args,option,fragments", BAD_VALUES[:12], ids=case_id)
def test_new_bad_value_is_refused_and_creates_nothing(admin: Admin, args: list[str], option: str,
                                                      fragments: list[str]) -> None:
    extra = [] if "--bindings" in args else ["--bindings", "127.0.0.1:2600"]
    result = admin.fails(2, "connector", "new", "Bad", *extra, *args)
    assert flat(result.stderr).startswith(f"error: {option}:")
    assert "Bad" not in connectors(admin)


def test_require_tls_stays_guarded_when_auth_changes_later(relay: Admin) -> None:
    relay.ok("connector", "set", "Relay", "--require-tls")
    result = relay.fails(2, "connector", "set", "Relay", "--auth", "none")
    assert result.stderr.startswith("error: require-tls:")
    view = relay.json("connector", "set", "Relay", "--auth", "none", "--no-require-tls", "--permission-groups",
                      "anonymous")
    assert (view["auth"], view["require_tls"]) == (["none"], False)


# bindings against the rest of the server -------------------------------------------------------------
@pytest.mark.parametrize("binding,pop_binding", [
    ("127.0.0.1:1110", "127.0.0.1:1110"),  # the dev POP3 STLS binding
    ("127.0.0.1:1995", "127.0.0.1:1995"),  # the dev POP3 SSL binding
    ("0.0.0.0:1110", "127.0.0.1:1110"),  # a wildcard takes the port on every address
])
def test_a_binding_of_the_pop3_service_is_refused(admin: Admin, binding: str, pop_binding: str) -> None:
    before = admin.audit()
    result = admin.fails(2, "connector", "new", "Clash", "--bindings", binding)
    message = flat(result.stderr)
    assert message.startswith("error: bindings:") and pop_binding in message and "POP3" in message
    result = admin.fails(2, "connector", "set", "Client EX01", "--bindings", f"127.0.0.1:2587,{binding}")
    assert flat(result.stderr).startswith("error: bindings:") and "POP3" in result.stderr
    assert admin.audit() == before


def test_pop3_binding_on_another_address_is_fine(admin: Admin) -> None:
    admin.ok("connector", "new", "Other", "--bindings", "127.0.0.2:1110,[::1]:1110")


def test_a_binding_shared_with_the_same_remote_ranges_names_the_other_connector(admin: Admin) -> None:
    result = admin.fails(2, "connector", "new", "Second", "--bindings", "127.0.0.1:2587")
    message = flat(result.stderr)
    assert message.startswith("error: bindings:") and "'Client EX01'" in message and "remote-ip-ranges" in message
    # the same ranges written another way are still the same ranges
    result = admin.fails(2, "connector", "new", "Second", "--bindings", "127.0.0.1:2587",
                         "--remote-ip-ranges", "0.0.0.0/0,::/0")
    assert "'Client EX01'" in result.stderr


def test_a_binding_may_be_shared_when_remote_ranges_differ(admin: Admin) -> None:
    view = admin.json("connector", "new", "Internal relay", "--bindings", "127.0.0.1:2587",
                      "--remote-ip-ranges", "127.0.0.0/8", "--permission-groups", "anonymous", "--auth", "none")
    assert view["bindings"] == ["127.0.0.1:2587"]
    # ...until the ranges are made the same again
    result = admin.fails(2, "connector", "set", "Internal relay", "--remote-ip-ranges",
                         ALL_RANGES[0] + "," + ALL_RANGES[1])
    assert "'Client EX01'" in result.stderr


def test_a_wildcard_overlapping_another_connectors_address_is_refused(admin: Admin) -> None:
    result = admin.fails(2, "connector", "new", "Wide", "--bindings", "0.0.0.0:2525", "--remote-ip-ranges",
                         "10.0.0.0/8")
    assert "'Default EX01'" in result.stderr and "127.0.0.1:2525" in result.stderr


def test_production_internet_connector_clashes_with_default_on_port_25(plain_admin: Admin) -> None:
    result = plain_admin.fails(2, "connector", "new", "Internet", "--usage", "internet")
    assert "'Default EX01'" in result.stderr
    view = plain_admin.json("connector", "new", "Partners", "--usage", "internet", "--remote-ip-ranges",
                            "203.0.113.0/24")
    assert view["bindings"] == ["0.0.0.0:25", "[::]:25"]


def test_set_keeps_its_own_bindings_without_clashing_with_itself(relay: Admin) -> None:
    view = relay.json("connector", "set", "Relay", "--bindings", "127.0.0.1:2526", "--banner", "again")
    assert view["banner"] == "again"


# certificates ------------------------------------------------------------------------------------
def test_certificate_by_name_under_data_tls_brings_its_key(relay: Admin) -> None:
    view = relay.json("connector", "set", "Relay", "--certificate", "postroom")
    tls = relay.data / "tls"
    assert (view["certificate"], view["certificate_key"]) == (str(tls / "postroom.pem"), str(tls / "postroom.key"))
    cleared = relay.json("connector", "set", "Relay", "--certificate", "")
    assert (cleared["certificate"], cleared["certificate_key"]) == (None, None)


def test_certificate_combined_pem_and_mismatched_key(relay: Admin, tmp_path: Path) -> None:
    ca = trustme.CA()
    combined = tmp_path / "mail.pem"
    ca.issue_cert("mail.example.com").private_key_and_cert_chain_pem.write_to_path(str(combined))
    view = relay.json("connector", "set", "Relay", "--certificate", str(combined))
    assert (view["certificate"], view["certificate_key"]) == (str(combined), None)
    other_key = tmp_path / "other.key"
    ca.issue_cert("other.example.com").private_key_pem.write_to_path(str(other_key))
    result = relay.fails(2, "connector", "set", "Relay", "--certificate", str(combined), "--certificate-key",
                         str(other_key))
    assert flat(result.stderr).startswith("error: certificate:") and "does not match" in result.stderr
    assert connector(relay, "Relay")["certificate_key"] is None


# remove -------------------------------------------------------------------------------------------
def test_remove_then_show_and_remove_again_are_not_found(relay: Admin) -> None:
    out = flat(relay.ok("connector", "remove", "Relay").stdout)
    assert "Removed receive connector Relay" in out
    assert "Relay" not in connectors(relay)
    assert "Relay" in relay.fails(3, "connector", "show", "Relay").stderr
    relay.fails(3, "connector", "remove", "Relay")
    relay.fails(3, "connector", "set", "Relay", "--disabled")


def test_remove_json_answers_with_the_removed_connector(relay: Admin) -> None:
    view = relay.json("connector", "remove", "Relay")
    assert view["name"] == "Relay" and view["bindings"] == ["127.0.0.1:2526"] and view["state"].startswith("removed")
    # its binding is free again
    relay.ok("connector", "new", "Relay again", "--bindings", "127.0.0.1:2526")


# audit --------------------------------------------------------------------------------------------
def test_changes_are_audited_with_before_and_after(relay: Admin) -> None:
    relay.ok("connector", "set", "Relay", "--max-message-size", "10MB", "--auth", "tls,basic")
    relay.ok("connector", "remove", "Relay")
    remove, set_, new = audit_for(relay, "Relay")
    assert [e["action"] for e in (new, set_, remove)] == ["connector.new", "connector.set", "connector.remove"]
    assert all(e["actor"] == "local-operator" and e["target"] == "server/EX01/connector/Relay" for e in (new, set_,
                                                                                                         remove))
    assert new["before"] is None
    assert new["after"]["usage"] == "custom" and new["after"]["bindings"] == ["127.0.0.1:2526"]
    assert set_["before"] == {"auth": ["tls"], "max_message_size": 37748736}  # only what changed
    assert set_["after"] == {"auth": ["tls", "basic"], "max_message_size": 10485760}
    assert remove["before"]["name"] == "Relay" and remove["before"]["max_message_size"] == 10485760
    assert remove["after"] is None


def test_refused_changes_write_no_audit_entry(relay: Admin) -> None:
    before = relay.audit()
    relay.fails(2, "connector", "set", "Relay", "--auth", "none,tls")
    relay.fails(2, "connector", "new", "X", "--bindings", "127.0.0.1:1110")
    relay.fails(4, "connector", "new", "Relay", "--bindings", "127.0.0.1:2601")
    relay.fails(3, "connector", "remove", "Nope")
    relay.ok("connector", "set", "Relay", "--enabled")  # already so
    assert relay.audit() == before


# --server ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("command", [
    ["connector", "list"], ["connector", "show", "Client EX01"], ["connector", "remove", "Client EX01"],
    ["connector", "set", "Client EX01", "--disabled"], ["connector", "new", "X", "--bindings", "127.0.0.1:2600"],
], ids=lambda c: c[1])
def test_an_unknown_server_is_not_found(admin: Admin, command: list[str]) -> None:
    before = admin.audit()
    result = admin.fails(3, *command, "--server", "NOPE")
    assert "NOPE" in result.stderr
    assert admin.audit() == before


@pytest.mark.parametrize("command", [
    ["connector", "show", "Client EX01"], ["connector", "set", "Client EX01", "--disabled"],
    ["connector", "new", "X", "--bindings", "127.0.0.1:2600"], ["connector", "remove", "Client EX01"],
], ids=lambda c: c[1])
def test_all_servers_is_only_for_list(admin: Admin, command: list[str]) -> None:
    result = admin.fails(2, *command, "--server", "all")
    assert result.stderr.startswith("error: server:")


def test_explicit_server_works_like_the_default(relay: Admin) -> None:
    view = relay.json("connector", "set", "Relay", "--server", "EX01", "--disabled")
    assert view["enabled"] is False and view["server"] == "EX01"
    assert connector(relay, "Relay")["enabled"] is False
