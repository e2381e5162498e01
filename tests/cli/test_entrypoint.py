"""The real program: `python -m postroom` in a subprocess, exit codes as the shell sees them."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import postroom

from .conftest import Admin

POSTROOM = [sys.executable, "-m", "postroom"]


def run(*args: str, input: str | None = None, stdin=None, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "POSTROOM_DATA"}
    environment.update({"COLUMNS": "200", **(env or {})})
    return subprocess.run([*POSTROOM, *args], input=input, stdin=stdin, text=True, capture_output=True,
                          env=environment, timeout=60)


def test_version() -> None:
    result = run("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"postroom {postroom.__version__}"


def test_version_in_process(runner) -> None:
    from .conftest import invoke

    result = invoke(runner, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"postroom {postroom.__version__}"


def test_no_arguments_shows_help(runner) -> None:
    from .conftest import invoke

    result = invoke(runner, [])
    assert "mailbox" in result.output and "pop" in result.output and "service" in result.output


def test_subprocess_init_and_exit_codes_reach_the_shell(tmp_path: Path) -> None:
    data = str(tmp_path / "var")
    init = run("init", "--dev", "--server-name", "EX01", "--data", data)
    assert init.returncode == 0, init.stderr
    assert "password (shown once)" in init.stdout

    show = run("mailbox", "show", "demo@example.com", "--json", "--data", data)
    assert show.returncode == 0, show.stderr
    assert json.loads(show.stdout)["password_set"] is True

    assert run("mailbox", "show", "nobody@example.com", "--data", data).returncode == 3
    refused = run("pop", "set", "--max-command-size", "5", "--data", data)
    assert refused.returncode == 2
    assert refused.stderr.startswith("error: max-command-size:") and "40..1024" in refused.stderr
    assert refused.stdout == ""
    assert run("domain", "add", "example.com", "--data", data).returncode == 4
    assert run("service", "list", "--data", str(tmp_path / "empty")).returncode == 2


def test_subprocess_password_from_a_pipe_and_no_terminal(tmp_path: Path) -> None:
    data = str(tmp_path / "var")
    assert run("init", "--dev", "--server-name", "EX01", "--data", data).returncode == 0
    piped = run("mailbox", "new", "alice@example.com", "--password-stdin", "--json", "--data", data,
                input="from a pipe\n")
    assert piped.returncode == 0, piped.stderr
    assert json.loads(piped.stdout)["password_set"] is True

    no_tty = run("mailbox", "new", "bob@example.com", "--data", data, stdin=subprocess.DEVNULL)
    assert no_tty.returncode == 2
    assert "--password-stdin" in no_tty.stderr
    assert run("mailbox", "show", "bob@example.com", "--data", data).returncode == 3


def test_subprocess_data_from_environment(tmp_path: Path) -> None:
    env = {"POSTROOM_DATA": str(tmp_path / "envdata")}
    assert run("init", "--server-name", "EX01", env=env).returncode == 0
    listed = run("service", "list", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    assert {s["name"]: s["startup"] for s in json.loads(listed.stdout)}["pop3"] == "manual"


def test_json_output_is_pure_json(admin: Admin) -> None:
    for command in (["service", "list"], ["pop", "show"], ["mailbox", "list"], ["domain", "list"],
                    ["log", "audit"], ["mailbox", "show", "demo@example.com"]):
        result = admin(*command, "--json")
        assert result.exit_code == 0
        json.loads(result.stdout)
        assert result.stderr == ""
