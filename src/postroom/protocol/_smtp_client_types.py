"""SMTP client value types: the envelope to send, the events, and the state names.

Public through `postroom.protocol.smtp_client`; kept apart so the state machine stays short.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Sequence

from ._smtp_client_replies import Capabilities, Reply

__all__ = [
    "AuthDone", "Closed", "ContentDone", "EhloDone", "Envelope", "Event", "Greeting", "ProtocolViolation",
    "RecipientSpec", "RecipientsDone", "RsetDone", "State", "TlsReady",
]

# An address goes into a command line as it is: a CR or LF in it would inject a command.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NOTIFY = frozenset({"SUCCESS", "FAILURE", "DELAY"})
_ADDR_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*")


def _check_address(name: str, address: str) -> None:
    if _CONTROL.search(address) or "<" in address or ">" in address:
        raise ValueError(f"{name} {address!r} has a control character or an angle bracket")


@dataclass(frozen=True)
class RecipientSpec:
    """One recipient with its DSN parameters (RFC 3461), given only to servers offering DSN.

    `notify`: "NEVER" or a comma list of SUCCESS, FAILURE, DELAY (None: not given).
    `orcpt`: the original recipient as "addr-type;address", decoded (e.g. "rfc822;bob@example.com");
    the client xtext-encodes the address part."""

    address: str
    notify: str | None = None
    orcpt: str | None = None

    def __post_init__(self) -> None:
        _check_address("recipient", self.address)
        if self.notify is not None:
            words = self.notify.upper().split(",")
            if not (words == ["NEVER"] or (set(words) <= _NOTIFY and len(set(words)) == len(words))):
                raise ValueError(f"NOTIFY {self.notify!r}: NEVER, or a list of SUCCESS, FAILURE, DELAY")
            object.__setattr__(self, "notify", ",".join(words))
        if self.orcpt is not None:
            kind, semicolon, address = self.orcpt.partition(";")
            if not (semicolon and _ADDR_TYPE.fullmatch(kind) and address) or _CONTROL.search(address):
                raise ValueError(f"ORCPT {self.orcpt!r}: addr-type;address, e.g. rfc822;bob@example.com")


@dataclass(frozen=True)
class Envelope:
    """What `begin()` sends: sender ("" for the null reverse-path <>), recipients (at least one),
    the message's size in octets (for SIZE=), whether its body has 8-bit octets (BODY=8BITMIME),
    whether it needs SMTPUTF8 (also implied by a non-ASCII address), and the DSN RET (FULL or
    HDRS) and ENVID, sent only when the server offers DSN."""

    sender: str
    recipients: Sequence[RecipientSpec]
    size: int
    body_8bit: bool = False
    smtputf8: bool = False
    ret: str | None = None
    envid: str | None = None

    def __post_init__(self) -> None:
        _check_address("sender", self.sender)
        object.__setattr__(self, "recipients", tuple(self.recipients))
        if not self.recipients or not all(isinstance(r, RecipientSpec) for r in self.recipients):
            raise ValueError("an envelope needs at least one RecipientSpec")
        if self.size < 0:
            raise ValueError("size must be 0 or more octets")
        if self.ret is not None:
            if self.ret.upper() not in ("FULL", "HDRS"):
                raise ValueError(f"RET {self.ret!r}: FULL or HDRS")
            object.__setattr__(self, "ret", self.ret.upper())
        if self.envid is not None and not (
            0 < len(self.envid) <= 100 and self.envid.isascii() and self.envid.isprintable()
        ):
            raise ValueError("ENVID: 1 to 100 printable ASCII characters")

    @property
    def needs_smtputf8(self) -> bool:
        return self.smtputf8 or not (self.sender.isascii() and all(r.address.isascii() for r in self.recipients))


# ---------------------------------------------------------------------------------- events
@dataclass(frozen=True)
class Greeting:
    """The server's greeting. Not positive (e.g. 554): this host will not take mail now; call
    `quit()` and try the next one (as Postfix does by default: a 5xx greeting is not a bounce)."""

    reply: Reply


@dataclass(frozen=True)
class EhloDone:
    """The answer to EHLO, or to HELO when EHLO was refused with 5xx (then `capabilities.esmtp`
    is False and nothing is offered). Not positive: this host is unusable; `quit()`."""

    reply: Reply
    capabilities: Capabilities


@dataclass(frozen=True)
class TlsReady:
    """The answer to STARTTLS. Positive: start TLS on the socket, then `tls_started()` (or
    `abort()` if the handshake fails). Otherwise the session goes on in clear, READY."""

    reply: Reply


@dataclass(frozen=True)
class AuthDone:
    """The outcome of AUTH: positive (235) means authenticated."""

    reply: Reply


@dataclass(frozen=True)
class RecipientsDone:
    """The answers to one transaction's MAIL, RCPTs and (unless CHUNKING is used) DATA.

    `rcpt_replies` has one reply per envelope recipient, in order: the RCPT's answer, or MAIL's
    when MAIL was refused (a recipient then fails as its sender did). `data_reply`: DATA's
    answer, None when DATA was not sent (BDAT, or nobody accepted before DATA); when recipients
    were accepted but no content is wanted, it is the refusal that ends them (DATA's, or a local
    one when the connection was lost before the content could be sent). When
    `content_wanted`, call `send_content()`: a `ContentDone` follows, which decides every
    recipient whose RCPT was accepted (unless the adapter gives a BDAT transaction up with
    `rset()` or `quit()` instead). Otherwise the transaction is over (the client resets it
    on the server itself) and `final_replies()` decides every recipient."""

    mail_reply: Reply
    rcpt_replies: tuple[Reply, ...]
    data_reply: Reply | None
    content_wanted: bool
    #: What the client chose on its own, e.g. an 8-bit body sent without 8BITMIME (for logs).
    notes: tuple[str, ...] = ()

    def final_replies(self) -> list[Reply | None]:
        """Per recipient, the reply that decides it now; None: waits for the ContentDone."""
        if self.content_wanted:
            return [None if r.positive else r for r in self.rcpt_replies]
        data = self.data_reply
        return [data if r.positive and data is not None else r for r in self.rcpt_replies]


@dataclass(frozen=True)
class ContentDone:
    """The answer to the end of the message content: the outcome of every accepted recipient.
    A local 4.4.2 reply after the content was sent means the connection was lost before the
    answer: the message may have been delivered (SMTP's duplicate window)."""

    reply: Reply


@dataclass(frozen=True)
class RsetDone:
    """The answer to an `rset()` (e.g. the liveness probe before reusing a cached connection)."""

    reply: Reply


@dataclass(frozen=True)
class ProtocolViolation:
    """The server broke the protocol (a malformed or unexpected reply). Events for the commands
    still out follow, with local replies, then `Closed`: close the socket without QUIT."""

    text: str


@dataclass(frozen=True)
class Closed:
    """The last event: close the socket. `reply`: the answer to QUIT, or the 421 the server
    closed with; None when the connection ended otherwise (EOF, `abort()`, violation)."""

    reply: Reply | None = field(default=None)


Event = Greeting | EhloDone | TlsReady | AuthDone | RecipientsDone | ContentDone | RsetDone | ProtocolViolation | Closed


class State(Enum):
    """What the client is doing, and so which command methods the adapter may call."""

    CONNECTED = "connected"  # waiting for the greeting
    GREETED = "greeted"  # ehlo()
    REJECTED = "rejected"  # greeting or EHLO/HELO refused: quit()
    EHLO = "ehlo"  # EHLO (or HELO) out
    READY = "ready"  # starttls(), auth*(), begin(), rset(), quit()
    STARTTLS = "starttls"  # STARTTLS out
    TLS_STARTING = "tls-starting"  # TlsReady was positive: tls_started()
    AUTH = "auth"  # AUTH exchange out
    ENVELOPE = "envelope"  # MAIL, RCPT (and DATA) out
    CONTENT = "content"  # RecipientsDone wanted content: send_content()
    CONTENT_SENT = "content-sent"  # waiting for the answer to the content
    RSET = "rset"  # RSET out
    QUIT = "quit"  # QUIT out
    CLOSED = "closed"
