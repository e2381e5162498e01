"""server/tls_transport.py: the TLS layer in front of sessions, over real loopback sockets."""
from __future__ import annotations

import asyncio
import ssl
import subprocess
from pathlib import Path

import pytest

from postroom.server.tls_transport import TlsLayer, start_tls, tls_server_factory


@pytest.fixture(scope="module")
def contexts(tmp_path_factory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    folder: Path = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-days", "2", "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(str(cert), str(key))
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.load_verify_locations(str(cert))
    client.check_hostname = False
    return server, client


class Echo(asyncio.BufferedProtocol):
    """Answers each chunk with its upper case; STARTTLS upgrades (when given a context)."""

    def __init__(self, upgrade: ssl.SSLContext | None = None) -> None:
        self.buffer = bytearray(1024)
        self.upgrade = upgrade
        self.transport: asyncio.Transport | None = None
        self.made = self.lost = 0
        self.received = bytearray()
        self.eof = False
        self.upgraded: asyncio.Future[TlsLayer] | None = None

    def connection_made(self, transport) -> None:
        self.made += 1
        self.transport = transport
        transport.write(b"hello\r\n")

    def get_buffer(self, sizehint: int) -> memoryview:
        return memoryview(self.buffer)

    def buffer_updated(self, nbytes: int) -> None:
        data = bytes(self.buffer[:nbytes])
        self.received += data
        assert self.transport is not None
        if data == b"STARTTLS\r\n" and self.upgrade is not None:
            self.transport.write(b"go ahead\r\n")
            self.upgraded = asyncio.ensure_future(start_tls(self.transport, self, self.upgrade, 5.0))
            return
        self.transport.write(data.upper())

    def eof_received(self) -> bool:
        self.eof = True
        return False

    def connection_lost(self, exc) -> None:
        self.lost += 1


async def serve(factory, contexts, timeout: float = 5.0):
    server_context, _ = contexts
    loop = asyncio.get_running_loop()
    server = await loop.create_server(tls_server_factory(factory, server_context, timeout), "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def test_implicit_tls_session_sees_only_plaintext_after_the_handshake(contexts):
    async def scenario():
        made: list[Echo] = []
        server, port = await serve(lambda: made.append(Echo()) or made[-1], contexts)
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=contexts[1], server_hostname="localhost")
        assert await reader.readline() == b"hello\r\n"
        writer.write(b"abc\r\n")
        assert await reader.readline() == b"ABC\r\n"
        session = made[0]
        assert session.made == 1 and session.received == b"abc\r\n"
        assert session.transport.get_extra_info("ssl_object").version() in ("TLSv1.2", "TLSv1.3")
        assert session.transport.get_extra_info("peername")[0] == "127.0.0.1"
        session.transport.close()  # close_notify, then the socket closes
        assert await reader.read() == b""
        writer.close()
        server.close()
        await asyncio.sleep(0.05)
        assert session.lost == 1
    asyncio.run(scenario())


def test_a_client_that_never_finishes_the_handshake_is_dropped_and_never_seen(contexts):
    async def scenario():
        made: list[Echo] = []
        server, port = await serve(lambda: made.append(Echo()) or made[-1], contexts, timeout=0.3)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await asyncio.wait_for(reader.read(), 5) == b""  # dropped at the handshake timeout
        reader2, writer2 = await asyncio.open_connection("127.0.0.1", port)
        writer2.write(b"this is not a ClientHello\r\n\r\n")
        answer = await asyncio.wait_for(reader2.read(), 5)  # an alert at most, then closed
        assert b"\r\n" not in answer
        assert made[0].made == 0 and made[0].lost == 0 and made[1].made == 0
        for w in (writer, writer2):
            w.close()
        server.close()
    asyncio.run(scenario())


def test_starttls_upgrades_in_place_and_the_session_keeps_its_state(contexts):
    async def scenario():
        sessions: list[Echo] = []
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: sessions.append(Echo(contexts[0])) or sessions[-1], "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await reader.readline() == b"hello\r\n"
        writer.write(b"STARTTLS\r\n")
        assert await reader.readline() == b"go ahead\r\n"
        await writer.start_tls(contexts[1], server_hostname="localhost")
        session = sessions[0]
        layer = await session.upgraded
        session.transport = layer
        writer.write(b"secret\r\n")
        assert await reader.readline() == b"SECRET\r\n"
        assert session.received == b"STARTTLS\r\nsecret\r\n" and session.made == 1
        writer.close()
        await asyncio.sleep(0.1)
        assert session.lost == 1
        server.close()
    asyncio.run(scenario())


def test_a_paused_session_gets_nothing_until_it_resumes(contexts):
    async def scenario():
        made: list[Echo] = []
        server, port = await serve(lambda: made.append(Echo()) or made[-1], contexts)
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=contexts[1], server_hostname="localhost")
        await reader.readline()
        session = made[0]
        session.transport.pause_reading()
        writer.write(b"one\r\n")
        await writer.drain()
        await asyncio.sleep(0.2)
        assert session.received == b""
        session.transport.resume_reading()
        assert await asyncio.wait_for(reader.readline(), 5) == b"ONE\r\n"
        writer.close()
        server.close()
    asyncio.run(scenario())
