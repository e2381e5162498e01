"""The SMTP adapter in-process: what a client sees on the wire and what the store holds, for
what the pure core cannot see (connector choice, limits, timers, delivery, AUTH, TLS, logs)."""
from __future__ import annotations

import asyncio
import base64
import contextlib
import csv
import gc
import logging
import re
import sqlite3
import ssl
import time
import weakref
from dataclasses import dataclass, replace

import pytest
import trustme
import uvloop

from postroom.auth import Authenticator, hash_password
from postroom.errors import Unavailable
from postroom.model import ReceiveConnector
from postroom.server import smtp as smtp_server
from postroom.server import smtp_connectors
from postroom.server.delivery import Trace, trace_headers
from postroom.server.protocol_log import ProtocolLog
from postroom.server.smtp import SmtpService
from postroom.server.smtp_connectors import ConnectorRuntime, core_config
from postroom.storage.sqlite import SqliteStore
from postroom.tls import server_context
from waiting import until

from .test_pop3_session import FlakyStore

BINDING = "127.0.0.1:2525"
PASSWORD_HASH = hash_password("pw-1")
OK = b"250 2.0.0 OK\r\n"
SENDER_OK = b"250 2.1.0 Sender OK\r\n"
RCPT_OK = b"250 2.1.5 Recipient OK\r\n"
START_DATA = b"354 Start mail input; end with <CRLF>.<CRLF>\r\n"
TOO_MANY = b"421 4.7.0 Too many connections, try again later\r\n"
TIMED_OUT = b"421 4.4.2 Connection timed out, closing connection\r\n"
BAD_CREDENTIALS = b"535 5.7.8 Authentication credentials invalid\r\n"
AUTH_OK = b"235 2.7.0 Authentication successful\r\n"
ACCEPTED = re.compile(rb"250 2\.6\.0 Message accepted for delivery, queue id ([0-9A-F]{12})\r\n")
CONTENT = b"Subject: hello\r\nMessage-ID: <m1@remote.test>\r\n\r\nbody line\r\n"
DATE = rb"\t[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d [+-]0000\r\n"


def connector(name: str = "Test", **changes) -> ReceiveConnector:
    """A connector on BINDING; dataclasses.replace lets tests use values outside the CLI's ranges."""
    base = ReceiveConnector(name, "TEST", bindings=(BINDING,), remote_ip_ranges=("0.0.0.0/0",),
                            auth=("tls",), permission_groups=("anonymous",), fqdn="mx.test")
    return replace(base, **changes)


@dataclass
class Env:
    store: SqliteStore
    service: SmtpService
    port: int
    db: str

    async def messages(self, address: str) -> list[bytes]:
        mailbox = await self.store.get_mailbox(address)
        return [await self.store.read_message(mailbox.id, m.id) for m in await self.store.list_messages(mailbox.id)]

    def bodies(self) -> int:
        with contextlib.closing(sqlite3.connect(self.db)) as conn:
            return conn.execute("SELECT count(*) FROM message_bodies").fetchone()[0]


@contextlib.asynccontextmanager
async def running(tmp_path, *connectors: ReceiveConnector, wrap=None, tls=None, plog=None, store=None):
    db = str(tmp_path / "postroom.db")
    store = store or SqliteStore(db)  # another backend's store, unopened, when given
    await store.open()
    await store.migrate()
    await store.add_domain("example.com")
    for name in ("alice", "bob"):
        await store.create_mailbox(f"{name}@example.com", name, PASSWORD_HASH)
    await store.create_mailbox("carol@example.com", "Carol", PASSWORD_HASH, enabled=False)
    authenticator = Authenticator(failure_delay=0.01)
    service = SmtpService(wrap(store) if wrap else store, authenticator, "TEST", spool_dir=str(tmp_path / "spool"))
    service.configure([ConnectorRuntime(c, core_config(c, "mx.test", tls), tls, plog) for c in connectors],
                      ["example.com"])
    server = await asyncio.get_running_loop().create_server(service.protocol_factory(BINDING), "127.0.0.1", 0)
    try:
        yield Env(store, service, server.sockets[0].getsockname()[1], db)
    finally:
        server.close()
        service.close_sessions()
        authenticator.close()
        await store.close()


