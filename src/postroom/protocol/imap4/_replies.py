"""IMAP4 response lines the core writes itself: tagged status responses and BYE."""
from __future__ import annotations

__all__ = ["CONTINUE_LITERAL", "Bye", "response"]

CONTINUE_LITERAL = b"+ Ready for literal data\r\n"


class Bye:
    """A `* BYE` line for CoreBase.shutdown()."""

    def __init__(self, text: str) -> None:
        self.text = text

    def to_bytes(self) -> bytes:
        return response("*", "BYE", self.text)


def response(tag: str, status: str, text: str, code: str | None = None) -> bytes:
    """`tag status [code] text` as a line; CR/LF in `text` become spaces."""
    line = f"{tag} {status} [{code}] {text}" if code else f"{tag} {status} {text}"
    if "\r" in line or "\n" in line:
        line = line.replace("\r", " ").replace("\n", " ")
    return line.encode("utf-8") + b"\r\n"
