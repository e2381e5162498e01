"""What each operation answers, for the OpenAPI document only.

Routes return the service layer's dicts unchanged (the CLI's --json prints the same), so these
models never filter or convert a response; the schemathesis test checks that they describe
every answer truly.
"""
from __future__ import annotations

from typing import Any, Literal

from fastapi import status as http
from pydantic import BaseModel

from ..model import (
    ImapSettings, LoginPolicy, PopSettings, ReceiveConnector, SendConnector, TransportSettings, WebSettings,
)
from .errors import ERROR_RESPONSES
from .settings_models import view_model


def documented(model: Any, status: int = http.HTTP_200_OK, description: str = "Success") -> dict[str, Any]:
    """Decorator arguments: `model` describes the answer, the route returns the service's dict as is."""
    return {"status_code": status, "response_model": None,
            "responses": {status: {"model": model, "description": description}, **ERROR_RESPONSES}}


# servers -------------------------------------------------------------------------------------
PopSettingsView = view_model("PopSettingsView", PopSettings.table(), before={"server": str})
ImapSettingsView = view_model("ImapSettingsView", ImapSettings.table(), before={"server": str})


class ServiceView(BaseModel):
    server: str
    name: str
    startup: str
    status: str
    state: str
    listening: list[str]
    errors: list[str]
    applied_version: int | None = None  # present while a node serves the server


class ServicesView(BaseModel):
    """A change made with server `all`: one view per server."""

    servers: list[ServiceView]


WebSettingsView = view_model("WebSettingsView", WebSettings.table(), before={"server": str})


ConnectorView = view_model("ConnectorView", ReceiveConnector.table(), before={"name": str, "server": str},
                           after={"state": str, "listening": list[str], "errors": list[str]})


# sending mail out ----------------------------------------------------------------------------
SendConnectorView = view_model("SendConnectorView", SendConnector.table(), before={"name": str},
                               doc="A send connector; auth_password is ******** when set, never the password.")
TransportSettingsView = view_model("TransportSettingsView", TransportSettings.table(), before={"server": str})


# the outbound queue (Get-Queue, Get-Message) ------------------------------------------------
class QueueView(BaseModel):
    name: str  # dns-connector-delivery/DOMAIN/CONNECTOR, smart-host-connector-delivery/CONNECTOR, or poison
    delivery_type: str
    next_hop: str
    status: Literal["active", "ready", "retry", "suspended"]
    message_count: int
    next_retry_at: str | None
    last_error: str | None
    connector: str


class QueueRetried(QueueView):
    recipients_due_now: int


class QueuedMessageView(BaseModel):
    id: str
    created_at: str
    sender: str  # "" for the null sender <>
    size: int
    envid: str | None
    ret: str | None
    smtputf8: bool
    body_8bit: bool
    submitter: str | None
    client_ip: str
    origin_server: str
    status: Literal["active", "suspended", "poison"]
    crash_count: int
    lease_holder: str | None
    lease_until: str | None
    message_id_header: str
    in_delivery: bool


class QueuedRecipientView(BaseModel):
    message_id: str
    address: str
    orcpt: str | None
    notify: str | None
    domain: str
    queue: str
    status: Literal["ready", "retry", "sent", "failed", "expired"]
    attempts: int
    next_attempt_at: str | None
    last_reply: str | None
    last_attempt_at: str | None
    delay_notified: bool


class QueuedMessageDetail(QueuedMessageView):
    recipients: list[QueuedRecipientView]


class QueuedMessageRemoved(QueuedMessageDetail):
    ndr: str | None  # mailbox or queued: where the non-delivery report went; else why none was sent


# recipients ----------------------------------------------------------------------------------
class MailboxView(BaseModel):
    address: str
    display_name: str
    enabled: bool
    pop_enabled: bool
    imap_enabled: bool
    send_as: list[str]  # Send As grants: addresses or *@domain
    password_set: bool
    created_at: str


class MailboxDetail(MailboxView):
    messages: int
    octets: int


class MailboxRemoved(MailboxView):
    messages_removed: int


class MailboxPage(BaseModel):
    total: int
    offset: int
    items: list[MailboxView]


class DomainView(BaseModel):
    name: str


class DkimKeyView(BaseModel):
    """A DKIM signing key as an admin sees it: the DNS TXT record to publish (name and value,
    the value also cut into 255-octet strings); never the private key."""

    domain: str
    selector: str
    algorithm: Literal["rsa-2048", "ed25519"]
    signature_algorithm: Literal["rsa-sha256", "ed25519-sha256"]
    created_at: str
    dns_name: str
    txt_value: str
    txt_strings: list[str]


class DkimView(BaseModel):
    """A domain's signing keys; `signing`: outgoing mail from the domain is signed (it has a key)."""

    domain: str
    signing: bool
    keys: list[DkimKeyView]


# security ------------------------------------------------------------------------------------
class BlockView(BaseModel):
    kind: str  # source or mailbox
    value: str
    since: str
    until: str
    failures: int
    service: str
    server: str  # the server (node) that started it


LoginPolicyView = view_model("LoginPolicyView", LoginPolicy.table())


# admins --------------------------------------------------------------------------------------
class AdminView(BaseModel):
    name: str
    roles: list[str]
    password_set: bool
    created_at: str


class AdminDetail(AdminView):
    tokens: int


class AdminRemoved(AdminView):
    tokens_revoked: int


class TokenView(BaseModel):
    id: str
    admin: str
    description: str
    created_at: str
    expires_at: str | None
    last_used_at: str | None


class NewTokenView(TokenView):
    token: str  # shown once: only a hash is kept


class SessionView(BaseModel):
    name: str
    roles: list[str]
    csrf_token: str | None  # null unless signed in with the console cookie
    expires_at: str | None


class SignedOutView(BaseModel):
    name: str
    signed_out: bool


# the doctor and the connectivity tests -------------------------------------------------------
class DoctorCheckView(BaseModel):
    name: str
    status: Literal["pass", "warn", "fail"]
    detail: str
    fix: str | None  # the command line that fixes it
    page: str | None  # the console page where the same setting lives


class ScenarioView(BaseModel):
    scenario: str
    result: Literal["Success", "Failure", "Skipped"]
    latency_ms: float | None
    error: str | None


# logs ----------------------------------------------------------------------------------------
class AuditEntryView(BaseModel):
    id: int
    at: str
    actor: str
    action: str
    target: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    channel: str
    outcome: str
    detail: str | None


class TrackingEventView(BaseModel):
    id: int
    at: str
    event_id: str
    server: str
    source: str
    queue_id: str
    message_id: str
    sender: str
    recipient: str
    status: str
    size: int
    client_ip: str
    connector: str