class Client:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def reply(self) -> bytes:
        """One whole reply, multi-line replies joined; b"" at EOF."""
        out = b""
        while True:
            line = await asyncio.wait_for(self.reader.readline(), 5)
            out += line
            if line[3:4] != b"-":
                return out

    async def send(self, *lines: bytes) -> bytes:
        """Send each line and read its reply; the last reply."""
        for line in lines:
            self.writer.write(line + b"\r\n")
            answer = await self.reply()
        return answer

    async def closed(self) -> bool:
        return await asyncio.wait_for(self.reader.read(), 5) == b""

    async def mail(self, recipients: list[bytes], content: bytes = CONTENT) -> bytes:
        assert await self.send(b"MAIL FROM:<sender@remote.test>") == SENDER_OK
        for recipient in recipients:
            assert await self.send(b"RCPT TO:<" + recipient + b">") == RCPT_OK
        assert await self.send(b"DATA") == START_DATA
        self.writer.write(content + b".\r\n")
        return await self.reply()


class SlowStore:
    """Delegates to a real store; deliver_message takes `delay` seconds longer."""

    def __init__(self, store, delay: float) -> None:
        self._store, self._delay = store, delay

    def __getattr__(self, name):
        return getattr(self._store, name)

    async def deliver_message(self, *args, **kwargs):
        await asyncio.sleep(self._delay)  # the slow store is the behaviour under test
        return await self._store.deliver_message(*args, **kwargs)


async def connect(port: int) -> tuple[Client, bytes]:
    client = Client(*await asyncio.open_connection("127.0.0.1", port))
    return client, await client.reply()


def run(coroutine) -> None:
    asyncio.run(asyncio.wait_for(coroutine, 20))


def plain(user: str, password: str) -> bytes:
    return base64.b64encode(f"\0{user}\0{password}".encode())


# ------------------------------------------------------------------------- connector choice
def test_the_most_specific_connector_on_a_binding_greets_and_no_match_is_refused(tmp_path):
    async def main():
        wide = connector("Wide", banner="wide connector", remote_ip_ranges=("0.0.0.0/0",))
        narrow = connector("Narrow", banner="narrow connector", remote_ip_ranges=("127.0.0.1/32",))
        async with running(tmp_path, wide, narrow) as env:
            client, greeting = await connect(env.port)
            assert greeting == b"220 narrow connector\r\n"
            assert await client.send(b"QUIT") == b"221 2.0.0 mx.test closing connection\r\n"
            other = connector("Other", remote_ip_ranges=("10.0.0.0/8",))
            env.service.configure([ConnectorRuntime(other, core_config(other, "mx.test", None), None)], ["example.com"])
            client, greeting = await connect(env.port)
            assert greeting == b"554 5.7.1 This server accepts no mail from your address\r\n"
            assert await client.closed()
            assert not env.service.sessions and not env.service.per_connector

    run(main())



def test_the_choice_is_remembered_per_client_bounded_and_forgotten_on_a_change(tmp_path, monkeypatch):
    monkeypatch.setattr(smtp_server, "CLIENT_CACHE_SIZE", 2)  # the connector chosen per client
    monkeypatch.setattr(smtp_connectors, "CLIENT_CACHE_SIZE", 2)  # the core settings per client
    wide = connector("Wide", remote_ip_ranges=("0.0.0.0/0",))
    narrow = connector("Narrow", remote_ip_ranges=("10.1.0.0/16",))
    service = SmtpService(None, None, "TEST")
    runtimes = [ConnectorRuntime(c, core_config(c, "mx.test", None), None) for c in (wide, narrow)]
    service.configure(runtimes, [])
    for _ in range(2):  # the second round answers from what was remembered, the same way
        assert [service.choose(BINDING, ip).name for ip in ("10.1.2.3", "10.2.0.1", "10.1.9.9")] == \
            ["Narrow", "Wide", "Narrow"]
        assert service.choose("127.0.0.1:26", "10.1.2.3") is None  # no connector on that binding
        assert len(service.chosen) <= 2
    narrow_runtime = runtimes[1]
    assert narrow_runtime.config_for("10.1.2.3").remote_ip == "10.1.2.3"
    assert narrow_runtime.config_for("10.1.2.3") is narrow_runtime.config_for("10.1.2.3")
    for ip in ("10.1.0.1", "10.1.0.2", "10.1.0.3"):
        assert narrow_runtime.config_for(ip).remote_ip == ip
    assert len(narrow_runtime.configs) <= 2
    service.configure(runtimes[:1], [])  # the narrow connector is disabled: its clients move
    assert service.choose(BINDING, "10.1.2.3").name == "Wide"


