"""The outbound queue, shared by both backends: checks of what is queued and reported, row
conversions and the statements (`?` placeholders; the PostgreSQL store turns them into
`$n`). The backends run them in their own transactions: sqlite/queue.py, postgres/queue.py.

Tables (migrations sqlite 0009, postgresql 0004): `queues` (one row per next hop: its
suspension and last error), `queue_messages` (one per queued message: envelope, status,
lease, a reference to the body in `message_bodies`) and `queue_recipients` (one per remote
recipient: its queue, status and schedule).
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Sequence

from ...errors import Conflict, NotFound, ValidationError
from ...model import (
    MessageStatus, OutboundSubmission, QueuedMessage, QueuedRecipient, QueueInfo, QueueKey, QueueStatus,
    RecipientResult, RecipientStatus, TrackingEvent, TrackingEventId, enum_value,
)
from ...model.queue import POISON_DELIVERY, POISON_QUEUE, check_queue_id, recipient_domain
from .mail import tracking_values
from .schema import now as store_now
from .values import count_argument, utc_iso

POISON_AFTER = 2  # claims that ended without finish_attempt: the message is then poison
MAX_LEASE = 7 * 24 * 3600
MAX_CLAIM = 1000  # messages per claim (their ids are bound one parameter each)
_PENDING_SQL = "('ready', 'retry')"

MESSAGE_COLUMNS = ("id, created_at, sender, size, envid, ret, smtputf8, body_8bit, submitter, client_ip,"
                   " origin_server, status, crash_count, lease_holder, lease_until, message_id_header")
RECIPIENT_COLUMNS = ("message_id, address, orcpt, notify, domain, queue, status, attempts, next_attempt_at,"
                     " last_reply, last_attempt_at, delay_notified")


def _m(columns: str, alias: str) -> str:
    return ", ".join(f"{alias}.{name.strip()}" for name in columns.split(","))


# what is queued ------------------------------------------------------------------------------

def _optional_text(value: Any, field: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ValidationError(field, f"{value!r} is not text")
    return value or None


def _text(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise ValidationError(field, f"{value!r} is not text")
    return value


def _bool(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(field, f"{value!r} is not true or false")
    return value


class Submission:
    """deliver_message's `outbound`, checked and in stored form."""

    def __init__(self, outbound: Any) -> None:
        if not isinstance(outbound, OutboundSubmission):
            raise ValidationError("outbound", f"must be an OutboundSubmission, not {type(outbound).__name__}")
        self.id = check_queue_id(outbound.queue_id, "queue_id")
        self.at = utc_iso(outbound.at, "at") if outbound.at else ""
        ret = _optional_text(outbound.ret, "ret")
        if ret is not None and ret.upper() not in ("FULL", "HDRS"):
            raise ValidationError("ret", f"{ret!r} is not allowed", ["FULL", "HDRS"])
        self.message = (
            _text(outbound.sender, "sender"), _optional_text(outbound.envid, "envid"),
            None if ret is None else ret.upper(), _bool(outbound.smtputf8, "smtputf8"),
            _bool(outbound.body_8bit, "body_8bit"), _optional_text(outbound.submitter, "submitter"),
            _text(outbound.client_ip, "client_ip"), _text(outbound.origin_server, "origin_server"),
            _text(outbound.message_id_header, "message_id_header"),
        )
        recipients = list(outbound.recipients)
        if not recipients:
            raise ValidationError("recipients", "an outbound submission needs at least one recipient")
        self.queues: dict[str, QueueKey] = {}
        self.recipients: list[tuple[int, str, str | None, str | None, str, str]] = []
        seen: set[str] = set()
        for position, recipient in enumerate(recipients):
            if not isinstance(recipient, tuple) or len(recipient) != 4:
                raise ValidationError("recipients", f"{recipient!r} is not (address, orcpt, notify, queue)")
            address, orcpt, notify, queue = recipient
            if not isinstance(address, str) or "@" not in address:
                raise ValidationError("recipients", f"{address!r} is not an address")
            if address in seen:
                raise ValidationError("recipients", f"{address} is listed twice")
            seen.add(address)
            key = QueueKey.parse(queue)
            self.queues[key.name] = key
            self.recipients.append((position, address, _optional_text(orcpt, "orcpt"),
                                    _optional_text(notify, "notify"), recipient_domain(address), key.name))
        self.lease: tuple[str | None, str | None, int] = (None, None, 0)
        if outbound.lease_holder is not None:  # claimed as it is queued (OutboundSubmission.claimed)
            holder = _text(outbound.lease_holder, "lease_holder")
            if not holder:
                raise ValidationError("lease_holder", "'' is not a holder name (SERVER/tag)")
            if not self.at:
                raise ValidationError("at", "a submission claimed as it is queued needs its time")
            self.lease = (holder, lease_until(self.at, outbound.lease_seconds), 1)

    def message_row(self, body_id: int, size: int, at: str) -> tuple[Any, ...]:
        return (self.id, body_id, at, self.message[0], size, *self.message[1:], *self.lease)

    def recipient_rows(self, at: str) -> list[tuple[Any, ...]]:
        return [(self.id, *row, "ready", at) for row in self.recipients]

    def queue_rows(self) -> list[tuple[str, str, str, str]]:
        return [(name, key.delivery_type, key.next_hop, key.connector) for name, key in self.queues.items()]


