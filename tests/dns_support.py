"""An in-process DNS server for tests: a recursive resolver's answers from a zone given as a dict.

    zone = {
        "mx-ok.test": {"MX": ["10 mx1.mx-ok.test."]},
        "mx1.mx-ok.test": {"A": ["127.0.0.21"], "AAAA": ["::1"], "ttl": 60},
        "www.mx-ok.test": {"CNAME": ["mx1.mx-ok.test."]},
    }
    async with FakeDns(zone, servfail={"servfail.test"}, timeout={"dns-timeout.test"},
                       authenticated={"tls-peer.test"}) as dns:
        resolver = Resolver([dns.address])          # "127.0.0.1:<port>"
        ...
        assert dns.queries[-1] == Query("mx-ok.test", "MX", "udp", do=True)

It listens on 127.0.0.1 and a free high port, on UDP and TCP (the same port), and answers as a
validating recursive resolver would: records by owner name and type (text rdata, as in a zone
file; relative names are relative to the root), CNAMEs followed within the zone, NXDOMAIN for a
name that neither exists nor has a descendant (an empty non-terminal answers NOERROR with no
data), and a synthesised SOA for the last label (`test.`) in the authority section of negative
answers, whose TTL and minimum are `negative_ttl`, so a resolver can cache them (RFC 2308).

Per-name behaviours (a name matches itself and every name below it):
- `servfail`: answer SERVFAIL;
- `timeout`: never answer (UDP: drop the query; TCP: keep the connection open, silent);
- `truncate`: answer over UDP with the TC bit and no records, so the client retries over TCP;
- `authenticated`: set the AD bit when the query asks for DNSSEC data (DO) or for AD (RFC 6840
  5.7), as a validating resolver does for a signed zone.

`queries` records every query received (name, type, transport, DO bit), so a test can see what
a cache saved; `zone` may be changed while the server runs. `running_fake_dns(...)` runs the
same server on a thread with its own event loop, for synchronous tests (the CLI, subprocesses),
and the `fake_dns` fixture is a factory of those, stopped after the test.
"""
from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from dataclasses import dataclass
from typing import Iterable, Iterator

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest

Zone = dict[str, dict[str, object]]


@dataclass(frozen=True)
class Query:
    name: str
    rdtype: str
    transport: str  # "udp" or "tcp"
    do: bool = False


def _norm(name: str) -> str:
    return name.strip().rstrip(".").lower()


def _under(name: str, names: set[str]) -> bool:
    labels = name.split(".")
    return any(".".join(labels[i:]) in names for i in range(len(labels)))


class FakeDns:
    """See the module's docstring. Use as `async with FakeDns(zone, ...) as dns:`."""

    def __init__(self, zone: Zone, *, servfail: Iterable[str] = (), timeout: Iterable[str] = (),
                 truncate: Iterable[str] = (), authenticated: Iterable[str] = (), ttl: int = 300,
                 negative_ttl: int = 60, host: str = "127.0.0.1") -> None:
        self.zone = zone
        self.servfail = {_norm(n) for n in servfail}
        self.timeout = {_norm(n) for n in timeout}
        self.truncate = {_norm(n) for n in truncate}
        self.authenticated = {_norm(n) for n in authenticated}
        self.ttl = ttl
        self.negative_ttl = negative_ttl
        self.host = host
        self.port = 0
        self.queries: list[Query] = []
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.base_events.Server | None = None
        self._tcp_writers: set[asyncio.StreamWriter] = set()

    @property
    def address(self) -> str:
        """The server as the resolver's `servers` setting names it: "127.0.0.1:<port>"."""
        return f"{self.host}:{self.port}"

    def queries_for(self, name: str, rdtype: str | None = None) -> list[Query]:
        name = _norm(name)
        return [q for q in self.queries if q.name == name and (rdtype is None or q.rdtype == rdtype)]

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> "FakeDns":
        loop = asyncio.get_running_loop()
        for _ in range(50):  # a free UDP port whose TCP twin is free too
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind((self.host, 0))
            port = sock.getsockname()[1]
            try:
                self._tcp = await asyncio.start_server(self._serve_tcp, self.host, port)
            except OSError:
                sock.close()
                continue
            self._udp, _ = await loop.create_datagram_endpoint(lambda: _UdpProtocol(self), sock=sock)
            self.port = port
            return self
        raise RuntimeError("no free port for the fake DNS server")

    async def stop(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
            for writer in list(self._tcp_writers):
                writer.close()
            await self._tcp.wait_closed()

    async def __aenter__(self) -> "FakeDns":
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- answering -------------------------------------------------------------------------------

    def answer(self, wire: bytes, transport: str) -> bytes | None:
        """The response to one query in wire form, or None to stay silent."""
        try:
            query = dns.message.from_wire(wire)
        except Exception:
            return None  # garbage: a resolver would drop it too
        if not query.question:
            return None
        question = query.question[0]
        name = _norm(question.name.to_text())
        rdtype = dns.rdatatype.to_text(question.rdtype)
        do = bool(query.ednsflags & dns.flags.DO)
        self.queries.append(Query(name, rdtype, transport, do))
        if _under(name, self.timeout):
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.RA
        if _under(name, self.servfail):
            response.set_rcode(dns.rcode.SERVFAIL)
            return response.to_wire()
        if transport == "udp" and _under(name, self.truncate):
            response.flags |= dns.flags.TC
            return response.to_wire()
        authenticated = True
        owner = name
        for _ in range(8):  # CNAME chain, as a recursive resolver returns it
            authenticated = authenticated and _under(owner, self.authenticated)
            records = self._records(owner)
            if "CNAME" in records and rdtype != "CNAME":
                target = self._add(response, owner, "CNAME", records)
                owner = _norm(target)
                continue
            if rdtype in records:
                self._add(response, owner, rdtype, records)
            elif not records and not self._has_descendant(owner):
                response.set_rcode(dns.rcode.NXDOMAIN)
                self._add_soa(response, owner)
            else:
                self._add_soa(response, owner)
            break
        if authenticated and (do or query.flags & dns.flags.AD):
            response.flags |= dns.flags.AD
        return response.to_wire(max_size=65535 if transport == "tcp" else 4096)

    def _records(self, name: str) -> dict[str, object]:
        for owner, records in self.zone.items():
            if _norm(owner) == name:
                return records
        return {}

    def _has_descendant(self, name: str) -> bool:
        suffix = "." + name
        return any(_norm(owner).endswith(suffix) for owner in self.zone)

    def _add(self, response: dns.message.Message, owner: str, rdtype: str, records: dict[str, object]) -> str:
        ttl = int(records.get("ttl", self.ttl))  # type: ignore[call-overload]
        texts = records[rdtype]
        assert isinstance(texts, list), f"{owner} {rdtype}: a list of rdata texts"
        rrset = dns.rrset.from_text_list(owner + ".", ttl, "IN", rdtype, texts)
        response.answer.append(rrset)
        return rrset[0].to_text() if rdtype == "CNAME" else ""

    def _add_soa(self, response: dns.message.Message, owner: str) -> None:
        apex = owner.split(".")[-1] + "."
        soa = f"ns.{apex} hostmaster.{apex} 1 3600 600 86400 {self.negative_ttl}"
        response.authority.append(dns.rrset.from_text(apex, self.negative_ttl, "IN", "SOA", soa))

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._tcp_writers.add(writer)
        try:
            while True:
                length = struct.unpack("!H", await reader.readexactly(2))[0]
                reply = self.answer(await reader.readexactly(length), "tcp")
                if reply is None:
                    await reader.read()  # stay silent until the client gives up
                    return
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._tcp_writers.discard(writer)
            writer.close()


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: FakeDns) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = self.server.answer(data, "udp")
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)


