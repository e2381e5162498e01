"""deploy/postroom.service: the hardening lines docs/hardening.md promises, and (where
systemd-analyze exists) a unit systemd accepts."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[2] / "deploy" / "postroom.service"


def parse(text: str) -> dict[str, dict[str, list[str]]]:
    """systemd's format: [Section], Key=Value, repeated keys accumulate, # and ; comments."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"a setting outside any section: {line!r}"
        key, sep, value = line.partition("=")
        assert sep, f"not Key=Value: {line!r}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


@pytest.fixture(scope="module")
def service() -> dict[str, list[str]]:
    return parse(UNIT.read_text())["Service"]


def one(service: dict[str, list[str]], key: str) -> str:
    assert key in service, f"{key} missing"
    return service[key][-1]


def test_runs_serve_on_the_data_directory_as_an_unprivileged_user(service):
    command = one(service, "ExecStart").split()
    assert command[0] == "/opt/postroom/.venv/bin/postroom"
    assert command[1] == "serve"
    assert command[command.index("--data") + 1] == "/var/lib/postroom"
    assert one(service, "User") == "postroom" and one(service, "Group") == "postroom"


def test_hardening_lines(service):
    expected = {
        "AmbientCapabilities": "CAP_NET_BIND_SERVICE",
        "CapabilityBoundingSet": "CAP_NET_BIND_SERVICE",
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ReadWritePaths": "/var/lib/postroom",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "KillSignal": "SIGTERM",
        "Restart": "on-failure",
        "LimitNOFILE": "65536",
    }
    assert {key: one(service, key) for key in expected} == expected
    assert set(one(service, "RestrictAddressFamilies").split()) == {"AF_INET", "AF_INET6", "AF_UNIX"}
    assert "@system-service" in service["SystemCallFilter"]


def test_stop_timeout_covers_the_grace_period(service):
    grace = float(dict(v.split("=", 1) for v in service["Environment"])["POSTROOM_SHUTDOWN_GRACE"])
    assert float(one(service, "TimeoutStopSec")) == grace + 5


def test_systemd_accepts_the_unit(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (the unit is still checked by the tests above)")
    # verify wants ExecStart's binary to exist: point it at a stand-in, change nothing else.
    binary = tmp_path / "bin" / "postroom"
    binary.parent.mkdir()
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    unit = tmp_path / "postroom.service"
    unit.write_text(UNIT.read_text().replace("/opt/postroom/.venv/bin/postroom", str(binary)))
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "SYSTEMD_LOG_LEVEL": "warning"})
    complaints = [line for line in (result.stdout + result.stderr).splitlines() if "postroom.service" in line]
    assert result.returncode == 0 and not complaints, result.stdout + result.stderr
