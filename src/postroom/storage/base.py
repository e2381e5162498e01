"""The Store protocol: everything postroom keeps, behind one async interface, in roles.

Backends: `sqlite` (embedded default) and `postgres` (several nodes on one database). Every
backend passes the one contract suite in tests/storage. Driver errors never escape: a
backend translates them into postroom.errors (NotFound, Conflict, Unavailable, ...).

Roles: `Store` is the union of small protocols, one per kind of user, so a user depends on
(and a test double implements) only the methods it calls: a POP3 session takes a `MailStore`
(find_mailbox, get_mailbox, try_lock_mailbox, unlock_mailbox, list_messages, read_message,
delete_messages, mailbox_usage), SMTP delivery a `DeliveryStore`, the doctor a `StoreReader`,
the outbound delivery workers and the queue viewer a `QueueStore`, the node's and the
service layer's handling of `postroom session end` a `SessionControl`.

Conventions:
- Addresses and domains arrive already normalised (lower-case) by postroom.model.
- `deliver` returns only once the message is durable (fsync'ed commit); concurrent calls
  may share one commit (group commit).
- A message delivered to several mailboxes is stored once (one body, one entry per mailbox);
  the body goes when its last entry is deleted.
- Every write that changes configuration (servers, services, POP settings, receive
  connectors, send connectors, transport settings, admin-service settings, the login policy,
  domains, DKIM keys, mailboxes) increases
  `config_version()`, which nodes poll to apply changes live.
- A write that takes `audit` (an AuditNote) inserts that audit entry in its own transaction:
  the change and the entry it records commit together, or neither does.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable, Mapping, Protocol, Sequence

from ..model import (
    Admin, ApiToken, AuditEntry, Block, Claim, DkimKey, EndedSessions, ImapSettings, LoginFailure, LoginPolicy, Mailbox,
    MessageInfo, NodeReport, OutboundSubmission, PopSettings, QueuedMessage, QueuedRecipient, QueueInfo,
    ReceiveConnector, RecipientResult, SendConnector, Server, Service, SessionEndRequest, TrackingEvent,
    TransportSettings, WebSession, WebSettings,
)
from .folders import FolderStore  # IMAP4's role, in a module of its own


@dataclass(frozen=True)
class SpooledBody:
    """The start of a message body held in a file (an SMTP spool file): its first `size`
    octets, in wire form. The file is the caller's: the store only reads it."""

    path: str
    size: int


@dataclass(frozen=True)
class AuditNote:
    """The audit entry of one change, given to the write that makes it, which inserts it in
    the same transaction (outcome "success"). `after` may be a function of what the write
    returns (a new record's view: its id, its creation time), called in that transaction."""

    actor: str
    action: str
    target: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None | Callable[[Any], dict[str, Any] | None]
    channel: str = "cli"


class StoreLifecycle(Protocol):
    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def migrate(self) -> list[int]:
        """Apply pending numbered migrations; return the versions applied now."""
    async def schema_version(self) -> int: ...
    async def claim_server(self, server: str) -> None:
        """`serve` registers the server it runs: Conflict if another node (process) of this
        store already serves it. The claim lasts until close() (or the process dies)."""
    async def snapshot(self, path: str) -> None:
        """Embedded store: write a consistent copy of the whole database to the new file
        `path` while the store keeps serving (fsync'ed on return)."""


# mail ------------------------------------------------------------------------------------

class MailboxLookup(Protocol):
    async def find_mailbox(self, address: str) -> Mailbox | None:
        """The login hot path: None if absent."""
    async def get_mailbox(self, address: str) -> Mailbox:
        """NotFound if absent."""


class MailboxLocks(Protocol):
    """The POP3 mailbox lock: one session at a time per mailbox, across every node."""

    async def try_lock_mailbox(self, mailbox_id: int, holder: str) -> bool:
        """Exclusive: False if another holder has it."""
    async def unlock_mailbox(self, mailbox_id: int, holder: str) -> None: ...


