"""COMPRESS=DEFLATE over real sockets (plain with plain-text login, and TLS): the OK in clear,
then SELECT, FETCH, IDLE through a zlib pair; octets pipelined after the command; corrupt
input and a decompression bomb; the protocol log in plain text; and the side channel: a
message's reply compresses to the same octets whatever was sent before it."""
from __future__ import annotations

import asyncio
import ssl
import zlib

import pytest
import trustme

from postroom.diagnostics.probe import client_context
from postroom.model import ImapSettings
from postroom.server import compression
from postroom.server.compression import CompressedTransport, deflate_chunks
from postroom.server.session import MAX_BUFFERED_INPUT
from postroom.tls import server_context
from waiting import until

from .test_imap4_session import PLAIN, message, start


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    ca = trustme.CA()
    path = tmp_path_factory.mktemp("tls") / "server.pem"
    ca.issue_cert("localhost").private_key_and_cert_chain_pem.write_to_path(str(path))
    return server_context(str(path))


class Client:
    """A client's end of an IMAP4 connection that turns compression on: a raw deflate pair
    (the client's window 32 KB, as mbsync's), and a count of the octets on the wire."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.inflater: zlib._Decompress | None = None
        self.deflater = zlib.compressobj(6, zlib.DEFLATED, -15)
        self.buffer = b""  # plain octets received, not read yet
        self.wire = b""  # compressed octets received

    @classmethod
    async def open(cls, port: int, context: ssl.SSLContext | None = None) -> "Client":
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context,
                                                       server_hostname="localhost" if context else None)
        client = cls(reader, writer)
        client.greeting = await client.readline()
        return client

    def send(self, data: bytes) -> None:
        if self.inflater is not None:
            data = self.deflater.compress(data) + self.deflater.flush(zlib.Z_SYNC_FLUSH)
        self.writer.write(data)

    async def readline(self) -> bytes:
        while b"\n" not in self.buffer:
            data = await asyncio.wait_for(self.reader.read(65536), 5)
            if not data:
                raise EOFError(self.buffer)
            if self.inflater is None:
                self.buffer += data
            else:
                self.wire += data
                self.buffer += self.inflater.decompress(data)
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line + b"\n"

    async def command(self, line: bytes) -> list[bytes]:
        tag = line.split(b" ", 1)[0]
        self.send(line + b"\r\n")
        lines = []
        while not lines or not lines[-1].startswith(tag + b" "):
            lines.append(await self.readline())
        return lines

    async def compress(self) -> None:
        """Log in and turn compression on; the OK arrives in clear, nothing after it."""
        assert (await self.command(b"l LOGIN alice@example.com pw-1"))[-1].endswith(b"COMPRESS=DEFLATE] Logged in.\r\n")
        self.send(b"z COMPRESS DEFLATE\r\n")
        assert await self.readline() == b"z OK DEFLATE active.\r\n"
        self.compressing()

    def compressing(self) -> None:
        """What follows the OK is compressed, including what was read with it."""
        self.inflater = zlib.decompressobj(-15)
        self.wire, self.buffer = self.buffer, self.inflater.decompress(self.buffer)


async def a_session(service) -> object:
    await until(lambda: service.sessions, what="the session")
    return next(iter(service.sessions))


async def select_fetch_idle(store, mailbox, service, client: Client) -> None:
    body = b"All work and no play makes Jack a dull boy.\r\n" * 400
    sent = message("compressed") + body
    await store.deliver(mailbox.id, sent)
    await client.compress()
    assert b"COMPRESS" not in (await client.command(b"c CAPABILITY"))[0]
    replies = await client.command(b"s SELECT INBOX")
    assert b"* 1 EXISTS\r\n" in replies and replies[-1] == b"s OK [READ-WRITE] SELECT completed.\r\n"
    before = len(client.wire)
    replies = await client.command(b"f UID FETCH 1 (FLAGS BODY.PEEK[])")
    assert replies[0] == b"* 1 FETCH (UID 1 FLAGS (\\Recent) BODY[] {%d}\r\n" % len(sent)
    assert b"".join(replies[1:-1]) == sent + b")\r\n"
    assert len(client.wire) - before < len(sent) // 10  # really compressed on the wire
    client.send(b"i IDLE\r\n")
    assert await client.readline() == b"+ idling\r\n"
    await store.deliver(mailbox.id, message("two"))  # the update is flushed out of the compressor
    assert await client.readline() == b"* 2 EXISTS\r\n"
    assert await client.readline() == b"* 2 RECENT\r\n"
    client.send(b"DONE\r\n")
    assert await client.readline() == b"i OK IDLE terminated.\r\n"
    replies = await client.command(b"y COMPRESS DEFLATE")
    assert replies == [b"y NO [COMPRESSIONACTIVE] DEFLATE compression is already active.\r\n"]
    session = await a_session(service)
    layer = session.compressed
    assert isinstance(layer, CompressedTransport) and layer.plain_out > 10 * layer.octets_out / 2
    replies = await client.command(b"o LOGOUT")
    assert replies[0].startswith(b"* BYE") and replies[-1].startswith(b"o OK")


def test_select_fetch_idle_through_deflate_on_a_plain_connection(tmp_path):
    async def main():
        store, mailbox, service, server, port = await start(tmp_path, ImapSettings(**PLAIN))
        await select_fetch_idle(store, mailbox, service, await Client.open(port))
        server.close()
        await store.close()
    asyncio.run(main())


def test_select_fetch_idle_through_deflate_above_starttls(tmp_path, tls):
    """STARTTLS before login, COMPRESS after it: the deflate stream runs inside TLS."""
    async def main():
        store, mailbox, service, server, port = await start(tmp_path, ImapSettings())  # secure login
        service.configure(ImapSettings(), tls, None)
        client = await Client.open(port)
        assert (await client.command(b"t STARTTLS")) == [b"t OK Begin TLS negotiation now.\r\n"]
        await client.writer.start_tls(client_context(False), server_hostname="localhost")
        await select_fetch_idle(store, mailbox, service, client)
        assert client.writer.get_extra_info("ssl_object") is not None
        server.close()
        await store.close()
    asyncio.run(main())


def test_commands_pipelined_with_compress_are_inflated(tmp_path):
    """The client's compressed octets in the same packet as its COMPRESS line."""
    async def main():
        store, mailbox, service, server, port = await start(tmp_path, ImapSettings(**PLAIN))
        client = await Client.open(port)
        await client.command(b"l LOGIN alice@example.com pw-1")
        deflater = zlib.compressobj(6, zlib.DEFLATED, -15)
        client.writer.write(b"z COMPRESS DEFLATE\r\n" + deflater.compress(b"n NOOP\r\n")
                            + deflater.flush(zlib.Z_SYNC_FLUSH))
        assert await client.readline() == b"z OK DEFLATE active.\r\n"
        client.deflater = deflater
        client.compressing()
        assert await client.readline() == b"n OK NOOP completed.\r\n"
        assert (await client.command(b"s SELECT INBOX"))[-1].startswith(b"s OK")
        server.close()
        await store.close()
    asyncio.run(main())


