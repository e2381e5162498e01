"""A mailbox's messages against a running node (doveadm fetch / expunge): mail delivered over
SMTP is listed and fetched by the CLI byte for byte as POP3 RETR gives it, and a deletion from
the CLI (another process) is refused while a POP3 session holds the mailbox, then done."""
from __future__ import annotations

import json
import poplib
import smtplib
import ssl
import subprocess

import pytest

from .harness import POSTROOM

pytestmark = pytest.mark.e2e

ADDRESS, PASSWORD = "fetch@example.com", "pw-fetch-1"


def postroom(server, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*POSTROOM, *args, "--data", str(server.data)], capture_output=True, env=server.env,
                          timeout=60)


def test_fetch_is_byte_exact_and_delete_waits_for_the_pop3_session(server):
    server.new_mailbox(ADDRESS, PASSWORD)
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as smtp:
        smtp.sendmail("app@example.net", [ADDRESS], b"Subject: nightly \xc3\xa9xport\r\nFrom: App <app@example.net>"
                      b"\r\n\r\n.starts with a dot\r\nend\r\n")
    pop = poplib.POP3_SSL("127.0.0.1", server.pops_port, context=ssl.create_default_context(cafile=server.cert),
                          timeout=10)
    pop.user(ADDRESS)
    pop.pass_(PASSWORD)  # the session holds the mailbox from now until QUIT
    try:
        _, lines, _ = pop.retr(1)
        retrieved = b"\r\n".join(lines) + b"\r\n"
        [listed] = json.loads(postroom(server, "mailbox", "messages", ADDRESS, "--json").stdout)["items"]
        assert (listed["subject"], listed["size"]) == ("nightly éxport", len(retrieved))
        raw = postroom(server, "mailbox", "message", ADDRESS, str(listed["id"]), "--raw")
        assert raw.returncode == 0 and raw.stdout == retrieved  # the trace headers delivery added included
        refused = postroom(server, "mailbox", "message", ADDRESS, str(listed["id"]), "--delete")
        assert refused.returncode == 4 and b"is in use by a POP3 session" in refused.stderr
    finally:
        pop.quit()
    deleted = postroom(server, "mailbox", "message", ADDRESS, str(listed["id"]), "--delete")
    assert deleted.returncode == 0, deleted.stderr
    pop = poplib.POP3_SSL("127.0.0.1", server.pops_port, context=ssl.create_default_context(cafile=server.cert),
                          timeout=10)
    pop.user(ADDRESS)
    pop.pass_(PASSWORD)
    assert pop.stat() == (0, 0)
    pop.quit()
