"""SMTP core value types: events, the envelope, configuration and the state names.

Public through `postroom.protocol.smtp`; kept apart so the state machine module stays short.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from ._common import NEED_DATA, PAUSED, LocalProtocolError, _Sentinel  # noqa: F401
from ._smtp_dsn import NO_DSN as NO_DSN, RecipientDsn as RecipientDsn  # re-exported by smtp.py

_CONTROL = frozenset(chr(c) for c in range(32)) | {"\x7f"}


# ---------------------------------------------------------------------------------- events
@dataclass(frozen=True)
class Authenticate:
    """Verify credentials; answer with `auth_succeeded()` or `auth_failed(failure)`."""

    username: str
    password: str = field(repr=False)
    mechanism: str  # "PLAIN" or "LOGIN"
    authzid: str = ""  # PLAIN only; empty when the client sent none


@dataclass(frozen=True)
class StartTls:
    """`220 2.0.0 Ready to start TLS` is queued: flush it, start TLS, call `tls_started()`."""


@dataclass(frozen=True)
class CheckSender:
    """An authenticated session starts a transaction (MAIL) as `sender`, which the core found
    it may send as (its own address or a send-as grant): may it send now (rate limits)?
    Answer `sender_accepted()` or `sender_rejected(reply)` (e.g. 450 4.7.0). Anonymous
    sessions never get this event: their MAIL is answered by the core alone."""

    sender: str
    user: str  # the authenticated username


@dataclass(frozen=True)
class CheckRecipient:
    """May `address` receive mail from `sender`? Answer `recipient_accepted()` or
    `recipient_rejected(reply)`. `address` is the mailbox inside <> as sent (case kept)."""

    address: str
    sender: str


@dataclass(frozen=True)
class Envelope:
    """Everything about a message except its content, as the client declared it."""

    sender: str  # "" for the null reverse-path <>
    recipients: tuple[str, ...]  # the accepted ones, in order
    helo: str
    protocol: str  # RFC 3848: SMTP, ESMTP, ESMTPS, ESMTPA or ESMTPSA
    tls: bool
    authenticated: str | None  # the username, None for an anonymous session
    smtputf8: bool
    body: str  # "7BIT" or "8BITMIME"
    size_declared: int | None  # MAIL's SIZE= parameter
    # DSN (RFC 3461): MAIL's RET ("FULL"/"HDRS") and ENVID (decoded), None when not given;
    # `dsn`: each recipient's NOTIFY and ORCPT, aligned with `recipients` (() means none had any).
    ret: str | None = None
    envid: str | None = None
    dsn: tuple[RecipientDsn, ...] = ()

    def recipient_dsn(self, index: int) -> RecipientDsn:
        """The DSN parameters of `recipients[index]` (NO_DSN when it had none)."""
        return self.dsn[index] if index < len(self.dsn) else NO_DSN


@dataclass(frozen=True)
class Deliver:
    """Store the message durably, then answer `delivered(queue_id)` or `delivery_failed(reply)`.

    `content` is in wire form: dot-unstuffed (DATA), bare LF normalised to CRLF, ending with
    CRLF unless empty. It is bytes, or (DATA content that needed no rewriting) a read-only
    view of the buffer it was received into, which nothing changes any more: no copy.
    `spooled`: octets of the content the adapter already took with `take_content()`;
    `content` is what follows them (the whole message when 0).
    """

    envelope: Envelope
    content: bytes | memoryview = field(repr=False)
    spooled: int = 0


@dataclass(frozen=True)
class CloseConnection:
    """Flush `data_to_send()` and close. reason: quit, eof, too-many-errors,
    too-many-auth-failures, bdat-syntax."""

    reason: str


Event = Authenticate | StartTls | CheckSender | CheckRecipient | Deliver | CloseConnection


class AuthFailure(Enum):
    """The adapter's reasons for refusing a logon; each maps to one reply."""

    BAD_CREDENTIALS = "bad-credentials"  # unknown user or wrong password
    DISABLED = "disabled"  # right password, but the account may not submit mail
    TEMPORARY = "temporary"  # the check itself failed (store down, ...)


