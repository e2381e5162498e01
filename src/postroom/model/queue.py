"""The outbound queue: Exchange's Get-Queue / Get-Message objects, in postroom's names.

A message for remote recipients is queued once (one body, shared with the copies delivered
to local mailboxes) with one row per remote recipient. Each recipient belongs to a queue:
one per next hop (delivery type + next-hop domain + send connector), named by `QueueKey`.
A delivery worker claims a message with a lease (`claim_due`), tries its due recipients and
reports each one's outcome (`finish_attempt`); the message goes once every recipient is
final (sent, failed or expired).

Statuses:
- message (`MessageStatus`): active (delivered by the workers), suspended (by an admin:
  never tried until resumed), poison (its delivery crashed the worker twice: set aside,
  never retried without an admin);
- recipient (`RecipientStatus`): ready / retry (pending: tried when `next_attempt_at` has
  come), sent / failed / expired (final);
- queue (`QueueStatus`, computed): active (a worker holds one of its messages), ready (a
  message is due), retry (waiting for the next retry), suspended (by an admin).

Times are ISO-8601 UTC text, as everywhere in the store.
"""
from __future__ import annotations

import re
import secrets
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Any, NamedTuple, Sequence

from ..errors import ValidationError
from ..validation import enum_value


class MessageStatus(str, Enum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    POISON = "poison"


class RecipientStatus(str, Enum):
    READY = "ready"  # never tried yet (or made due again)
    RETRY = "retry"  # a transient failure: tried again at next_attempt_at
    SENT = "sent"  # the next hop took it (2xx after the final dot)
    FAILED = "failed"  # a permanent failure (5xx, null MX, NXDOMAIN, ...)
    EXPIRED = "expired"  # still failing transiently when the message expired

    @property
    def pending(self) -> bool:
        return self in (RecipientStatus.READY, RecipientStatus.RETRY)


PENDING = (RecipientStatus.READY.value, RecipientStatus.RETRY.value)


class QueueStatus(str, Enum):
    ACTIVE = "active"
    READY = "ready"
    RETRY = "retry"
    SUSPENDED = "suspended"


# Exchange's DeliveryType names (Get-Queue).
DNS_DELIVERY = "dns-connector-delivery"
SMART_HOST_DELIVERY = "smart-host-connector-delivery"
POISON_QUEUE = "poison"  # the pseudo-queue of poison messages (Exchange's "Poison Message" queue)
POISON_DELIVERY = "poison-message"

QUEUE_ID = re.compile(r"[0-9A-F]{12}")


def new_queue_id() -> str:
    """A queue id in the form of the ids in `250 2.6.0 queued as ...` (12 upper-case hex)."""
    return secrets.token_hex(6).upper()


def check_queue_id(value: Any, field_name: str = "message_id") -> str:
    if not isinstance(value, str) or not QUEUE_ID.fullmatch(value):
        raise ValidationError(field_name, f"{value!r} is not a queue id (12 hex digits, like 3F2A9C01B7E4)")
    return value


_DELIVERY_TYPE = re.compile(r"[a-z][a-z0-9-]*")
_PARSED_LIMIT = 10_000  # queue names already checked (QueueKey is immutable), bounded
_parsed: dict[str, QueueKey] = {}


@dataclass(frozen=True)
class QueueKey:
    """One queue per next hop. Its `name` is the queue's text key:
    `dns-connector-delivery/<domain>/<connector>` for DNS (MX) routing, and
    `smart-host-connector-delivery/<connector>` for a smart-host connector (its next hop is
    the connector: all its mail shares one queue). Other delivery types: `<type>/<next hop>`."""

    delivery_type: str
    next_hop: str
    connector: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.delivery_type, str) or not _DELIVERY_TYPE.fullmatch(self.delivery_type):
            raise ValidationError("delivery_type", f"{self.delivery_type!r} is not a delivery type like "
                                  f"{DNS_DELIVERY}")
        if not isinstance(self.next_hop, str) or not self.next_hop:
            raise ValidationError("next_hop", f"{self.next_hop!r} is not a next hop")
        if not isinstance(self.connector, str):
            raise ValidationError("connector", f"{self.connector!r} is not text")
        if self.delivery_type == SMART_HOST_DELIVERY and self.connector and self.connector != self.next_hop:
            raise ValidationError("next_hop", "a smart-host queue's next hop is its connector")
        if self.delivery_type != SMART_HOST_DELIVERY and "/" in self.next_hop:
            raise ValidationError("next_hop", f"{self.next_hop!r} must not contain '/'")
        if self.delivery_type not in (DNS_DELIVERY, SMART_HOST_DELIVERY) and self.connector:
            raise ValidationError("connector", f"a {self.delivery_type} queue has no connector")

    @property
    def name(self) -> str:
        if self.delivery_type == SMART_HOST_DELIVERY:
            return f"{self.delivery_type}/{self.next_hop}"
        if self.delivery_type == DNS_DELIVERY:
            return f"{self.delivery_type}/{self.next_hop}/{self.connector}"
        return f"{self.delivery_type}/{self.next_hop}"

    @classmethod
    def dns(cls, domain: str, connector: str) -> QueueKey:
        return cls(DNS_DELIVERY, domain, connector)

    @classmethod
    def smart_host(cls, connector: str) -> QueueKey:
        return cls(SMART_HOST_DELIVERY, connector, connector)

    @classmethod
    def parse(cls, text: Any, field_name: str = "queue") -> QueueKey:
        if isinstance(text, QueueKey):
            return text
        if isinstance(text, str) and cls is QueueKey:
            known = _parsed.get(text)
            if known is not None:
                return known  # every message to a next hop names its queue: checked once
        key = cls._parse(text, field_name)
        if cls is QueueKey and len(_parsed) < _PARSED_LIMIT:
            _parsed[text] = key
        return key

    @classmethod
    def _parse(cls, text: Any, field_name: str) -> QueueKey:
        if not isinstance(text, str) or "/" not in text:
            raise ValidationError(field_name, f"{text!r} is not a queue name like {DNS_DELIVERY}/example.com/Internet")
        delivery_type, rest = text.split("/", 1)
        try:
            if delivery_type == SMART_HOST_DELIVERY:
                return cls(delivery_type, rest, rest)
            if delivery_type == DNS_DELIVERY:
                next_hop, sep, connector = rest.partition("/")
                if not sep:
                    raise ValidationError(field_name, f"{text!r} names no connector ({DNS_DELIVERY}/DOMAIN/CONNECTOR)")
                return cls(delivery_type, next_hop, connector)
            return cls(delivery_type, rest)
        except ValidationError as exc:
            raise ValidationError(field_name, f"{text!r}: {exc.reason}") from None


