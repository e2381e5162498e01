"""An IMAP4 session that ends without a login tells the service why (server/trail.py), as POP3's
does (test_pop3_session_evidence.py): what it sent (verbs only, the tag skipped), how far TLS
got, and the reason; a LOGIN the core refused for want of TLS is logged for fail2ban, counted
and stored like any refused login. What both protocols do alike is tested here for both. Real
clients over a loopback socket; the last test goes through a node into the store."""
from __future__ import annotations

import asyncio
import base64
import logging
import ssl
from dataclasses import replace
from typing import Any, NamedTuple

import pytest

from postroom.auth import Authenticator, hash_password
from postroom.diagnostics.probe import client_context
from postroom.model import ImapSettings, LoginType
from postroom.server.evidence import SessionEnd
from postroom.server.imap4 import ImapService
from postroom.server.node import Node
from postroom.storage.sqlite import SqliteStore
from postroom.web.app import node_admin_app
from waiting import until

from .test_metrics import samples
from .test_pop3_mail_role import MemoryMailStore
from .test_pop3_session_evidence import PLAIN as POP3_PLAIN
from .test_pop3_session_evidence import converse as pop3_converse
from .test_pop3_session_evidence import session_ends as pop3_session_ends
from .test_pop3_session_evidence import tls  # noqa: F401  (the fixture: a trustme certificate)

SECURE = ImapSettings()  # secure-login: no login before TLS
PLAIN = ImapSettings(login_type=LoginType.PLAIN_TEXT_LOGIN)
PRIVACY = b"NO [PRIVACYREQUIRED]"


async def session_ends(settings: ImapSettings, client, *, service: ImapService | None = None,
                       **options: Any) -> list[SessionEnd]:
    """Run `client(host, port)` against an IMAP4 listener (binding "127.0.0.1:143"); the session
    ends it reported."""
    service = service or ImapService(MemoryMailStore(), Authenticator(failure_delay=0.01), "TEST")
    return await pop3_session_ends(settings, client, service=service, binding="127.0.0.1:143", **options)


def converse(*lines: bytes, starttls: ssl.SSLContext | None = None, replies: list[bytes] | None = None):
    """A client sending `lines`, each read up to its tagged reply (a blank line: none); a line
    ending in a literal's `{n}` up to the server's "+", and the next line is that command's."""
    async def client(host: str, port: int) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        await reader.readline()
        tag, literal = b"", False
        for line in lines:
            writer.write(line + b"\r\n")
            await writer.drain()
            if not literal:  # else: the line after a literal's octets, the same command's
                tag = line.split(b" ", 1)[0]
            literal = line.endswith(b"}")
            while line.strip():
                reply = await asyncio.wait_for(reader.readline(), 5)
                if replies is not None:
                    replies.append(reply)
                if not reply or reply.startswith(tag + b" ") or (literal and reply.startswith(b"+ ")):
                    break
            if line.endswith(b"STARTTLS") and starttls is not None:
                await writer.start_tls(starttls, server_hostname="localhost")
        writer.close()
    return client


def test_capability_then_logout_without_starttls_under_secure_login_is_tls_not_started(tls):
    """curl imap:// without --ssl-reqd: CAPABILITY says LOGINDISABLED, so it leaves."""
    ends = asyncio.run(session_ends(SECURE, converse(b"c1 CAPABILITY", b"c2 LOGOUT"), tls=tls))
    assert ends == [SessionEnd("imap4", "127.0.0.1", "127.0.0.1:143", "none", "tls-not-started", "CAPABILITY LOGOUT",
                               "")]


