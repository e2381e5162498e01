"""The SMTP core's states, each with the data only it has (a tagged union: `kind` is the tag).

`SmtpServer` holds one of these in `_phase`; its handlers in `smtp.py` move from one to the
next (the `TRANSITIONS` table there lists them by `kind`). A transaction exists exactly in the
states that carry one; the AUTH exchange, the username being verified, the recipient being
checked and the content reader live in their own state and go with it. States without data
are shared singletons. What lasts the whole connection (HELO, login) is the `Client`.
"""
from __future__ import annotations

from typing import Callable, ClassVar

from . import sasl
from ._common import Phase
from ._smtp_content import NO_CONTENT, ChunkedContent, DataReader, NoContent
from ._smtp_dsn import NO_DSN, MailDsn, RecipientDsn
from ._smtp_policy import SendAs
from ._smtp_types import Envelope, State

__all__ = [
    "CLOSED", "CONNECTED", "DELIVERING", "READY", "TLS_NEGOTIATING", "Authenticating",
    "CheckingRecipient", "CheckingSender", "Chunking", "Client", "InTransaction", "Mail", "Rcpt", "ReadingChunk",
    "ReadingData", "Sasl", "SmtpPhase", "Transaction",
]


class Client:
    """What the client told us that lasts beyond one transaction; STARTTLS forgets it all."""

    __slots__ = ("helo", "esmtp", "user", "send_as")

    def __init__(self) -> None:
        self.helo: str | None = None  # the HELO/EHLO domain; None before the greeting
        self.esmtp = False
        self.user: str | None = None  # the authenticated username
        self.send_as: SendAs | None = None  # whom `user` may send as (set with it)


class Transaction:
    """One mail transaction, from MAIL to delivery or reset (internal, mutable)."""

    __slots__ = ("sender", "recipients", "size_declared", "body", "smtputf8", "dsn", "recipient_dsn")

    def __init__(self, sender: str, size_declared: int | None, body: str, smtputf8: bool,
                 dsn: MailDsn = MailDsn()) -> None:
        self.sender = sender
        self.recipients: list[str] = []
        self.size_declared = size_declared
        self.body = body
        self.smtputf8 = smtputf8
        self.dsn = dsn  # MAIL's RET and ENVID
        self.recipient_dsn: list[RecipientDsn] = []  # each accepted recipient's NOTIFY and ORCPT

    def add(self, address: str, dsn: RecipientDsn) -> None:
        self.recipients.append(address)
        self.recipient_dsn.append(dsn)

    def envelope(self, client: Client, tls: bool) -> Envelope:
        # RFC 3848 names; it defines no TLS or AUTH variant of plain SMTP (HELO).
        user = client.user
        protocol = "ESMTP" + "S" * tls + "A" * (user is not None) if client.esmtp else "SMTP"
        assert client.helo is not None  # MAIL needs a greeting
        dsn = self.recipient_dsn
        return Envelope(
            self.sender, tuple(self.recipients), client.helo, protocol, tls, user, self.smtputf8,
            self.body, self.size_declared, self.dsn.ret, self.dsn.envid,
            tuple(dsn) if any(d is not NO_DSN for d in dsn) else (),
        )


class SmtpPhase(Phase):
    kind: ClassVar[State]
    #: The reader of the message content being received (DATA, BDAT), or NO_CONTENT.
    content: DataReader | ChunkedContent | NoContent = NO_CONTENT


class Connected(SmtpPhase):
    """No HELO/EHLO yet (again after STARTTLS)."""

    kind = State.CONNECTED
    __slots__ = ()


class Ready(SmtpPhase):
    """Greeted, no mail transaction."""

    kind = State.READY
    __slots__ = ()


class TlsNegotiating(SmtpPhase):
    """STARTTLS answered: waiting for tls_started()."""

    kind = State.TLS_NEGOTIATING
    __slots__ = ()


class Delivering(SmtpPhase):
    """The Deliver event carries the message: waiting for delivered() / delivery_failed()."""

    kind = State.DELIVERING
    __slots__ = ()


class Closed(SmtpPhase):
    kind = State.CLOSED
    __slots__ = ()


# States without data: one shared instance each.
CONNECTED, READY, TLS_NEGOTIATING, DELIVERING, CLOSED = Connected(), Ready(), TlsNegotiating(), Delivering(), Closed()


class Sasl(SmtpPhase):
    """Inside AUTH: lines are SASL responses to `exchange` (mechanism, LOGIN's username)."""

    kind = State.SASL
    __slots__ = ("exchange",)

    def __init__(self, exchange: sasl.SaslExchange) -> None:
        self.exchange = exchange


class Authenticating(SmtpPhase):
    """Credentials are out for checking: on success `username` becomes the client's login."""

    kind = State.AUTHENTICATING
    __slots__ = ("username",)

    def __init__(self, username: str) -> None:
        self.username = username


class InTransaction(SmtpPhase):
    """A state inside a mail transaction: it carries the transaction."""

    __slots__ = ("tx",)

    def __init__(self, tx: Transaction) -> None:
        self.tx = tx


class Mail(InTransaction):
    """MAIL accepted, no recipient accepted yet."""

    kind = State.MAIL
    __slots__ = ()


class CheckingSender(InTransaction):
    """MAIL of an authenticated session is out for checking (sender_accepted / _rejected)."""

    kind = State.CHECKING_SENDER
    __slots__ = ()


class Rcpt(InTransaction):
    """At least one recipient accepted."""

    kind = State.RCPT
    __slots__ = ()


class CheckingRecipient(InTransaction):
    """RCPT `address` (with its DSN parameters) is out for checking (recipient_accepted / _rejected)."""

    kind = State.CHECKING_RECIPIENT
    __slots__ = ("address", "dsn")

    def __init__(self, tx: Transaction, address: str, dsn: RecipientDsn = NO_DSN) -> None:
        self.tx, self.address, self.dsn = tx, address, dsn


class Chunking(InTransaction):
    """At least one BDAT chunk received, LAST not yet: `content` holds them."""

    kind = State.CHUNKING
    __slots__ = ("content",)
    content: ChunkedContent

    def __init__(self, tx: Transaction, content: ChunkedContent) -> None:
        self.tx, self.content = tx, content


class ReadingData(InTransaction):
    """DATA: octets are message content up to <CRLF>.<CRLF>, framed by `reader`."""

    kind = State.DATA
    __slots__ = ("reader",)

    def __init__(self, tx: Transaction, reader: DataReader) -> None:
        self.tx, self.reader = tx, reader

    @property
    def content(self) -> DataReader:  # type: ignore[override]  # narrower: what DATA holds
        return self.reader


class ReadingChunk(SmtpPhase):
    """BDAT: reading exactly the `left` octets the command announced into `into` (None: they
    are discarded, the chunk being refused); then the core returns to `resume` and calls
    `then`, which answers the chunk."""

    kind = State.BDAT
    __slots__ = ("left", "into", "then", "resume")

    def __init__(self, left: int, into: ChunkedContent | None, then: Callable[[], None],
                 resume: SmtpPhase) -> None:
        self.left, self.into, self.then, self.resume = left, into, then, resume

    @property
    def content(self) -> ChunkedContent | NoContent:  # type: ignore[override]  # narrower: BDAT's
        """The message's BDAT content so far (also while a chunk too big for it is discarded)."""
        if self.into is not None:
            return self.into
        return self.resume.content if isinstance(self.resume, Chunking) else NO_CONTENT