# ------------------------------------------------------------------------- limits and timers
@pytest.mark.parametrize("limits", [dict(max_inbound_connections=2),
                                    dict(max_inbound_connections_per_source=2)])
def test_the_connection_over_a_limit_is_refused_and_counts_are_given_back(tmp_path, limits):
    async def main():
        async with running(tmp_path, connector(**limits)) as env:
            first, second = [await connect(env.port) for _ in range(2)]
            assert first[1] == second[1] == b"220 mx.test postroom ESMTP service ready\r\n"
            third, greeting = await connect(env.port)
            assert greeting == TOO_MANY
            assert await third.closed()
            assert await first[0].send(b"QUIT") == b"221 2.0.0 mx.test closing connection\r\n"
            fourth, greeting = await connect(env.port)  # neither QUIT nor the refusal kept a count
            assert greeting == b"220 mx.test postroom ESMTP service ready\r\n"
            assert await fourth.send(b"NOOP") == OK
            fifth, greeting = await connect(env.port)
            assert greeting == TOO_MANY

    run(main())


def test_an_idle_client_is_told_and_disconnected(tmp_path):
    async def main():
        async with running(tmp_path, connector(connection_inactivity_timeout=1, connection_timeout=60)) as env:
            client, _ = await connect(env.port)
            assert await client.send(b"EHLO client.example")
            started = asyncio.get_running_loop().time()
            assert await client.reply() == TIMED_OUT
            assert 0.8 < asyncio.get_running_loop().time() - started < 2
            assert await client.closed()
            assert not env.service.per_connector

    run(main())


def test_the_total_connection_timeout_ends_even_an_active_client(tmp_path):
    async def main():
        async with running(tmp_path, connector(connection_inactivity_timeout=30, connection_timeout=1)) as env:
            client, _ = await connect(env.port)
            started, replies = asyncio.get_running_loop().time(), []
            while not replies or replies[-1] == OK:
                await asyncio.sleep(0.2)  # an active client: a command every 0.2 s, under the inactivity timeout
                replies.append(await client.send(b"NOOP"))
            assert replies[-1] == TIMED_OUT and len(replies) >= 4
            assert 0.9 < asyncio.get_running_loop().time() - started < 2
            assert await client.closed()

    run(main())


def test_time_spent_answering_is_not_client_inactivity(tmp_path):
    async def main():
        slow = connector(connection_inactivity_timeout=1, connection_timeout=60)
        async with running(tmp_path, slow, wrap=lambda s: SlowStore(s, 1.5)) as env:
            client, _ = await connect(env.port)
            await client.send(b"EHLO client.example")
            cpu = time.process_time()
            assert ACCEPTED.fullmatch(await client.mail([b"alice@example.com"]))
            assert time.process_time() - cpu < 0.5  # no idle timer spinning while the store works
            await asyncio.sleep(0.7)  # idle, but for less than the timeout since our answer
            assert await client.send(b"NOOP") == OK

    run(main())


# ------------------------------------------------------------------------------- delivery
def test_delivery_adds_trace_headers_and_is_tracked_with_one_copy_per_mailbox(tmp_path):
    async def main():
        async with running(tmp_path, connector()) as env:
            client, _ = await connect(env.port)
            assert (await client.send(b"EHLO client.example")).startswith(b"250-mx.test Hello [127.0.0.1]\r\n")
            answer = await client.mail([b"alice@example.com", b"ALICE@Example.COM", b"bob@example.com"])
            queue_id = ACCEPTED.fullmatch(answer).group(1).decode()
            for address in ("alice@example.com", "bob@example.com"):
                [stored] = await env.messages(address)
                assert stored.endswith(CONTENT)
                assert re.fullmatch(rb"Return-Path: <sender@remote\.test>\r\nReceived: from client\.example "
                                    rb"\(\[127\.0\.0\.1\]\)\r\n\tby mx\.test \(postroom\) with ESMTP id "
                                    + queue_id.encode() + rb";\r\n" + DATE, stored[:-len(CONTENT)])
            assert env.bodies() == 1
            rows = await env.store.list_tracking(queue_id=queue_id)
            assert sorted((r.event_id.value, r.recipient, r.message_id, r.sender, r.connector) for r in rows) == [
                (event, f"{name}@example.com", "<m1@remote.test>", "sender@remote.test", "Test")
                for event in ("DELIVER", "RECEIVE") for name in ("alice", "bob")]

    run(main())