INSERT_QUEUE = ("INSERT INTO queues (name, delivery_type, next_hop, connector) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (name) DO NOTHING")
INSERT_MESSAGE = ("INSERT INTO queue_messages (id, body_id, created_at, sender, size, envid, ret, smtputf8, body_8bit,"
                  " submitter, client_ip, origin_server, message_id_header, lease_holder, lease_until, crash_count)"
                  " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
INSERT_RECIPIENT = ("INSERT INTO queue_recipients (message_id, position, address, orcpt, notify, domain, queue,"
                    " status, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")


def queue_id_taken(queue_id: str) -> Conflict:
    return Conflict(f"queue id {queue_id} is already in the queue")


# rows ----------------------------------------------------------------------------------------

def message_row(row: Sequence[Any]) -> QueuedMessage:
    (id_, created_at, sender, size, envid, ret, smtputf8, body_8bit, submitter, client_ip, origin_server, status,
     crash_count, lease_holder, lease_until, message_id_header) = row
    return QueuedMessage(id_, created_at, sender, int(size), envid, ret, bool(smtputf8), bool(body_8bit), submitter,
                         client_ip, origin_server, MessageStatus(status), int(crash_count), lease_holder,
                         lease_until, message_id_header)


def recipient_row(row: Sequence[Any]) -> QueuedRecipient:
    (message_id, address, orcpt, notify, domain, queue, status, attempts, next_attempt_at, last_reply,
     last_attempt_at, delay_notified) = row
    return QueuedRecipient(message_id, address, orcpt, notify, domain, queue, RecipientStatus(status), int(attempts),
                           next_attempt_at, last_reply, last_attempt_at, bool(delay_notified))


def message_missing(message_id: str) -> NotFound:
    return NotFound("queued message", message_id)


SELECT_MESSAGE = f"SELECT {MESSAGE_COLUMNS} FROM queue_messages WHERE id = ?"
SELECT_RECIPIENTS = f"SELECT {RECIPIENT_COLUMNS} FROM queue_recipients WHERE message_id = ? ORDER BY position"
SELECT_BODY = "SELECT body_id, size FROM queue_messages WHERE id = ?"


# claiming ------------------------------------------------------------------------------------

def claim_arguments(holder: Any, now: Any, lease_seconds: Any, limit: Any) -> tuple[str, str, str, int]:
    """(holder, now, lease_until, limit), checked."""
    if not isinstance(holder, str) or not holder:
        raise ValidationError("holder", f"{holder!r} is not a holder name (SERVER/tag)")
    at = utc_iso(now, "now")
    limit = count_argument(limit, "limit")
    if limit > MAX_CLAIM:
        raise ValidationError("limit", f"{limit} is more than {MAX_CLAIM} messages at once")
    return holder, at, lease_until(at, lease_seconds), limit


def lease_until(now: str, lease_seconds: Any) -> str:
    if isinstance(lease_seconds, bool) or not isinstance(lease_seconds, (int, float)) or \
            not 0 < lease_seconds <= MAX_LEASE:
        raise ValidationError("lease_seconds",
                              f"{lease_seconds!r} is not a number of seconds above 0, at most {MAX_LEASE}")
    return utc_iso(datetime.fromisoformat(now) + timedelta(seconds=lease_seconds), "now")


def claim_candidates(lock: bool) -> str:
    """Messages with a recipient due in a queue not suspended, active, lease free or expired:
    (id, crash_count, lease_holder), oldest first. Parameters: now (lease), now (due), limit. With `lock`
    (PostgreSQL), the rows are locked and rows another transaction holds are skipped: two
    nodes claiming at once never get the same message."""
    return (
        "SELECT m.id, m.crash_count, m.lease_holder FROM queue_messages m"
        " WHERE m.status = 'active' AND (m.lease_until IS NULL OR m.lease_until <= ?)"
        " AND m.id IN (SELECT r.message_id FROM queue_recipients r JOIN queues q ON q.name = r.queue"
        f" WHERE r.status IN {_PENDING_SQL} AND r.next_attempt_at <= ? AND NOT q.suspended)"
        " ORDER BY m.created_at, m.id LIMIT ?" + (" FOR UPDATE OF m SKIP LOCKED" if lock else "")
    )


def in_list(count: int) -> str:
    return "(" + ", ".join("?" * count) + ")"


def poison_statement(count: int) -> str:
    return (f"UPDATE queue_messages SET status = 'poison', lease_holder = NULL, lease_until = NULL"
            f" WHERE id IN {in_list(count)}")


def split_candidates(picked: Sequence[Sequence[Any]], holder: str) -> tuple[list[str], list[str]]:
    """(poison, to claim): the ids of claim_candidates rows. A message whose claims ended
    without a result POISON_AFTER times is set aside, unless its lease ran out in this very
    holder's hands: a worker that was slow to renew (a stalled machine), not one that died,
    and that still has the message in flight."""
    poison = [row[0] for row in picked if row[1] >= POISON_AFTER and row[2] != holder]
    return poison, [row[0] for row in picked if row[1] < POISON_AFTER or row[2] == holder]


def lease_statement(count: int) -> str:
    """Parameters: holder, lease_until, holder, ids. A claim counts as a possible crash (one
    more claim without a result) unless the lease it takes was the holder's own."""
    return ("UPDATE queue_messages SET lease_holder = ?, lease_until = ?,"
            " crash_count = crash_count + CASE WHEN lease_holder = ? THEN 0 ELSE 1 END"
            f" WHERE id IN {in_list(count)}")


def claimed_messages(count: int) -> str:
    return f"SELECT {MESSAGE_COLUMNS} FROM queue_messages WHERE id IN {in_list(count)} ORDER BY created_at, id"


def due_recipients(count: int) -> str:
    """Parameters: now, ids."""
    return (f"SELECT {_m(RECIPIENT_COLUMNS, 'r')} FROM queue_recipients r JOIN queues q ON q.name = r.queue"
            f" WHERE r.status IN {_PENDING_SQL} AND r.next_attempt_at <= ? AND NOT q.suspended"
            f" AND r.message_id IN {in_list(count)} ORDER BY r.message_id, r.position")


def poison_tracking(holder: str, messages: Sequence[QueuedMessage],
                    recipients: Sequence[QueuedRecipient]) -> list[tuple[Any, ...]]:
    """POISONMESSAGE rows (tracking_values form), one per pending recipient of each message."""
    server = holder.split("/", 1)[0]
    rows = []
    for message in messages:
        for recipient in recipients:
            if recipient.message_id == message.id and recipient.status.pending:
                rows.append(tracking_values(TrackingEvent(
                    TrackingEventId.POISONMESSAGE, server, "QUEUE", message.id, message.message_id_header,
                    message.sender, recipient.address,
                    f"set aside: {POISON_AFTER} delivery attempts ended without a result (the worker crashed)",
                    message.size, message.client_ip, "")))
    return rows


def pending_recipients(count: int) -> str:
    return (f"SELECT {RECIPIENT_COLUMNS} FROM queue_recipients WHERE status IN {_PENDING_SQL}"
            f" AND message_id IN {in_list(count)} ORDER BY message_id, position")


EXTEND_LEASE = ("UPDATE queue_messages SET lease_until = ? WHERE id = ? AND lease_holder = ?"
                " AND lease_until IS NOT NULL")
EXTEND_LEASES = "UPDATE queue_messages SET lease_until = ? WHERE lease_holder = ? AND lease_until IS NOT NULL"
RELEASE = ("UPDATE queue_messages SET lease_holder = NULL, lease_until = NULL,"
           " crash_count = CASE WHEN crash_count > 0 THEN crash_count - 1 ELSE 0 END WHERE id = ? AND lease_holder = ?")


# the end of an attempt -------------------------------------------------------------------------

def attempt_results(results: Sequence[Any]) -> list[RecipientResult]:
    checked, seen = [], set()
    for result in results:
        if not isinstance(result, RecipientResult):
            raise ValidationError("results", f"{result!r} is not a RecipientResult")
        result = result.checked()
        if result.address in seen:
            raise ValidationError("results", f"{result.address} is reported twice")
        seen.add(result.address)
        at = utc_iso(result.at, "at") if result.at else ""
        due = utc_iso(result.next_attempt_at, "next_attempt_at") if result.status.pending else None
        checked.append(RecipientResult(result.address, result.status, result.reply, due, result.attempted,
                                       result.delay_notified, at))
    return checked


def holder_lost(message_id: str, holder: str, current: str | None) -> Conflict:
    who = f"now held by {current}" if current else "no longer held"
    return Conflict(f"queued message {message_id} is {who}, not by {holder}: its lease expired")


class Attempt:
    """finish_attempt's statements, from the recipients stored and the results reported."""

    def __init__(self, message_id: str, stored: Sequence[QueuedRecipient], results: Sequence[RecipientResult]) -> None:
        now = store_now()
        by_address = {recipient.address: recipient for recipient in stored}
        self.updates: list[tuple[Any, ...]] = []
        errors: dict[str, str | None] = {}
        final = {r.address for r in stored if not r.status.pending}
        for result in results:
            recipient = by_address.get(result.address)
            if recipient is None:
                raise ValidationError("results", f"{result.address} is not a recipient of {message_id}")
            if not recipient.status.pending:
                raise ValidationError("results", f"{result.address} is already {recipient.status.value}")
            at = result.at or now
            attempts = recipient.attempts + (1 if result.attempted else 0)
            last_attempt = at if result.attempted else recipient.last_attempt_at
            reply = result.reply or recipient.last_reply
            notified = recipient.delay_notified or result.delay_notified
            self.updates.append((result.status.value, attempts, result.next_attempt_at, reply, last_attempt,
                                 notified, message_id, result.address))
            if not result.status.pending:
                final.add(result.address)
            if result.status == RecipientStatus.SENT:
                errors[recipient.queue] = None  # the next hop works: its last error is history
            elif result.status == RecipientStatus.RETRY and result.reply and errors.get(recipient.queue, "") == "":
                errors[recipient.queue] = result.reply
        self.queue_errors = [(error, now, queue) for queue, error in errors.items() if error]
        # Clearing a queue's error writes only where there is one: most attempts succeed, and
        # rewriting the same row each time would cost a 16 KiB page in SQLite's log per message.
        self.queue_cleared = [(queue,) for queue, error in errors.items() if not error]
        self.done = final == set(by_address)
        if self.done:  # the message goes with its recipients: updating them first is wasted work
            self.updates = []

    def writes(self) -> list[tuple[str, list[tuple[Any, ...]]]]:
        """(statement, rows) to run with executemany before the lease ends or the message goes."""
        return [(statement, rows) for statement, rows in ((UPDATE_RECIPIENT, self.updates),
                                                          (UPDATE_QUEUE_ERROR, self.queue_errors),
                                                          (CLEAR_QUEUE_ERROR, self.queue_cleared)) if rows]


UPDATE_RECIPIENT = ("UPDATE queue_recipients SET status = ?, attempts = ?, next_attempt_at = ?, last_reply = ?,"
                    " last_attempt_at = ?, delay_notified = ? WHERE message_id = ? AND address = ?")
UPDATE_QUEUE_ERROR = "UPDATE queues SET last_error = ?, last_error_at = ? WHERE name = ?"
CLEAR_QUEUE_ERROR = ("UPDATE queues SET last_error = NULL, last_error_at = NULL"
                     " WHERE name = ? AND last_error IS NOT NULL")
END_LEASE = "UPDATE queue_messages SET lease_holder = NULL, lease_until = NULL, crash_count = 0 WHERE id = ?"
REMOVE_MESSAGE = "DELETE FROM queue_messages WHERE id = ?"  # its recipients by cascade, its body by trigger


def notified_addresses(addresses: Sequence[Any]) -> list[str]:
    found = list(addresses)
    for address in found:
        if not isinstance(address, str) or not address:
            raise ValidationError("addresses", f"{address!r} is not an address")
    return found


# the viewer ----------------------------------------------------------------------------------

def queue_list_query() -> str:
    """Parameters: now (leased), now (due). Queues with pending recipients (of messages not
    poison), and suspended ones."""
    return (
        "SELECT q.name, q.delivery_type, q.next_hop, q.connector, q.suspended, q.last_error,"
        " count(DISTINCT m.id), min(CASE WHEN m.id IS NULL THEN NULL ELSE r.next_attempt_at END),"
        " max(CASE WHEN m.lease_until > ? THEN 1 ELSE 0 END),"
        " max(CASE WHEN m.status = 'active' AND r.next_attempt_at <= ? THEN 1 ELSE 0 END)"
        f" FROM queues q LEFT JOIN queue_recipients r ON r.queue = q.name AND r.status IN {_PENDING_SQL}"
        " LEFT JOIN queue_messages m ON m.id = r.message_id AND m.status <> 'poison'"
        " GROUP BY q.name, q.delivery_type, q.next_hop, q.connector, q.suspended, q.last_error"
        " HAVING count(m.id) > 0 OR q.suspended ORDER BY q.name"
    )


POISON_COUNT = "SELECT count(*), min(created_at) FROM queue_messages WHERE status = 'poison'"


def queue_infos(rows: Sequence[Sequence[Any]], poison: Sequence[Any]) -> list[QueueInfo]:
    infos = []
    for name, delivery_type, next_hop, connector, suspended, last_error, count, next_at, leased, due in rows:
        if suspended:
            status = QueueStatus.SUSPENDED
        elif leased:
            status = QueueStatus.ACTIVE
        elif due:
            status = QueueStatus.READY
        else:
            status = QueueStatus.RETRY
        infos.append(QueueInfo(name, delivery_type, next_hop, status, int(count), next_at, last_error, connector))
    if poison and poison[0]:
        infos.append(QueueInfo(POISON_QUEUE, POISON_DELIVERY, "Poison Message", QueueStatus.SUSPENDED,
                               int(poison[0]), None, "set aside: delivery crashed the worker; resume or remove"
                               " its messages"))
    return infos


def messages_query(queue: Any, status: Any, limit: Any) -> tuple[str, list[Any]]:
    where, params = [], []
    if queue is not None:
        if not isinstance(queue, str) or not queue:
            raise ValidationError("queue", f"{queue!r} is not a queue name")
        if queue == POISON_QUEUE:
            where.append("status = 'poison'")
        else:
            where.append("id IN (SELECT message_id FROM queue_recipients WHERE queue = ?"
                         f" AND status IN {_PENDING_SQL})")
            params.append(queue)
    if status is not None:
        where.append("status = ?")
        params.append(enum_value(MessageStatus, "status", status).value)
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    sql = f"SELECT {MESSAGE_COLUMNS} FROM queue_messages{clause} ORDER BY created_at, id LIMIT ?"
    return sql, [*params, count_argument(limit, "limit")]


COUNTS = "SELECT status, count(*) FROM queue_messages GROUP BY status"


def counts(rows: Sequence[Sequence[Any]]) -> dict[str, int]:
    found = {status.value: 0 for status in MessageStatus}
    for status, count in rows:
        found[status] = int(count)
    return found


# admin actions -------------------------------------------------------------------------------

def queue_name(name: Any) -> str:
    if not isinstance(name, str) or not name:
        raise ValidationError("queue", f"{name!r} is not a queue name")
    if name == POISON_QUEUE:
        raise ValidationError("queue", "the poison queue is never retried: resume or remove its messages one by one")
    return name


def queue_missing(name: str) -> NotFound:
    return NotFound("queue", name)


SET_QUEUE_SUSPENDED = "UPDATE queues SET suspended = ? WHERE name = ?"
# A next hop's row goes once no recipient refers to it and no admin suspended it: a queue is
# made again by the next message for it (Exchange drops empty queues too).
REMOVE_IDLE_QUEUES = ("DELETE FROM queues WHERE name IN (SELECT q.name FROM queues q WHERE NOT q.suspended"
                      " AND NOT EXISTS (SELECT 1 FROM queue_recipients r WHERE r.queue = q.name) LIMIT ?)")
RETRY_QUEUE = (f"UPDATE queue_recipients SET next_attempt_at = ? WHERE queue = ? AND status IN {_PENDING_SQL}"
               " AND next_attempt_at > ?")
SET_MESSAGE_STATUS = "UPDATE queue_messages SET status = ? WHERE id = ?"
RESUME_MESSAGE = "UPDATE queue_messages SET status = 'active', crash_count = 0 WHERE id = ?"


def message_status_change(current: MessageStatus, wanted: MessageStatus, message_id: str) -> None:
    if wanted == MessageStatus.SUSPENDED and current == MessageStatus.POISON:
        raise Conflict(f"queued message {message_id} is a poison message: resume it or remove it")


def read_range(offset: Any, size: Any, total: int) -> tuple[int, int]:
    """read_queued_body's (offset, size), checked against the body's size; size None: the rest."""
    offset = count_argument(offset, "offset")
    size = count_argument(size, "size", optional=True)
    if offset > total:
        raise ValidationError("offset", f"{offset} is past the end of the body ({total} octets)")
    return offset, min(total - offset, total if size is None else size)


def now_or(value: Any, field: str = "now") -> str:
    return store_now() if value is None else utc_iso(value, field)
