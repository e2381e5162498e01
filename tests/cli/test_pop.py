"""`postroom pop show|set`: every setting round-trips; every bad value is refused and changes nothing."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trustme

from .conftest import Admin, flat

# (arguments to `pop set`, what `pop show --json` says afterwards)
ROUND_TRIPS: list[tuple[list[str], dict[str, Any]]] = [
    (["--login-type", "plain-text-login"], {"login_type": "plain-text-login"}),
    (["--login-type", "plain-text-authentication"], {"login_type": "plain-text-authentication"}),
    (["--login-type", "secure-login"], {"login_type": "secure-login"}),
    (["--bindings", "0.0.0.0:110"], {"bindings": ["0.0.0.0:110"]}),
    (["--bindings", "0.0.0.0:110,[::]:110"], {"bindings": ["0.0.0.0:110", "[::]:110"]}),
    (["--bindings", "127.0.0.1:1110, [::1]:1110"], {"bindings": ["127.0.0.1:1110", "[::1]:1110"]}),
    (["--bindings", "[::1]:1110"], {"bindings": ["[::1]:1110"]}),
    (["--bindings", "127.0.0.1:1110,127.0.0.1:1110"], {"bindings": ["127.0.0.1:1110"]}),  # duplicates once
    (["--bindings", ""], {"bindings": []}),
    (["--ssl-bindings", "0.0.0.0:995,[::]:995"], {"ssl_bindings": ["0.0.0.0:995", "[::]:995"]}),
    (["--ssl-bindings", "[::1]:1995"], {"ssl_bindings": ["[::1]:1995"]}),
    (["--ssl-bindings", ""], {"ssl_bindings": []}),
    (["--bindings", "", "--ssl-bindings", ""], {"bindings": [], "ssl_bindings": []}),
    (["--banner", "EX01 POP3 ready"], {"banner": "EX01 POP3 ready"}),
    (["--banner", "x" * 200], {"banner": "x" * 200}),
    (["--max-connections", "1"], {"max_connections": 1}),
    (["--max-connections", "2147483647"], {"max_connections": 2147483647}),
    (["--max-connections", "500"], {"max_connections": 500}),
    (["--max-connections-from-single-ip", "20"], {"max_connections_from_single_ip": 20}),
    (["--max-connections-per-user", "4"], {"max_connections_per_user": 4}),
    (["--max-command-size", "40"], {"max_command_size": 40}),
    (["--max-command-size", "1024"], {"max_command_size": 1024}),
    (["--authenticated-timeout", "30m"], {"authenticated_timeout": 1800}),
    (["--authenticated-timeout", "00:01:00"], {"authenticated_timeout": 60}),
    (["--authenticated-timeout", "1h"], {"authenticated_timeout": 3600}),
    (["--authenticated-timeout", "30s"], {"authenticated_timeout": 30}),
    (["--authenticated-timeout", "90"], {"authenticated_timeout": 90}),
    (["--preauthenticated-timeout", "5m"], {"preauthenticated_timeout": 300}),
    (["--preauthenticated-timeout", "00:00:45"], {"preauthenticated_timeout": 45}),
    (["--preauthenticated-timeout", "01:00:00"], {"preauthenticated_timeout": 3600}),
    (["--sort-order", "descending"], {"sort_order": "descending"}),
    (["--sort-order", "ascending"], {"sort_order": "ascending"}),
    (["--protocol-log", "enabled"], {"protocol_log": True}),
    (["--protocol-log", "disabled"], {"protocol_log": False}),
    (["--log-file-roll-over", "hourly"], {"log_file_roll_over": "hourly"}),
    (["--log-file-roll-over", "monthly"], {"log_file_roll_over": "monthly"}),
    (["--log-per-file-size-quota", "10MB"], {"log_per_file_size_quota": 10 * 1024 ** 2}),
    (["--log-per-file-size-quota", "1024"], {"log_per_file_size_quota": 1024}),
    (["--log-per-file-size-quota", "unlimited"], {"log_per_file_size_quota": 0}),
    (["--log-max-age", "7d"], {"log_max_age": 7 * 86400}),
    (["--log-max-age", "30.00:00:00"], {"log_max_age": 30 * 86400}),
    (["--log-max-age", "12:00:00"], {"log_max_age": 12 * 3600}),
    (["--log-max-age", "0"], {"log_max_age": 0}),
    (["--log-max-directory-size", "1GB"], {"log_max_directory_size": 1024 ** 3}),
    (["--log-max-directory-size", "0"], {"log_max_directory_size": 0}),
    (["--proxy-trusted-networks", "10.0.0.5, 10.0.1.0/24"], {"proxy_trusted_networks": ["10.0.0.5/32", "10.0.1.0/24"]}),
    (["--proxy-protocol", "enabled", "--proxy-trusted-networks", "2001:db8::5"],
     {"proxy_protocol": True, "proxy_trusted_networks": ["2001:db8::5/128"]}),
    (["--login-type", "plain-text-login", "--max-command-size", "100", "--banner", "hi"],
     {"login_type": "plain-text-login", "max_command_size": 100, "banner": "hi"}),
]


@pytest.mark.parametrize("args,expected", ROUND_TRIPS, ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_pop_set_round_trips_through_pop_show(admin: Admin, args: list[str], expected: dict[str, Any]) -> None:
    before = admin.pop()
    answer = admin.json("pop", "set", *args)
    shown = admin.pop()
    assert shown == {**before, **expected}  # the named settings changed, and nothing else
    assert answer == shown  # `pop set --json` answers with the settings as stored


def test_pop_set_protocol_log_enabled_then_disabled(admin: Admin) -> None:
    admin.ok("pop", "set", "--protocol-log", "enabled")
    assert admin.pop()["protocol_log"] is True
    admin.ok("pop", "set", "--protocol-log", "disabled")
    assert admin.pop()["protocol_log"] is False


def test_pop_show_human_output_lists_settings(admin: Admin) -> None:
    out = flat(admin.ok("pop", "show").stdout)
    assert "login-type" in out and "secure-login" in out
    assert "127.0.0.1:1110" in out and "127.0.0.1:1995" in out
    assert "max-command-size" in out and "512" in out


def test_pop_set_without_options_says_nothing_to_change(admin: Admin) -> None:
    result = admin.fails(2, "pop", "set")
    assert "nothing to change" in result.stderr


def test_pop_show_for_an_unknown_server_is_not_found(admin: Admin) -> None:
    result = admin.fails(3, "pop", "show", "--server", "NOPE")
    assert "NOPE" in result.stderr


# (arguments, the setting as the admin typed it, fragments the message must contain)
BAD_VALUES: list[tuple[list[str], str, list[str]]] = [
    (["--login-type", "kerberos"], "login-type", ["plain-text-login", "plain-text-authentication", "secure-login"]),
    (["--login-type", "SECURE"], "login-type", ["secure-login"]),
    (["--bindings", "localhost:110"], "bindings", ["IP:port"]),
    (["--bindings", "0.0.0.0"], "bindings", ["IP:port"]),
    (["--bindings", "0.0.0.0:70000"], "bindings", ["1..65535"]),
    (["--bindings", "0.0.0.0:0"], "bindings", ["1..65535"]),
    (["--bindings", "999.1.1.1:110"], "bindings", ["not an IP address"]),
    (["--bindings", "::1:110"], "bindings", ["IP:port", "[::]:110"]),
    (["--bindings", "127.0.0.1:1110,mail.example.com:110"], "bindings", ["IP:port"]),
    (["--ssl-bindings", "[::1]:99999"], "ssl-bindings", ["1..65535"]),
    (["--ssl-bindings", "all:995"], "ssl-bindings", ["IP:port"]),
    (["--banner", ""], "banner", ["1 to 200 printable characters"]),
    (["--banner", "x" * 201], "banner", ["1 to 200 printable characters"]),
    (["--banner", "two\nlines"], "banner", ["1 to 200 printable characters"]),
    (["--max-connections", "0"], "max-connections", ["1..2147483647"]),
    (["--max-connections", "2147483648"], "max-connections", ["1..2147483647"]),
    (["--max-connections", "many"], "max-connections", ["1..2147483647"]),
    (["--max-connections-from-single-ip", "0"], "max-connections-from-single-ip", ["1..2147483647"]),
    (["--max-connections-per-user=-1"], "max-connections-per-user", ["1..2147483647"]),
    (["--max-connections-per-user", "1.5"], "max-connections-per-user", ["1..2147483647"]),
    (["--max-command-size", "39"], "max-command-size", ["40..1024"]),
    (["--max-command-size", "1025"], "max-command-size", ["40..1024"]),
    (["--max-command-size", "abc"], "max-command-size", ["40..1024"]),
    (["--authenticated-timeout", "29"], "authenticated-timeout", ["30s..3600s"]),
    (["--authenticated-timeout", "2h"], "authenticated-timeout", ["30s..3600s"]),
    (["--authenticated-timeout", "00:60:01"], "authenticated-timeout", ["30s..3600s"]),
    (["--authenticated-timeout", "soon"], "authenticated-timeout", ["30s", "5m", "1h", "hh:mm:ss"]),
    (["--authenticated-timeout", "1:00"], "authenticated-timeout", ["hh:mm:ss"]),
    (["--preauthenticated-timeout", "0"], "preauthenticated-timeout", ["30s..3600s"]),
    (["--preauthenticated-timeout", "a day"], "preauthenticated-timeout", ["hh:mm:ss"]),
    (["--sort-order", "random"], "sort-order", ["ascending", "descending"]),
    (["--protocol-log", "maybe"], "protocol-log", []),
    (["--log-file-roll-over", "yearly"], "log-file-roll-over", ["hourly", "daily", "weekly", "monthly"]),
    (["--log-per-file-size-quota", "100"], "log-per-file-size-quota", ["0 or unlimited", "1024..1099511627776"]),
    (["--log-per-file-size-quota", "lots"], "log-per-file-size-quota", ["10MB", "unlimited"]),
    (["--log-max-age", "forever"], "log-max-age", ["30d", "30.00:00:00"]),
    (["--log-max-age=-1d"], "log-max-age", ["0 (no limit)"]),
    (["--log-max-age", "24856d"], "log-max-age", ["0 (no limit)..2147483647s"]),
    (["--log-max-directory-size", "2TB"], "log-max-directory-size", ["1024..1099511627776"]),
    (["--proxy-protocol", "enabled"], "proxy-trusted-networks", ["load balancers", "10.0.0.5"]),
    (["--proxy-protocol", "sometimes"], "proxy-protocol", ["enabled", "disabled"]),
    (["--proxy-trusted-networks", "balancer.example"], "proxy-trusted-networks", ["CIDR"]),
]


def _bad_id(value: Any) -> str:
    return " ".join(value)[:40] if isinstance(value, list) else ""


@pytest.mark.parametrize("args,setting,fragments", BAD_VALUES, ids=_bad_id)
def test_pop_set_bad_value_is_refused_and_changes_nothing(admin: Admin, args: list[str], setting: str,
                                                          fragments: list[str]) -> None:
    before, audit_before = admin.pop(), admin.audit()
    result = admin.fails(2, "pop", "set", *args)
    message = result.stderr
    assert message.startswith(f"error: {setting}:"), message  # the setting, as the admin spells it
    for fragment in fragments:
        assert fragment in message, message
    assert admin.pop() == before
    assert admin.audit() == audit_before


def test_pop_set_protocol_log_bad_value_names_the_documented_values(admin: Admin) -> None:
    # `pop set --help` and docs/operations.md both say: enabled or disabled.
    result = admin.fails(2, "pop", "set", "--protocol-log", "maybe")
    assert "protocol-log" in result.stderr
    assert "enabled" in result.stderr and "disabled" in result.stderr, result.stderr


@pytest.mark.parametrize("args", [
    ["--banner", "Welcome", "--max-command-size", "5000"],
    ["--max-command-size", "5000", "--banner", "Welcome"],
    ["--login-type", "plain-text-login", "--bindings", "nonsense"],
    ["--bindings", "127.0.0.1:2110", "--ssl-bindings", "127.0.0.1:2110"],
    ["--max-connections", "10", "--certificate", "/nonexistent/cert.pem"],
], ids=lambda a: " ".join(a))
def test_pop_set_with_one_good_and_one_bad_option_applies_neither(admin: Admin, args: list[str]) -> None:
    before, audit_before = admin.pop(), admin.audit()
    admin.fails(2, "pop", "set", *args)
    assert admin.pop() == before
    assert admin.audit() == audit_before


# certificates -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def test_pop_set_accepts_a_combined_certificate_and_key_pem(admin: Admin, ca: trustme.CA, tmp_path: Path) -> None:
    combined = tmp_path / "mail.pem"
    ca.issue_cert("mail.example.com", "127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(combined))
    admin.ok("pop", "set", "--certificate", str(combined))
    pop = admin.pop()
    assert pop["certificate"] == str(combined)
    assert pop["certificate_key"] is None  # the key is inside the PEM


def test_pop_set_accepts_certificate_and_separate_key(admin: Admin, ca: trustme.CA, tmp_path: Path) -> None:
    issued = ca.issue_cert("mail.example.com")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    issued.cert_chain_pems[0].write_to_path(str(cert))
    issued.private_key_pem.write_to_path(str(key))
    admin.ok("pop", "set", "--certificate", str(cert), "--certificate-key", str(key))
    pop = admin.pop()
    assert (pop["certificate"], pop["certificate_key"]) == (str(cert), str(key))


def test_pop_set_certificate_relative_path_is_stored_absolute(admin: Admin, ca: trustme.CA, tmp_path: Path,
                                                              monkeypatch) -> None:
    ca.issue_cert("mail.example.com").private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "rel.pem"))
    monkeypatch.chdir(tmp_path)
    admin.ok("pop", "set", "--certificate", "./rel.pem")
    assert admin.pop()["certificate"] == str(tmp_path / "rel.pem")


def test_pop_set_certificate_by_name_under_data_tls(admin: Admin) -> None:
    # `--certificate postroom` names the certificate `init` made in DATA/tls (its key is beside it).
    tls = admin.data / "tls"
    result = admin("pop", "set", "--certificate", "postroom")
    assert result.exit_code == 0, result.stderr
    assert admin.pop()["certificate"] == str(tls / "postroom.pem")


def _write_mismatched(ca: trustme.CA, tmp_path: Path) -> tuple[Path, Path]:
    one, other = ca.issue_cert("one.example.com"), ca.issue_cert("other.example.com")
    cert, key = tmp_path / "one.pem", tmp_path / "other.key"
    one.cert_chain_pems[0].write_to_path(str(cert))
    other.private_key_pem.write_to_path(str(key))
    return cert, key


def test_pop_set_refuses_a_key_that_does_not_match(admin: Admin, ca: trustme.CA, tmp_path: Path) -> None:
    cert, key = _write_mismatched(ca, tmp_path)
    before = admin.pop()
    result = admin.fails(2, "pop", "set", "--certificate", str(cert), "--certificate-key", str(key))
    assert result.stderr.startswith("error: certificate:")
    assert "does not match" in result.stderr
    assert admin.pop() == before


def test_pop_set_refuses_a_combined_pem_whose_key_does_not_match(admin: Admin, ca: trustme.CA,
                                                                  tmp_path: Path) -> None:
    cert, key = _write_mismatched(ca, tmp_path)
    combined = tmp_path / "combined.pem"
    combined.write_bytes(cert.read_bytes() + key.read_bytes())
    before = admin.pop()
    result = admin.fails(2, "pop", "set", "--certificate", str(combined))
    assert result.stderr.startswith("error: certificate:")
    assert admin.pop() == before


def test_pop_set_refuses_only_a_new_key_that_does_not_match_the_current_certificate(
        admin: Admin, ca: trustme.CA, tmp_path: Path) -> None:
    key = tmp_path / "stray.key"
    ca.issue_cert("stray.example.com").private_key_pem.write_to_path(str(key))
    before = admin.pop()
    result = admin.fails(2, "pop", "set", "--certificate-key", str(key))
    assert result.stderr.startswith("error: certificate:")
    assert admin.pop() == before


def test_pop_set_refuses_a_missing_certificate_file(admin: Admin, tmp_path: Path) -> None:
    before = admin.pop()
    missing = tmp_path / "nope.pem"
    result = admin.fails(2, "pop", "set", "--certificate", str(missing))
    assert result.stderr.startswith("error: certificate:")
    assert str(missing) in result.stderr and "does not exist" in result.stderr
    assert admin.pop() == before


def test_pop_set_refuses_a_file_that_is_not_pem(admin: Admin, tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_bytes(b"this is not a certificate\n\x00\x01\x02")
    before = admin.pop()
    result = admin.fails(2, "pop", "set", "--certificate", str(junk))
    assert result.stderr.startswith("error: certificate:")
    assert "PEM" in result.stderr
    assert admin.pop() == before


def test_pop_set_refuses_a_certificate_without_a_key(admin: Admin, ca: trustme.CA, tmp_path: Path) -> None:
    cert = tmp_path / "cert-only.pem"
    ca.issue_cert("mail.example.com").cert_chain_pems[0].write_to_path(str(cert))
    before = admin.pop()
    result = admin.fails(2, "pop", "set", "--certificate", str(cert))
    assert result.stderr.startswith("error: certificate:")
    assert "key" in result.stderr
    assert admin.pop() == before


def test_ssl_bindings_need_a_certificate(admin: Admin) -> None:
    admin.ok("pop", "set", "--ssl-bindings", "", "--certificate", "")
    before = admin.pop()
    result = admin.fails(2, "pop", "set", "--ssl-bindings", "127.0.0.1:1995")
    assert result.stderr.startswith("error: certificate:")
    assert "--certificate" in result.stderr
    assert admin.pop() == before


# bindings clash ---------------------------------------------------------------------------
@pytest.mark.parametrize("args", [
    ["--bindings", "127.0.0.1:2110", "--ssl-bindings", "127.0.0.1:2110"],
    ["--ssl-bindings", "127.0.0.1:1110"],  # the dev profile's plain binding
    ["--bindings", "127.0.0.1:1995"],  # the dev profile's SSL binding
    ["--bindings", "[::1]:2110", "--ssl-bindings", "127.0.0.1:2995,[::1]:2110"],
], ids=lambda a: " ".join(a))
def test_ssl_binding_equal_to_a_plain_binding_is_refused(admin: Admin, args: list[str]) -> None:
    before, audit_before = admin.pop(), admin.audit()
    result = admin.fails(2, "pop", "set", *args)
    assert result.stderr.startswith("error: ssl-bindings:")
    assert "also a plain/STLS binding" in result.stderr
    assert admin.pop() == before
    assert admin.audit() == audit_before


def test_ssl_binding_equal_to_a_plain_binding_written_differently_is_refused(admin: Admin) -> None:
    # [0:0::1] and [::1] are the same IPv6 address: binding both would clash on one socket.
    before = admin.pop()
    result = admin("pop", "set", "--bindings", "[::1]:2110", "--ssl-bindings", "[0:0::1]:2110")
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert "ssl-bindings" in result.stderr
    assert admin.pop() == before


def test_ipv6_bindings_are_shown_in_canonical_form(admin: Admin) -> None:
    admin.ok("pop", "set", "--bindings", "[0:0:0:0:0:0:0:1]:2110,[::1]:2110")
    assert admin.pop()["bindings"] == ["[::1]:2110"]


def test_pop_binding_may_not_take_a_connector_binding(admin):
    connector = admin.json("connector", "show", "Default EX01")
    binding = connector["bindings"][0]
    result = admin.fails(2, "pop", "set", "--bindings", binding)
    assert "bindings" in result.output and "Default EX01" in result.output
    assert admin.json("pop", "show")["bindings"] != [binding]
