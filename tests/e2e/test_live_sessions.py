"""`postroom session list|end` (doveadm who / kick) against a real `postroom serve`: a poplib
session logged in is listed with its user and source, `session end --user` closes it with -ERR
and its pending deletion is not applied; an smtplib session ended by its id gets 421 4.3.2."""
from __future__ import annotations

import poplib
import smtplib

import pytest

from .harness import wait_until

pytestmark = pytest.mark.e2e
ADDRESS, PASSWORD = "kick@example.com", "pw-kick-1"


def login(server) -> poplib.POP3_SSL:
    return server.pop_login(ADDRESS, PASSWORD, timeout=10)


def listed(server, **match):
    """The sessions `session list --json` shows that match, once there are some."""
    def found():
        rows = server.cli_json("session", "list")["sessions"]
        return [row for row in rows if all(row.get(k) == v for k, v in match.items())]
    return wait_until(found, 5, f"session list to show a session with {match}")


def test_who_and_kick(server, tmp_path):
    server.new_mailbox(ADDRESS, PASSWORD)
    server.import_messages(ADDRESS, b"Subject: one\r\n\r\nfirst\r\n", b"Subject: two\r\n\r\nsecond\r\n",
                           folder=tmp_path / "mail")
    client = login(server)
    assert client.stat()[0] == 2
    assert client.dele(1).startswith(b"+OK")  # pending: applied only at QUIT
    smtp = smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10)
    smtp.ehlo("app.example")

    (pop3,) = listed(server, user=ADDRESS)
    assert (pop3["service"], pop3["source"], pop3["state"], pop3["server"], pop3["tls"]) == (
        "pop3", "127.0.0.1", "authenticated", "EX01", True)
    table = server.cli("session", "list", "--user", ADDRESS).stdout
    assert pop3["id"] in table and ADDRESS in table and "authenticated" in table

    ended = server.cli("session", "end", "--user", ADDRESS).stdout
    assert ended.strip() == f"Ended pop3 session {pop3['id']} of {ADDRESS} from 127.0.0.1 on EX01"
    # poplib sees the reply the session ended with, then the connection end; nothing it sent
    assert client.file.readline() == b"-ERR [SYS/TEMP] session ended by an administrator\r\n"
    assert client.file.readline() == b""
    client.close()
    again = login(server)
    assert again.stat()[0] == 2  # the DELE of the ended session was not applied
    again.quit()

    (anonymous,) = listed(server, service="smtp", state="greeted")
    assert anonymous["user"] is None and anonymous["connector"] == "Default EX01"
    server.cli("session", "end", anonymous["id"])
    assert smtp.getreply() == (421, b"4.3.2 Session ended by an administrator")
    smtp.close()
    wait_until(lambda: anonymous["id"] not in [row["id"] for row in server.cli_json("session", "list")["sessions"]],
               5, "the ended session to leave the list")
    audit = [e["target"] for e in server.cli_json("log", "audit", "--limit", "5") if e["action"] == "session.end"]
    assert audit == [f"session/{anonymous['id']}", f"mailbox/{ADDRESS}"]
