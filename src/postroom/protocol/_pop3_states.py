"""The POP3 core's states, each with the data only it has (a tagged union: `kind` is the tag).

`Pop3Server` holds one of these in `_phase`; its handlers in `pop3.py` move from one to the
next (the `TRANSITIONS` table there lists them by `kind`). The USER name waiting for PASS,
the AUTH exchange, the maildrop and the message being retrieved each live in their own
state. States without data are shared singletons.
"""
from __future__ import annotations

from typing import ClassVar, Sequence

from . import sasl
from ._common import Phase
from ._pop3_types import MessageLike, State

__all__ = [
    "AUTHENTICATING", "AUTHORIZATION", "CLOSED", "TLS_NEGOTIATING", "AwaitingPass", "InSasl", "Maildrop",
    "Pop3Phase", "Retrieving", "Updating",
]


class Pop3Phase(Phase):
    kind: ClassVar[State]


class Authorization(Pop3Phase):
    kind = State.AUTHORIZATION
    __slots__ = ()


class Authenticating(Pop3Phase):
    """Credentials are out for checking: auth_succeeded(maildrop) / auth_failed(failure)."""

    kind = State.AUTHENTICATING
    __slots__ = ()


class TlsNegotiating(Pop3Phase):
    """STLS answered: waiting for tls_started()."""

    kind = State.TLS_NEGOTIATING
    __slots__ = ()


class Closed(Pop3Phase):
    kind = State.CLOSED
    __slots__ = ()


# States without data: one shared instance each.
AUTHORIZATION, AUTHENTICATING, TLS_NEGOTIATING, CLOSED = Authorization(), Authenticating(), TlsNegotiating(), Closed()


class AwaitingPass(Pop3Phase):
    """AUTHORIZATION after an accepted USER: PASS completes `username`'s logon."""

    kind = State.AWAITING_PASS
    __slots__ = ("username",)

    def __init__(self, username: str) -> None:
        self.username = username


class InSasl(Pop3Phase):
    """AUTHORIZATION inside AUTH: lines are SASL responses to `exchange`."""

    kind = State.SASL_EXCHANGE
    __slots__ = ("exchange",)

    def __init__(self, exchange: sasl.SaslExchange) -> None:
        self.exchange = exchange


class Maildrop(Pop3Phase):
    """TRANSACTION: the snapshot of the mailbox, numbered 1..n, and the DELE marks."""

    kind = State.TRANSACTION
    __slots__ = ("ids", "sizes", "uidls", "total_octets", "deleted", "deleted_octets")

    def __init__(self, messages: Sequence[MessageLike]) -> None:
        self.ids = tuple(m.id for m in messages)
        self.sizes = tuple(m.size for m in messages)
        self.uidls = tuple(m.uidl for m in messages)
        self.total_octets = sum(self.sizes)
        self.deleted: set[int] = set()  # message numbers
        self.deleted_octets = 0

    def count(self) -> int:
        """Messages not marked deleted."""
        return len(self.ids) - len(self.deleted)

    def octets(self) -> int:
        return self.total_octets - self.deleted_octets

    def visible(self) -> list[int]:
        return [n for n in range(1, len(self.ids) + 1) if n not in self.deleted]

    def delete(self, number: int) -> None:
        self.deleted.add(number)
        self.deleted_octets += self.sizes[number - 1]

    def undelete_all(self) -> None:
        self.deleted.clear()
        self.deleted_octets = 0


class Retrieving(Pop3Phase):
    """RETR or TOP (`top_lines` not None) of message `number` is out: message_content /
    message_failed, then back to `maildrop`."""

    kind = State.RETRIEVING
    __slots__ = ("maildrop", "number", "top_lines")

    def __init__(self, maildrop: Maildrop, number: int, top_lines: int | None) -> None:
        self.maildrop, self.number, self.top_lines = maildrop, number, top_lines


class Updating(Pop3Phase):
    """QUIT in TRANSACTION: the deletions are out (update_done)."""

    kind = State.UPDATE
    __slots__ = ("maildrop",)

    def __init__(self, maildrop: Maildrop) -> None:
        self.maildrop = maildrop
