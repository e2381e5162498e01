"""The Store protocol: everything postroom keeps, behind one async interface, in roles.

Backends: `sqlite` (embedded default) and `postgres` (several nodes on one database). Every
backend passes the one contract suite in tests/storage. Driver errors never escape: a
backend translates them into postroom.errors (NotFound, Conflict, Unavailable, ...).

Roles: `Store` is the union of small protocols, one per kind of user, so a user depends on
(and a test double implements) only the methods it calls: a POP3 session takes a `MailStore`
(find_mailbox, get_mailbox, try_lock_mailbox, unlock_mailbox, list_messages, read_message,
delete_messages, mailbox_usage), SMTP delivery a `DeliveryStore`, the doctor a `StoreReader`,
the outbound delivery workers and the queue viewer a `QueueStore`, the node's and the
service layer's handling of `postroom session end` a `SessionControl`, the node's wake-ups of
idling IMAP4 sessions a `MailboxChanges` (changes.py).

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

from typing import Any, Mapping, Protocol, Sequence

from ..model import (
    Admin, ApiToken, AuditEntry, Block, DkimKey, EndedSessions, ImapSettings, LoginFailure, LoginPolicy, Mailbox,
    MessageInfo, NodeReport, OutboundSubmission, PopSettings, ReceiveConnector, SendConnector, Server, Service,
    SessionEndRequest, TrackingEvent, TransportSettings, WebSession, WebSettings,
)
from .changes import MailboxChanges  # the feed of mailbox changes that wakes IMAP4 IDLE
from .folders import FolderStore  # IMAP4's role, in a module of its own
from .notes import AuditNote, SpooledBody
from .queue_roles import QueueReader, QueueStore  # the outbound queue's roles


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
        the server's counters. Kinds: postroom.activity.KINDS (pop3-login-ok, imap4-login-failed,
        smtp-delivered: one per message accepted, ...). NotFound if the server does not exist;
        nothing to add (empty, all zero) is a no-op."""
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
            SessionControl, FolderStore, MailboxChanges, Protocol):
    """Every role: what a node, the service layer and the backends deal in."""


ROLES: tuple[type, ...] = (StoreLifecycle, MailStore, DeliveryStore, ConfigStore, AdminStore, EvidenceStore,
                           BlockStore, QueueStore, SessionControl, FolderStore, MailboxChanges)
