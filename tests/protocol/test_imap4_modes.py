"""UTF8=ACCEPT (RFC 6855) and IMAP4rev2 (RFC 9051) in the core: what an ENABLE that completes OK
changes in how later commands parse (modes.py), and the mailbox names replies write (wire.py)."""
from __future__ import annotations

import pytest
from imap4_driver import PLAIN_LOGIN

from postroom.protocol.imap4 import modes, wire
from postroom.protocol.imap4 import types as T
from postroom.protocol.imap4.core import ImapServer, Request


def session(*enabled: bytes, status: str = "OK") -> ImapServer:
    """A logged-in core (authenticated state) after ENABLE of each name, answered `status`."""
    conn = ImapServer(PLAIN_LOGIN)
    conn.receive_data(b"a LOGIN u secret\r\n")
    conn.next_event()
    conn.auth_succeeded()
    for name in enabled:
        conn.receive_data(b"e ENABLE " + name + b"\r\n")
        event = conn.next_event()
        assert isinstance(event, Request) and isinstance(event.command, T.Enable)
        conn.complete("e", status, "ENABLE completed.")
    conn.data_to_send()
    return conn


def parsed(conn: ImapServer, data: bytes, selected: bool = False) -> T.Command | bytes:
    conn.selected(selected)
    conn.receive_data(data)
    event = conn.next_event()
    out = b"".join(conn.data_to_send()).replace(b"+ Ready for literal data\r\n", b"")
    if isinstance(event, Request):
        conn.complete(event.command.tag, "OK", "done")
        conn.data_to_send()
        return event.command
    return out


def test_capabilities_advertise_rev2_utf8_and_binary():
    caps = PLAIN_LOGIN.capabilities(tls_active=True, tls_available=True, authenticated=True)
    assert caps[:2] == ("IMAP4rev1", "IMAP4rev2")
    assert {"BINARY", "UTF8=ACCEPT", "LITERAL+", "ENABLE", "NAMESPACE", "UNSELECT"} <= set(caps)


def test_enable_turns_on_each_name_once_and_spells_it_as_advertised():
    mode, turned = modes.enable(modes.Mode(), ("IMAP4REV2", "UTF8=ACCEPT", "CONDSTORE", "IMAP4REV2"))
    assert mode == modes.Mode(utf8=True, rev2=True) and turned == ["IMAP4rev2", "UTF8=ACCEPT"]
    assert modes.enable(mode, ("UTF8=ACCEPT",)) == (mode, [])
    assert modes.Mode(rev2=True).utf8_names and modes.Mode(utf8=True).utf8_names and not modes.Mode().utf8_names


@pytest.mark.parametrize("enabled", [(), (b"CONDSTORE",)])
def test_mailbox_names_are_modified_utf7_until_enabled(enabled):
    conn = session(*enabled)
    assert parsed(conn, b'c CREATE "&ZeVnLIqe-"\r\n') == T.Create("c", "日本語")
    assert parsed(conn, "c CREATE 日本\r\n".encode()) == T.Create("c", "日本")  # raw UTF-8: taken as such


@pytest.mark.parametrize("name", [b"UTF8=ACCEPT", b"IMAP4rev2", b"utf8=accept"])
def test_mailbox_names_are_utf8_once_enabled(name):
    conn = session(name)
    assert parsed(conn, b'c CREATE "&ZeVnLIqe-"\r\n') == T.Create("c", "&ZeVnLIqe-")
    assert parsed(conn, 'c RENAME "Café" "Thé & co"\r\n'.encode()) == T.Rename("c", "Café", "Thé & co")
    assert parsed(conn, b'c CREATE "\xff"\r\n') == b"c BAD A mailbox name is not valid UTF-8.\r\n"


def test_a_refused_enable_changes_nothing():
    conn = session(b"UTF8=ACCEPT", status="NO")
    assert parsed(conn, b'c CREATE "&ZeVnLIqe-"\r\n') == T.Create("c", "日本語")