def test_login_before_tls_is_tls_required_with_the_name_logged_counted_and_kept(tls, caplog):
    replies: list[bytes] = []
    service = ImapService(MemoryMailStore(), Authenticator(failure_delay=0.01), "TEST")
    script = converse(b"c1 CAPABILITY", b'a1 LOGIN crm@example.com "secret pw"', b"a2 AUTHENTICATE PLAIN",
                      b"c2 LOGOUT", replies=replies)
    with caplog.at_level(logging.WARNING, logger="postroom.auth"):
        ends = asyncio.run(session_ends(SECURE, script, tls=tls, service=service))
    assert [r for r in replies if r.startswith((b"a1 ", b"a2 "))] == [
        b"a1 " + PRIVACY + b" Log in after STARTTLS: passwords are not accepted on an unencrypted connection.\r\n",
        b"a2 " + PRIVACY + b" Log in after STARTTLS: passwords are not accepted on an unencrypted connection.\r\n"]
    assert ends == [SessionEnd("imap4", "127.0.0.1", "127.0.0.1:143", "none", "tls-required",
                               "CAPABILITY LOGIN AUTHENTICATE LOGOUT", "crm@example.com")]
    lines = [r.getMessage() for r in caplog.records if r.name == "postroom.auth"]
    assert lines == ["postroom auth failure: service=imap4 remote=127.0.0.1 user=crm@example.com reason=tls-required",
                     "postroom auth failure: service=imap4 remote=127.0.0.1 user=- reason=tls-required"]
    assert samples(service.metrics)[("postroom_logins_total", (("result", "tls-required"), ("service", "imap4")))] == 2
    assert "secret" not in repr(ends) and "secret" not in repr(lines)


def test_after_starttls_logging_out_is_just_logout(tls):
    script = converse(b"s1 STARTTLS", b"c1 CAPABILITY", b"c2 LOGOUT", starttls=client_context(False))
    ends = asyncio.run(session_ends(SECURE, script, tls=tls))
    assert ends == [SessionEnd("imap4", "127.0.0.1", "127.0.0.1:143", "stls", "logout", "STARTTLS CAPABILITY LOGOUT",
                               "")]


def test_a_wrong_password_is_the_failed_logins_reason_and_no_password_is_kept():
    ends = asyncio.run(session_ends(PLAIN, converse(b"a1 LOGIN alice@example.com not-it", b"c1 LOGOUT")))
    assert ends == [SessionEnd("imap4", "127.0.0.1", "127.0.0.1:143", "none", "bad-credentials", "LOGIN LOGOUT",
                               "alice@example.com")]
    assert "not-it" not in repr(ends)


def test_the_rest_of_a_command_after_a_literal_is_not_another_command():
    """The password sent as a literal: its line's rest is LOGIN's, not a command of its own."""
    script = converse(b"a1 LOGIN alice@example.com {8}", b"wrong-pw", b"c1 NOOP", b"c2 LOGOUT")
    ends = asyncio.run(session_ends(PLAIN, script))
    assert [(e.reason, e.commands, e.mailbox) for e in ends] == [
        ("bad-credentials", "LOGIN NOOP LOGOUT", "alice@example.com")]
    assert "wrong-pw" not in repr(ends)


def test_authenticate_plain_credentials_are_never_kept():
    credentials = base64.b64encode(b"\0alice@example.com\0secret-pw")
    ends = asyncio.run(session_ends(PLAIN, converse(b"a1 AUTHENTICATE PLAIN " + credentials, b"x1 XYZZY secret-pw",
                                                    b"c1 LOGOUT")))
    assert [(e.reason, e.commands, e.mailbox) for e in ends] == [
        ("bad-credentials", "AUTHENTICATE ? LOGOUT", "alice@example.com")]
    assert "secret" not in repr(ends) and credentials.decode() not in repr(ends)


def test_a_tls_handshake_on_the_plain_port_is_named():
    """An application set to SSL on the STARTTLS port: its ClientHello is all it sends."""
    async def ssl_client(host: str, port: int) -> None:
        with pytest.raises((ssl.SSLError, OSError, asyncio.TimeoutError)):
            await asyncio.wait_for(asyncio.open_connection(host, port, ssl=client_context(False)), 2)
    ends = asyncio.run(session_ends(SECURE, ssl_client))
    assert [(e.service, e.tls, e.reason) for e in ends] == [("imap4", "none", "tls-on-plain-port")]


def test_lines_that_are_no_imap4_are_not_taken_for_an_application(tls):
    """An HTTP client on the plain port: not "never started TLS" but its own IMAP4 name."""
    ends = asyncio.run(session_ends(SECURE, converse(b"GET / HTTP/1.1", b"Host: example.com"), tls=tls))
    assert [(e.reason, e.commands) for e in ends] == [("not-imap4", "? ?")]


