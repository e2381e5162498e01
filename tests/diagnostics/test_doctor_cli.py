"""`postroom doctor` and `postroom test` where no node runs, and refused input (exit codes)."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from e2e.harness import free_port
from postroom.cli import app

from .conftest import CLI_ENV, failed


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """An initialised install that nobody serves."""
    path = tmp_path_factory.mktemp("unserved") / "var"
    for args in (["init", "--dev", "--server-name", "EX01"],
                 ["connector", "set", "Client EX01", "--bindings", f"127.0.0.1:{free_port()}"]):  # not a dev port
        result = CliRunner().invoke(app, [*args, "--data", str(path)], env=CLI_ENV)
        assert result.exit_code == 0, result.output
    return path


def doctor(data, *args: str, input: str | None = None):
    return CliRunner().invoke(app, ["doctor", "pop", *args, "--data", str(data)], input=input, env=CLI_ENV)


def test_no_node_fails_once_with_the_command_that_serves(data):
    result = doctor(data, "demo@example.com", "--json")
    assert result.exit_code == 1
    checks = {c["name"]: c for c in json.loads(result.stdout)}
    assert failed(checks) == {"pop3-service"}
    assert checks["pop3-service"]["detail"].startswith("no node is serving server EX01")
    assert checks["pop3-service"]["fix"] == f"postroom serve --data {data}"
    assert checks["probe"]["detail"].startswith("not checked")


@pytest.mark.parametrize("args, code, message", [
    (["demo@example.com", "--client-mode", "tls"], 2,
     "client-mode: 'tls' is not a client mode (allowed: plain, stls, ssl)"),
    (["not an address"], 2, "error: "),
    (["demo@example.com", "--port", "70000"], 2, "port: 70000 is out of range"),
    (["demo@example.com", "--server", "EX99"], 3, "server 'EX99' does not exist"),
])
def test_refused_input(data, args, code, message):
    result = doctor(data, *args)
    assert result.exit_code == code, result.output
    assert message in result.stderr and "Traceback" not in result.output


def test_an_empty_password_on_stdin_is_refused(data):
    result = doctor(data, "demo@example.com", "--password-stdin", input="\n")
    assert result.exit_code == 2 and "password: standard input held no password" in result.stderr


def test_the_tests_need_a_password(data):
    result = CliRunner().invoke(app, ["test", "pop", "demo@example.com", "--data", str(data)], env=CLI_ENV)
    assert result.exit_code == 2 and "--password-stdin" in result.stderr


def test_the_test_says_what_failed_when_nothing_listens(data):
    result = CliRunner().invoke(app, ["test", "smtp", "demo@example.com", "--light", "--password-stdin", "--json",
                                      "--data", str(data)], input="whatever\n", env=CLI_ENV)
    assert result.exit_code == 1
    rows = json.loads(result.stdout)
    assert rows[0]["result"] == "Failure" and rows[0]["error"] == "connect: Connection refused"
    assert [r["result"] for r in rows[1:]] == ["Skipped", "Skipped"]
