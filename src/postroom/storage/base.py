"""The Store protocol: everything postroom keeps, behind one async interface.

Backends: `sqlite` (embedded default) and `postgres` (several nodes on one database). Every backend passes the one
contract suite in tests/storage. Driver errors never escape: a backend translates them into
postroom.errors (NotFound, Conflict, Unavailable, ...).

Conventions:
- Addresses and domains arrive already normalised (lower-case) by postroom.model.
- `deliver` returns only once the message is durable (fsync'ed commit); concurrent calls
  may share one commit (group commit).
- A message delivered to several mailboxes is stored once (one body, one entry per mailbox);
  the body goes when its last entry is deleted.
- Every write that changes configuration (servers, services, POP settings, receive
  connectors, admin-service settings, the login policy, domains, mailboxes) increases
  `config_version()`, which nodes poll to apply changes live.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Protocol, Sequence

from ..model import (
    Admin, ApiToken, AuditEntry, LoginPolicy, Mailbox, MessageInfo, NodeReport, PopSettings, ReceiveConnector,
    Server, Service, TrackingEvent, WebSession, WebSettings,
)
from ..model import Block, LoginFailure


@dataclass(frozen=True)
class SpooledBody:
    """The start of a message body held in a file (an SMTP spool file): its first `size`
    octets, in wire form. The file is the caller's: the store only reads it."""

    path: str
    size: int


