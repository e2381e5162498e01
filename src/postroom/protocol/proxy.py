"""The PROXY protocol header (HAProxy's, versions 1 and 2), sans I/O.

A load balancer that connects on behalf of a client first sends one header naming the
client's address; the mail protocol follows. `parse(data)` reads the start of a connection
and says how many octets the header takes and which client it names.

- Version 1: one text line, `PROXY TCP4|TCP6 SRC DST SPORT DPORT\\r\\n` or `PROXY UNKNOWN...\\r\\n`,
  at most 107 octets.
- Version 2: a 12-octet signature, a version/command octet, a family octet, a 16-bit length,
  then the addresses (and TLVs, which we skip). LOCAL (a health check by the balancer itself)
  and UNSPEC/UNIX families name no client: the connection's own address stands.
"""
from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V1_PREFIX = b"PROXY "
V1_MAX = 107  # the specification's longest version-1 line, CRLF included
V2_MAX_ADDRESSES = 1024  # we accept a few TLVs; a balancer never sends more than this
MAX_HEADER = 16 + V2_MAX_ADDRESSES


class ProxyHeaderError(ValueError):
    """The connection did not start with a valid PROXY header (the text says why)."""


@dataclass(frozen=True)
class ProxyHeader:
    length: int  # octets the header takes at the start of the stream
    client_ip: str | None  # None: no client named (LOCAL, UNKNOWN): keep the connection's own
    client_port: int | None = None
    version: int = 1


def parse(data: bytes) -> ProxyHeader | None:
    """The header at the start of `data`, or None when more octets are needed to tell."""
    if not data:
        return None
    if V2_SIGNATURE.startswith(data[:len(V2_SIGNATURE)]):
        return None if len(data) < len(V2_SIGNATURE) else _parse_v2(data)
    if V1_PREFIX.startswith(data[:len(V1_PREFIX)]):
        return None if len(data) < len(V1_PREFIX) else _parse_v1(data)
    raise ProxyHeaderError("the connection did not start with a PROXY protocol header")


def _parse_v1(data: bytes) -> ProxyHeader | None:
    end = data.find(b"\r\n", 0, V1_MAX)
    if end < 0:
        if len(data) >= V1_MAX:
            raise ProxyHeaderError("PROXY v1 header longer than 107 octets")
        return None
    try:
        parts = data[:end].decode("ascii").split(" ")
    except UnicodeDecodeError:
        raise ProxyHeaderError("PROXY v1 header is not ASCII") from None
    if len(parts) >= 2 and parts[0] == "PROXY" and parts[1] == "UNKNOWN":
        return ProxyHeader(end + 2, None, None, 1)
    if len(parts) != 6 or parts[0] != "PROXY" or parts[1] not in ("TCP4", "TCP6"):
        raise ProxyHeaderError("PROXY v1 header is malformed (want PROXY TCP4|TCP6 SRC DST SPORT DPORT)")
    family, source, destination, source_port, destination_port = parts[1:]
    version = 4 if family == "TCP4" else 6
    for text in (source, destination):
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            raise ProxyHeaderError(f"PROXY v1 header has a bad address {text[:40]!r}") from None
        if address.version != version:
            raise ProxyHeaderError(f"PROXY v1 header: {text} is not an IPv{version} address")
    for text in (source_port, destination_port):
        if not text.isdigit() or len(text) > 5 or int(text) > 65535 or (len(text) > 1 and text[0] == "0"):
            raise ProxyHeaderError(f"PROXY v1 header has a bad port {text[:10]!r}")
    return ProxyHeader(end + 2, str(ipaddress.ip_address(source)), int(source_port), 1)


def _parse_v2(data: bytes) -> ProxyHeader | None:
    if len(data) < 16:
        return None
    version_command, family, length = data[12], data[13], struct.unpack("!H", data[14:16])[0]
    if version_command >> 4 != 2:
        raise ProxyHeaderError("PROXY v2 header has an unknown version")
    command = version_command & 0x0F
    if command not in (0, 1):
        raise ProxyHeaderError("PROXY v2 header has an unknown command")
    if length > V2_MAX_ADDRESSES:
        raise ProxyHeaderError(f"PROXY v2 header is too long ({length} octets of addresses)")
    total = 16 + length
    if len(data) < total:
        return None
    if command == 0:  # LOCAL: the balancer's own connection (a health check)
        return ProxyHeader(total, None, None, 2)
    address_family, transport = family >> 4, family & 0x0F
    body = data[16:total]
    if address_family == 1 and transport in (1, 2):  # AF_INET, STREAM or DGRAM
        if length < 12:
            raise ProxyHeaderError("PROXY v2 IPv4 addresses are truncated")
        source = ipaddress.IPv4Address(body[0:4])
        port = struct.unpack("!H", body[8:10])[0]
        return ProxyHeader(total, str(source), port, 2)
    if address_family == 2 and transport in (1, 2):  # AF_INET6
        if length < 36:
            raise ProxyHeaderError("PROXY v2 IPv6 addresses are truncated")
        source6 = ipaddress.IPv6Address(body[0:16])
        port = struct.unpack("!H", body[32:34])[0]
        return ProxyHeader(total, str(source6.ipv4_mapped or source6), port, 2)
    return ProxyHeader(total, None, None, 2)  # UNSPEC or UNIX: no client address to use


def v1_header(client_ip: str, client_port: int, server_ip: str, server_port: int) -> bytes:
    """A version-1 header (for tests and the doctor's probes)."""
    family = "TCP6" if ipaddress.ip_address(client_ip).version == 6 else "TCP4"
    return f"PROXY {family} {client_ip} {server_ip} {client_port} {server_port}\r\n".encode()


def v2_header(client_ip: str, client_port: int, server_ip: str, server_port: int) -> bytes:
    """A version-2 PROXY header for TCP (for tests and the doctor's probes)."""
    source, destination = ipaddress.ip_address(client_ip), ipaddress.ip_address(server_ip)
    family = 0x11 if source.version == 4 else 0x21
    addresses = source.packed + destination.packed + struct.pack("!HH", client_port, server_port)
    return V2_SIGNATURE + bytes([0x21, family]) + struct.pack("!H", len(addresses)) + addresses