class MailStore(MailboxLookup, MailboxLocks, Protocol):
    """A mailbox's mail, as a POP3 session reads and deletes it: its INBOX (storage/folders.py)."""

    async def list_messages(self, mailbox_id: int) -> list[MessageInfo]:
        """The INBOX's messages, oldest first (by arrival: UID order)."""
    async def read_message(self, mailbox_id: int, message_id: int, size: int | None = None) -> bytes:
        """The message's octets (in any folder); with `size`, at most its first `size` octets (its
        header, for a listing), read without the rest. NotFound if the message is gone."""
    async def delete_messages(self, mailbox_id: int, message_ids: Sequence[int], *,
                              audit: AuditNote | None = None) -> int:
        """Atomic: all or none (an expunge of INBOX). Returns how many existed and were removed."""
    async def mailbox_usage(self, mailbox_id: int) -> tuple[int, int]:
        """(message count, total octets)."""


class DeliveryStore(MailboxLookup, Protocol):
    """Putting mail in: SMTP delivery (with its tracking rows), imports, moving a store."""

    async def deliver(self, mailbox_id: int, data: bytes) -> MessageInfo:
        """Store one message in wire form (CRLF line ends, ends with CRLF); durable on return."""
    async def deliver_message(self, mailbox_ids: Sequence[int], data: bytes | memoryview,
                              tracking: Sequence[TrackingEvent] = (), *, head: bytes = b"",
                              spooled: SpooledBody | None = None,
                              outbound: OutboundSubmission | None = None) -> list[MessageInfo]:
        """SMTP delivery: one body stored once, one entry per mailbox (in the given order), in
        one transaction, durable on return; then the tracking rows (a backend may write those
        a moment later, in a batch: list_tracking on the same store shows them at once, and
        a refused delivery leaves none). The body is `head` (the
        trace headers the receiving server adds; empty or CRLF-terminated lines) followed by
        `data` (bytes, or a view nobody changes until this returns: the octets are not
        copied first). With `spooled`, the body is `head`, then the file's octets, then
        `data` (a big message: read from the file in pieces, never whole in memory on the
        embedded store). With `outbound`, the message is also queued for its remote
        recipients (QueueStore) in the same transaction, with the same body (not a second
        copy): durable on return, like the local entries (group commit kept); `mailbox_ids`
        may then be empty. NotFound (and nothing stored) if any mailbox is gone;
        ValidationError if `mailbox_ids` is empty without `outbound`, or the body is not in
        wire form; Conflict if `outbound.queue_id` is already queued; Unavailable if the
        file cannot be read whole."""
    async def deliver_many(self, mailbox_id: int, messages: Sequence[bytes]) -> list[MessageInfo]:
        """Several messages in one transaction (imports)."""
    async def restore_messages(self, mailbox_id: int,
                               messages: Sequence[tuple[MessageInfo, bytes]]) -> list[MessageInfo]:
        """Moving a store: each message keeps its UIDL and arrival time (a POP3 client that
        remembers UIDLs downloads nothing twice) and gets a new id; one transaction, durable on
        return. Conflict (nothing stored) if a UIDL is already stored; NotFound if the mailbox is gone."""
    async def append_tracking(self, events: Sequence[TrackingEvent]) -> None:
        """Rows that go with no delivery (FAIL at RCPT time); `at` and `id` are set here.
        Like deliver_message's rows, they may be written a moment later, in a batch."""


# configuration ---------------------------------------------------------------------------

