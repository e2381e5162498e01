"""Fixtures for the CLI as an administrator uses it: one initialised data directory per test."""
from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any, Sequence

import pytest
from typer.testing import CliRunner, Result

from postroom.cli import app

# A wide terminal so Rich never folds a message; no POSTROOM_DATA leaking in from the shell.
CLI_ENV = {"COLUMNS": "250", "POSTROOM_DATA": None, "NO_COLOR": "1"}


def flat(text: str) -> str:
    """Whitespace collapsed: what a user reads, whatever the terminal width."""
    return " ".join(text.split())


class Admin:
    """An administrator typing `postroom ... --data DATA` against one data directory."""

    def __init__(self, runner: CliRunner, data: Path) -> None:
        self.runner = runner
        self.data = data
        self.demo_password: str | None = None

    def __call__(self, *args: str, input: str | None = None, env: dict[str, Any] | None = None) -> Result:
        return invoke(self.runner, [*args, "--data", str(self.data)], input=input, env=env)

    def ok(self, *args: str, input: str | None = None) -> Result:
        result = self(*args, input=input)
        assert result.exit_code == 0, describe(args, result)
        return result

    def json(self, *args: str, input: str | None = None) -> Any:
        return json.loads(self.ok(*args, "--json", input=input).stdout)

    def fails(self, code: int, *args: str, input: str | None = None) -> Result:
        """Run a command that must be refused with exit `code` and print nothing on stdout."""
        result = self(*args, input=input)
        assert result.exit_code == code, describe(args, result)
        assert result.stderr.startswith("error: "), describe(args, result)
        assert "Traceback" not in result.output
        return result

    # shortcuts for state an assertion compares before and after a command
    def pop(self) -> dict[str, Any]:
        return self.json("pop", "show")

    def audit(self, limit: int = 1000) -> list[dict[str, Any]]:
        return self.json("log", "audit", "--limit", str(limit))

    def peek(self, read: Any) -> Any:
        """Run `read(store)` against the data directory: what the CLI really stored."""
        from postroom.storage import open_store

        async def main() -> Any:
            store = open_store(str(self.data))
            await store.open()
            try:
                return await read(store)
            finally:
                await store.close()

        return asyncio.run(main())

    def password_hash(self, address: str) -> str | None:
        async def read(store: Any) -> str | None:
            return (await store.get_mailbox(address)).password_hash
        return self.peek(read)

    def new_mailbox(self, address: str, password: str = "pw", *extra: str) -> dict[str, Any]:
        return self.json("mailbox", "new", address, "--password-stdin", *extra, input=password + "\n")


def invoke(runner: CliRunner, args: Sequence[str], input: str | None = None,
           env: dict[str, Any] | None = None) -> Result:
    return runner.invoke(app, list(args), input=input, env={**CLI_ENV, **(env or {})})


def describe(args: Sequence[str], result: Result) -> str:
    return (f"postroom {' '.join(args)} exited {result.exit_code}\nstdout: {result.stdout}\n"
            f"stderr: {result.stderr}\nexception: {result.exception!r}")


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def admin(runner: CliRunner, tmp_path: Path) -> Admin:
    """`postroom init --dev --server-name EX01 --data tmp_path/var`, done."""
    admin = Admin(runner, tmp_path / "var")
    result = admin.ok("init", "--dev", "--server-name", "EX01")
    match = re.search(r"password \(shown once\): (\S+)", result.stdout)
    assert match, result.stdout
    admin.demo_password = match.group(1)
    return admin


@pytest.fixture
def plain_admin(runner: CliRunner, tmp_path: Path) -> Admin:
    """A production-style install: `postroom init --server-name EX01` (no --dev)."""
    admin = Admin(runner, tmp_path / "var")
    admin.ok("init", "--server-name", "EX01")
    return admin
