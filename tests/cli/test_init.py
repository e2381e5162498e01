"""`postroom init`: a new install, re-running it, and commands before any init."""
from __future__ import annotations

import json
import os

import pytest
from argon2 import PasswordHasher
from cryptography import x509

from .conftest import Admin, flat


def test_init_dev_creates_node_file_certificate_and_demo_mailbox(admin: Admin) -> None:
    data = admin.data
    assert json.loads((data / "node.json").read_text()) == {"server": "EX01"}
    cert_path, key_path = data / "tls" / "postroom.pem", data / "tls" / "postroom.key"
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert b"PRIVATE KEY" in key_path.read_bytes()
    assert os.stat(key_path).st_mode & 0o077 == 0  # the private key is not readable by others

    demo = admin.json("mailbox", "show", "demo@example.com")
    assert demo["password_set"] is True
    assert demo["enabled"] is True and demo["pop_enabled"] is True
    assert demo["messages"] == 1  # a welcome message for the first client to read
    assert [d["name"] for d in admin.json("domain", "list")] == ["example.com"]
    assert admin.json("pop", "show")["certificate"] == str(cert_path)


def test_init_dev_prints_a_demo_password_that_verifies(admin: Admin) -> None:

    assert admin.demo_password and len(admin.demo_password) >= 12

    password_hash = admin.password_hash("demo@example.com")
    assert password_hash and password_hash.startswith("$argon2id$")
    assert PasswordHasher().verify(password_hash, admin.demo_password)


def test_init_dev_output_names_server_data_and_certificate(runner, tmp_path) -> None:
    admin = Admin(runner, tmp_path / "var")
    out = flat(admin.ok("init", "--dev", "--server-name", "EX01").stdout)
    assert "Initialised server EX01" in out
    assert str(tmp_path / "var") in out
    assert str(tmp_path / "var" / "tls" / "postroom.pem") in out
    assert "Demo mailbox demo@example.com" in out


def test_rerunning_init_says_already_initialised_and_shows_no_password(admin: Admin) -> None:
    before = admin.json("mailbox", "show", "demo@example.com")
    result = admin.ok("init", "--dev", "--server-name", "EX01")
    out = flat(result.stdout)
    assert "already initialised" in out and "EX01" in out
    assert admin.demo_password not in result.output
    assert "password (shown once)" not in out  # no new password: only how to set one (test_first_run.py)
    # the existing install is untouched: same demo mailbox, same single domain
    assert admin.json("mailbox", "show", "demo@example.com") == before
    assert [d["name"] for d in admin.json("domain", "list")] == ["example.com"]


def test_rerunning_init_without_options_is_also_fine(admin: Admin) -> None:
    again = admin.json("init")
    assert again["created"] is False
    assert again["server"] == "EX01"
    assert again["demo_password"] is None


def test_init_with_another_server_name_on_existing_data_is_refused(admin: Admin) -> None:
    result = admin.fails(2, "init", "--server-name", "OTHER")
    assert "server-name" in result.stderr
    assert "EX01" in result.stderr
    assert json.loads((admin.data / "node.json").read_text()) == {"server": "EX01"}
    assert admin.json("service", "list")[0]["server"] == "EX01"


@pytest.mark.parametrize("name", ["bad name", "ex/01", "x" * 65, "ünïcode!"])
def test_init_refuses_a_bad_server_name(runner, tmp_path, name: str) -> None:
    admin = Admin(runner, tmp_path / "var")
    result = admin.fails(2, "init", "--server-name", name)
    assert "server-name" in result.stderr
    assert not (tmp_path / "var" / "node.json").exists()


@pytest.mark.parametrize("command", [
    ["service", "list"], ["pop", "show"], ["pop", "set", "--banner", "hi"], ["mailbox", "list"],
    ["mailbox", "show", "demo@example.com"], ["domain", "list"], ["domain", "add", "example.org"],
    ["log", "audit"], ["service", "start", "pop3"],
])
def test_commands_on_an_empty_data_dir_say_to_run_init(runner, tmp_path, command) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    admin = Admin(runner, empty)
    result = admin.fails(2, *command)
    assert "postroom init" in result.stderr
    assert str(empty) in result.stderr
    assert list(empty.iterdir()) == []  # nothing was created behind the admin's back