class ConfigReader(MailboxLookup, Protocol):
    """Reading the configuration: what nodes apply and diagnostics check."""

    async def config_version(self) -> int: ...
    async def get_server(self, name: str) -> Server: ...
    async def list_servers(self) -> list[Server]: ...
    async def list_services(self, server: str) -> list[Service]: ...
    async def get_service(self, server: str, name: str) -> Service: ...
    async def get_pop_settings(self, server: str) -> PopSettings: ...
    async def get_imap_settings(self, server: str) -> ImapSettings:
        """What the node's IMAP4 service applies (with the imap4 service's state); NotFound if no such server."""
    async def get_web_settings(self, server: str) -> WebSettings:
        """The admin service's settings; NotFound if the server does not exist."""
    async def get_login_policy(self) -> LoginPolicy:
        """The organization's login block policy (one for every server); LoginPolicy() until set."""
    async def get_node_report(self, server: str) -> NodeReport | None: ...
    async def list_connectors(self, server: str | None = None) -> list[ReceiveConnector]:
        """Ordered by (server, name ignoring case); None lists every server's connectors.
        NotFound if the server does not exist. Connector names are unique per server and
        match case-insensitively."""
    async def get_connector(self, server: str, name: str) -> ReceiveConnector:
        """NotFound if absent."""
    async def list_send_connectors(self) -> list[SendConnector]:
        """Every send connector (organisation-wide), ordered by name ignoring case. Names are
        unique and match case-insensitively; the smart-host password comes back sealed."""
    async def get_send_connector(self, name: str) -> SendConnector:
        """Matched ignoring case; NotFound if absent."""
    async def get_transport_settings(self, server: str) -> TransportSettings:
        """The server's transport settings; TransportSettings() until first set. NotFound if
        the server does not exist."""
    async def list_domains(self) -> list[str]: ...
    async def list_dkim_keys(self, domain: str | None = None) -> list[DkimKey]:
        """DKIM signing keys (with their private keys: for the signer, never for a view),
        ordered by (domain, algorithm); `domain` None: every domain's. An unknown domain has none."""
    async def list_mailboxes(self, search: str | None = None, offset: int = 0,
                             limit: int | None = None) -> list[Mailbox]:
        """Ordered by address; `search` matches a substring of address or display name."""
    async def count_mailboxes(self, search: str | None = None) -> int: ...


class ConfigStore(ConfigReader, Protocol):
    """Changing the configuration; each write bumps config_version (node reports excepted)."""

    async def add_server(self, server: Server, services: Sequence[Service], pop: PopSettings,
                         connectors: Sequence[ReceiveConnector] = (), web: WebSettings | None = None,
                         imap: ImapSettings | None = None) -> None:
        """Create a server with its services, POP settings, receive connectors, admin-service and IMAP
        settings (defaults WebSettings(), ImapSettings()) in one transaction (Conflict if it exists)."""
    async def update_service(self, service: Service, *, audit: AuditNote | None = None) -> None: ...
    async def put_pop_settings(self, server: str, settings: PopSettings, *, audit: AuditNote | None = None) -> None: ...
    async def put_imap_settings(self, server: str, settings: ImapSettings, *,
                                audit: AuditNote | None = None) -> None: ...
    async def put_web_settings(self, server: str, settings: WebSettings, *, audit: AuditNote | None = None) -> None: ...
    async def put_login_policy(self, policy: LoginPolicy, *, audit: AuditNote | None = None) -> None: ...
    async def put_node_report(self, report: NodeReport) -> None:
        """Not a configuration change: does not bump config_version."""
    async def add_connector(self, connector: ReceiveConnector, *, audit: AuditNote | None = None) -> None:
        """NotFound if its server does not exist; Conflict if the name is taken on that server
        (in any case)."""
    async def put_connector(self, connector: ReceiveConnector, *, audit: AuditNote | None = None) -> None:
        """Replace an existing connector's properties (NotFound if absent); the stored name
        keeps its case."""
    async def remove_connector(self, server: str, name: str, *, audit: AuditNote | None = None) -> None:
        """NotFound if absent."""
    async def add_send_connector(self, connector: SendConnector, *, audit: AuditNote | None = None) -> None:
        """Conflict if the name is taken (in any case)."""
    async def put_send_connector(self, connector: SendConnector, *, audit: AuditNote | None = None) -> None:
        """Replace an existing send connector's properties (NotFound if absent); the stored name
        keeps its case."""
    async def remove_send_connector(self, name: str, *, audit: AuditNote | None = None) -> None:
        """NotFound if absent."""
    async def put_transport_settings(self, server: str, settings: TransportSettings, *,
                                     audit: AuditNote | None = None) -> None:
        """NotFound if the server does not exist."""
    async def add_domain(self, name: str, *, audit: AuditNote | None = None) -> None: ...
    async def remove_domain(self, name: str, *, audit: AuditNote | None = None) -> None:
        """NotFound if absent; Conflict while mailboxes or DKIM keys in the domain exist."""
    async def add_dkim_key(self, key: DkimKey, *, audit: AuditNote | None = None) -> DkimKey:
        """Store a key as given (`created_at` set here when empty) and return it as stored.
        NotFound if the domain is not an accepted domain; Conflict if the domain has a key with
        that selector, or one of that algorithm (one per algorithm)."""
    async def remove_dkim_key(self, domain: str, selector: str, *, audit: AuditNote | None = None) -> None:
        """NotFound if the domain has no key with that selector."""
    async def create_mailbox(
        self, address: str, display_name: str, password_hash: str | None,
        *, enabled: bool = True, pop_enabled: bool = True, imap_enabled: bool = True,
        audit: AuditNote | None = None,
    ) -> Mailbox: ...
    async def update_mailbox(self, address: str, /, *, audit: AuditNote | None = None, **changes: Any) -> Mailbox:
        """Changes among display_name, password_hash, enabled, pop_enabled, imap_enabled and
        send_as (a tuple of addresses or `*@domain`; none: nothing is written, `audit` neither)."""
    async def remove_mailbox(self, address: str, *, audit: AuditNote | None = None) -> None:
        """Removes its messages too."""


