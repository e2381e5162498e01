"""The IMAP4 core against a real client library: the standard library's imaplib, over a socket
pair, with a fake server answering the core's events in a thread. Checks that a client that
was not written for our tests accepts the greeting, the continuations (literal, SASL), tagged
replies and untagged data, and that its commands parse."""
from __future__ import annotations

import imaplib
import socket
import threading

from postroom.protocol.imap4 import types as T
from postroom.protocol.imap4.core import (
    NEED_DATA, PAUSED, Authenticate, CloseConnection, IdleDone, IdleStarted, ImapConfig, ImapServer, Request,
)


class FakeServer(threading.Thread):
    """Drives an ImapServer over `sock`, answering events like a tiny mail store."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(daemon=True)
        self.sock = sock
        self.core = ImapServer(ImapConfig(login_type="plain-text-login"))
        self.commands: list[T.Command] = []

    def run(self) -> None:
        core = self.core
        try:
            self.flush()
            while True:
                data = self.sock.recv(65536)
                core.receive_data(data)
                while (ev := core.next_event()) not in (NEED_DATA, PAUSED):
                    if isinstance(ev, CloseConnection):
                        self.flush()
                        return
                    self.answer(ev)
                self.flush()
                if not data:
                    return
        finally:
            self.sock.close()

    def flush(self) -> None:
        out = b"".join(self.core.data_to_send())
        if out:
            self.sock.sendall(out)

    def answer(self, ev: object) -> None:
        core = self.core
        if isinstance(ev, Authenticate):
            core.auth_succeeded() if ev.password == "secret" else core.auth_failed()
        elif isinstance(ev, (IdleStarted, IdleDone)):
            if isinstance(ev, IdleDone):
                core.complete(ev.tag, "OK", "IDLE terminated.")
        elif isinstance(ev, Request):
            command = ev.command
            self.commands.append(command)
            if isinstance(command, T.Select):
                core.send_data(b"* FLAGS (\\Seen \\Deleted)\r\n* 2 EXISTS\r\n* OK [UIDVALIDITY 7] UIDs valid\r\n")
                core.complete(command.tag, "OK", "SELECT completed.", "READ-WRITE")
            elif isinstance(command, T.Fetch):
                core.send_data(b"* 1 FETCH (UID 7 BODY[] {5}\r\nhello)\r\n")
                core.complete(command.tag, "OK", "FETCH completed.")
            elif isinstance(command, T.Search):
                core.send_data(b"* SEARCH 1 2\r\n")
                core.complete(command.tag, "OK", "SEARCH completed.")
            elif isinstance(command, T.Append):
                core.complete(command.tag, "OK", "APPEND completed.", "APPENDUID 7 3")
            else:
                core.complete(command.tag, "OK", f"{type(command).__name__.upper()} completed.")


class SocketPairIMAP4(imaplib.IMAP4):
    def __init__(self, sock: socket.socket) -> None:
        self._pair_socket = sock
        super().__init__("localhost", 143, timeout=10)

    def _create_socket(self, timeout=None):
        return self._pair_socket


def connect() -> tuple[SocketPairIMAP4, FakeServer]:
    ours, theirs = socket.socketpair()
    ours.settimeout(10)
    server = FakeServer(ours)
    server.start()
    return SocketPairIMAP4(theirs), server


def test_imaplib_session_login_select_fetch_search_append_logout():
    client, server = connect()
    assert "IDLE" in client.capabilities and "AUTH=PLAIN" in client.capabilities
    typ, _ = client.login("alice", "secret")
    assert typ == "OK"
    typ, data = client.select('"Sent Items"')  # imaplib does not quote names itself
    assert (typ, data) == ("OK", [b"2"])
    typ, data = client.uid("FETCH", "1:*", "(BODY.PEEK[])")
    assert typ == "OK" and data[0] == (b"1 (UID 7 BODY[] {5}", b"hello")
    typ, data = client.search("UTF-8", "SUBJECT", '"caf\xe9"'.encode("utf-8"))
    assert (typ, data) == ("OK", [b"1 2"])
    message = b"Subject: hi\r\n\r\nbody\r\n"
    typ, data = client.append("INBOX", "(\\Seen)", imaplib.Time2Internaldate(1700000000), message)
    assert typ == "OK" and data == [b"[APPENDUID 7 3] APPEND completed."]
    assert client.logout()[0] == "BYE"
    server.join(5)
    kinds = [type(c).__name__ for c in server.commands]
    assert kinds == ["Select", "Fetch", "Search", "Append"]
    select, fetch, search, append = server.commands
    assert select == T.Select(select.tag, "Sent Items")
    assert fetch.uid and fetch.attributes[0].name == "UID" and fetch.attributes[1].peek
    assert search.charset == "UTF-8" and search.key.args[0] == T.SearchKey("SUBJECT", ("café",))
    assert append.message == message and append.flags == ("\\Seen",) and append.internal_date is not None


def test_imaplib_authenticate_plain_and_failed_login():
    client, server = connect()
    try:
        client.login("alice", "wrong")
    except imaplib.IMAP4.error as error:
        assert "AUTHENTICATIONFAILED" in str(error)
    else:
        raise AssertionError("a wrong password logged in")
    typ, data = client.authenticate("PLAIN", lambda _: b"\0alice\0secret")
    assert typ == "OK" and data[0].endswith(b"Logged in.")
    client.logout()
    server.join(5)
