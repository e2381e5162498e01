"""TLS policy seen from outside: nmap's ssl-enum-ciphers against POP3S (995), POP3 STLS (110)
and SMTP STARTTLS (587) finds TLS 1.2 and 1.3 only, every cipher graded A (forward secrecy,
AEAD), and no compression. The standard ports let nmap pick the STARTTLS dialect by itself."""
from __future__ import annotations

import os
import re
import subprocess

import pytest

from .harness import Postroom, port_open, require_tool, wait_until

pytestmark = pytest.mark.e2e
PORTS = {"pop3s": 995, "pop3-stls": 110, "submission-starttls": 587}


def _need_root_and_free_ports() -> None:
    problem = None
    if os.geteuid() != 0:
        problem = "binding ports 110, 587 and 995 needs root"
    elif any(port_open(port) for port in PORTS.values()):
        problem = "one of the ports 110, 587, 995 is taken on 127.0.0.1"
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(problem)
        pytest.skip(problem)


def test_only_modern_tls_on_every_tls_port(tmp_path):
    nmap = require_tool("nmap")
    _need_root_and_free_ports()
    server = Postroom(tmp_path)
    server.init()
    server.cli("pop", "set", "--bindings", "127.0.0.1:110", "--ssl-bindings", "127.0.0.1:995")
    server.cli("connector", "set", "Client EX01", "--bindings", "127.0.0.1:587")
    server.pop_port, server.smtp_port = 110, 587  # what start() waits for
    server.start()
    try:
        wait_until(lambda: all(port_open(p) for p in PORTS.values()), 5, "the standard ports")
        result = subprocess.run([nmap, "-Pn", "-n", "-p", ",".join(str(p) for p in PORTS.values()),
                                 "--script", "ssl-enum-ciphers", "127.0.0.1"],
                                capture_output=True, text=True, timeout=120)
    finally:
        server.stop()
    assert result.returncode == 0, result.stderr
    reports = _per_port(result.stdout)
    for name, port in PORTS.items():
        report = reports.get(port, "")
        assert "ssl-enum-ciphers" in report, f"{name}: nmap saw no TLS on {port}:\n{result.stdout}"
        versions = set(re.findall(r"\|\s+(SSLv\d|TLSv1\.\d):", report))
        assert versions == {"TLSv1.2", "TLSv1.3"}, f"{name}: {versions}"
        assert "least strength: A" in report, report
        assert "compressors" not in report or re.search(r"compressors:\s*\n\|\s+NULL", report), report


def _per_port(output: str) -> dict[int, str]:
    """nmap's text output split into one block per port line ('110/tcp open ...')."""
    blocks: dict[int, str] = {}
    current = None
    for line in output.splitlines():
        match = re.match(r"(\d+)/tcp\s", line)
        if match:
            current = int(match.group(1))
            blocks[current] = ""
        elif current is not None:
            blocks[current] += line + "\n"
    return blocks