# administration --------------------------------------------------------------------------

class AuditLog(Protocol):
    async def append_audit(self, actor: str, action: str, target: str,
                           before: dict[str, Any] | None, after: dict[str, Any] | None, *,
                           channel: str = "cli", outcome: str = "success",
                           detail: str | None = None) -> AuditEntry:
        """An entry that goes with no change of the store: a refusal, a check, a backup."""
    async def list_audit(self, limit: int = 100, target: str | None = None, *, actor: str | None = None,
                         action: str | None = None, channel: str | None = None, outcome: str | None = None,
                         since: str | None = None) -> list[AuditEntry]:
        """Newest first; every filter given must match (target, actor, action, channel and
        outcome exactly; `since`: at or after that ISO-8601 UTC time)."""


class AdminStore(AuditLog, Protocol):
    """Admin principals, their API tokens and console sessions (organisation-wide; names
    arrive lower-case), and the audit log. None of these bump config_version: nodes read
    admins, tokens and sessions per request."""

    async def add_admin(self, name: str, password_hash: str | None, roles: Sequence[str], *,
                        audit: AuditNote | None = None) -> Admin:
        """Conflict if the name exists."""
    async def get_admin(self, name: str) -> Admin:
        """NotFound if absent."""
    async def find_admin(self, name: str) -> Admin | None: ...
    async def list_admins(self) -> list[Admin]:
        """Ordered by name."""
    async def update_admin(self, name: str, /, *, audit: AuditNote | None = None, **changes: Any) -> Admin:
        """Changes among password_hash and roles (none: nothing is written, `audit` neither);
        NotFound if absent."""
    async def remove_admin(self, name: str, *, audit: AuditNote | None = None) -> None:
        """NotFound if absent; its API tokens and console sessions go with it."""
    async def add_token(self, token: ApiToken, *, audit: AuditNote | None = None) -> ApiToken:
        """`created_at` is set here when empty; NotFound if the admin does not exist,
        Conflict if the id is taken."""
    async def find_token(self, token_id: str) -> ApiToken | None: ...
    async def list_tokens(self, admin: str | None = None) -> list[ApiToken]:
        """Ordered by (admin, created_at, id)."""
    async def touch_token(self, token_id: str, at: str) -> None:
        """Record a use (last_used_at); a missing id is ignored."""
    async def remove_token(self, token_id: str, *, audit: AuditNote | None = None) -> None:
        """NotFound if absent."""
    async def add_session(self, session: WebSession) -> None:
        """NotFound if the admin does not exist."""
    async def find_session(self, id_hash: str) -> WebSession | None: ...
    async def extend_session(self, id_hash: str, expires_at: str) -> None:
        """Sliding expiry; a missing session is ignored."""
    async def remove_session(self, id_hash: str) -> None:
        """A missing session is ignored (signing out twice is fine)."""
    async def remove_expired_sessions(self, now: str) -> int:
        """Sessions whose expires_at <= now (ISO-8601 UTC) go; returns how many."""