@pytest.mark.parametrize("helo, shown", [
    ("client.example", "client.example"),
    ("evil\r\nBcc: x@y.test", "evilBcc: x@y.test"),  # a client cannot start a header line
    ("<[10.0.0.1]>", "[10.0.0.1]"),
    ("h\u00e9l\u00f4.test", "h\u00e9l\u00f4.test"),
    ("a" * 300, "a" * 200),
    ("", "unknown"),
])
def test_client_chosen_text_in_the_received_header_stays_one_safe_line(helo, shown):
    head = trace_headers(Trace(helo, "10.0.0.1", "mx.test", "ESMTP", "ABCDEF012345", "s<x>@remote.test",
                               ("bob@example.com",)))
    lines = head.decode().split("\r\n")
    assert lines[0] == "Return-Path: <sx@remote.test>"
    assert lines[1] == f"Received: from {shown} ([10.0.0.1])"
    assert all(line.startswith("\t") for line in lines[2:-1]) and lines[-1] == ""
    assert re.fullmatch(DATE, ("\r\n".join(lines[-2:])).encode())  # the date of this second, "+0000"


def test_a_mailbox_removed_before_the_end_of_data_fails_alone(tmp_path):
    async def main():
        async with running(tmp_path, connector()) as env:
            client, _ = await connect(env.port)
            await client.send(b"HELO client.example")
            assert await client.send(b"MAIL FROM:<sender@remote.test>", b"RCPT TO:<alice@example.com>",
                                     b"RCPT TO:<bob@example.com>") == RCPT_OK
            await env.store.remove_mailbox("bob@example.com")
            assert await client.send(b"DATA") == START_DATA
            client.writer.write(CONTENT + b".\r\n")
            queue_id = ACCEPTED.fullmatch(await client.reply()).group(1).decode()
            [stored] = await env.messages("alice@example.com")
            assert b"with SMTP id " + queue_id.encode() in stored and stored.endswith(CONTENT)
            rows = await env.store.list_tracking(queue_id=queue_id)
            assert sorted((r.event_id.value, r.recipient) for r in rows if r.event_id.value != "RECEIVE") == [
                ("DELIVER", "alice@example.com"), ("FAIL", "bob@example.com")]
            [fail] = [r for r in rows if r.event_id.value == "FAIL"]
            assert fail.status == "550 5.1.1 mailbox removed during delivery"
            # The only recipient removed: refused, nothing stored.
            assert await client.send(b"MAIL FROM:<sender@remote.test>", b"RCPT TO:<alice@example.com>") == RCPT_OK
            await env.store.remove_mailbox("alice@example.com")
            assert await client.send(b"DATA") == START_DATA
            client.writer.write(CONTENT + b".\r\n")
            assert await client.reply() == b"550 5.1.1 Recipient address rejected: unknown mailbox\r\n"
            assert env.bodies() == 0
            assert await client.send(b"NOOP") == OK

    run(main())


def test_a_quoted_local_part_is_the_same_mailbox_and_an_address_that_is_no_mailbox_is_unknown(tmp_path):
    """RFC 5321 4.1.2: "alice" and alice are one local part; a..b is no mailbox (validation.py)."""
    async def main():
        async with running(tmp_path, connector()) as env:
            client, _ = await connect(env.port)
            await client.send(b"EHLO client.example")
            assert ACCEPTED.fullmatch(await client.mail([b'"alice"@example.com', b'"B\\ob"@Example.COM']))
            assert [len(await env.messages(a)) for a in ("alice@example.com", "bob@example.com")] == [1, 1]
            assert await client.send(b"MAIL FROM:<sender@remote.test>") == SENDER_OK
            for bad in (b"a..b@example.com", b".alice@example.com", b"alice.@example.com"):
                assert await client.send(b"RCPT TO:<" + bad + b">") == (
                    b"550 5.1.1 Recipient address rejected: unknown mailbox\r\n"), bad

    run(main())


