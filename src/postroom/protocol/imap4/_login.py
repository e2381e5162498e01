"""The not-authenticated state's commands (RFC 3501 6.1-6.2): NOOP and ID answered by the core
itself, STARTTLS, LOGIN and AUTHENTICATE (PLAIN, with SASL-IR) and the SASL exchange, under the
login type's policy. Functions of the core (`core.py`'s TRANSITIONS table names them)."""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from .. import sasl
from ..lines import TooLong
from ._parser import parse_id
from ._replies import response
from ._states import NOT_AUTHENTICATED, Authenticating, InSasl, TlsNegotiating
from ._framing import tag_of
from ._tokens import Cursor, ParseError, shown
from ._types import Authenticate, LoginRefused, StartTls

if TYPE_CHECKING:
    from .core import ImapServer

__all__ = ["authenticate", "id_unauthenticated", "login", "login_name", "noop_unauthenticated", "privacy_required",
           "sasl_line", "starttls"]

_WORD = re.compile(rb"[^ ]+")


def noop_unauthenticated(core: ImapServer, tag: str, cur: Cursor, name: str) -> None:
    cur.end(name)
    core._out.append(response(tag, "OK", "NOOP completed."))


def id_unauthenticated(core: ImapServer, tag: str, cur: Cursor, name: str) -> None:
    parse_id(tag, cur)
    name_value = core.config.implementation.replace("\\", "").replace('"', "")
    core._out.append(f'* ID ("name" "{name_value}")\r\n'.encode("utf-8"))
    core._out.append(response(tag, "OK", "ID completed."))


def starttls(core: ImapServer, tag: str, cur: Cursor, name: str) -> None:
    cur.end(name)
    if core.tls_active:
        raise ParseError("TLS is already active.")
    if not core.tls_available:
        raise ParseError("STARTTLS is not available on this port.")
    core._out.append(response(tag, "OK", "Begin TLS negotiation now."))
    core._buffer.clear()  # never execute plaintext the client pipelined after STARTTLS
    core._phase = TlsNegotiating(tag)
    core._events.append(StartTls(tag))


def privacy_required(core: ImapServer, tag: str, username: str | None = None) -> None:
    """The login type wants TLS first: NO [PRIVACYREQUIRED], and LoginRefused for the adapter
    (its evidence and fail2ban line), queued before a CloseConnection the refusal may cause."""
    text = ("Log in after STARTTLS: passwords are not accepted on an unencrypted connection."
            if core.tls_available else
            "Passwords are not accepted on an unencrypted connection: use the SSL port.")
    core._events.append(LoginRefused(username, "tls-required"))
    core._auth_failure(response(tag, "NO", text, "PRIVACYREQUIRED"))


def login_name(parts: list[bytes]) -> str | None:
    """The user name of a LOGIN refused at a literal, when what arrived holds it (`a LOGIN alice
    {6}`: the password was still to come); None when it does not (`a LOGIN {5}`)."""
    tag = tag_of(parts[0])
    if tag is None:
        return None
    cur = Cursor(parts, len(tag) + 1)
    try:
        cur.keyword("a command")
        cur.sp()
        return cur.text_arg("the user name")
    except ParseError:
        return None


def login(core: ImapServer, tag: str, cur: Cursor, name: str) -> None:
    cur.sp("a user name")
    username = cur.text_arg("the user name")
    cur.sp("a password")
    password = cur.text_arg("the password")
    cur.end(name)
    if not core.config.login_allowed(core.tls_active):
        privacy_required(core, tag, username)
        return
    core._phase = Authenticating(tag)
    core._events.append(Authenticate(tag, "LOGIN", username, password))


def authenticate(core: ImapServer, tag: str, cur: Cursor, name: str) -> None:
    cur.sp("a SASL mechanism")
    mechanism = cur.keyword("a SASL mechanism")
    initial = None
    if cur.space_then():  # SASL-IR: base64 (checked by the exchange) or "="
        initial = (cur.match(_WORD) or b"").decode("latin-1")
    cur.end(name)
    if mechanism not in sasl.MECHANISMS:
        text = f"Unsupported authentication mechanism {shown(mechanism)}: use PLAIN."
        core._out.append(response(tag, "NO", text))
        return
    if not core.config.login_allowed(core.tls_active):
        privacy_required(core, tag)
        return
    exchange = sasl.SaslExchange()
    sasl_outcome(core, tag, exchange, exchange.start(mechanism, initial))


def sasl_line(core: ImapServer, line: Any) -> None:
    phase = core._phase
    assert isinstance(phase, InSasl)
    if line is TooLong:
        core._phase = NOT_AUTHENTICATED
        core._protocol_error(phase.tag, "SASL response too long.")
        return
    sasl_outcome(core, phase.tag, phase.exchange, phase.exchange.step(line))


def sasl_outcome(core: ImapServer, tag: str, exchange: sasl.SaslExchange, outcome: sasl.Outcome) -> None:
    if isinstance(outcome, sasl.Challenge):
        core._phase = InSasl(tag, exchange)
        core._out.append(b"+ " + outcome.encoded().encode("ascii") + b"\r\n")
        return
    core._phase = NOT_AUTHENTICATED
    if isinstance(outcome, sasl.Credentials):
        core._phase = Authenticating(tag)
        core._events.append(Authenticate(tag, outcome.mechanism, outcome.username, outcome.password,
                                         outcome.authzid))
    elif isinstance(outcome, sasl.Cancelled):
        core._protocol_error(tag, "Authentication cancelled.")
    else:
        core._protocol_error(tag, outcome.text)