# Both protocols alike --------------------------------------------------------------------------
class Protocol(NamedTuple):
    settings: Any  # plain-text-login
    converse: Any
    session_ends: Any
    logs_in: tuple[bytes, ...]
    leaves: tuple[bytes, ...]  # a session that counts: (reason, commands)
    counted: tuple[str, str]
    too_many: bytes


BOTH = {
    "pop3": Protocol(POP3_PLAIN, pop3_converse, pop3_session_ends, (b"USER alice@example.com", b"PASS pw-1", b"QUIT"),
                     (b"CAPA", b"QUIT"), ("quit", "CAPA QUIT"), b"-ERR [SYS/TEMP] Too many connections"),
    "imap4": Protocol(PLAIN, converse, session_ends, (b"a1 LOGIN alice@example.com pw-1", b"c1 LOGOUT"),
                      (b"c1 NOOP", b"c2 LOGOUT"), ("logout", "NOOP LOGOUT"),
                      b"* BYE [UNAVAILABLE] Too many connections"),
}


@pytest.mark.parametrize("name", BOTH)
def test_a_session_that_logs_in_or_sends_nothing_is_not_evidence(name):
    protocol = BOTH[name]

    async def clients(host: str, port: int) -> None:
        await protocol.converse(*protocol.logs_in)(host, port)
        _, writer = await asyncio.open_connection(host, port)  # a health check: connect, leave
        writer.close()
        await protocol.converse(*protocol.leaves)(host, port)  # the one that counts
    ends = asyncio.run(protocol.session_ends(protocol.settings, clients))
    assert [(e.service, e.reason, e.commands) for e in ends] == [(name, *protocol.counted)]


@pytest.mark.parametrize("name", BOTH)
def test_a_connection_over_the_limit_is_evidence_too(name):
    protocol = BOTH[name]

    async def two(host: str, port: int) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        await reader.readline()
        other_reader, other = await asyncio.open_connection(host, port)
        assert (await other_reader.readline()).startswith(protocol.too_many)
        other.close()
        writer.close()
    settings = replace(protocol.settings, max_connections_from_single_ip=1)
    ends = asyncio.run(protocol.session_ends(settings, two))
    assert [(e.service, e.reason, e.commands) for e in ends] == [(name, "connection-limit", "")]


def test_a_node_stores_the_imap4_evidence_beside_pop3s(tmp_path):
    """Through the node's evidence into the store: the ended session and the refused login,
    both under service imap4 (the store refused imap4 sessions before)."""
    async def main():
        store = SqliteStore(str(tmp_path / "postroom.db"))
        await store.open()
        await store.migrate()
        await store.add_domain("example.com")
        await store.create_mailbox("alice@example.com", "Alice", hash_password("pw-1"))
        node = Node(store, str(tmp_path), "TEST", admin_app=node_admin_app,
                    authenticator=Authenticator(failure_delay=0.01))
        node.imap4.configure(SECURE, None, None)  # no certificate: no STARTTLS, no login in plain
        server = await asyncio.get_running_loop().create_server(
            node.imap4.protocol_factory(False, "127.0.0.1:143"), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        await converse(b"a1 LOGIN alice@example.com pw-1", b"c1 LOGOUT")("127.0.0.1", port)
        await until(lambda: not node.imap4.sessions, 5, "the session to end")
        server.close()
        await node.logins.flush(store)
        ended, failures = await store.list_ended_sessions(), await store.list_login_failures()
        await store.close()
        return ended, failures
    ended, failures = asyncio.run(main())
    assert [(r.server, r.service, r.binding, r.tls, r.reason, r.commands, r.mailbox, r.count) for r in ended] == [
        ("TEST", "imap4", "127.0.0.1:143", "none", "tls-required", "LOGIN LOGOUT", "alice@example.com", 1)]
    assert [(r.service, r.reason, r.mailbox) for r in failures] == [("imap4", "tls-required", "alice@example.com")]