# evidence: what happened (not configuration: nothing here bumps config_version) -----------

class EvidenceReader(Protocol):
    async def list_tracking(self, *, sender: str | None = None, recipient: str | None = None,
                            message_id: str | None = None, queue_id: str | None = None,
                            event_id: str | None = None, since: str | None = None,
                            limit: int = 1000) -> list[TrackingEvent]:
        """The newest `limit` matching rows, oldest first. sender/recipient match
        case-insensitively and exactly; `since` is an ISO-8601 time (rows at or after it)."""
    async def list_activity(self, server: str | None, since: str) -> list[tuple[str, str, str, int]]:
        """(server, bucket, kind, count) for buckets at or after `since` (ISO-8601), ordered by
        (server, bucket, kind); buckets in the store's UTC form; server None: every server."""
    async def list_login_failures(self, mailbox: str | None = None, *, since: str | None = None,
                                  limit: int = 1000) -> list[LoginFailure]:
        """The newest `limit` matching rows, oldest first; `mailbox` matches case-insensitively
        and exactly, `since` is an ISO-8601 time (rows at or after it)."""
    async def list_ended_sessions(self, server: str | None = None, *, service: str | None = None,
                                  since: str | None = None, limit: int = 1000) -> list[EndedSessions]:
        """POP3 and IMAP4 sessions that ended without a login, by kind: the newest `limit` rows
        of `server` and `service` (pop3, imap4; None: all), oldest first; `since`: rows whose
        last session (`at`) ended at or after it."""


class EvidenceStore(EvidenceReader, Protocol):
    """Message tracking (its rows are written by deliveries: DeliveryStore), the dashboard's
    activity counters, failed logins and the POP3 and IMAP4 sessions that ended without a login
    (the doctor's evidence), and their pruning."""

    async def remove_tracking(self, before: str, limit: int = 5000) -> int:
        """At most `limit` rows older than `before` (ISO-8601) go, oldest first; returns how
        many. Nodes keep 30 days and call again while a batch comes back full, so pruning a
        long history never holds the store in one long write."""
    async def add_activity(self, server: str, counts: Mapping[tuple[str, str], int]) -> None:
        """Add `counts` ((bucket, kind) -> n; bucket: ISO-8601 start of a 10-minute bucket) to
        the server's counters. Kinds: pop3-login-ok, pop3-login-failed, smtp-delivered (one per
        message accepted). NotFound if the server does not exist; nothing to add (empty, all
        zero) is a no-op."""
    async def record_login_failures(self, rows: Sequence[LoginFailure]) -> None:
        """Append refused logins, `at` as given (when it happened); the mailbox tried is kept
        as sent, cut to 100 characters. Nothing to record is a no-op."""
    async def remove_login_failures(self, before: str) -> int:
        """Rows older than `before` (ISO-8601) go; returns how many (nodes keep a week)."""
    async def record_ended_sessions(self, rows: Sequence[EndedSessions]) -> None:
        """Append counts of sessions that ended alike, texts cut to their limits (mailbox 100).
        ValidationError (nothing recorded) for an unknown service or TLS state, a count below 1
        or a `first_at` after `at`. Nothing to record is a no-op."""
    async def remove_ended_sessions(self, before: str) -> int:
        """Rows whose last session ended before `before` (ISO-8601) go; returns how many."""


