"""SASL server-side decoding for PLAIN (RFC 4616) and LOGIN, shared by POP3 AUTH and SMTP AUTH.

Pure: text in, values out. One `SaslExchange` per AUTH command:

    exchange = SaslExchange()
    outcome = exchange.start("PLAIN", initial_response)   # None when the client sent none
    while isinstance(outcome, Challenge):
        send("+ " + outcome.encoded())                     # protocol-specific framing
        outcome = exchange.step(next_client_line)
    # outcome is Credentials, SaslError or CANCELLED

Bad input is a `SaslError` value, never an exception. `=` as an initial response means an
empty one (RFC 4954, RFC 5034); a `*` line cancels the exchange.
"""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field

__all__ = [
    "CANCELLED",
    "CLEARTEXT_MECHANISMS",
    "MECHANISMS",
    "Cancelled",
    "Challenge",
    "Credentials",
    "SaslError",
    "SaslExchange",
    "decode_response",
]

PLAIN = "PLAIN"
LOGIN = "LOGIN"
#: Mechanisms we implement, in the order servers advertise them.
MECHANISMS: tuple[str, ...] = (PLAIN, LOGIN)
#: Mechanisms that reveal the password to anyone who can read the connection. This is the one
#: place that says so; login policies ("no cleartext credentials before TLS") ask it.
CLEARTEXT_MECHANISMS: frozenset[str] = frozenset({PLAIN, LOGIN})

_LOGIN_USER_PROMPT = b"Username:"
_LOGIN_PASS_PROMPT = b"Password:"


@dataclass(frozen=True)
class Challenge:
    """A server challenge; `data` is raw, `encoded()` is what goes on the wire."""

    data: bytes

    def encoded(self) -> str:
        return base64.b64encode(self.data).decode("ascii")


@dataclass(frozen=True)
class Credentials:
    """The result of a completed exchange. The password never appears in repr()."""

    mechanism: str
    username: str
    password: str = field(repr=False)
    authzid: str = ""


@dataclass(frozen=True)
class SaslError:
    """The client's response could not be used. `reason` is a stable code, `text` is for humans.

    Codes: "bad-base64", "malformed", "unsupported-mechanism", "not-in-progress".
    """

    reason: str
    text: str


@dataclass(frozen=True)
class Cancelled:
    """The client answered a challenge with `*`."""


CANCELLED = Cancelled()

Outcome = Challenge | Credentials | SaslError | Cancelled


def decode_response(text: str | bytes, *, initial: bool = False) -> bytes | SaslError:
    """Strict base64 decoding of one client response; `=` is the empty initial response."""
    if isinstance(text, str):
        try:
            raw = text.encode("ascii")
        except UnicodeEncodeError:
            return SaslError("bad-base64", "Invalid base64 data.")
    else:
        raw = bytes(text)
    if initial and raw == b"=":
        return b""
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        return SaslError("bad-base64", "Invalid base64 data.")


def _utf8(raw: bytes) -> str | None:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return None if "\x00" in text else text


def _parse_plain(raw: bytes) -> Credentials | SaslError:
    """RFC 4616: [authzid] NUL authcid NUL passwd, authcid and passwd non-empty, UTF-8."""
    parts = raw.split(b"\x00")
    if len(parts) != 3:
        return SaslError("malformed", "Malformed PLAIN response.")
    authzid, authcid, passwd = (_utf8(p) for p in parts)
    if authzid is None or authcid is None or passwd is None or not authcid or not passwd:
        return SaslError("malformed", "Malformed PLAIN response.")
    return Credentials(PLAIN, authcid, passwd, authzid)


class SaslExchange:
    """State of one server-side SASL exchange (PLAIN or LOGIN)."""

    __slots__ = ("mechanism", "_stage", "_username")

    def __init__(self) -> None:
        self.mechanism: str | None = None
        self._stage = "idle"  # idle -> plain | login-user | login-pass -> done
        self._username = ""

    @property
    def done(self) -> bool:
        return self._stage in ("idle", "done")

    def start(self, mechanism: str, initial_response: str | bytes | None) -> Outcome:
        """Begin an exchange. `initial_response` is the base64 text after the mechanism name."""
        mech = mechanism.upper()
        if mech not in MECHANISMS:
            self._stage = "done"
            return SaslError("unsupported-mechanism", "Unrecognized authentication type.")
        self.mechanism = mech
        if mech == PLAIN:
            self._stage = "plain"
            if initial_response is None:
                return Challenge(b"")
        else:
            self._stage = "login-user"
            if initial_response is None:
                return Challenge(_LOGIN_USER_PROMPT)
        return self._consume(decode_response(initial_response, initial=True))

    def step(self, line: str | bytes) -> Outcome:
        """Feed the client's answer to the last challenge (one line, terminator removed)."""
        if self.done:
            return SaslError("not-in-progress", "No authentication exchange in progress.")
        if line == (b"*" if isinstance(line, bytes) else "*"):
            self._stage = "done"
            return CANCELLED
        return self._consume(decode_response(line))

    def _consume(self, decoded: bytes | SaslError) -> Outcome:
        if isinstance(decoded, SaslError):
            self._stage = "done"
            return decoded
        if self._stage == "plain":
            self._stage = "done"
            return _parse_plain(decoded)
        text = _utf8(decoded)
        if text is None:
            self._stage = "done"
            return SaslError("malformed", "Malformed LOGIN response.")
        if self._stage == "login-user":
            self._username = text
            self._stage = "login-pass"
            return Challenge(_LOGIN_PASS_PROMPT)
        self._stage = "done"
        return Credentials(LOGIN, self._username, text)
