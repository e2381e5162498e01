"""The doctor's IMAP4 probe client against a scripted server on a real socket: what it sends,
how it reads the replies (BYE before LOGOUT's OK, literals, NO), and that a password never
leaves it before TLS unless cleartext is allowed."""
from __future__ import annotations

import socket
import threading

import pytest

from postroom.diagnostics.probe import StepFailed, Steps
from postroom.diagnostics.probe_imap import NO_LOGIN_BEFORE_TLS, NOT_IN_CLEAR, ImapClient, imap_session, logout


class Scripted:
    """A one-connection server: sends the greeting, then for each line it receives, the reply
    the script maps its command to ({tag} filled in). Records every line received."""

    def __init__(self, greeting: bytes, replies: dict[str, bytes]) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.greeting, self.replies = greeting, replies
        self.received: list[str] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        with conn, conn.makefile("rb") as reader:
            if not self.greeting:
                return  # closes at once
            conn.sendall(self.greeting)
            while line := reader.readline():
                text = line.decode().rstrip("\r\n")
                self.received.append(text)
                tag, _, rest = text.partition(" ")
                command = rest.split(" ", 1)[0].upper()
                reply = self.replies.get(command, b"{tag} BAD unknown\r\n")
                conn.sendall(reply.replace(b"{tag}", tag.encode()))
                if command == "LOGOUT":
                    return

    def close(self) -> None:
        self.listener.close()
        self.thread.join(5)


CAPS = b"* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED\r\n{tag} OK done\r\n"
OPEN_CAPS = b"* CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR\r\n{tag} OK done\r\n"
LOGOUT = b"* BYE Logging out.\r\n{tag} OK LOGOUT completed.\r\n"


@pytest.fixture
def scripted():
    servers: list[Scripted] = []

    def make(replies: dict[str, bytes], greeting: bytes = b"* OK ready\r\n") -> Scripted:
        servers.append(Scripted(greeting, replies))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


def test_a_session_reads_capabilities_and_logout_ignores_the_bye(scripted):
    server = scripted({"CAPABILITY": CAPS, "LOGOUT": LOGOUT})
    steps = Steps()
    client = imap_session(steps, "127.0.0.1", server.port, "plain", None)  # type: ignore[arg-type]
    assert client.capabilities == ["IMAP4rev1", "STARTTLS", "LOGINDISABLED"]
    logout(steps, client)
    assert [s.name for s in steps.done] == ["connect", "greeting", "CAPABILITY", "LOGOUT"]
    assert all(s.error is None for s in steps.done)
    assert server.received == ["d1 CAPABILITY", "d2 LOGOUT"]


def test_no_password_leaves_before_tls(scripted):
    server = scripted({"CAPABILITY": OPEN_CAPS, "LOGOUT": LOGOUT})
    client = imap_session(Steps(), "127.0.0.1", server.port, "plain", None)  # type: ignore[arg-type]
    with pytest.raises(StepFailed) as refused:
        client.login("crm@example.com", "secret")
    assert refused.value.error == NOT_IN_CLEAR
    logout(Steps(), client)
    assert not any("secret" in line or "AUTHENTICATE" in line for line in server.received)


def test_cleartext_when_allowed_uses_authenticate_plain_with_an_initial_response(scripted):
    server = scripted({"CAPABILITY": OPEN_CAPS, "AUTHENTICATE": b"{tag} OK logged in\r\n",
                       "SELECT": b"* 3 EXISTS\r\n* 0 RECENT\r\n{tag} OK [READ-WRITE] SELECT completed.\r\n",
                       "LOGOUT": LOGOUT})
    client = imap_session(Steps(), "127.0.0.1", server.port, "plain", None)  # type: ignore[arg-type]
    assert client.login("crm@example.com", "secret", allow_cleartext=True) == "AUTHENTICATE PLAIN"
    assert client.select() == "3 messages"
    logout(Steps(), client)
    assert server.received[1] == "d2 AUTHENTICATE PLAIN AGNybUBleGFtcGxlLmNvbQBzZWNyZXQ="
    assert server.received[2] == 'd3 SELECT "INBOX"'


def test_login_with_quoting_and_a_refusal_is_the_servers_reply(scripted):
    server = scripted({"CAPABILITY": b"* CAPABILITY IMAP4rev1\r\n{tag} OK done\r\n",
                       "LOGIN": b"{tag} NO [AUTHENTICATIONFAILED] Authentication failed.\r\n", "LOGOUT": LOGOUT})
    client = imap_session(Steps(), "127.0.0.1", server.port, "plain", None)  # type: ignore[arg-type]
    with pytest.raises(StepFailed) as refused:
        client.login('crm@example.com', 'pa"ss\\word', allow_cleartext=True)
    assert refused.value.error == "NO [AUTHENTICATIONFAILED] Authentication failed."
    assert server.received[1] == 'd2 LOGIN "crm@example.com" "pa\\"ss\\\\word"'
    logout(Steps(), client)


def test_logindisabled_without_sasl_says_so(scripted):
    server = scripted({"CAPABILITY": CAPS, "LOGOUT": LOGOUT})
    client = imap_session(Steps(), "127.0.0.1", server.port, "plain", None)  # type: ignore[arg-type]
    with pytest.raises(StepFailed) as refused:
        client.login("crm@example.com", "secret", allow_cleartext=True)
    assert refused.value.error == NO_LOGIN_BEFORE_TLS
    logout(Steps(), client)


def test_a_literal_in_a_reply_is_read_in(scripted):
    server = scripted({"FETCH": b"* 1 FETCH (BODY[HEADER] {12}\r\nX-Test: ab\r\n)\r\n{tag} OK done\r\n",
                       "LOGOUT": LOGOUT})
    client = ImapClient("127.0.0.1", server.port)
    client.connect()
    client.greeting()
    assert client.command("FETCH 1 BODY.PEEK[HEADER]", "FETCH") == ["* 1 FETCH (BODY[HEADER] X-Test: ab )"]
    logout(Steps(), client)


@pytest.mark.parametrize("greeting, error", [(b"* BYE Too many connections\r\n", "* BYE Too many connections"),
                                             (b"", "the server closed the connection")])
def test_a_refused_greeting_names_the_reply(scripted, greeting, error):
    server = scripted({}, greeting=greeting)
    steps = Steps()
    with pytest.raises(StepFailed) as failed:
        imap_session(steps, "127.0.0.1", server.port, "plain", None)  # type: ignore[arg-type]
    assert failed.value.step == "greeting" and failed.value.error == error