def test_compressed_commands_arriving_an_octet_at_a_time(tmp_path):
    async def main():
        store, mailbox, service, server, port = await start(tmp_path, ImapSettings(**PLAIN))
        client = await Client.open(port)
        await client.compress()
        data = client.deflater.compress(b"a NOOP\r\nb SELECT INBOX\r\n") + client.deflater.flush(zlib.Z_SYNC_FLUSH)
        for octet in data:
            client.writer.write(bytes([octet]))
            await client.writer.drain()
            await asyncio.sleep(0)
        assert await client.readline() == b"a OK NOOP completed.\r\n"
        while not (line := await client.readline()).startswith(b"b "):
            pass
        assert line == b"b OK [READ-WRITE] SELECT completed.\r\n"
        server.close()
        await store.close()
    asyncio.run(main())


def test_corrupt_compressed_input_is_a_bye_not_a_traceback(tmp_path, caplog):
    async def main():
        store, mailbox, service, server, port = await start(tmp_path, ImapSettings(**PLAIN))
        client = await Client.open(port)
        await client.compress()
        session = await a_session(service)
        client.writer.write(b"\xff\xff\xff\xff not deflate")
        bye = await client.readline()
        assert bye.startswith(b"* BYE Cannot read the compressed data: the compressed data is corrupt (")
        assert await asyncio.wait_for(client.reader.read(), 5) == b""
        assert session.ending == "bad-compressed-data"
        server.close()
        await store.close()
    asyncio.run(main())
    assert "Traceback" not in caplog.text and "internal error" not in caplog.text


