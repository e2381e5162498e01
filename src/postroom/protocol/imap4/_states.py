"""The IMAP4 core's states, each with the data only it has (a tagged union: `kind` is the tag).

`ImapServer` holds one of these in `_phase`; its handlers in core.py move from one to the next
(the TRANSITIONS table there lists the commands of each `kind`). States without data are
shared singletons.
"""
from __future__ import annotations

from typing import ClassVar

from .. import sasl
from .._common import Phase
from ._types import State
from .types import Command

__all__ = [
    "AUTHENTICATED", "CLOSED", "NOT_AUTHENTICATED", "SELECTED", "Authenticating", "Executing", "Idling",
    "ImapPhase", "InSasl", "TlsNegotiating",
]


class ImapPhase(Phase):
    kind: ClassVar[State]


class NotAuthenticated(ImapPhase):
    kind = State.NOT_AUTHENTICATED
    __slots__ = ()


class Authenticated(ImapPhase):
    kind = State.AUTHENTICATED
    __slots__ = ()


class Selected(ImapPhase):
    kind = State.SELECTED
    __slots__ = ()


class Closed(ImapPhase):
    kind = State.CLOSED
    __slots__ = ()


NOT_AUTHENTICATED, AUTHENTICATED, SELECTED, CLOSED = NotAuthenticated(), Authenticated(), Selected(), Closed()


class _Tagged(ImapPhase):
    __slots__ = ("tag",)

    def __init__(self, tag: str) -> None:
        self.tag = tag


class Authenticating(_Tagged):
    """LOGIN/AUTHENTICATE `tag`: the credentials are out (auth_succeeded / auth_failed)."""

    kind = State.AUTHENTICATING
    __slots__ = ()


class TlsNegotiating(_Tagged):
    """STARTTLS `tag` answered: waiting for tls_started()."""

    kind = State.TLS_NEGOTIATING
    __slots__ = ()


class Idling(_Tagged):
    """IDLE `tag`: lines are read for DONE only; the server pushes updates meanwhile."""

    kind = State.IDLING
    __slots__ = ()


class InSasl(ImapPhase):
    """Inside AUTHENTICATE `tag`: lines are SASL responses to `exchange`."""

    kind = State.SASL_EXCHANGE
    __slots__ = ("tag", "exchange")

    def __init__(self, tag: str, exchange: sasl.SaslExchange) -> None:
        self.tag, self.exchange = tag, exchange


class Executing(ImapPhase):
    """`command` (a Request, or IDLE after DONE) awaits complete(tag, ...)."""

    kind = State.EXECUTING
    __slots__ = ("command",)

    def __init__(self, command: Command) -> None:
        self.command = command
