"""Fixtures for the doctor's tests: a live server per module (tests/e2e/harness.py), and the
doctor and its fix commands run in-process through the real CLI (fast: no interpreter start)."""
from __future__ import annotations

import datetime as dt
import ipaddress
import json
import shlex
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from typer.testing import CliRunner

from e2e.harness import Postroom
from postroom.cli import app

ADDRESS = "crm@example.com"
PASSWORD = "crm-password-1"
CLI_ENV = {"COLUMNS": "250", "POSTROOM_DATA": None, "NO_COLOR": "1", "POSTROOM_AUTH_FAILURE_DELAY": "0.2"}


class Live:
    """A served install, and an administrator at its CLI."""

    def __init__(self, server: Postroom) -> None:
        self.server = server
        self.runner = CliRunner()

    def cli(self, *args: str, input: str | None = None) -> Any:
        return self.runner.invoke(app, [*args, "--data", str(self.server.data)], input=input, env=CLI_ENV)

    def ok(self, *args: str, input: str | None = None) -> Any:
        result = self.cli(*args, input=input)
        assert result.exit_code == 0, f"postroom {' '.join(args)} -> {result.exit_code}\n{result.output}"
        return result

    def doctor(self, *args: str, address: str = ADDRESS, password: str | None = None) -> tuple[int, dict[str, dict]]:
        """(exit code, checks by name) of `postroom doctor pop ADDRESS ARGS --json`."""
        extra = ("--password-stdin",) if password is not None else ()
        result = self.cli("doctor", "pop", address, *args, *extra, "--json",
                          input=None if password is None else password + "\n")
        assert result.exit_code in (0, 1), result.output
        checks = json.loads(result.stdout)
        assert [set(c) for c in checks] == [{"name", "status", "detail", "fix", "page"}] * len(checks)
        return result.exit_code, {c["name"]: c for c in checks}

    def apply(self, fix: str, input: str | None = None) -> None:
        """Run a fix exactly as printed (`a && b` as two commands)."""
        for part in fix.split(" && "):
            words = shlex.split(part)
            assert words[0] == "postroom", fix
            self.ok(*words[1:], input=input)

    def pop(self) -> dict[str, Any]:
        return json.loads(self.ok("pop", "show", "--json").stdout)

    def sql(self, *statements: str) -> None:
        """Change the store behind the service layer's back (states it would refuse to create)."""
        with sqlite3.connect(self.server.data / "postroom.db") as conn:
            for statement in statements:
                conn.execute(statement)
            conn.execute("UPDATE config_state SET version = version + 1 WHERE id = 1")


def failed(checks: dict[str, dict]) -> set[str]:
    return {name for name, check in checks.items() if check["status"] == "fail"}


def assert_healthy(live: Live, *args: str, password: str | None = None) -> dict[str, dict]:
    code, checks = live.doctor(*args, password=password)
    assert code == 0 and not failed(checks), {n: checks[n]["detail"] for n in failed(checks)}
    return checks


def fails_only(live: Live, name: str, *args: str, password: str | None = None) -> dict[str, Any]:
    """The doctor fails exactly the check `name`, exits 1; returns that check."""
    code, checks = live.doctor(*args, password=password)
    assert failed(checks) == {name}, {n: checks[n]["detail"] for n in failed(checks)}
    assert code == 1
    return checks[name]


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    server = Postroom(tmp_path_factory.mktemp("doctor"))
    server.init()
    server.start()
    instance = Live(server)
    instance.ok("mailbox", "new", ADDRESS, "--password-stdin", input=PASSWORD + "\n")
    yield instance
    server.stop()


def make_certificate(path: Path, names: list[str], *, not_before: dt.datetime, not_after: dt.datetime) -> str:
    """A self-signed EC certificate and its key in one PEM file, with chosen dates."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    sans: list[x509.GeneralName] = []
    for name in names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            sans.append(x509.DNSName(name))
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(not_before).not_valid_after(not_after)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .sign(key, hashes.SHA256()))
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return str(path)