def test_a_decompression_bomb_is_inflated_as_the_core_takes_it(tmp_path, monkeypatch):
    """32 MB of one octet (some 32 KB compressed) without a line end, then a command: the
    overlong line is refused, the command answered, and never more than the core's input
    limit is inflated at once."""
    largest = []
    inflate = CompressedTransport.inflate

    def spy(self, data: bytes, room: int) -> bytes:
        plain = inflate(self, data, room)
        largest.append(len(plain))
        return plain
    monkeypatch.setattr(CompressedTransport, "inflate", spy)

    async def main():
        store, mailbox, service, server, port = await start(tmp_path, ImapSettings(**PLAIN))
        client = await Client.open(port)
        await client.compress()
        bomb = client.deflater.compress(b"a" * (32 << 20)) + client.deflater.compress(b"\r\nn NOOP\r\n")
        bomb += client.deflater.flush(zlib.Z_SYNC_FLUSH)
        assert len(bomb) < 64 * 1024
        client.writer.write(bomb)
        assert (await client.readline()).startswith(b"* BAD [TOOBIG] Command line too long")
        assert await client.readline() == b"n OK NOOP completed.\r\n"
        server.close()
        await store.close()
    asyncio.run(main())
    assert sum(largest) >= 32 << 20 and max(largest) <= MAX_BUFFERED_INPUT


def test_each_message_is_compressed_on_its_own(tmp_path):
    """The side channel: the second message's FETCH response goes out as exactly the octets it
    compresses to alone, whatever the first message (a secret) holds, and its header fields as
    well: nothing of one message is in the compression history of another."""
    async def wire_of(first_secret: bytes, items: bytes) -> tuple[bytes, list[bytes]]:
        path = tmp_path / first_secret.decode()
        path.mkdir()
        store, mailbox, service, server, port = await start(path, ImapSettings(**PLAIN))
        await store.deliver(mailbox.id, message("token=" + first_secret.decode()))
        await store.deliver(mailbox.id, message("token=guess"))  # the attacker's message
        client = await Client.open(port)
        await client.compress()
        await client.command(b"s EXAMINE INBOX")
        before = len(client.wire)
        replies = await client.command(b"f FETCH 1:2 " + items)
        server.close()
        await store.close()
        return client.wire[before:], replies

    async def main():
        for items in (b"BODY.PEEK[]", b"(UID ENVELOPE BODY.PEEK[HEADER.FIELDS (SUBJECT)])"):
            one, replies = await wire_of(b"s3cr3t-" + items[:4], items)
            two, again = await wire_of(b"guess-" + items[:4], items)
            second = b"".join(replies[replies.index(next(r for r in replies if r.startswith(b"* 2 FETCH"))):-1])
            assert second == b"".join(again[again.index(next(r for r in again if r.startswith(b"* 2 FETCH"))):-1])
            alone = deflate_chunks([second])
            assert alone in one and alone in two  # the same octets on both wires
            assert zlib.decompressobj(-15).decompress(alone) == second  # inflates from that point alone
    asyncio.run(main())


def test_deflate_chunks_resets_the_history_between_chunks():
    secret, other = b"Subject: token=abc123\r\n" * 20, b"Subject: something else\r\n" * 20
    guess = b"Subject: token=abc123\r\n"
    assert deflate_chunks([secret, guess]).endswith(deflate_chunks([guess]))
    assert deflate_chunks([other, guess]).endswith(deflate_chunks([guess]))
    # the one compressor a thread shares is left reset: another session starts from nothing
    deflate_chunks([secret])
    fresh = zlib.compressobj(compression.LEVEL, zlib.DEFLATED, compression.WBITS, compression.MEM_LEVEL)
    assert deflate_chunks([guess]) == fresh.compress(guess) + fresh.flush(zlib.Z_FULL_FLUSH)
    assert zlib.decompressobj(-15).decompress(deflate_chunks([secret, guess])) == secret + guess