class Store(Protocol):
    # lifecycle -------------------------------------------------------------------------
    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def migrate(self) -> list[int]:
        """Apply pending numbered migrations; return the versions applied now."""
    async def schema_version(self) -> int: ...
    async def config_version(self) -> int: ...

    # servers and services --------------------------------------------------------------
    async def add_server(self, server: Server, services: Sequence[Service], pop: PopSettings,
                         connectors: Sequence[ReceiveConnector] = (), web: WebSettings | None = None) -> None:
        """Create a server with its services, POP settings, receive connectors and admin-service
        settings (default WebSettings()) in one transaction (Conflict if it exists)."""
    async def get_server(self, name: str) -> Server: ...
    async def list_servers(self) -> list[Server]: ...
    async def list_services(self, server: str) -> list[Service]: ...
    async def get_service(self, server: str, name: str) -> Service: ...
    async def update_service(self, service: Service) -> None: ...
    async def get_pop_settings(self, server: str) -> PopSettings: ...
    async def put_pop_settings(self, server: str, settings: PopSettings) -> None: ...
    async def get_web_settings(self, server: str) -> WebSettings:
        """The admin service's settings; NotFound if the server does not exist."""
    async def put_web_settings(self, server: str, settings: WebSettings) -> None: ...
    async def get_login_policy(self) -> LoginPolicy:
        """The organization's login block policy (one for every server); LoginPolicy() until set."""
    async def put_login_policy(self, policy: LoginPolicy) -> None: ...
    async def put_node_report(self, report: NodeReport) -> None:
        """Not a configuration change: does not bump config_version."""
    async def get_node_report(self, server: str) -> NodeReport | None: ...

    # activity counters (the dashboard's chart) -----------------------------------------
    # Kinds: pop3-login-ok, pop3-login-failed, smtp-delivered (one per message accepted).
    async def add_activity(self, server: str, counts: Mapping[tuple[str, str], int]) -> None:
        """Add `counts` ((bucket, kind) -> n; bucket: ISO-8601 start of a 10-minute bucket) to
        the server's counters. Not a configuration change: does not bump config_version.
        NotFound if the server does not exist; nothing to add (empty, all zero) is a no-op."""
    async def list_activity(self, server: str | None, since: str) -> list[tuple[str, str, str, int]]:
        """(server, bucket, kind, count) for buckets at or after `since` (ISO-8601), ordered by
        (server, bucket, kind); buckets in the store's UTC form; server None: every server."""

    # receive connectors (unique name per server; names match case-insensitively) -------
    async def add_connector(self, connector: ReceiveConnector) -> None:
        """NotFound if its server does not exist; Conflict if the name is taken on that server
        (in any case)."""
    async def list_connectors(self, server: str | None = None) -> list[ReceiveConnector]:
        """Ordered by (server, name ignoring case); None lists every server's connectors.
        NotFound if the server does not exist."""
    async def get_connector(self, server: str, name: str) -> ReceiveConnector:
        """NotFound if absent."""
    async def put_connector(self, connector: ReceiveConnector) -> None:
        """Replace an existing connector's properties (NotFound if absent); the stored name
        keeps its case."""
    async def remove_connector(self, server: str, name: str) -> None:
        """NotFound if absent."""

    # accepted domains ------------------------------------------------------------------
    async def add_domain(self, name: str) -> None: ...
    async def list_domains(self) -> list[str]: ...
    async def remove_domain(self, name: str) -> None:
        """NotFound if absent; Conflict while mailboxes in the domain exist."""

    # mailboxes -------------------------------------------------------------------------
    async def create_mailbox(
        self, address: str, display_name: str, password_hash: str | None,
        *, enabled: bool = True, pop_enabled: bool = True, imap_enabled: bool = True,
    ) -> Mailbox: ...
    async def get_mailbox(self, address: str) -> Mailbox:
        """NotFound if absent."""
    async def find_mailbox(self, address: str) -> Mailbox | None:
        """The login hot path: None if absent."""
    async def list_mailboxes(self, search: str | None = None, offset: int = 0, limit: int | None = None) -> list[Mailbox]:
        """Ordered by address; `search` matches a substring of address or display name."""
    async def count_mailboxes(self, search: str | None = None) -> int: ...
    async def update_mailbox(self, address: str, /, **changes: Any) -> Mailbox:
        """Changes among display_name, password_hash, enabled, pop_enabled, imap_enabled."""
    async def remove_mailbox(self, address: str) -> None:
        """Removes its messages too."""

    # messages --------------------------------------------------------------------------
    async def deliver(self, mailbox_id: int, data: bytes) -> MessageInfo:
        """Store one message in wire form (CRLF line ends, ends with CRLF); durable on return."""
    async def deliver_message(self, mailbox_ids: Sequence[int], data: bytes | memoryview,
                              tracking: Sequence[TrackingEvent] = (), *, head: bytes = b"",
                              spooled: SpooledBody | None = None) -> list[MessageInfo]:
        """SMTP delivery: one body stored once, one entry per mailbox (in the given order), in
        one transaction, durable on return; then the tracking rows (a backend may write those
        a moment later, in a batch: list_tracking on the same store shows them at once, and
        a refused delivery leaves none). The body is `head` (the
        trace headers the receiving server adds; empty or CRLF-terminated lines) followed by
        `data` (bytes, or a view nobody changes until this returns: the octets are not
        copied first). With `spooled`, the body is `head`, then the file's octets, then
        `data` (a big message: read from the file in pieces, never whole in memory on the
        embedded store). NotFound (and nothing stored) if any mailbox is gone; ValidationError
        if `mailbox_ids` is empty or the body is not in wire form; Unavailable if the file
        cannot be read whole."""
    async def deliver_many(self, mailbox_id: int, messages: Sequence[bytes]) -> list[MessageInfo]:
        """Several messages in one transaction (imports)."""
    async def restore_messages(self, mailbox_id: int,
                               messages: Sequence[tuple[MessageInfo, bytes]]) -> list[MessageInfo]:
        """Moving a store: each message keeps its UIDL and arrival time (a POP3 client that
        remembers UIDLs downloads nothing twice) and gets a new id; one transaction, durable on
        return. Conflict (nothing stored) if a UIDL is already stored; NotFound if the mailbox is gone."""
    async def list_messages(self, mailbox_id: int) -> list[MessageInfo]:
        """Oldest first (by arrival)."""
    async def read_message(self, mailbox_id: int, message_id: int) -> bytes:
        """NotFound if the message is gone."""
    async def delete_messages(self, mailbox_id: int, message_ids: Sequence[int]) -> int:
        """Atomic: all or none. Returns how many existed and were removed."""
    async def mailbox_usage(self, mailbox_id: int) -> tuple[int, int]:
        """(message count, total octets)."""

    # POP3 mailbox lock -----------------------------------------------------------------
    async def try_lock_mailbox(self, mailbox_id: int, holder: str) -> bool:
        """Exclusive: False if another holder has it."""
    async def unlock_mailbox(self, mailbox_id: int, holder: str) -> None: ...
    async def claim_server(self, server: str) -> None:
        """`serve` registers the server it runs: Conflict if another node (process) of this
        store already serves it. The claim lasts until close() (or the process dies)."""

    # message tracking ------------------------------------------------------------------
    async def append_tracking(self, events: Sequence[TrackingEvent]) -> None:
        """Rows that go with no delivery (FAIL at RCPT time); `at` and `id` are set here.
        Like deliver_message's rows, they may be written a moment later, in a batch."""
    async def list_tracking(self, *, sender: str | None = None, recipient: str | None = None,
                            message_id: str | None = None, queue_id: str | None = None,
                            event_id: str | None = None, since: str | None = None,
                            limit: int = 1000) -> list[TrackingEvent]:
        """The newest `limit` matching rows, oldest first. sender/recipient match
        case-insensitively and exactly; `since` is an ISO-8601 time (rows at or after it)."""
    async def remove_tracking(self, before: str, limit: int = 5000) -> int:
        """At most `limit` rows older than `before` (ISO-8601) go, oldest first; returns how
        many. Nodes keep 30 days and call again while a batch comes back full, so pruning a
        long history never holds the store in one long write."""

    # failed logins (the doctor's evidence; not configuration: no config_version bump) ---
    async def record_login_failures(self, rows: Sequence[LoginFailure]) -> None:
        """Append refused logins, `at` as given (when it happened); the mailbox tried is kept
        as sent, cut to 100 characters. Nothing to record is a no-op."""
    async def list_login_failures(self, mailbox: str | None = None, *, since: str | None = None,
                                  limit: int = 1000) -> list[LoginFailure]:
        """The newest `limit` matching rows, oldest first; `mailbox` matches case-insensitively
        and exactly, `since` is an ISO-8601 time (rows at or after it)."""
    async def remove_login_failures(self, before: str) -> int:
        """Rows older than `before` (ISO-8601) go; returns how many (nodes keep a week)."""

    # login blocks (repeated failed logins; not configuration: no config_version bump) ---
    async def add_blocks(self, server: str, blocks: Sequence[Block]) -> None:
        """Insert or replace blocks by (kind, value); blocks expired before now are removed."""
    async def list_blocks(self) -> list[Block]:
        """Every block not yet expired, oldest first, each with the server that added it."""
    async def remove_blocks(self, value: str | None = None) -> int:
        """Blocks on `value` (an IP or mailbox, any kind; None: all) go; returns how many."""

    # admin principals (organisation-wide; names arrive lower-case) ----------------------
    # None of these bump config_version: nodes read admins, tokens and sessions per request.
    async def add_admin(self, name: str, password_hash: str | None, roles: Sequence[str]) -> Admin:
        """Conflict if the name exists."""
    async def get_admin(self, name: str) -> Admin:
        """NotFound if absent."""
    async def find_admin(self, name: str) -> Admin | None: ...
    async def list_admins(self) -> list[Admin]:
        """Ordered by name."""
    async def update_admin(self, name: str, /, **changes: Any) -> Admin:
        """Changes among password_hash and roles; NotFound if absent."""
    async def remove_admin(self, name: str) -> None:
        """NotFound if absent; its API tokens and console sessions go with it."""

    # API tokens ------------------------------------------------------------------------
    async def add_token(self, token: ApiToken) -> ApiToken:
        """`created_at` is set here when empty; NotFound if the admin does not exist,
        Conflict if the id is taken."""
    async def find_token(self, token_id: str) -> ApiToken | None: ...
    async def list_tokens(self, admin: str | None = None) -> list[ApiToken]:
        """Ordered by (admin, created_at, id)."""
    async def touch_token(self, token_id: str, at: str) -> None:
        """Record a use (last_used_at); a missing id is ignored."""
    async def remove_token(self, token_id: str) -> None:
        """NotFound if absent."""

    # console sessions ------------------------------------------------------------------
    async def add_session(self, session: WebSession) -> None:
        """NotFound if the admin does not exist."""
    async def find_session(self, id_hash: str) -> WebSession | None: ...
    async def extend_session(self, id_hash: str, expires_at: str) -> None:
        """Sliding expiry; a missing session is ignored."""
    async def remove_session(self, id_hash: str) -> None:
        """A missing session is ignored (signing out twice is fine)."""
    async def remove_expired_sessions(self, now: str) -> int:
        """Sessions whose expires_at <= now (ISO-8601 UTC) go; returns how many."""

    # backup ----------------------------------------------------------------------------
    async def snapshot(self, path: str) -> None:
        """Embedded store: write a consistent copy of the whole database to the new file
        `path` while the store keeps serving (fsync'ed on return)."""

    # audit -----------------------------------------------------------------------------
    async def append_audit(self, actor: str, action: str, target: str,
                           before: dict[str, Any] | None, after: dict[str, Any] | None, *,
                           channel: str = "cli", outcome: str = "success",
                           detail: str | None = None) -> AuditEntry: ...
    async def list_audit(self, limit: int = 100, target: str | None = None, *, actor: str | None = None,
                         action: str | None = None, channel: str | None = None, outcome: str | None = None,
                         since: str | None = None) -> list[AuditEntry]:
        """Newest first; every filter given must match (target, actor, action, channel and
        outcome exactly; `since`: at or after that ISO-8601 UTC time)."""