class BlockStore(Protocol):
    """Login blocks after repeated failed logins, shared by every node (not configuration)."""

    async def add_blocks(self, server: str, blocks: Sequence[Block]) -> None:
        """Insert or replace blocks by (kind, value); blocks expired before now are removed."""
    async def list_blocks(self) -> list[Block]:
        """Every block not yet expired, oldest first, each with the server that added it."""
    async def remove_blocks(self, value: str | None = None, *, audit: AuditNote | None = None) -> int:
        """Blocks on `value` (an IP or mailbox, any kind; None: all) go; returns how many."""


class LoginEvidence(EvidenceStore, BlockStore, Protocol):
    """What a login attempt writes: its failure, and the blocks repeated failures start."""


# the outbound queue ----------------------------------------------------------------------

class QueueReader(Protocol):
    """What the queue viewer (Get-Queue, Get-Message, Export-Message), metrics and the doctor read."""

    async def list_queues(self, now: str | None = None) -> list[QueueInfo]:
        """Queues with pending recipients (of messages not poison) and suspended queues, by
        name; then, if there are poison messages, the pseudo-queue `poison`. Statuses are
        judged at `now` (ISO-8601; None: the store's clock)."""
    async def list_queued_messages(self, queue: str | None = None, status: str | None = None,
                                   limit: int = 1000) -> list[QueuedMessage]:
        """Oldest first. `queue`: messages with a pending recipient in it (`poison`: the poison
        messages); `status`: a MessageStatus."""
    async def get_queued_message(self, message_id: str) -> tuple[QueuedMessage, list[QueuedRecipient]]:
        """The message and all its recipients (in submission order); NotFound if gone."""
    async def read_queued_body(self, message_id: str, offset: int = 0, size: int | None = None) -> bytes:
        """The queued body's octets from `offset`, at most `size` of them (None: to the end),
        so a worker reads a big message in pieces (see `queued_body_pieces`); NotFound if gone."""
    async def queue_counts(self) -> dict[str, int]:
        """Queued messages by MessageStatus value (every status, zero included): for metrics."""


class QueueStore(QueueReader, Protocol):
    """The outbound queue (filled by DeliveryStore.deliver_message's `outbound`): what the
    delivery workers on every node claim, try and report, and what admins act on.

    Leases: `holder` names one worker as "SERVER/tag" (the tracking rows the store writes
    name SERVER). A claim holds a message until its lease ends; `finish_attempt` ends it.
    A claim whose lease runs out without `finish_attempt` (the node died, the worker
    crashed) counts as a crash: the message is claimed again, and at its third claim after
    two crashes it becomes poison instead (a POISONMESSAGE tracking row per pending
    recipient), never retried until an admin resumes it."""

    async def claim_due(self, holder: str, now: str, lease_seconds: int, limit: int) -> list[Claim]:
        """Up to `limit` active messages, oldest first, with a ready/retry recipient due at
        `now` in a queue not suspended, whose lease is free or expired: each gets the lease
        (until now + lease_seconds) and its crash count goes up by one. Each Claim lists the
        recipients due. On PostgreSQL, two nodes claiming at once never get the same message
        (FOR UPDATE SKIP LOCKED)."""
    async def extend_lease(self, message_id: str, holder: str, now: str, lease_seconds: int) -> bool:
        """A long attempt (a big message, a slow next hop) keeps its claim: the lease runs to
        now + lease_seconds. False (nothing changed) if `holder` no longer holds it."""
    async def extend_leases(self, holder: str, now: str, lease_seconds: int) -> int:
        """extend_lease for every message `holder` holds, in one statement (a worker renews
        all it has in flight at once); how many."""
    async def release_claim(self, message_id: str, holder: str) -> None:
        """Give a claim back untried (a node stopping): the lease ends and the claim does not
        count as a crash. Nothing happens if `holder` does not hold it."""
    async def finish_attempt(self, message_id: str, holder: str, results: Sequence[RecipientResult],
                             tracking: Sequence[TrackingEvent] = ()) -> bool:
        """The end of an attempt, in one transaction: each reported recipient's new status,
        schedule, reply and attempts; each queue's last error (a retry's reply; cleared by a
        success); the lease ends and the crash count goes back to 0; the message and its body
        go once every recipient is final (sent, failed, expired): then True. The tracking rows
        (SEND, DEFER, FAIL, DSN...) are written like deliver_message's. Conflict (nothing
        written) if `holder` no longer holds the message (its lease expired and another
        worker claimed it); NotFound if it was removed; ValidationError if a result names no
        pending recipient of the message."""
    async def set_delay_notified(self, message_id: str, addresses: Sequence[str]) -> None:
        """The sender was told these recipients are delayed (no second delay notice)."""
    async def suspend_queue(self, name: str, *, audit: AuditNote | None = None) -> None:
        """No message is claimed for this queue until resumed; NotFound if unknown."""
    async def resume_queue(self, name: str, *, audit: AuditNote | None = None) -> None: ...
    async def retry_queue(self, name: str, *, now: str | None = None, audit: AuditNote | None = None) -> int:
        """Make the queue's pending recipients due at `now` (None: the store's clock); how many."""
    async def remove_idle_queues(self, limit: int = 1000) -> int:
        """Remove at most `limit` next-hop rows that no queued recipient refers to and no admin
        suspended (the next message for one makes it again); how many. Safe beside deliveries
        queuing mail for the same next hop."""
    async def suspend_message(self, message_id: str, *, audit: AuditNote | None = None) -> None:
        """Conflict for a poison message (resume or remove it)."""
    async def resume_message(self, message_id: str, *, audit: AuditNote | None = None) -> None:
        """A suspended or poison message is active again (its crash count back to 0)."""
    async def remove_message(self, message_id: str, *,
                             audit: AuditNote | None = None) -> tuple[QueuedMessage, list[QueuedRecipient]]:
        """Remove a message from the queue (its body too when no mailbox has a copy); returns
        what it was, for a non-delivery report. NotFound if gone."""


