"""IMAP4 core value types: the events the adapter answers, the configuration and the states.

Public through `postroom.protocol.imap4.core`; kept apart so the state machine stays short.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from ...values import DEFAULT_MAX_LITERAL, LoginType
from .types import Command

DEFAULT_IMAP_BANNER = "The postroom IMAP4 service is ready."

# Capabilities every connection has, in the order CAPABILITY lists them.
BASE_CAPABILITIES = (
    "IMAP4rev1", "IMAP4rev2", "LITERAL+", "ID", "ENABLE", "IDLE", "NAMESPACE", "UNSELECT", "CHILDREN", "UIDPLUS",
    "MOVE", "SPECIAL-USE", "CONDSTORE", "QRESYNC", "ESEARCH", "SEARCHRES", "LIST-EXTENDED", "LIST-STATUS",
    "STATUS=SIZE", "BINARY", "UTF8=ACCEPT",
)


# ---------------------------------------------------------------------------------- events
@dataclass(frozen=True)
class Authenticate:
    """LOGIN or AUTHENTICATE: verify the credentials, answer `auth_succeeded()` or
    `auth_failed(text, code)`. `mechanism` is "LOGIN" for the LOGIN command, else the SASL
    mechanism (PLAIN)."""

    tag: str
    mechanism: str
    username: str
    password: str = field(repr=False)
    authzid: str = ""  # PLAIN only; empty when the client sent none


@dataclass(frozen=True)
class StartTls:
    """`tag OK Begin TLS negotiation now` is queued: flush it, start TLS, call `tls_started()`."""

    tag: str


@dataclass(frozen=True)
class Request:
    """An authenticated-state command (types.py): write untagged data with `send_data()`, then
    `complete(command.tag, status, text, code)`."""

    command: Command


@dataclass(frozen=True)
class SavedResultReset:
    """A SEARCH with RETURN (SAVE) was refused with NO (its NO is queued): "$" is now the empty
    sequence (RFC 5182 2.1). A refusal with BAD leaves "$" as it was."""


@dataclass(frozen=True)
class IdleStarted:
    """IDLE: "+ idling" is queued. Push untagged updates with `send_data()` until IdleDone."""

    tag: str


@dataclass(frozen=True)
class IdleDone:
    """The client sent DONE: stop pushing updates and `complete(tag, "OK", ...)`."""

    tag: str


@dataclass(frozen=True)
class CloseConnection:
    """Flush `data_to_send()` and close. reason: logout, eof, too-many-errors,
    too-many-auth-failures, literal-too-big, shutdown, ended by admin, timeout."""

    reason: str


@dataclass(frozen=True)
class LoginRefused:
    """Informational, as POP3's: the core refused a LOGIN or AUTHENTICATE itself (login policy:
    `NO [PRIVACYREQUIRED]` before TLS) and answered it; no answer needed. `username` is the name
    LOGIN gave, when the core read it (None for AUTHENTICATE: its credentials are not decoded)."""

    username: str | None
    reason: str  # "tls-required"


@dataclass(frozen=True)
class StartCompression:
    """COMPRESS DEFLATE (RFC 4978): `tag OK` is queued. Write it as it is, then compress every
    octet sent after it and inflate every octet received after the command line, `pending`
    first: what the client had sent after COMPRESS already, taken out of the core's buffer
    (compressed data, never to be read as commands)."""

    tag: str
    pending: bytes = field(default=b"", repr=False)


Event = (Authenticate | StartTls | Request | IdleStarted | IdleDone | CloseConnection | LoginRefused | SavedResultReset
         | StartCompression)


# ---------------------------------------------------------------------------------- config
@dataclass(frozen=True)
class ImapConfig:
    """Per-listener IMAP4 settings the core needs; `login_type` also takes LoginType's strings.

    `max_command_size` bounds a command's lines and the literals of every command but APPEND
    (octets, all of them together); `max_literal_size` bounds each literal of APPEND (the
    message) and is advertised as APPENDLIMIT (RFC 7889)."""

    login_type: LoginType = LoginType.SECURE_LOGIN
    banner: str = DEFAULT_IMAP_BANNER
    max_command_size: int = 10240
    max_literal_size: int = DEFAULT_MAX_LITERAL
    max_errors: int = 20
    max_auth_failures: int = 3
    implementation: str = "postroom"

    def __post_init__(self) -> None:
        object.__setattr__(self, "login_type", LoginType(self.login_type))
        for name in ("banner", "implementation"):
            if any(c in getattr(self, name) for c in "\r\n\0"):
                raise ValueError(f"{name} must be a single line")
        if self.max_command_size < 256:
            raise ValueError("max_command_size must be at least 256")
        if self.max_literal_size < 1:
            raise ValueError("max_literal_size must be at least 1")
        if self.max_errors < 1 or self.max_auth_failures < 1:
            raise ValueError("max_errors and max_auth_failures must be at least 1")

    def login_allowed(self, tls_active: bool) -> bool:
        """May a client log on (LOGIN, AUTHENTICATE PLAIN: both reveal the password) now?
        As POP3: plain-text-authentication forbids cleartext credentials before TLS, and
        LOGIN and PLAIN are both cleartext, so only plain-text-login allows them."""
        return tls_active or self.login_type is LoginType.PLAIN_TEXT_LOGIN

    def capabilities(self, *, tls_active: bool, tls_available: bool, authenticated: bool,
                     compressed: bool = False) -> tuple[str, ...]:
        """The CAPABILITY list for a connection in this situation. COMPRESS=DEFLATE once logged
        in (never before: credentials are never compressed), until compression is on."""
        caps = list(BASE_CAPABILITIES)
        if authenticated:
            caps.append(f"APPENDLIMIT={self.max_literal_size}")
            if not compressed:
                caps.append("COMPRESS=DEFLATE")
            return tuple(caps)
        if tls_available and not tls_active:
            caps.append("STARTTLS")
        if self.login_allowed(tls_active):
            caps += ["AUTH=PLAIN", "SASL-IR"]
        else:
            caps.append("LOGINDISABLED")
        return tuple(caps)


class State(Enum):
    __hash__ = object.__hash__  # identity hash in C: states are looked up on every step

    NOT_AUTHENTICATED = "not-authenticated"
    SASL_EXCHANGE = "sasl-exchange"  # inside AUTHENTICATE: lines are SASL responses
    AUTHENTICATING = "authenticating"  # waiting for auth_succeeded / auth_failed
    TLS_NEGOTIATING = "tls-negotiating"  # waiting for tls_started
    AUTHENTICATED = "authenticated"
    SELECTED = "selected"
    EXECUTING = "executing"  # a Request (or IDLE after DONE) awaits complete()
    IDLING = "idling"  # IDLE: lines are read for DONE only
    CLOSED = "closed"


WAITING_STATES = frozenset({State.AUTHENTICATING, State.TLS_NEGOTIATING, State.EXECUTING})
#: Between commands (or idling): shutdown() sends BYE and closes at once.
SHUTDOWN_STATES = frozenset(
    {State.NOT_AUTHENTICATED, State.SASL_EXCHANGE, State.AUTHENTICATED, State.SELECTED, State.IDLING}
)
