"""A POP3 session that ends without a login tells the service why (server/trail.py), the
doctor's evidence for clients that give up before USER: what it sent, how far TLS got, and the
reason, for real clients over a loopback socket."""
from __future__ import annotations

import asyncio
import base64
import ssl
from typing import Any

import pytest
import trustme

from postroom.auth import Authenticator
from postroom.diagnostics.probe import client_context
from postroom.model import LoginType, PopSettings
from postroom.server.evidence import SessionEnd
from postroom.server.pop3 import Pop3Service
from postroom.tls import server_context
from waiting import until

from .test_pop3_mail_role import MemoryMailStore

SECURE = PopSettings()  # secure-login: no login before TLS
PLAIN = PopSettings(login_type=LoginType.PLAIN_TEXT_LOGIN)


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    ca = trustme.CA()
    path = tmp_path_factory.mktemp("tls") / "server.pem"
    ca.issue_cert("localhost").private_key_and_cert_chain_pem.write_to_path(str(path))
    return server_context(str(path))


async def session_ends(settings: Any, client, *, tls: ssl.SSLContext | None = None, implicit_tls: bool = False,
                       expected: int = 1, service: Any = None, binding: str = "127.0.0.1:110") -> list[SessionEnd]:
    """Run `client(host, port)` against a listener of `service` (POP3's by default; binding
    "127.0.0.1:110" as the node names it); the session ends it reported."""
    ends: list[SessionEnd] = []
    service = service or Pop3Service(MemoryMailStore(), Authenticator(failure_delay=0.01), "TEST")
    service.on_session_end = ends.append
    service.configure(settings, tls, None)
    server = await asyncio.get_running_loop().create_server(
        service.protocol_factory(implicit_tls, binding), "127.0.0.1", 0, ssl=tls if implicit_tls else None)
    try:
        await client("127.0.0.1", server.sockets[0].getsockname()[1])
        await until(lambda: len(ends) >= expected and not service.sessions, 5, "the sessions to end")
        await asyncio.sleep(0.05)  # nothing more is reported: the time is the behaviour here
    finally:
        server.close()
    return ends


def converse(*lines: bytes, raw: bytes = b"", stls: ssl.SSLContext | None = None):
    async def client(host: str, port: int) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        await reader.readline()
        if raw:
            writer.write(raw)
        for line in lines:
            writer.write(line + b"\r\n")
            await writer.drain()
            reply = await reader.readline()
            if line == b"CAPA" and reply.startswith(b"+OK"):
                while reply != b".\r\n":
                    reply = await reader.readline()
            if line == b"STLS" and stls is not None:
                await writer.start_tls(stls, server_hostname="localhost")
        writer.close()
    return client


def test_capa_then_quit_without_stls_under_secure_login_is_tls_not_started(tls):
    """curl without --ssl-reqd, or poplib's capa() and quit(): no USER in CAPA, so it leaves."""
    ends = asyncio.run(session_ends(SECURE, converse(b"CAPA", b"QUIT"), tls=tls))
    assert ends == [SessionEnd("pop3", "127.0.0.1", "127.0.0.1:110", "none", "tls-not-started", "CAPA QUIT", "")]


def test_user_before_tls_is_tls_required_with_the_name_tried(tls):
    ends = asyncio.run(session_ends(SECURE, converse(b"CAPA", b"USER crm@example.com", b"QUIT"), tls=tls))
    assert ends == [SessionEnd("pop3", "127.0.0.1", "127.0.0.1:110", "none", "tls-required", "CAPA USER QUIT",
                               "crm@example.com")]


def test_after_stls_quitting_is_just_quit(tls):
    ends = asyncio.run(session_ends(SECURE, converse(b"STLS", b"CAPA", b"QUIT", stls=client_context(False)), tls=tls))
    assert ends == [SessionEnd("pop3", "127.0.0.1", "127.0.0.1:110", "stls", "quit", "STLS CAPA QUIT", "")]


def test_a_wrong_password_is_the_failed_logins_reason_and_no_password_is_kept():
    ends = asyncio.run(session_ends(PLAIN, converse(b"USER alice@example.com", b"PASS not-it", b"QUIT")))
    assert ends == [SessionEnd("pop3", "127.0.0.1", "127.0.0.1:110", "none", "bad-credentials", "USER PASS QUIT",
                               "alice@example.com")]


def test_a_tls_handshake_on_the_plain_port_is_named():
    """An application set to SSL on the STLS port: its ClientHello is all it sends."""
    async def ssl_client(host: str, port: int) -> None:
        with pytest.raises((ssl.SSLError, OSError, asyncio.TimeoutError)):
            await asyncio.wait_for(asyncio.open_connection(host, port, ssl=client_context(False)), 2)
    ends = asyncio.run(session_ends(PopSettings(preauthenticated_timeout=1), ssl_client))
    assert [(e.tls, e.reason) for e in ends] == [("none", "tls-on-plain-port")]


def test_lines_that_are_no_pop3_are_not_taken_for_an_application(tls):
    """An HTTP client or a monitor's blank line on the plain port: not "never started TLS"."""
    ends = asyncio.run(session_ends(SECURE, converse(b"GET / HTTP/1.1", b""), tls=tls))
    assert [(e.reason, e.commands) for e in ends] == [("not-pop3", "? ?")]


def test_only_verbs_are_kept_and_at_most_eight():
    credentials = base64.b64encode(b"\0alice@example.com\0secret-pw")
    lines = [b"AUTH PLAIN " + credentials, b"XYZZY secret-pw", b"NOOP", *[b"CAPA"] * 6]
    ends = asyncio.run(session_ends(PLAIN, converse(*lines)))
    assert [(e.reason, e.commands, e.mailbox) for e in ends] == [
        ("bad-credentials", "AUTH ? NOOP CAPA CAPA CAPA CAPA CAPA ...", "alice@example.com")]
    assert "secret" not in repr(ends) and credentials.decode() not in repr(ends)


# Sessions that logged in or sent nothing, and connections over the limit: for both protocols,
# in test_imap4_session_evidence.py.
