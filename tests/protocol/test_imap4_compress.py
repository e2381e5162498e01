"""IMAP4 core: COMPRESS=DEFLATE (RFC 4978) as bytes in, replies and events out: advertised once
logged in and until it is on, the OK and the event, the refusals, and the octets pipelined after
the command handed over as compressed data (never read as commands)."""
from __future__ import annotations

import zlib

from imap4_driver import PLAIN_LOGIN, replies, run, talk

from postroom.protocol.imap4.core import NEED_DATA, Authenticate, ImapServer, StartCompression

LOGIN = b"a1 LOGIN alice secret\r\n"


def test_advertised_after_login_only_and_no_longer_once_on():
    out, events = talk(b"c0 CAPABILITY\r\n" + LOGIN + b"c1 CAPABILITY\r\nz COMPRESS DEFLATE\r\n")
    lines = replies(out)
    assert b"COMPRESS" not in lines[0]  # before login: credentials are never compressed
    assert lines[2].startswith(b"a1 OK [CAPABILITY ") and lines[2].endswith(b" COMPRESS=DEFLATE] Logged in.")
    assert lines[3].endswith(b" COMPRESS=DEFLATE")
    assert lines[5] == b"z OK DEFLATE active."
    assert events == [Authenticate("a1", "LOGIN", "alice", "secret"), StartCompression("z")]


def test_capability_once_compressed_no_longer_lists_it():
    conn = ImapServer(PLAIN_LOGIN)
    conn.receive_data(LOGIN)
    assert isinstance(conn.next_event(), Authenticate)
    conn.auth_succeeded()
    conn.receive_data(b"z compress deflate\r\n")
    assert conn.next_event() == StartCompression("z", b"")
    assert conn.compressed
    conn.receive_data(b"c CAPABILITY\r\n")
    assert conn.next_event() is NEED_DATA
    out = b"".join(conn.data_to_send())
    assert b"z OK DEFLATE active.\r\n* CAPABILITY IMAP4rev1 " in out
    assert b"COMPRESS" not in out.split(b"* CAPABILITY")[1]


def test_refusals_before_login_twice_unknown_and_malformed():
    out, events = talk(b"b0 COMPRESS DEFLATE\r\n" + LOGIN + b"b1 COMPRESS LZW\r\nb2 COMPRESS\r\n"
                       b"b3 COMPRESS DEFLATE extra\r\nok COMPRESS DEFLATE\r\n")
    assert replies(out)[0] == b"b0 BAD COMPRESS is not valid before login: log in first."
    assert replies(out)[2:] == [
        b"b1 BAD Unknown compression mechanism LZW: DEFLATE is the one supported.",
        b"b2 BAD Expected a compression mechanism.",
        b"b3 BAD Unexpected characters at the end of COMPRESS.",
        b"ok OK DEFLATE active.",
    ]
    assert events[-1] == StartCompression("ok")


def test_twice_is_no_compressionactive():
    conn = ImapServer(PLAIN_LOGIN)
    conn.receive_data(LOGIN)
    conn.next_event()
    conn.auth_succeeded()
    conn.receive_data(b"z COMPRESS DEFLATE\r\n")
    assert isinstance(conn.next_event(), StartCompression)
    conn.receive_data(b"y COMPRESS DEFLATE\r\nx COMPRESS FOO\r\n")
    assert conn.next_event() is NEED_DATA
    out = b"".join(conn.data_to_send()).split(b"\r\n")
    assert out[-3:] == [b"y NO [COMPRESSIONACTIVE] DEFLATE compression is already active.",
                        b"x BAD Unknown compression mechanism FOO: DEFLATE is the one supported.", b""]


def test_valid_in_the_selected_state_and_not_while_idling():
    out, events, _ = run(LOGIN + b"s SELECT INBOX\r\ni IDLE\r\nz COMPRESS DEFLATE\r\nDONE\r\nz COMPRESS DEFLATE\r\n")
    assert b"* BAD Expected DONE to end IDLE." in replies(out)  # IDLE reads DONE only
    assert replies(out)[-1] == b"z OK DEFLATE active."
    assert events[-1] == StartCompression("z")


def test_octets_pipelined_after_the_command_are_handed_over_not_executed():
    conn = ImapServer(PLAIN_LOGIN)
    conn.receive_data(LOGIN)
    conn.next_event()
    conn.auth_succeeded()
    deflater = zlib.compressobj(6, zlib.DEFLATED, -15)
    compressed = deflater.compress(b"a NOOP\r\n") + deflater.flush(zlib.Z_SYNC_FLUSH)
    conn.receive_data(b"z COMPRESS DEFLATE\r\n" + compressed + b"\r\nb NOOP\r\n")
    event = conn.next_event()
    assert event == StartCompression("z", compressed + b"\r\nb NOOP\r\n")
    assert conn.next_event() is NEED_DATA  # nothing of it was read as a command
    assert b"".join(conn.data_to_send()).endswith(b"z OK DEFLATE active.\r\n")
    assert conn.bytes_buffered == 0