@contextlib.contextmanager
def running_fake_dns(zone: Zone, **behaviours: object) -> Iterator[FakeDns]:
    """The same server on a thread of its own (its own event loop), for synchronous tests."""
    loop = asyncio.new_event_loop()
    server = FakeDns(zone, **behaviours)  # type: ignore[arg-type]
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.start())
        ready.set()
        loop.run_forever()
        loop.run_until_complete(server.stop())
        loop.close()

    thread = threading.Thread(target=run, name="fake-dns", daemon=True)
    thread.start()
    if not ready.wait(10):
        raise RuntimeError("the fake DNS server did not start")
    try:
        yield server
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


@pytest.fixture
def fake_dns():
    """`fake_dns(zone, **behaviours)` starts a FakeDns on a thread (see `running_fake_dns`); every
    server started is stopped after the test. Import the fixture into the test module to use it."""
    with contextlib.ExitStack() as stack:
        yield lambda zone, **behaviours: stack.enter_context(running_fake_dns(zone, **behaviours))


# The relay lab's fake domains (/work/shared/bench/relay-lab, dns/records.py) with the behaviour
# its README documents, for tests that want the same answers. Addresses are the lab's.
LAB_ZONE: Zone = {
    "mx-ok.test": {"MX": ["10 mx1.mx-ok.test."]},
    "mx1.mx-ok.test": {"A": ["127.0.0.21"]},
    "mx-fallback.test": {"MX": ["10 mx1.mx-fallback.test.", "20 mx2.mx-fallback.test."]},
    "mx1.mx-fallback.test": {"A": ["127.0.0.23"]},
    "mx2.mx-fallback.test": {"A": ["127.0.0.21"]},
    "null-mx.test": {"MX": ["0 ."], "A": ["127.0.0.21"]},
    "a-only.test": {"A": ["127.0.0.21"]},
    "mx-nohost.test": {"MX": ["10 missing.mx-nohost.test."]},
    "tls-peer.test": {"MX": ["10 mx.tls-peer.test."]},
    "mx.tls-peer.test": {"A": ["127.0.0.30"]},
    "_25._tcp.mx.tls-peer.test": {"TLSA": ["3 1 1 " + "ab" * 32]},
    "tls-badtlsa.test": {"MX": ["10 mx.tls-badtlsa.test."]},
    "mx.tls-badtlsa.test": {"A": ["127.0.0.30"]},
    "_25._tcp.mx.tls-badtlsa.test": {"TLSA": ["3 1 1 " + "00" * 32]},
}
LAB_BEHAVIOURS: dict[str, set[str]] = {
    "servfail": {"servfail.test"},
    "timeout": {"dns-timeout.test"},
    "authenticated": {"tls-peer.test", "tls-badtlsa.test"},
}