def test_a_store_failure_during_delivery_is_temporary_and_the_session_goes_on(tmp_path):
    async def main():
        wrap = lambda s: FlakyStore(s, "deliver_message", Unavailable("database is locked"))  # noqa: E731
        async with running(tmp_path, connector(), wrap=wrap) as env:
            client, _ = await connect(env.port)
            await client.send(b"EHLO client.example")
            assert await client.mail([b"alice@example.com"]) == b"451 4.3.0 Temporary failure, try again later\r\n"
            assert await client.send(b"RSET") == OK
            assert await client.send(b"MAIL FROM:<sender@remote.test>") == SENDER_OK
            assert env.bodies() == 0

    run(main())


def test_an_unexpected_failure_answers_with_a_reference_and_logs_the_detail(tmp_path, caplog):
    async def main():
        wrap = lambda s: FlakyStore(s, "deliver_message", RuntimeError("secret detail"))  # noqa: E731
        async with running(tmp_path, connector(), wrap=wrap) as env:
            client, _ = await connect(env.port)
            await client.send(b"EHLO client.example")
            answer = await client.mail([b"alice@example.com"])
            assert await client.closed()
            return answer

    with caplog.at_level(logging.ERROR, logger="postroom.smtp"):
        answer = asyncio.run(main())
    ref = re.fullmatch(rb"451 4\.3\.0 Internal error, ref ([0-9a-f]{12}); try again later\r\n", answer).group(1)
    [record] = [r for r in caplog.records if ref.decode() in r.getMessage()]
    assert record.exc_info and "secret detail" in str(record.exc_info[1])


# ----------------------------------------------------------------------------------- AUTH
def test_auth_lets_users_send_and_refuses_bad_or_disabled_credentials(tmp_path):
    async def main():
        async with running(tmp_path, connector(auth=("basic",), permission_groups=("users",))) as env:
            client, _ = await connect(env.port)
            assert b"250 AUTH PLAIN LOGIN\r\n" in await client.send(b"EHLO client.example")
            assert await client.send(b"MAIL FROM:<alice@example.com>") == b"530 5.7.1 Client was not authenticated\r\n"
            assert await client.send(b"AUTH PLAIN " + plain("alice@example.com", "wrong")) == BAD_CREDENTIALS
            assert await client.send(b"AUTH PLAIN " + plain("carol@example.com", "pw-1")) == BAD_CREDENTIALS
            assert await client.send(b"AUTH PLAIN " + plain("alice@example.com", "pw-1")) == AUTH_OK
            assert await client.send(b"MAIL FROM:<alice@example.com>") == SENDER_OK

    run(main())


# ----------------------------------------------------------------------------------- TLS
@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    ca = trustme.CA()
    path = tmp_path_factory.mktemp("tls") / "server.pem"
    ca.issue_cert("mx.test").private_key_and_cert_chain_pem.write_to_path(str(path))
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return server_context(str(path)), client


TLS_CONNECTOR = dict(auth=("tls", "basic", "basic-require-tls"), permission_groups=("users",))


def test_starttls_then_auth_and_the_received_header_says_so(tmp_path, certificate):
    server_tls, client_tls = certificate

    async def main():
        async with running(tmp_path, connector(**TLS_CONNECTOR), tls=server_tls) as env:
            # alice may send as the test's sender (send-as grant), as any authenticated submission must
            await env.store.update_mailbox("alice@example.com", send_as=("sender@remote.test",))
            client, _ = await connect(env.port)
            ehlo = await client.send(b"EHLO client.example")
            assert b"250 STARTTLS\r\n" in ehlo and b"AUTH" not in ehlo
            assert await client.send(b"STARTTLS") == b"220 2.0.0 Ready to start TLS\r\n"
            await client.writer.start_tls(client_tls, server_hostname="mx.test")
            ehlo = await client.send(b"EHLO client.example")
            assert b"250 AUTH PLAIN LOGIN\r\n" in ehlo and b"STARTTLS" not in ehlo
            assert await client.send(b"AUTH PLAIN " + plain("alice@example.com", "pw-1")) == AUTH_OK
            queue_id = ACCEPTED.fullmatch(await client.mail([b"alice@example.com"])).group(1)
            version = client.writer.get_extra_info("ssl_object").version().encode()
            [stored] = await env.messages("alice@example.com")
            assert re.fullmatch(rb"Return-Path: <sender@remote\.test>\r\nReceived: from client\.example "
                                rb"\(\[127\.0\.0\.1\]\)\r\n\tby mx\.test \(postroom\) with ESMTPSA id " + queue_id
                                + rb"\r\n\t\(using " + version + rb"\)\r\n\tfor <alice@example\.com>;\r\n" + DATE,
                                stored[:-len(CONTENT)])
            assert version in (b"TLSv1.2", b"TLSv1.3")

    run(main())


