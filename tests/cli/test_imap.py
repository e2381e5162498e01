"""`postroom imap show|set` (Exchange: Get-/Set-ImapSettings) and `mailbox set --imap`: every setting
round-trips, every bad value is refused and changes nothing, IMAP4's bindings never take another
service's socket, and every change is audited."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import trustme

from .conftest import Admin, flat


def imap(admin: Admin) -> dict[str, Any]:
    return admin.json("imap", "show")


def test_init_dev_gives_imap4_the_dev_ports_and_init_s_certificate(admin: Admin) -> None:
    shown = imap(admin)
    tls = admin.data / "tls"
    assert shown == {
        "server": "EX01", "login_type": "secure-login", "bindings": ["127.0.0.1:1143"],
        "ssl_bindings": ["127.0.0.1:1993"], "certificate": str(tls / "postroom.pem"),
        "certificate_key": str(tls / "postroom.key"), "banner": "The postroom IMAP4 service is ready.",
        "max_connections": 2147483647, "max_connections_from_single_ip": 2147483647, "max_connections_per_user": 16,
        "max_command_size": 10240, "max_message_size": 35 * 1024 * 1024, "authenticated_timeout": 1800,
        "preauthenticated_timeout": 60,
        "protocol_log": False, "log_file_roll_over": "daily", "log_per_file_size_quota": 0, "log_max_age": 2592000,
        "log_max_directory_size": 262144000, "proxy_protocol": False, "proxy_trusted_networks": []}
    services = {s["name"]: s for s in admin.json("service", "list")}
    assert (services["imap4"]["startup"], services["imap4"]["status"]) == ("automatic", "running")


def test_non_dev_init_has_exchange_s_imap_defaults(plain_admin: Admin) -> None:
    shown = imap(plain_admin)
    assert shown["bindings"] == ["0.0.0.0:143", "[::]:143"] and shown["ssl_bindings"] == ["0.0.0.0:993", "[::]:993"]
    assert shown["login_type"] == "secure-login" and shown["certificate"] == str(plain_admin.data / "tls" /
                                                                                 "postroom.pem")
    services = {s["name"]: s for s in plain_admin.json("service", "list")}
    assert (services["imap4"]["startup"], services["imap4"]["status"]) == ("manual", "stopped")


ROUND_TRIPS: list[tuple[list[str], dict[str, Any]]] = [
    (["--login-type", "plain-text-login"], {"login_type": "plain-text-login"}),
    (["--login-type", "plain-text-authentication"], {"login_type": "plain-text-authentication"}),
    (["--bindings", "0.0.0.0:143,[::]:143"], {"bindings": ["0.0.0.0:143", "[::]:143"]}),
    (["--bindings", ""], {"bindings": []}),
    (["--ssl-bindings", "[::1]:1993"], {"ssl_bindings": ["[::1]:1993"]}),
    (["--banner", "EX01 IMAP4 ready"], {"banner": "EX01 IMAP4 ready"}),
    (["--max-connections", "500"], {"max_connections": 500}),
    (["--max-connections-from-single-ip", "20"], {"max_connections_from_single_ip": 20}),
    (["--max-connections-per-user", "32"], {"max_connections_per_user": 32}),
    (["--max-command-size", "1024"], {"max_command_size": 1024}),
    (["--max-command-size", "16384"], {"max_command_size": 16384}),
    (["--max-message-size", "10MB"], {"max_message_size": 10 * 1024 ** 2}),
    (["--authenticated-timeout", "1h"], {"authenticated_timeout": 3600}),
    (["--preauthenticated-timeout", "00:00:30"], {"preauthenticated_timeout": 30}),
    (["--protocol-log", "enabled"], {"protocol_log": True}),
    (["--log-file-roll-over", "hourly"], {"log_file_roll_over": "hourly"}),
    (["--log-per-file-size-quota", "10MB"], {"log_per_file_size_quota": 10 * 1024 ** 2}),
    (["--log-max-age", "7d"], {"log_max_age": 7 * 86400}),
    (["--log-max-directory-size", "1GB"], {"log_max_directory_size": 1024 ** 3}),
    (["--proxy-protocol", "enabled", "--proxy-trusted-networks", "10.0.0.5"],
     {"proxy_protocol": True, "proxy_trusted_networks": ["10.0.0.5/32"]}),
]


@pytest.mark.parametrize("args,expected", ROUND_TRIPS, ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_imap_set_round_trips_through_imap_show(admin: Admin, args: list[str], expected: dict[str, Any]) -> None:
    before, pop_before = imap(admin), admin.pop()
    answer = admin.json("imap", "set", *args)
    shown = imap(admin)
    assert shown == {**before, **expected}  # the named settings changed, and nothing else
    assert answer == shown
    assert admin.pop() == pop_before, "POP3's settings are apart"


def test_imap_set_is_audited_with_before_and_after(admin: Admin) -> None:
    admin.ok("imap", "set", "--max-command-size", "2048", "--banner", "Hello")
    entry = admin.audit(1)[0]
    assert (entry["action"], entry["target"]) == ("imap.set", "server/EX01/imap")
    assert entry["before"] == {"banner": "The postroom IMAP4 service is ready.", "max_command_size": 10240}
    assert entry["after"] == {"banner": "Hello", "max_command_size": 2048}
    admin.ok("imap", "set", "--banner", "Hello")  # no change: nothing to audit
    assert admin.audit(1)[0]["id"] == entry["id"]


def row(out: str, name: str, value: str) -> bool:
    """Whether the settings table shows `name` with `value` in one row."""
    return re.search(rf"\b{re.escape(name)}\s*│\s*{re.escape(value)}\s*│", out) is not None


def test_imap_show_human_output_lists_settings_as_set_takes_them(admin: Admin) -> None:
    out = admin.ok("imap", "show").stdout
    for name, value in (("login-type", "secure-login"), ("bindings", "127.0.0.1:1143"),
                        ("ssl-bindings", "127.0.0.1:1993"), ("max-command-size", "10240"),
                        ("max-message-size", "35MB"),
                        ("authenticated-timeout", "30m"), ("log-max-directory-size", "250MB")):
        assert row(out, name, value), out


BAD_VALUES: list[tuple[list[str], str, list[str]]] = [
    (["--login-type", "kerberos"], "login-type", ["plain-text-login", "secure-login"]),
    (["--bindings", "localhost:143"], "bindings", ["IP:port"]),
    (["--ssl-bindings", "0.0.0.0:99999"], "ssl-bindings", ["1..65535"]),
    (["--banner", ""], "banner", ["1 to 200 printable characters"]),
    (["--banner", "[ALERT] ready"], "banner", ["must not start with '['"]),
    (["--banner", "Grüezi"], "banner", ["ASCII"]),
    (["--max-command-size", "1023"], "max-command-size", ["1024..16384"]),
    (["--max-command-size", "16385"], "max-command-size", ["1024..16384"]),
    (["--max-message-size", "1KB"], "max-message-size", ["65536..2147483647"]),
    (["--max-connections-per-user", "0"], "max-connections-per-user", ["1..2147483647"]),
    (["--authenticated-timeout", "2h"], "authenticated-timeout", ["30s..3600s"]),
    (["--preauthenticated-timeout", "10"], "preauthenticated-timeout", ["30s..3600s"]),
    (["--log-max-age", "forever"], "log-max-age", ["30d"]),
    (["--proxy-protocol", "enabled"], "proxy-trusted-networks", ["load balancers"]),
    # another service's socket (the dev profile: POP3 1110/1995, SMTP 2525/2587, console 8080)
    (["--bindings", "127.0.0.1:1110"], "bindings", ["a POP3 binding of server EX01", "postroom pop set --bindings"]),
    (["--ssl-bindings", "0.0.0.0:1995"], "ssl-bindings", ["a POP3 SSL binding", "postroom pop set --ssl-bindings"]),
    (["--bindings", "127.0.0.1:2587"], "bindings", ["receive connector 'Client EX01'"]),
    (["--ssl-bindings", "127.0.0.1:8080"], "ssl-bindings", ["admin service HTTP binding"]),
    (["--ssl-bindings", "127.0.0.1:1143"], "ssl-bindings", ["also a plain/STARTTLS binding"]),
    (["--certificate", "/nonexistent/cert.pem"], "certificate", ["does not exist"]),
]


@pytest.mark.parametrize("args,setting,fragments", BAD_VALUES, ids=lambda v: " ".join(v)[:40] if isinstance(v, list)
                         else "")
def test_imap_set_bad_value_is_refused_and_changes_nothing(admin: Admin, args: list[str], setting: str,
                                                           fragments: list[str]) -> None:
    before, audit_before = imap(admin), admin.audit()
    result = admin.fails(2, "imap", "set", *args)
    assert setting in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr
    assert imap(admin) == before and admin.audit() == audit_before


def test_pop3_s_sort_order_is_no_imap4_option(admin: Admin) -> None:
    result = admin("imap", "set", "--sort-order", "descending")  # IMAP4 clients address messages by UID
    assert result.exit_code == 2 and "No such option: --sort-order" in result.stderr


def test_other_services_may_not_take_imap4_s_bindings(admin: Admin) -> None:
    result = admin.fails(2, "pop", "set", "--bindings", "127.0.0.1:1143")
    assert "an IMAP4 binding of server EX01 (move one: `postroom imap set --bindings`)" in flat(result.stderr)
    result = admin.fails(2, "connector", "set", "Client EX01", "--bindings", "0.0.0.0:1993")
    assert "an IMAP4 SSL binding of server EX01" in flat(result.stderr)
    result = admin.fails(2, "web", "set", "--http-bindings", "127.0.0.1:1143")
    assert "an IMAP4 binding (postroom imap set --bindings)" in flat(result.stderr)


def test_imap_set_without_options_and_for_an_unknown_server(admin: Admin) -> None:
    assert "nothing to change" in admin.fails(2, "imap", "set").stderr
    assert "NOPE" in admin.fails(3, "imap", "show", "--server", "NOPE").stderr


def test_ssl_bindings_need_a_certificate(admin: Admin) -> None:
    admin.ok("imap", "set", "--ssl-bindings", "")
    admin.ok("imap", "set", "--certificate", "")
    result = admin.fails(2, "imap", "set", "--ssl-bindings", "127.0.0.1:1993")
    assert "SSL bindings need a certificate" in result.stderr


def test_imap_set_takes_a_certificate_by_name_and_refuses_a_mismatched_key(admin: Admin, tmp_path: Path) -> None:
    admin.ok("imap", "set", "--certificate", "postroom")  # the pair `init` made under DATA/tls
    assert imap(admin)["certificate"] == str(admin.data / "tls" / "postroom.pem")
    other = trustme.CA().issue_cert("mail.example.com")
    other.private_key_pem.write_to_path(str(tmp_path / "other.key"))
    result = admin.fails(2, "imap", "set", "--certificate-key", str(tmp_path / "other.key"))
    assert "certificate" in result.stderr


@pytest.mark.parametrize("option", ["--imap", "--imap-enabled"])
def test_mailbox_set_imap_turns_the_feature_off_and_on(admin: Admin, option: str) -> None:
    shown = admin.json("mailbox", "set", "demo@example.com", option, "disabled")
    assert shown["imap_enabled"] is False and shown["pop_enabled"] is True
    assert admin.json("mailbox", "show", "demo@example.com")["imap_enabled"] is False
    entry = admin.audit(1)[0]
    assert entry["action"] == "mailbox.set" and (entry["before"]["imap_enabled"], entry["after"]["imap_enabled"]) == (
        True, False)
    assert row(admin.ok("mailbox", "show", "demo@example.com").stdout, "imap-enabled", "disabled")
    assert admin.json("mailbox", "set", "demo@example.com", option, "enabled")["imap_enabled"] is True
    result = admin.fails(2, "mailbox", "set", "demo@example.com", option, "maybe")
    assert "imap-enabled" in result.stderr and "enabled" in result.stderr


def test_mailbox_new_takes_imap(admin: Admin) -> None:
    made = admin.json("mailbox", "new", "app@example.com", "--imap", "disabled", "--password-stdin",
                      input="app password\n")
    assert (made["imap_enabled"], made["pop_enabled"]) == (False, True)
    assert "imap enabled" in flat(admin.ok("mailbox", "list").stdout)  # a column beside pop enabled