def test_search_names_no_charset_once_utf8_accept_is_enabled():
    conn = session(b"UTF8=ACCEPT")
    assert parsed(conn, b"s SEARCH CHARSET UTF-8 SUBJECT x\r\n", selected=True) == (
        b"s BAD SEARCH takes no CHARSET once UTF8=ACCEPT is enabled: strings are UTF-8.\r\n")
    command = parsed(conn, 's SEARCH SUBJECT "café"\r\n'.encode(), selected=True)
    assert isinstance(command, T.Search) and command.key.args[0] == T.SearchKey("SUBJECT", ("café",))
    rev2 = session(b"IMAP4rev2")  # IMAP4rev2 alone keeps CHARSET (RFC 9051 6.4.4)
    assert isinstance(parsed(rev2, b"s SEARCH CHARSET UTF-8 ALL\r\n", selected=True), T.Search)


def test_append_takes_a_literal8():
    conn = session()
    assert parsed(conn, b"p APPEND INBOX ~{4}\r\nab\x00c\r\n") == T.Append("p", "INBOX", (), None, b"ab\x00c")
    command = parsed(conn, b"p APPEND INBOX (\\Seen) ~{4+}\r\nab\xffc\r\n")
    assert command == T.Append("p", "INBOX", ("\\Seen",), None, b"ab\xffc")


def test_append_utf8_data_only_once_utf8_accept_is_enabled():
    before = session()
    assert parsed(before, b"p APPEND INBOX UTF8 (~{2+}\r\nhi)\r\n") == (
        b"p BAD APPEND UTF8 (...) needs ENABLE UTF8=ACCEPT first.\r\n")
    conn = session(b"UTF8=ACCEPT")
    assert parsed(conn, b"p APPEND INBOX UTF8 (~{2+}\r\nhi)\r\n") == T.Append("p", "INBOX", (), None, b"hi")
    assert parsed(conn, b"p APPEND INBOX UTF8 ({2+}\r\nhi)\r\n") == (
        b"p BAD Expected the message as a literal8 (~{size}) in UTF8 (...).\r\n")
    assert parsed(conn, b"p APPEND INBOX UTF8 (~{2+}\r\nhi\r\n") == (
        b"p BAD Expected ) after the UTF8 message literal.\r\n")


def test_rev2_has_no_recent_status_item_or_search_keys():
    rev1 = session()
    assert parsed(rev1, b"s STATUS INBOX (RECENT DELETED)\r\n") == T.Status("s", "INBOX", ("RECENT", "DELETED"))
    conn = session(b"IMAP4rev2")
    assert parsed(conn, b"s STATUS INBOX (RECENT)\r\n") == (
        b"s BAD Unknown status item RECENT: MESSAGES, UIDNEXT, UIDVALIDITY, UNSEEN, HIGHESTMODSEQ, SIZE or"
        b" DELETED.\r\n")
    for key in (b"RECENT", b"NEW", b"OLD"):
        assert parsed(conn, b"s SEARCH " + key + b"\r\n", selected=True) == (
            b"s BAD " + key + b" is not a search key in IMAP4rev2 (there is no \\Recent).\r\n")


def test_mailbox_names_in_replies():
    assert wire.mailbox("日本語") == b"&ZeVnLIqe-"
    assert wire.mailbox("Thé & co") == b'"Th&AOk- &- co"'
    assert wire.mailbox("日本語", utf8=True) == '"日本語"'.encode()
    assert wire.mailbox("a&b", utf8=True) == b"a&b"
    assert wire.mailbox("a b", utf8=True) == b'"a b"'
    assert wire.mailbox("é" * 600, utf8=True) == b"{1200}\r\n" + ("é" * 600).encode()


def test_rev2_answers_every_search_with_esearch():
    rev1 = session()
    command = parsed(rev1, b"s SEARCH UNSEEN\r\n", selected=True)
    assert isinstance(command, T.Search) and command.returns is None
    conn = session(b"IMAP4rev2")
    command = parsed(conn, b"s UID SEARCH UNSEEN\r\n", selected=True)
    assert isinstance(command, T.Search) and command.returns == ("ALL",) and command.uid
    command = parsed(conn, b"s SEARCH RETURN (COUNT) UNSEEN\r\n", selected=True)
    assert isinstance(command, T.Search) and command.returns == ("COUNT",)