async def queued_body_pieces(store: QueueReader, message: QueuedMessage,
                             piece: int = 1 << 20) -> AsyncIterator[bytes]:
    """The queued body in pieces of at most `piece` octets: a worker sends (or an admin
    exports) a 100 MB message without holding it whole in memory."""
    offset = 0
    while offset < message.size:
        data = await store.read_queued_body(message.id, offset, piece)
        if not data:
            break
        offset += len(data)
        yield data


# live sessions ---------------------------------------------------------------------------

class SessionControl(Protocol):
    """`postroom session end`: a request waits here until the node serving its server takes it
    (nodes look twice a second), ends the sessions it names and answers. Not configuration."""

    async def request_session_ends(self, requests: Sequence[SessionEndRequest], *,
                                   audit: AuditNote | None = None) -> list[SessionEndRequest]:
        """Store them with `audit` in one transaction; returned with their ids. Requests older
        than a day go. ValidationError unless each names one of `session` and `mailbox`;
        NotFound if a server does not exist."""
    async def pending_session_ends(self, server: str) -> list[SessionEndRequest]:
        """The requests for `server` not answered yet, oldest first."""
    async def finish_session_end(self, request_id: int, done_at: str, ended: Sequence[Mapping[str, Any]]) -> None:
        """The node's answer: when, and the sessions it ended as it listed them. NotFound if gone."""
    async def get_session_end(self, request_id: int) -> SessionEndRequest:
        """NotFound if gone."""


class StoreReader(ConfigReader, EvidenceReader, QueueReader, Protocol):
    """Reading the configuration, the evidence and the queue: what the doctor and its tests look at."""


class Store(StoreLifecycle, MailStore, DeliveryStore, ConfigStore, AdminStore, EvidenceStore, BlockStore, QueueStore,
            SessionControl, FolderStore, Protocol):
    """Every role: what a node, the service layer and the backends deal in."""


ROLES: tuple[type, ...] = (StoreLifecycle, MailStore, DeliveryStore, ConfigStore, AdminStore, EvidenceStore,
                           BlockStore, QueueStore, SessionControl, FolderStore)
