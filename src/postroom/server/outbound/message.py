"""The queued message as it leaves: what a relay must not pass on."""
from __future__ import annotations


def without_return_path(body: bytes) -> bytes:
    """The stored copy starts with the Return-Path the final delivery adds (local mailboxes share
    it); a relay must not pass it on (RFC 5321 4.4), so it goes, with any folded lines."""
    if body[:12].lower() != b"return-path:":
        return body
    end = body.find(b"\r\n")
    while end >= 0 and body[end + 2:end + 3] in (b" ", b"\t"):
        end = body.find(b"\r\n", end + 2)
    return body[end + 2:] if end >= 0 else body