def test_commands_on_a_missing_data_dir_say_to_run_init(runner, tmp_path) -> None:
    admin = Admin(runner, tmp_path / "nowhere")
    result = admin.fails(2, "mailbox", "list")
    assert "postroom init" in result.stderr
    assert not (tmp_path / "nowhere").exists()


def test_non_dev_init_has_pop3_manual_and_stopped_and_smtp_automatic(plain_admin: Admin) -> None:
    # As in Exchange: POP3 and IMAP4 are off after install, SMTP (the transport service) and admin are on.
    services = plain_admin.json("service", "list")
    assert [(s["server"], s["name"], s["startup"], s["status"]) for s in services] == [
        ("EX01", "admin", "automatic", "running"), ("EX01", "imap4", "manual", "stopped"),
        ("EX01", "pop3", "manual", "stopped"), ("EX01", "smtp", "automatic", "running")]
    assert all("no node" in s["state"] for s in services)


def test_non_dev_init_has_exchange_pop_defaults(plain_admin: Admin) -> None:
    pop = plain_admin.json("pop", "show")
    tls = plain_admin.data / "tls"
    assert pop == {
        "server": "EX01",
        "login_type": "secure-login",
        "bindings": ["0.0.0.0:110", "[::]:110"],
        "ssl_bindings": ["0.0.0.0:995", "[::]:995"],
        "certificate": str(tls / "postroom.pem"),
        "certificate_key": str(tls / "postroom.key"),
        "banner": "The postroom POP3 service is ready.",
        "max_connections": 2147483647,
        "max_connections_from_single_ip": 2147483647,
        "max_connections_per_user": 16,
        "max_command_size": 512,
        "authenticated_timeout": 1800,
        "preauthenticated_timeout": 60,
        "sort_order": "ascending",
        "protocol_log": False,
        "log_file_roll_over": "daily",  # Exchange 2010/2013's LogFileRollOverSettings
        "log_per_file_size_quota": 0,  # LogPerFileSizeQuota: none, roll by period
        "log_max_age": 30 * 86400,  # the transport's ReceiveProtocolLogMaxAge
        "log_max_directory_size": 250 * 1024 * 1024,  # ...and ReceiveProtocolLogMaxDirectorySize
        "proxy_protocol": False,  # no load balancer in front unless an admin says so
        "proxy_trusted_networks": [],
    }


def test_non_dev_init_has_no_domain_no_mailbox_and_prints_no_password(runner, tmp_path) -> None:
    admin = Admin(runner, tmp_path / "var")
    view = admin.json("init", "--server-name", "EX01", "--fqdn", "mail.example.com")
    assert view["created"] is True and view["server"] == "EX01"
    assert view["demo_address"] is None and view["demo_password"] is None
    assert admin.json("domain", "list") == []
    assert admin.json("mailbox", "list")["total"] == 0
    cert = x509.load_pem_x509_certificate((tmp_path / "var" / "tls" / "postroom.pem").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "mail.example.com" in san.get_values_for_type(x509.DNSName)
    assert "EX01" in san.get_values_for_type(x509.DNSName)


def test_dev_init_pop_settings_use_loopback_high_ports(admin: Admin) -> None:
    pop = admin.json("pop", "show")
    assert pop["bindings"] == ["127.0.0.1:1110"]
    assert pop["ssl_bindings"] == ["127.0.0.1:1995"]
    pop3 = admin.json("service", "list")[0]
    assert (pop3["startup"], pop3["status"]) == ("automatic", "running")


def test_data_dir_from_postroom_data_environment_variable(runner, tmp_path) -> None:
    from .conftest import invoke

    env = {"POSTROOM_DATA": str(tmp_path / "envdata")}
    assert invoke(runner, ["init", "--server-name", "EX01"], env=env).exit_code == 0
    result = invoke(runner, ["service", "list", "--json"], env=env)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)[0]["server"] == "EX01"
