"""Ten thousand IMAP4 sessions idling over TLS on one node (loopback), within 512 MB.

`make test-scale` (not part of `make test`: 10,000 TLS handshakes and logins take minutes on two
cores). A `postroom serve` over the embedded store, with 1,000 mailboxes of 10 messages; the
client (bench/idlemem.py, in its own process) opens POSTROOM_SCALE_CONNECTIONS (10,000) connections
to the implicit-TLS port, each LOGIN, SELECT INBOX, IDLE, and holds them; the server process's
resident memory must stay under 512 MB in all, and one message delivered over SMTP to each of 20
mailboxes must wake every session idling on it within a second.
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from e2e.harness import free_port
from postroom.tls import create_self_signed

pytestmark = [pytest.mark.scale, pytest.mark.e2e]
BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))
import idlemem_postroom  # noqa: E402

CONNECTIONS = int(os.environ.get("POSTROOM_SCALE_CONNECTIONS", "10000"))
MAILBOXES = min(1000, CONNECTIONS)
LIMIT_MB = 512


def certificate(folder: Path) -> tuple[str, str]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    create_self_signed(str(cert), str(key), ["localhost"], days=2)
    return str(cert), str(key)


def unavailable(reason: str) -> None:
    """Skip where this machine cannot hold the connections; under CI=true that is a failure."""
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def test_ten_thousand_idle_tls_sessions_fit_in_512_mb_and_wake_within_a_second(tmp_path):
    needed = CONNECTIONS + 500
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            unavailable(f"the fd limit ({hard}) is below {needed}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))  # the server and the client inherit it
    cert, key = certificate(tmp_path)
    data = str(tmp_path / "var")
    imap, imaps, smtp = free_port(), free_port(), free_port()
    users = idlemem_postroom.provision(data, mailboxes=MAILBOXES, messages=10, cert=cert, key=key, imap_port=imap,
                                       tls_port=imaps, smtp_port=smtp, other_ports=[free_port() for _ in range(5)],
                                       connections=CONNECTIONS)
    server = idlemem_postroom.start(data, str(tmp_path / "serve.log"), [imaps, smtp])
    try:
        run = subprocess.run([sys.executable, str(BENCH / "idlemem.py"), "--port", str(imaps), "--users-file", users,
                              "-c", str(CONNECTIONS), "--server-pid", str(server.pid), "--deliver", "smtp",
                              "--smtp-port", str(smtp), "--sample", "20", "--settle", "2", "--wake-limit", "1.0"],
                             capture_output=True, text=True, timeout=900)
        assert server.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
    finally:
        idlemem_postroom.stop(server)
    assert run.stdout.strip(), run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    result["after"].pop("by_name", None)
    print(json.dumps(result))
    assert result["connections"] == CONNECTIONS, result
    assert result["errors"] == 0, result.get("first_error")
    assert result["after"]["rss_kb"] < LIMIT_MB * 1024, result  # the whole server process, not only growth
    assert result["wakes"] == result["wakes_expected"] == 20 * (CONNECTIONS // MAILBOXES), result
    assert result["wake_ms_max"] < 1000, result
