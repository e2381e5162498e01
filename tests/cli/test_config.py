"""`postroom config show [--changed]` (postconf, postconf -n): what an admin reviews or diffs."""
from __future__ import annotations

import yaml

from .conftest import Admin, flat

PASSWORD = "relay-secret-7"


def test_changed_on_a_fresh_install_then_after_pop_set(plain_admin: Admin) -> None:
    fresh = plain_admin.ok("config", "show", "--changed").stdout
    assert fresh.startswith("# postroom config show --changed: what differs from its default\n")
    pop = yaml.safe_load(fresh)["servers"]["EX01"]["pop"]
    assert set(pop) == {"certificate", "certificate_key"}  # all init changed: the certificate it made
    assert "login_type" not in fresh and "transport" not in fresh

    plain_admin.ok("pop", "set", "--login-type", "plain-text-login", "--log-max-directory-size", "1GB")
    changed = plain_admin.ok("config", "show", "--changed").stdout
    assert "      login_type: plain-text-login  # default: secure-login\n" in changed
    assert "      log_max_directory_size: 1GB  # default: 250MB\n" in changed
    assert set(yaml.safe_load(changed)["servers"]["EX01"]["pop"]) == {
        "certificate", "certificate_key", "login_type", "log_max_directory_size"}
    as_json = plain_admin.json("config", "show", "--changed")
    assert as_json["servers"]["EX01"]["pop"]["log_max_directory_size"] == 1 << 30  # raw in --json
    assert "services" not in as_json["servers"]["EX01"]  # pop3 manual and stopped, as installed

    plain_admin.ok("pop", "set", "--login-type", "secure-login")  # back to the default: gone again
    assert "login_type" not in plain_admin.ok("config", "show", "-n").stdout


def test_show_is_the_whole_configuration_stable_and_diffable(admin: Admin) -> None:
    first = admin.ok("config", "show").stdout
    document = yaml.safe_load(first)
    assert list(document) == ["organization", "servers"]
    assert document["servers"]["EX01"]["pop"]["max_command_size"] == 512
    assert document["servers"]["EX01"]["receive_connectors"]["Default EX01"]["max_message_size"] == "36MB"
    assert admin.ok("config", "show").stdout == first
    admin.ok("transport", "set", "--max-hop-count", "40")
    second = admin.ok("config", "show").stdout
    changed_lines = [line for line in second.splitlines() if line not in first.splitlines()]
    assert changed_lines == ["      max_hop_count: 40"]  # a diff names the one setting that moved
    assert admin.json("config", "show", "--server", "all")["servers"]["EX01"]["transport"]["max_hop_count"] == 40


def test_a_smart_host_password_never_shows(admin: Admin) -> None:
    admin.ok("send-connector", "new", "Relay", "--address-spaces", "partner.example", "--no-dns-routing",
             "--smart-hosts", "relay.example.net:587", "--smart-host-auth", "basic", "--auth-username", "app",
             "--require-tls", "--auth-password-stdin", input=PASSWORD + "\n")
    for args in (("config", "show"), ("config", "show", "--changed"), ("config", "show", "--json")):
        out = admin.ok(*args).stdout
        assert PASSWORD not in out and "aesgcm:" not in out
        assert "********" in out


def test_an_unknown_server_exits_3(admin: Admin) -> None:
    result = admin.fails(3, "config", "show", "--server", "EX09")
    assert flat(result.stderr) == "error: server 'EX09' does not exist"
