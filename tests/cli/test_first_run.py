"""The first run as a new administrator meets it: `postroom init` (which `make run` runs every
time) says where the console is and how to set a new password, the first time and every time
after; a command run from the wrong directory says where it looked and how to point at the
real data directory before it suggests a new install."""
from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from .conftest import Admin, flat, invoke

CONSOLE = "Console: http://127.0.0.1:8080/console/ (sign in as admin); REST API: http://127.0.0.1:8080/api/v1"


def lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines()]


def test_the_first_run_prints_the_passwords_once_and_how_to_set_new_ones(runner: CliRunner, tmp_path: Path) -> None:
    admin = Admin(runner, tmp_path / "var")
    out = admin.ok("init", "--dev", "--server-name", "EX01").stdout
    assert "Demo mailbox demo@example.com, password (shown once):" in out
    assert "Admin admin (organization-management), password (shown once):" in out
    assert CONSOLE in lines(out)
    data = admin.data
    assert lines(out)[-3:] == [
        "Passwords are shown only once, when they are made, and are stored only as hashes; to set a new one "
        "(it prompts):",
        f"postroom admin password admin --data {data}",
        f"postroom mailbox password demo@example.com --data {data}"]


def test_a_second_run_says_how_to_get_in_without_a_password(admin: Admin) -> None:
    result = admin.ok("init", "--dev", "--server-name", "EX01")
    out = lines(result.stdout)
    assert out[0] == f"{admin.data} is already initialised for server EX01; schema up to date"
    assert out[1] == CONSOLE
    assert out[2:] == [
        "Passwords were shown once, at the first run, and are stored only as hashes; to set a new one (it prompts):",
        f"postroom admin password admin --data {admin.data}",
        f"postroom mailbox password demo@example.com --data {admin.data}"]
    assert admin.demo_password not in result.output
    # the command it names works: the admin's new password is what was typed
    admin.ok("admin", "password", "admin", "--password-stdin", input="a new password\n")


def test_in_the_data_directorys_parent_the_commands_need_no_data_option(
        runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    out = lines(invoke(runner, ["init", "--dev", "--server-name", "EX01", "--data", "var"]).stdout)
    assert out[-2:] == ["postroom admin password admin", "postroom mailbox password demo@example.com"]


def test_a_production_install_says_where_the_console_is_and_to_create_an_admin(plain_admin: Admin) -> None:
    out = lines(plain_admin.ok("init").stdout)
    fqdn = socket.getfqdn()  # what init gives the server without --fqdn; HTTPS on 443 is Exchange's default
    assert out[1] == f"Console: https://{fqdn}/console/ (no admin principal yet); REST API: https://{fqdn}/api/v1"
    assert out[2] == ("Create an admin to sign in as: postroom admin new NAME --roles organization-management "
                      f"--data {plain_admin.data}")


def test_init_json_says_where_the_console_is(admin: Admin) -> None:
    again = admin.json("init")
    assert (again["console_url"], again["admin_names"]) == ("http://127.0.0.1:8080/console/", ["admin"])
    assert again["demo_address"] == "demo@example.com" and again["demo_password"] is None


# the data directory ------------------------------------------------------------------------------
def test_from_another_directory_a_command_says_where_it_looked_and_how_to_point_at_the_real_one(
        runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = Admin(runner, tmp_path / "checkout" / "var")
    real.ok("init", "--dev", "--server-name", "EX01")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = invoke(runner, ["mailbox", "list"])
    assert result.exit_code == 2
    message = flat(result.stderr)
    assert message == (
        f"error: data: no postroom install in {elsewhere / 'var'} (looked for {elsewhere / 'var' / 'node.json'}, "
        f"from ./var in the current directory {elsewhere}). If postroom is installed elsewhere, point at its data "
        "directory with --data DIR or the POSTROOM_DATA environment variable (`make run` keeps it in var/ of the "
        "checkout it ran in); to create a new install here instead, run `postroom init --data ./var`")
    assert os.listdir(elsewhere) == []  # nothing was created behind the admin's back
    # what it says works: --data, or POSTROOM_DATA
    assert invoke(runner, ["mailbox", "list", "--json", "--data", str(real.data)]).exit_code == 0
    assert invoke(runner, ["mailbox", "list", "--json"], env={"POSTROOM_DATA": str(real.data)}).exit_code == 0


def test_an_absolute_data_directory_is_named_as_given(runner: CliRunner, tmp_path: Path) -> None:
    missing = tmp_path / "srv" / "postroom"
    message = flat(Admin(runner, missing).fails(2, "service", "list").stderr)
    assert message.startswith(f"error: data: no postroom install in {missing} (looked for {missing / 'node.json'}). ")
    assert message.endswith(f"run `postroom init --data {missing}`")