@pytest.mark.parametrize("loop_factory", [asyncio.new_event_loop, uvloop.new_event_loop], ids=["asyncio", "uvloop"])
def test_a_finished_tls_session_is_freed_without_the_garbage_collector(tmp_path, certificate, loop_factory):
    """A TLS transport holds bound methods of its protocol: a session that kept its transport
    after the connection ended made some thirty objects per TLS session that only the garbage
    collector could free (CPU at every collection, memory until one)."""
    server_tls, client_tls = certificate

    async def main():
        async with running(tmp_path, connector(**TLS_CONNECTOR), tls=server_tls) as env:
            client, _ = await connect(env.port)
            await client.send(b"EHLO client.example")
            assert await client.send(b"STARTTLS") == b"220 2.0.0 Ready to start TLS\r\n"
            await client.writer.start_tls(client_tls, server_hostname="mx.test")
            assert (await client.send(b"EHLO client.example")).startswith(b"250-mx.test")
            [session] = env.service.sessions
            freed = weakref.ref(session)
            del session
            assert (await client.send(b"QUIT")).startswith(b"221")
            assert await client.closed()
            client.writer.close()
            # connection_lost runs a loop iteration or two after the close
            await until(lambda: freed() is None, 1, "the session to be freed (else: a reference cycle)")

    gc.disable()
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(asyncio.wait_for(main(), 20))
    finally:
        gc.enable()


def test_plaintext_pipelined_after_starttls_is_never_executed(tmp_path, certificate):
    server_tls, client_tls = certificate

    async def main():
        async with running(tmp_path, connector(**TLS_CONNECTOR), tls=server_tls) as env:
            client, _ = await connect(env.port)
            await client.send(b"EHLO client.example")
            client.writer.write(b"STARTTLS\r\nMAIL FROM:<x@y.z>\r\n")
            assert await client.reply() == b"220 2.0.0 Ready to start TLS\r\n"
            await client.writer.start_tls(client_tls, server_hostname="mx.test")
            assert (await client.send(b"EHLO client.example")).startswith(b"250-mx.test Hello [127.0.0.1]\r\n")
            assert await client.send(b"NOOP") == OK

    run(main())


