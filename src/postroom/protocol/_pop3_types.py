"""POP3 core value types: events, adapter sentinels, configuration and states.

Public through `postroom.protocol.pop3`; kept apart so the state machine module stays short.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from ..values import DEFAULT_POP_BANNER, LoginType

# Shared with the SMTP core; re-exported here so existing imports keep working.
from ._common import NEED_DATA, PAUSED, LocalProtocolError, _Sentinel  # noqa: F401


# ---------------------------------------------------------------------------------- events
@dataclass(frozen=True)
class Authenticate:
    """Verify credentials; answer with `auth_succeeded(maildrop)` or `auth_failed(reason)`."""

    username: str
    password: str = field(repr=False)
    mechanism: str  # "USER", "PLAIN" or "LOGIN"
    authzid: str = ""  # PLAIN only; empty when the client sent none


@dataclass(frozen=True)
class StartTls:
    """`+OK Begin TLS negotiation now.` is queued: flush it, start TLS, call `tls_started()`."""


@dataclass(frozen=True)
class Retrieve:
    """Fetch a message; `top_lines` is None for RETR. Answer `message_content`/`message_failed`."""

    message_id: int
    number: int
    top_lines: int | None


@dataclass(frozen=True)
class Commit:
    """QUIT in TRANSACTION: delete these ids, release the mailbox, then `update_done(ok)`."""

    delete_ids: tuple[int, ...]


@dataclass(frozen=True)
class CloseConnection:
    """Flush `data_to_send()` and close. reason: quit, eof, too-many-errors, too-many-auth-failures."""

    reason: str


@dataclass(frozen=True)
class LoginRefused:
    """Informational: the core refused a logon itself (login policy); no answer needed."""

    username: str | None
    reason: str  # "tls-required"


Event = Authenticate | StartTls | Retrieve | Commit | CloseConnection | LoginRefused


class MessageLike(Protocol):
    id: int
    size: int
    uidl: str


# ---------------------------------------------------------------------------------- config
@dataclass(frozen=True)
class Pop3Config:
    """Per-listener POP3 settings the core needs; `login_type` also takes LoginType's strings."""

    login_type: LoginType = LoginType.SECURE_LOGIN
    banner: str = DEFAULT_POP_BANNER
    max_command_size: int = 512  # octets, CRLF included
    max_errors: int = 10
    max_auth_failures: int = 3
    implementation: str = "postroom"

    def __post_init__(self) -> None:
        object.__setattr__(self, "login_type", LoginType(self.login_type))
        for name in ("banner", "implementation"):
            if any(c in getattr(self, name) for c in "\r\n\0"):
                raise ValueError(f"{name} must be a single line")
        if self.max_command_size < 16:
            raise ValueError("max_command_size must be at least 16")
        if self.max_errors < 1 or self.max_auth_failures < 1:
            raise ValueError("max_errors and max_auth_failures must be at least 1")


class State(Enum):
    # Members are singletons compared by identity: hash them the same way, in C (Enum's own
    # __hash__ is Python code, and the core looks states up in sets and dicts on every step).
    __hash__ = object.__hash__

    AUTHORIZATION = "authorization"
    AWAITING_PASS = "awaiting-pass"  # AUTHORIZATION after an accepted USER
    SASL_EXCHANGE = "sasl-exchange"  # AUTHORIZATION inside AUTH: lines are SASL responses
    AUTHENTICATING = "authenticating"  # waiting for auth_succeeded / auth_failed
    TLS_NEGOTIATING = "tls-negotiating"  # waiting for tls_started
    TRANSACTION = "transaction"
    RETRIEVING = "retrieving"  # waiting for message_content / message_failed
    UPDATE = "update"  # waiting for update_done
    CLOSED = "closed"


WAITING_STATES = frozenset(
    {State.AUTHENTICATING, State.TLS_NEGOTIATING, State.RETRIEVING, State.UPDATE}
)
