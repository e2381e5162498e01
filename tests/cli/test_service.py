"""`postroom service list|start|stop|restart|set`, with no node running."""
from __future__ import annotations

import pytest

from .conftest import Admin, flat


def pop3(admin: Admin) -> dict:
    rows = [row for row in admin.json("service", "list") if row["name"] == "pop3"]
    assert len(rows) == 1
    return rows[0]


def test_service_list_shows_desired_state_and_no_node(admin: Admin) -> None:
    row = pop3(admin)
    assert row["server"] == "EX01"
    assert (row["startup"], row["status"]) == ("automatic", "running")
    assert "no node" in row["state"]
    assert row["listening"] == [] and row["errors"] == []
    out = flat(admin.ok("service", "list").stdout)
    assert "pop3" in out and "automatic" in out and "no node" in out


def test_service_list_for_all_servers_and_unknown_server(admin: Admin) -> None:
    assert [(r["server"], r["name"]) for r in admin.json("service", "list", "--server", "all")] == [
        ("EX01", "admin"), ("EX01", "imap4"), ("EX01", "pop3"), ("EX01", "smtp")]
    assert admin.json("service", "list", "--server", "EX01") == admin.json("service", "list")
    result = admin.fails(3, "service", "list", "--server", "NOPE")
    assert "NOPE" in result.stderr


def test_service_stop_and_start_without_a_node_report_no_node(admin: Admin) -> None:
    stopped = admin.json("service", "stop", "pop3")
    assert stopped["status"] == "stopped"
    assert "no node" in stopped["state"]
    assert pop3(admin)["status"] == "stopped"

    result = admin.ok("service", "start", "pop3")
    assert "no node" in flat(result.stdout)
    assert pop3(admin)["status"] == "running"


def test_service_restart_without_a_node(admin: Admin) -> None:
    view = admin.json("service", "restart", "pop3")
    assert view["status"] == "running" and "no node" in view["state"]


@pytest.mark.parametrize("startup", ["manual", "disabled", "automatic"])
def test_service_set_startup_round_trips(plain_admin: Admin, startup: str) -> None:
    view = plain_admin.json("service", "set", "pop3", "--startup", startup)
    assert view["startup"] == startup
    row = pop3(plain_admin)
    assert row["startup"] == startup
    assert row["status"] == "stopped"  # the startup type alone does not start the service


def test_disabled_service_cannot_be_started_and_says_how_to_fix_it(plain_admin: Admin) -> None:
    plain_admin.ok("service", "set", "pop3", "--startup", "disabled")
    audit_before = plain_admin.audit()
    result = plain_admin.fails(4, "service", "start", "pop3")
    message = flat(result.stderr)
    assert "disabled" in message
    assert "postroom service set pop3 --startup manual" in message
    row = pop3(plain_admin)
    assert (row["startup"], row["status"]) == ("disabled", "stopped")
    assert plain_admin.audit() == audit_before
    # once the startup type allows it, the same command works
    plain_admin.ok("service", "set", "pop3", "--startup", "manual")
    plain_admin.ok("service", "start", "pop3")
    assert pop3(plain_admin)["status"] == "running"


def test_restart_of_a_disabled_service_is_refused(admin: Admin) -> None:
    admin.ok("service", "set", "pop3", "--startup", "disabled")
    admin.fails(4, "service", "restart", "pop3")


@pytest.mark.parametrize("command", [
    ["service", "start", "pop4"], ["service", "stop", "smtp2"], ["service", "restart", "POP"],
    ["service", "set", "pop4", "--startup", "manual"],
])
def test_bad_service_name_names_the_allowed_services(admin: Admin, command: list[str]) -> None:
    before = admin.json("service", "list")
    result = admin.fails(2, *command)
    assert result.stderr.startswith("error: service:")
    assert "pop3" in result.stderr  # the allowed value
    assert command[2] in result.stderr
    assert admin.json("service", "list") == before


@pytest.mark.parametrize("value", ["sometimes", "Auto", ""])
def test_bad_startup_value_names_the_allowed_values(admin: Admin, value: str) -> None:
    before = admin.json("service", "list")
    result = admin.fails(2, "service", "set", "pop3", "--startup", value)
    assert result.stderr.startswith("error: startup:")
    for allowed in ("automatic", "manual", "disabled"):
        assert allowed in result.stderr
    assert admin.json("service", "list") == before


def test_service_set_requires_startup(admin: Admin) -> None:
    result = admin("service", "set", "pop3")
    assert result.exit_code == 2
    assert "--startup" in result.output


def test_service_commands_on_an_unknown_server_are_not_found(admin: Admin) -> None:
    result = admin.fails(3, "service", "start", "pop3", "--server", "EX99")
    assert "EX99" in result.stderr
    admin.fails(3, "service", "set", "pop3", "--startup", "manual", "--server", "EX99")
