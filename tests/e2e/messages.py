"""Test messages in wire form."""
from __future__ import annotations

import os


def message(subject: str, body: str = "Hello.\r\n", extra: bytes = b"", sender: str = "sender@example.net") -> bytes:
    """`sender` in the From field: an authenticated submission may use only its own address (or a grant)."""
    return (f"From: {sender}\r\nTo: someone@example.com\r\nSubject: {subject}\r\n"
            f"Message-ID: <{os.urandom(6).hex()}@example.net>\r\n\r\n{body}").encode() + extra


def big_message(size: int) -> bytes:
    """~size bytes, with lines that start with a dot (dot-stuffing) and 8-bit bytes."""
    line = b".starts with a dot and has 8-bit \xe9\xe8 bytes " + b"x" * 60 + b"\r\n"
    body = line * (size // len(line))
    return message("big").replace(b"Hello.\r\n", b"") + body