# ---------------------------------------------------------------------------------- config
@dataclass(frozen=True)
class SmtpConfig:
    """Per-listener SMTP settings the core needs (from the receive connector)."""

    fqdn: str = "localhost"  # greeting, EHLO first line
    banner: str | None = None  # text after "220 "; None: "<fqdn> postroom ESMTP service ready"
    max_message_size: int = 36 * 1024 * 1024  # octets; advertised as SIZE
    max_recipients: int = 200
    offer_tls: bool = False  # STARTTLS advertised (connector has "tls" and a usable certificate)
    require_tls: bool = False  # MAIL/RCPT/DATA/BDAT/AUTH refused before STARTTLS
    offer_basic: bool = False  # AUTH PLAIN LOGIN offered
    basic_requires_tls: bool = False  # ... but only once TLS is active
    anonymous_allowed: bool = True  # MAIL without AUTH allowed
    max_errors: int = 5  # Exchange MaxProtocolErrors
    max_auth_failures: int = 3  # Exchange MaxLogonFailures
    max_command_line: int = 1000  # octets, CRLF included (RFC 5321 4.5.3.1.4)
    remote_ip: str = ""  # for "250-<fqdn> Hello [ip]"
    # RFC 5321 6.3: a message with more Received fields than this is refused (554 5.4.6).
    max_hop_count: int = 100

    def __post_init__(self) -> None:
        if not self.fqdn or any(c in _CONTROL or c == " " for c in self.fqdn):
            raise ValueError("fqdn must be one word")
        for name in ("banner", "remote_ip"):
            if any(c in _CONTROL for c in getattr(self, name) or ""):
                raise ValueError(f"{name} must be a single line")
        if self.max_command_line < 512:  # RFC 5321's minimum for a command line
            raise ValueError("max_command_line must be at least 512")
        for name in ("max_message_size", "max_recipients", "max_errors", "max_auth_failures", "max_hop_count"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")

    def auth_offered(self, tls_active: bool) -> bool:
        """Whether AUTH is offered (EHLO) and allowed now."""
        return self.offer_basic and (tls_active or not self.basic_requires_tls)

    def tls_first(self, tls_active: bool) -> bool:
        """Whether the commands that need TLS are refused now."""
        return self.require_tls and not tls_active

    @property
    def greeting_text(self) -> str:
        return self.banner if self.banner is not None else f"{self.fqdn} postroom ESMTP service ready"


class State(Enum):
    # Members are singletons compared by identity: hash them the same way, in C (Enum's own
    # __hash__ is Python code, and the core looks states up in sets and dicts on every step).
    __hash__ = object.__hash__

    CONNECTED = "connected"  # no HELO/EHLO yet (again after STARTTLS)
    READY = "ready"  # greeted, no mail transaction
    MAIL = "mail"  # MAIL accepted, no recipient accepted yet
    RCPT = "rcpt"  # at least one recipient accepted
    CHUNKING = "chunking"  # at least one BDAT chunk received, LAST not yet
    SASL = "sasl"  # inside AUTH: lines are SASL responses
    DATA = "data"  # reading DATA content up to <CRLF>.<CRLF>
    BDAT = "bdat"  # reading exactly the octets a BDAT command announced
    AUTHENTICATING = "authenticating"  # waiting for auth_succeeded / auth_failed
    TLS_NEGOTIATING = "tls-negotiating"  # waiting for tls_started
    CHECKING_SENDER = "checking-sender"  # waiting for sender_accepted / _rejected
    CHECKING_RECIPIENT = "checking-recipient"  # waiting for recipient_accepted / _rejected
    DELIVERING = "delivering"  # waiting for delivered / delivery_failed
    CLOSED = "closed"


WAITING_STATES = frozenset(
    {State.AUTHENTICATING, State.TLS_NEGOTIATING, State.CHECKING_SENDER, State.CHECKING_RECIPIENT,
     State.DELIVERING}
)
#: States in which `shutdown()` answers 421 4.3.2 and closes at once: no command is being
#: answered and no content is arriving (DATA, BDAT and CHUNKING run to the end of the message).
SHUTDOWN_STATES = frozenset({State.CONNECTED, State.READY, State.MAIL, State.RCPT, State.SASL})