# --------------------------------------------------------------------------- protocol log
def test_the_protocol_log_has_commands_and_replies_but_no_secrets_or_content(tmp_path):
    async def main():
        plog = ProtocolLog(str(tmp_path / "logs"), "SMTP")
        async with running(tmp_path, connector(auth=("basic",), permission_groups=("users",)), plog=plog) as env:
            await env.store.update_mailbox("alice@example.com", send_as=("sender@remote.test",))
            client, _ = await connect(env.port)
            await client.send(b"EHLO client.example")
            assert await client.send(b"AUTH LOGIN") == b"334 VXNlcm5hbWU6\r\n"
            assert await client.send(base64.b64encode(b"alice@example.com")) == b"334 UGFzc3dvcmQ6\r\n"
            assert await client.send(base64.b64encode(b"pw-1")) == AUTH_OK
            await client.mail([b"bob@example.com"], b"Subject: SECRET-SUBJECT\r\n\r\nsecret body\r\n")
            body = b"Subject: x\r\n\r\nHELP with the secret plans\r\n"  # BDAT content in the command's packet
            assert await client.send(b"MAIL FROM:<alice@example.com>", b"RCPT TO:<bob@example.com>") == RCPT_OK
            client.writer.write(b"BDAT %d LAST\r\n%s" % (len(body), body))
            assert ACCEPTED.fullmatch(await client.reply())
            # The command split across packets, its chunk in the second: still never logged.
            assert await client.send(b"MAIL FROM:<alice@example.com>", b"RCPT TO:<bob@example.com>") == RCPT_OK
            client.writer.write(b"BD")
            await client.writer.drain()
            await asyncio.sleep(0.05)  # the split across packets is what is tested: let "BD" arrive alone
            client.writer.write(b"AT %d LAST\r\n%s" % (len(body), body.replace(b"HELP", b"DATA")))
            assert ACCEPTED.fullmatch(await client.reply())
            assert await client.send(b"AUTH PLAIN " + plain("alice@example.com", "pw-1")) == (
                b"503 5.5.1 Already authenticated\r\n")
            await client.send(b"QUIT")
        plog.close()
        return (tmp_path / "logs").glob("SMTP-*.log").__next__().read_text()

    text = asyncio.run(main())
    data = [line.rsplit(",", 3)[1:3] for line in text.splitlines() if not line.startswith("#") and ",*," not in line]
    assert ["<", '"EHLO client.example"'] in data and [">", '"250-mx.test Hello [127.0.0.1]"'] in data
    assert ["<", '"AUTH LOGIN"'] in data and ["<", '"AUTH PLAIN ****"'] in data
    assert data.count(["<", '"****"']) == 2 and [">", '"235 2.7.0 Authentication successful"'] in data
    assert ["<", '"RCPT TO:<bob@example.com>"'] in data and ["<", '"QUIT"'] in data
    assert ["<", '"BDAT 42 LAST"'] in data
    secrets = ("SECRET", "secret", "pw-1", base64.b64encode(b"pw-1").decode(), plain("alice@example.com",
                                                                                     "pw-1").decode())
    assert [s for s in secrets if s in text] == []


def test_the_protocol_log_names_the_connector_and_gives_the_context_of_tls_auth_and_delivery(tmp_path, certificate):
    server_tls, client_tls = certificate

    async def main():
        plog = ProtocolLog(str(tmp_path / "logs"), "SMTP", connector_id="Client, TEST")
        async with running(tmp_path, connector(**TLS_CONNECTOR), tls=server_tls, plog=plog) as env:
            await env.store.update_mailbox("alice@example.com", send_as=("sender@remote.test",))
            client, _ = await connect(env.port)
            await client.send(b"EHLO client.example")
            assert await client.send(b"STARTTLS") == b"220 2.0.0 Ready to start TLS\r\n"
            await client.writer.start_tls(client_tls, server_hostname="mx.test")
            await client.send(b"EHLO client.example")
            assert await client.send(b"AUTH PLAIN " + plain("alice@example.com", "pw-1")) == AUTH_OK
            queue_id = ACCEPTED.fullmatch(await client.mail([b"bob@example.com"])).group(1).decode()
            await client.send(b"QUIT")
        plog.close()
        [path] = (tmp_path / "logs").glob("SMTP-*-1.log")
        return path.read_text(), queue_id

    text, queue_id = asyncio.run(main())
    header = [line for line in text.splitlines() if line.startswith("#")]
    assert "#Fields: date-time,connector-id,session-id,sequence-number,local-endpoint,remote-endpoint,event,data," \
           "context" in header and "#Log-Type: SMTP Protocol Log" in header
    rows = list(csv.reader(line for line in text.splitlines() if not line.startswith("#")))
    assert {len(row) for row in rows} == {9}
    assert {row[1] for row in rows} == {"Client, TEST"}  # quoted in the file: the name has a comma
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", rows[0][0])
    assert [int(row[3]) for row in rows] == list(range(len(rows)))  # sequence numbers from 0
    assert (rows[0][6], rows[1][6], rows[-1][6]) == ("+", ">", "-")  # connect, greeting, ..., disconnect
    notes = [row[8] for row in rows if row[6] == "*"]
    assert re.fullmatch(r"TLS negotiated \(TLSv1\.[23], \w+\)", notes[0])
    assert notes[1:] == ["authenticated as alice@example.com",
                         f"delivered 250 2.6.0 queued as {queue_id} to 1 mailbox(es)"]
    assert all(row[8] == "" for row in rows if row[6] != "*")
    assert "pw-1" not in text and plain("alice@example.com", "pw-1").decode() not in text