class OutboundRecipient(NamedTuple):
    """One remote recipient of a submission; a plain (address, orcpt, notify, queue) tuple
    is taken too. `notify`: RFC 3461 NOTIFY as sent (e.g. "SUCCESS,FAILURE" or "NEVER"),
    None when absent; `queue`: the QueueKey (or its name) of the recipient's next hop."""

    address: str
    orcpt: str | None
    notify: str | None
    queue: QueueKey | str


@dataclass(frozen=True)
class OutboundSubmission:
    """What `deliver_message(..., outbound=...)` queues with the local copies, in the same
    transaction. `queue_id` is the message's id in the queue (made here unless given: the
    SMTP session gives the id of its 250 reply and Received header); `at` the submission
    time (empty: the store's clock), when the first attempt is due."""

    sender: str
    recipients: Sequence[OutboundRecipient | tuple[str, str | None, str | None, QueueKey | str]]
    envid: str | None = None
    ret: str | None = None  # RFC 3461 RET: "FULL" or "HDRS"
    smtputf8: bool = False
    body_8bit: bool = False
    submitter: str | None = None  # the authenticated mailbox, None for relayed mail
    client_ip: str = ""
    origin_server: str = ""  # the node that accepted it
    message_id_header: str = ""
    queue_id: str = field(default_factory=new_queue_id)
    at: str = ""
    # Claimed as it is queued: the submitting node's delivery worker (`lease_holder`) takes it
    # at once, without a claim_due of its own (one transaction per message less); the lease
    # runs `lease_seconds` from `at` (which must then be given) and counts as a claim.
    lease_holder: str | None = None
    lease_seconds: int = 0

    def claimed(self, size: int) -> Claim:
        """The claim that a submission with a lease amounts to once stored: what claim_due
        would return to `lease_holder` (`size`: the stored body's octets, trace header included)."""
        if not self.lease_holder or not self.at:
            raise ValueError("only a submission with a lease_holder and its time is claimed")
        moment = datetime.fromisoformat(self.at)  # in the stored form: UTC, microseconds
        moment = (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
        created = moment.isoformat(timespec="microseconds")
        until = (moment + timedelta(seconds=self.lease_seconds)).isoformat(timespec="microseconds")
        message = QueuedMessage(self.queue_id, created, self.sender, size, self.envid,
                                self.ret.upper() if self.ret else None, self.smtputf8, self.body_8bit, self.submitter,
                                self.client_ip, self.origin_server, MessageStatus.ACTIVE, 1, self.lease_holder, until,
                                self.message_id_header)
        recipients = []
        for address, orcpt, notify, queue in self.recipients:
            recipients.append(QueuedRecipient(self.queue_id, address, orcpt or None, notify or None,
                                              recipient_domain(address), QueueKey.parse(queue).name,
                                              RecipientStatus.READY, 0, created, None, None, False))
        return Claim(message, recipients)


@dataclass(frozen=True)
class QueuedMessage:
    id: str  # the queue id
    created_at: str
    sender: str  # "" for the null sender <>
    size: int  # octets of the stored body (what SIZE= announces)
    envid: str | None
    ret: str | None
    smtputf8: bool
    body_8bit: bool
    submitter: str | None
    client_ip: str
    origin_server: str
    status: MessageStatus
    crash_count: int  # claims not followed by finish_attempt (reset by it)
    lease_holder: str | None
    lease_until: str | None
    message_id_header: str

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        return data


@dataclass(frozen=True)
class QueuedRecipient:
    message_id: str  # the queue id of its message
    address: str
    orcpt: str | None
    notify: str | None
    domain: str
    queue: str  # the QueueKey name
    status: RecipientStatus
    attempts: int
    next_attempt_at: str | None  # None once final
    last_reply: str | None
    last_attempt_at: str | None
    delay_notified: bool

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        return data


@dataclass(frozen=True)
class QueueInfo:
    """One queue as Get-Queue shows it: its pending messages (poison ones excepted)."""

    name: str
    delivery_type: str
    next_hop: str
    status: QueueStatus
    message_count: int
    next_retry_at: str | None  # the earliest next attempt of its pending recipients
    last_error: str | None  # the last transient failure, cleared by a success
    connector: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        return data


@dataclass(frozen=True)
class Claim:
    """A message a worker now holds (until `lease_until`), with its recipients due now."""

    message: QueuedMessage
    recipients: list[QueuedRecipient]


@dataclass(frozen=True)
class RecipientResult:
    """One recipient's outcome of an attempt (finish_attempt). A pending status (ready,
    retry) needs `next_attempt_at`. `attempted`: this was a delivery attempt (counted in
    `attempts` and `last_attempt_at`; False when, say, a connection limit kept it back).
    `at`: when it was tried (empty: the store's clock)."""

    address: str
    status: RecipientStatus
    reply: str = ""
    next_attempt_at: str | None = None
    attempted: bool = True
    delay_notified: bool = False
    at: str = ""

    def checked(self) -> RecipientResult:
        status = enum_value(RecipientStatus, "status", self.status)
        if not isinstance(self.address, str) or not self.address:
            raise ValidationError("address", f"{self.address!r} is not an address")
        if not isinstance(self.reply, str):
            raise ValidationError("reply", f"{self.reply!r} is not text")
        if status.pending and not self.next_attempt_at:
            raise ValidationError("next_attempt_at", f"is needed for status {status.value}")
        return RecipientResult(self.address, status, self.reply, self.next_attempt_at, bool(self.attempted),
                               bool(self.delay_notified), self.at)


def recipient_domain(address: str) -> str:
    return address.rpartition("@")[2]
