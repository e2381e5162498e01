"""The PROXY protocol header parser: versions 1 and 2, every split of the input, and the
malformed headers a balancer (or an attacker pretending to be one) might send."""
from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postroom.protocol.proxy import V2_SIGNATURE, ProxyHeader, ProxyHeaderError, parse, v1_header, v2_header


@pytest.mark.parametrize("header, client", [
    (b"PROXY TCP4 203.0.113.7 192.0.2.1 51234 110\r\n", ("203.0.113.7", 51234)),
    (b"PROXY TCP6 2001:db8::7 2001:db8::1 51234 995\r\n", ("2001:db8::7", 51234)),
    (v1_header("198.51.100.9", 40000, "10.0.0.1", 25), ("198.51.100.9", 40000)),
])
def test_version_1_names_the_client(header, client):
    data = header + b"USER alice\r\n"
    assert parse(data) == ProxyHeader(len(header), *client, 1)


def test_version_1_unknown_keeps_the_connection_address():
    assert parse(b"PROXY UNKNOWN\r\nEHLO x\r\n") == ProxyHeader(15, None, None, 1)
    assert parse(b"PROXY UNKNOWN ffff:: ffff:: 1 2\r\n") == ProxyHeader(33, None, None, 1)


@pytest.mark.parametrize("client, server", [("203.0.113.7", "192.0.2.1"), ("2001:db8::7", "2001:db8::1")])
def test_version_2_names_the_client(client, server):
    header = v2_header(client, 51234, server, 995)
    assert parse(header + b"\x16\x03\x01") == ProxyHeader(len(header), client, 51234, 2)


def test_version_2_local_and_unspecified_keep_the_connection_address():
    local = V2_SIGNATURE + bytes([0x20, 0x00]) + struct.pack("!H", 0)
    assert parse(local) == ProxyHeader(16, None, None, 2)
    unix = V2_SIGNATURE + bytes([0x21, 0x31]) + struct.pack("!H", 216) + b"\0" * 216
    assert parse(unix) == ProxyHeader(16 + 216, None, None, 2)


def test_version_2_skips_tlvs():
    header = v2_header("203.0.113.7", 1, "192.0.2.1", 2)
    tlv = b"\x04\x00\x03abc"  # PP2_TYPE_NOOP
    with_tlv = header[:14] + struct.pack("!H", 12 + len(tlv)) + header[16:] + tlv
    assert parse(with_tlv + b"rest") == ProxyHeader(len(with_tlv), "203.0.113.7", 1, 2)


@given(st.sampled_from([v1_header("203.0.113.7", 5, "192.0.2.1", 110),
                        v2_header("2001:db8::7", 5, "2001:db8::1", 110)]), st.data())
def test_every_prefix_asks_for_more(header, data):
    cut = data.draw(st.integers(0, len(header) - 1))
    assert parse(header[:cut]) is None
    assert parse(header).length == len(header)


@pytest.mark.parametrize("data, reason", [
    (b"USER alice\r\n", "did not start"),
    (b"EHLO client.example\r\n", "did not start"),
    (b"\x16\x03\x01\x02\x00", "did not start"),  # TLS straight away: no balancer in front
    (b"PROXY TCP4 203.0.113.7 192.0.2.1 51234\r\n", "malformed"),
    (b"PROXY UDP4 203.0.113.7 192.0.2.1 1 2\r\n", "malformed"),
    (b"PROXY TCP4 999.0.113.7 192.0.2.1 1 2\r\n", "bad address"),
    (b"PROXY TCP4 2001:db8::7 192.0.2.1 1 2\r\n", "not an IPv4"),
    (b"PROXY TCP4 203.0.113.7 192.0.2.1 65536 2\r\n", "bad port"),
    (b"PROXY TCP4 203.0.113.7 192.0.2.1 0080 2\r\n", "bad port"),
    (b"PROXY TCP4 \xff.0.113.7 192.0.2.1 1 2\r\n", "ASCII"),
    (b"PROXY " + b"x" * 120, "longer than 107"),
    (V2_SIGNATURE + bytes([0x11, 0x11]) + struct.pack("!H", 12) + b"\0" * 12, "unknown version"),
    (V2_SIGNATURE + bytes([0x22, 0x11]) + struct.pack("!H", 12) + b"\0" * 12, "unknown command"),
    (V2_SIGNATURE + bytes([0x21, 0x11]) + struct.pack("!H", 4) + b"\0" * 4, "truncated"),
    (V2_SIGNATURE + bytes([0x21, 0x21]) + struct.pack("!H", 12) + b"\0" * 12, "truncated"),
    (V2_SIGNATURE + bytes([0x21, 0x11]) + struct.pack("!H", 60000), "too long"),
])
def test_malformed_headers_are_refused_with_a_reason(data, reason):
    with pytest.raises(ProxyHeaderError, match=reason):
        parse(data)


@given(st.binary(max_size=300))
def test_any_input_is_a_header_a_wait_or_a_refusal(data):
    try:
        result = parse(data)
    except ProxyHeaderError:
        return
    assert result is None or 0 < result.length <= len(data)