def test_the_protocol_log_keeps_the_plain_lines(tmp_path):
    from postroom.server.protocol_log import ProtocolLog

    async def main():
        settings = ImapSettings(protocol_log=True, **PLAIN)
        store, mailbox, service, server, port = await start(tmp_path, settings)
        plog = ProtocolLog(str(tmp_path / "logs"), "IMAP4")
        service.configure(settings, None, plog)
        client = await Client.open(port)
        await client.compress()
        await client.command(b"s SELECT INBOX")
        await client.command(b"o LOGOUT")
        await until(lambda: not service.sessions, what="the session to end")
        server.close()
        await store.close()
        plog.close()

    asyncio.run(main())
    [path] = (tmp_path / "logs").glob("IMAP4-*.log")
    text = path.read_text()
    assert "z COMPRESS DEFLATE" in text and "z OK DEFLATE active." in text
    assert "COMPRESS DEFLATE: compression on" in text
    assert "s SELECT INBOX" in text and "s OK [READ-WRITE] SELECT completed." in text and "* BYE" in text


class Below(asyncio.Transport):
    """The transport under the compressed layer: what was written, and whether it closed."""

    def __init__(self) -> None:
        super().__init__()
        self.written, self.closed = b"", False

    def write(self, data) -> None:
        self.written += bytes(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_write_buffer_size(self) -> int:
        return 0


def test_a_big_write_is_compressed_off_the_loop_and_later_writes_keep_their_order():
    big = bytes(range(256)) * (compression.OFFLOAD_OCTETS // 256 + 4000)  # about 1.1 MB
    tagged = b"f OK FETCH completed.\r\n"

    async def main():
        below, other_below, busy = Below(), Below(), []
        layer = CompressedTransport(below, busy.append)
        other = CompressedTransport(other_below)
        layer.writelines([b"* 1 FETCH (BODY[] {%d}\r\n" % len(big), big, b")\r\n"])
        layer.write(tagged)
        layer.close()  # as a transport's close: what was written goes out first
        assert below.written == b"" and not below.closed and busy == [True]  # the loop was not held
        assert layer.is_closing() and layer.get_write_buffer_size() == len(tagged)
        other.write(b"* OK another session is answered meanwhile\r\n")
        assert other_below.written != b""
        await until(lambda: below.closed, what="the compressed write and the close")
        assert busy == [True, False]
        plain = b"* 1 FETCH (BODY[] {%d}\r\n" % len(big) + big + b")\r\n" + tagged
        assert zlib.decompressobj(-15).decompress(below.written) == plain
        assert below.written.endswith(deflate_chunks([tagged]))  # the tagged reply in a context of its own
        assert (layer.plain_out, layer.octets_out) == (len(plain), len(below.written))
        layer.write(b"after close\r\n")  # dropped, as by a closing transport
        assert zlib.decompressobj(-15).decompress(below.written) == plain
    asyncio.run(main())


def test_a_big_fetch_through_deflate_pauses_the_session_and_arrives_whole(tmp_path):
    async def main():
        store, mailbox, service, server, port = await start(tmp_path, ImapSettings(**PLAIN))
        body = b"".join(b"line %d of a long message, mostly the same words\r\n" % n for n in range(40000))
        sent = message("big") + body  # about 2 MB: compressed on a worker thread
        await store.deliver(mailbox.id, sent)
        client = await Client.open(port)
        await client.compress()
        await client.command(b"s SELECT INBOX")
        session = await a_session(service)
        client.send(b"f FETCH 1 BODY.PEEK[]\r\nn NOOP\r\n")  # the NOOP waits behind the FETCH's octets
        replies = []
        while not replies or not replies[-1].startswith(b"n "):
            replies.append(await client.readline())
        assert replies[0] == b"* 1 FETCH (BODY[] {%d}\r\n" % len(sent)
        assert b"".join(replies[1:-2]) == sent + b")\r\n"
        assert replies[-2:] == [b"f OK FETCH completed.\r\n", b"n OK NOOP completed.\r\n"]
        assert not session.compressing and not session.write_paused
        assert (await client.command(b"o LOGOUT"))[-1].startswith(b"o OK")
        server.close()
        await store.close()
    asyncio.run(main())
