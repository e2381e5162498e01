"""The permission matrix of the REST API: every operation x every role group, no credentials,
and a mailbox user's credentials -> the expected status.

A refused request (401, 403) leaves the store as it was; a refused change (403) leaves one
"refused" audit entry naming the principal; an allowed change leaves success entries on
channel "api". The rights table below is the contract (DESIGN.md, Exchange's role split).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pytest

from live_session_support import alice_pop3, report
from queue_support import ACTIVE_ID, PARTNER, SUSPENDED_ID

from postroom.service import sessions as session_ops

from .conftest import MAILBOX_USER, ROLE_GROUPS, SERVER, Principal, basic_auth, error_of

ORG, SRV, RCP, VIEW = ROLE_GROUPS
EVERYONE = frozenset(ROLE_GROUPS)
SERVER_CONFIG = frozenset({ORG, SRV})  # services, POP3 and admin-service settings, connectors
RECIPIENTS = frozenset({ORG, RCP})  # mailboxes, domains
ADMINS = frozenset({ORG})  # principals, their roles, other principals' passwords and tokens
ORGANIZATION = frozenset({ORG})  # send connectors, DKIM keys (Exchange: Organization Management only)

C = f"/api/v1/servers/{SERVER}"
PARTNER_QUEUE = quote(PARTNER.name, safe="")  # its slashes encoded: one path segment


@dataclass(frozen=True)
class Op:
    method: str
    path: str  # {me} and {my_token}: the calling principal's name and token id
    allowed: frozenset[str]
    body: Any = None  # "{sign-in}": the caller's own name and password
    ok: int = 200
    audited: bool = field(default=True)  # changes write audit entries; reads never do
    hands_out_content: bool = False  # a read of mail content (an export): audited like a change
    node: bool = False  # a node lists alice's POP3 session EX01-7 (and never answers an end request)

    @property
    def changes(self) -> bool:
        return (self.method != "GET" or self.hands_out_content) and self.audited


OPERATIONS: dict[str, Op] = {
    # servers: everyone reads, server-management (and organization-management) changes
    "pop show": Op("GET", f"{C}/pop-settings", EVERYONE),
    "pop set": Op("PATCH", f"{C}/pop-settings", SERVER_CONFIG, {"login_type": "plain-text-login"}),
    "pop set log limits": Op("PATCH", f"{C}/pop-settings", SERVER_CONFIG,
                             {"log_file_roll_over": "hourly", "log_max_age": "7d", "log_max_directory_size": "1GB"}),
    "imap show": Op("GET", f"{C}/imap-settings", EVERYONE),
    "imap set": Op("PATCH", f"{C}/imap-settings", SERVER_CONFIG, {"login_type": "plain-text-login"}),
    "service list": Op("GET", f"{C}/services", EVERYONE),
    "service set": Op("PATCH", f"{C}/services/pop3", SERVER_CONFIG, {"startup": "manual"}),
    "service start": Op("POST", f"{C}/services/pop3/start", SERVER_CONFIG),
    "service stop": Op("POST", f"{C}/services/pop3/stop", SERVER_CONFIG),
    "service restart": Op("POST", f"{C}/services/pop3/restart", SERVER_CONFIG),
    "web show": Op("GET", f"{C}/web-settings", EVERYONE),
    "web set": Op("PATCH", f"{C}/web-settings", SERVER_CONFIG, {"session_timeout": "1h"}),
    "connector list": Op("GET", f"{C}/receive-connectors", EVERYONE),
    "connector new": Op("POST", f"{C}/receive-connectors", SERVER_CONFIG,
                        {"name": "Relay", "bindings": ["127.0.0.1:2526"]}, ok=201),
    "connector show": Op("GET", f"{C}/receive-connectors/Client {SERVER}", EVERYONE),
    "connector set": Op("PATCH", f"{C}/receive-connectors/Client {SERVER}", SERVER_CONFIG, {"enabled": False}),
    "connector set log limits": Op("PATCH", f"{C}/receive-connectors/Client {SERVER}", SERVER_CONFIG,
                                   {"protocol_log_max_file_size": "1MB", "protocol_log_max_age": "1.00:00:00"}),
    "connector remove": Op("DELETE", f"{C}/receive-connectors/Default {SERVER}", SERVER_CONFIG),
    # sending mail out: send connectors are organization-management's; transport settings are a server's
    "send-connector list": Op("GET", "/api/v1/send-connectors", EVERYONE),
    "send-connector new": Op("POST", "/api/v1/send-connectors", ORGANIZATION,
                             {"name": "Internet", "address_spaces": ["*"]}, ok=201),
    "send-connector show": Op("GET", "/api/v1/send-connectors/Spare", EVERYONE),
    "send-connector set": Op("PATCH", "/api/v1/send-connectors/Spare", ORGANIZATION,
                             {"dns_routing": False, "smart_hosts": ["relay.example.net"], "auth_password": "pw"}),
    "send-connector remove": Op("DELETE", "/api/v1/send-connectors/Spare", ORGANIZATION),
    "transport show": Op("GET", f"{C}/transport", EVERYONE),
    "transport set": Op("PATCH", f"{C}/transport", SERVER_CONFIG, {"message_expiration_timeout": "1d"}),
    # the outbound queue: everyone reads; acting is server-management's (Exchange's Queues role)
    "queue list": Op("GET", "/api/v1/queues", EVERYONE),
    "queue retry": Op("POST", f"/api/v1/queues/{PARTNER_QUEUE}/retry", SERVER_CONFIG),
    "queue suspend": Op("POST", f"/api/v1/queues/{PARTNER_QUEUE}/suspend", SERVER_CONFIG),
    "queue resume": Op("POST", f"/api/v1/queues/{PARTNER_QUEUE}/resume", SERVER_CONFIG),
    "queue messages": Op("GET", "/api/v1/queue-messages?status=active", EVERYONE),
    "message show": Op("GET", f"/api/v1/queue-messages/{ACTIVE_ID}", EVERYONE),
    "message suspend": Op("POST", f"/api/v1/queue-messages/{ACTIVE_ID}/suspend", SERVER_CONFIG),
    "message resume": Op("POST", f"/api/v1/queue-messages/{SUSPENDED_ID}/resume", SERVER_CONFIG),
    "message remove": Op("DELETE", f"/api/v1/queue-messages/{ACTIVE_ID}?ndr=true", SERVER_CONFIG),
    "message export": Op("GET", f"/api/v1/queue-messages/{SUSPENDED_ID}/export", SERVER_CONFIG,
                         hands_out_content=True),
    # recipients: recipient-management (and organization-management) changes
    "mailbox list": Op("GET", "/api/v1/mailboxes", EVERYONE),
    "mailbox new": Op("POST", "/api/v1/mailboxes", RECIPIENTS, {"address": "bob@example.com", "password": "pw"},
                      ok=201),
    "mailbox show": Op("GET", "/api/v1/mailboxes/demo@example.com", EVERYONE),
    "mailbox set": Op("PATCH", "/api/v1/mailboxes/demo@example.com", RECIPIENTS, {"pop_enabled": False}),
    "mailbox password": Op("POST", "/api/v1/mailboxes/demo@example.com/password", RECIPIENTS, {"password": "new"}),
    "mailbox remove": Op("DELETE", "/api/v1/mailboxes/demo@example.com", RECIPIENTS),
    # a mailbox's messages (doveadm fetch / expunge): their subjects and senders are mail, so
    # recipient-management (and organization-management) only, every look audited
    "mailbox messages": Op("GET", "/api/v1/mailboxes/demo@example.com/messages", RECIPIENTS, hands_out_content=True),
    "mailbox message fetch": Op("GET", "/api/v1/mailboxes/demo@example.com/messages/1", RECIPIENTS,
                                hands_out_content=True),
    "mailbox message delete": Op("DELETE", "/api/v1/mailboxes/demo@example.com/messages/1", RECIPIENTS),
    "domain list": Op("GET", "/api/v1/domains", EVERYONE),
    "domain add": Op("POST", "/api/v1/domains", RECIPIENTS, {"name": "example.org"}, ok=201),
    "domain remove": Op("DELETE", "/api/v1/domains/spare.example", RECIPIENTS),
    "domain dkim show": Op("GET", "/api/v1/domains/example.com/dkim", EVERYONE),
    "domain dkim new": Op("POST", "/api/v1/domains/example.com/dkim", ORGANIZATION, {"algorithm": "rsa-2048"}, ok=201),
    "domain dkim remove": Op("DELETE", "/api/v1/domains/example.com/dkim?selector=spare", ORGANIZATION),
    # admins: organization-management only, except a principal's own password and tokens
    "admin list": Op("GET", "/api/v1/admins", EVERYONE),
    "admin new": Op("POST", "/api/v1/admins", ADMINS, {"name": "carol", "password": "pw", "roles": ["view-only"]},
                    ok=201),
    "admin show": Op("GET", "/api/v1/admins/spare", EVERYONE),
    "admin set-role": Op("PATCH", "/api/v1/admins/spare", ADMINS, {"roles": ["server-management"]}),
    "admin remove": Op("DELETE", "/api/v1/admins/spare", ADMINS),
    "admin password (another's)": Op("POST", "/api/v1/admins/spare/password", ADMINS, {"password": "pw2"}),
    "admin password (own)": Op("POST", "/api/v1/admins/{me}/password", EVERYONE, {"password": "pw2"}),
    "token list (one admin)": Op("GET", "/api/v1/admins/spare/tokens", EVERYONE),
    "token list (all)": Op("GET", "/api/v1/tokens", EVERYONE),
    "token new (another's)": Op("POST", "/api/v1/admins/spare/tokens", ADMINS, {"description": "x"}, ok=201),
    "token new (own)": Op("POST", "/api/v1/admins/{me}/tokens", EVERYONE, {"expires": "30d"}, ok=201),
    "token revoke (another's)": Op("DELETE", "/api/v1/tokens/{spare_token}", ADMINS),
    "token revoke (own)": Op("DELETE", "/api/v1/tokens/{my_token}", EVERYONE),
    # login blocks: everyone reads, lifting one is a server setting change
    "security blocks": Op("GET", "/api/v1/security/blocks", EVERYONE),
    "security blocks clear": Op("DELETE", "/api/v1/security/blocks/192.0.2.7", SERVER_CONFIG),
    "security blocks clear all": Op("DELETE", "/api/v1/security/blocks", SERVER_CONFIG),
    "security policy": Op("GET", "/api/v1/security/policy", EVERYONE),
    "security policy set": Op("PATCH", "/api/v1/security/policy", SERVER_CONFIG, {"max_source_failures": 5}),
    # the whole configuration (postconf, postconf -n): everyone reads, secrets never in it
    "config show": Op("GET", "/api/v1/config", EVERYONE),
    "config show changed": Op("GET", f"/api/v1/config?changed=true&server={SERVER}", EVERYONE),
    # live sessions: everyone reads; ending one is server-management's
    "session list": Op("GET", "/api/v1/live-sessions", EVERYONE),
    "session end": Op("DELETE", "/api/v1/live-sessions/EX01-7", SERVER_CONFIG, node=True),
    "session end (mailbox)": Op("DELETE", "/api/v1/live-sessions?user=alice@example.com", SERVER_CONFIG, node=True),
    # logs: everyone reads
    "log audit": Op("GET", "/api/v1/audit", EVERYONE),
    "log audit filtered": Op("GET", "/api/v1/audit?channel=cli&outcome=success&since=1d", EVERYONE),
    "log tracking": Op("GET", "/api/v1/message-tracking?since=1h", EVERYONE),
    "log tracking by event": Op("GET", "/api/v1/message-tracking?event_id=DEFER", EVERYONE),
    # the doctor without a password changes nothing: every role. Checking a mailbox password
    # (the doctor with one, every test) needs a role that may set it: recipient-management
    # (and organization-management), audited; the full tests also deliver into and delete from
    # a mailbox: server-management too (service/doctor.py). With no node serving, every
    # probe is refused at once on loopback.
    "doctor pop": Op("GET", "/api/v1/doctor/pop/alice@example.com?client_mode=ssl", EVERYONE),
    # the send doctor reads only and sends no mail; no send connector here routes
    # partner.example, so it connects nowhere
    "doctor send": Op("GET", "/api/v1/doctor/send/bob@partner.example", EVERYONE),
    "doctor pop (with login)": Op("POST", "/api/v1/doctor/pop/alice@example.com", RECIPIENTS,
                                  {"password": MAILBOX_USER[1]}),
    "test pop (light)": Op("POST", "/api/v1/test/pop/alice@example.com", RECIPIENTS,
                           {"password": MAILBOX_USER[1], "light": True}),
    "test smtp (light)": Op("POST", "/api/v1/test/smtp/alice@example.com", RECIPIENTS,
                            {"password": MAILBOX_USER[1], "light": True}),
    "doctor imap": Op("GET", "/api/v1/doctor/imap/alice@example.com?client_mode=ssl", EVERYONE),
    "doctor imap (with login)": Op("POST", "/api/v1/doctor/imap/alice@example.com", RECIPIENTS,
                                   {"password": MAILBOX_USER[1]}),
    "test imap (light)": Op("POST", "/api/v1/test/imap/alice@example.com", RECIPIENTS,
                            {"password": MAILBOX_USER[1], "light": True}),
    "test imap (full)": Op("POST", "/api/v1/test/imap/alice@example.com", RECIPIENTS & SERVER_CONFIG,
                           {"password": MAILBOX_USER[1]}),
    "test pop (full)": Op("POST", "/api/v1/test/pop/alice@example.com", RECIPIENTS & SERVER_CONFIG,
                          {"password": MAILBOX_USER[1]}),
    "test smtp (full)": Op("POST", "/api/v1/test/smtp/alice@example.com", RECIPIENTS & SERVER_CONFIG,
                           {"password": MAILBOX_USER[1]}),
    # the console session: any principal, with its own credentials
    "session sign-in": Op("POST", "/api/v1/session", EVERYONE, "{sign-in}", ok=201, audited=False),
    "session who": Op("GET", "/api/v1/session", EVERYONE),
    "session sign-out": Op("DELETE", "/api/v1/session", EVERYONE, audited=False),
}

CALLERS = (*ROLE_GROUPS, "no credentials", "mailbox user")


def expected(op: Op, caller: str) -> int:
    if caller not in ROLE_GROUPS:
        return 401  # a mailbox's password is not an admin credential
    return op.ok if caller in op.allowed else 403


def test_every_operation_of_the_api_is_in_the_matrix(app) -> None:
    paths = app.openapi()["paths"]
    documented = {(method.upper(), path) for path, item in paths.items() for method in item}

    def template(path: str) -> str:
        path = path.split("?")[0].format(me="x", my_token="x", spare_token="x")
        return next(t for t in paths if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", t), path))

    assert {(op.method, template(op.path)) for op in OPERATIONS.values()} == documented


def snapshot(store, run) -> dict[str, Any]:
    """What any operation could change, read straight from the store (audit apart)."""
    async def read() -> dict[str, Any]:
        mailbox_rows = await store.list_mailboxes()
        return {
            "pop": await store.get_pop_settings(SERVER),
            "web": await store.get_web_settings(SERVER),
            "login_policy": await store.get_login_policy(),
            "services": await store.list_services(SERVER),
            "connectors": await store.list_connectors(None),
            "domains": await store.list_domains(),
            "dkim": await store.list_dkim_keys(),  # with the private keys
            "mailboxes": mailbox_rows,  # with password hashes
            "usage": [await store.mailbox_usage(m.id) for m in mailbox_rows],
            "admins": await store.list_admins(),  # with password hashes
            # last_used_at moves whenever a token authenticates, refused or not
            "tokens": [(t.id, t.admin, t.secret_hash, t.description, t.expires_at) for t in await store.list_tokens()],
            "blocks": await store.list_blocks(),
            "queues": await store.list_queues(),
            "queued": [await store.get_queued_message(m.id) for m in await store.list_queued_messages()],
            "config_version": await store.config_version(),
        }
    return run(read())


def _request(api, op: Op, caller: str, principals: dict[str, Principal]) -> Any:
    me = principals.get(caller)
    path = op.path.format(me=me.name if me else "nobody", my_token=me.token_id if me else "0",
                          spare_token=principals["spare"].token_id)
    headers: dict[str, str] = {}
    if caller == "mailbox user":
        headers = basic_auth(*MAILBOX_USER)
    elif me is not None:
        headers = me.bearer
    body = op.body
    if body == "{sign-in}":  # signing in carries its credentials in the body, not in a header
        name, password = MAILBOX_USER if me is None else (me.name, me.password)
        if caller == "no credentials":
            password = "wrong"
        headers, body = {}, {"name": name, "password": password}
    return api.request(op.method, path, headers=headers, json=body)


def publish_live_session(store, run, monkeypatch) -> None:
    """EX01's node lists alice's POP3 session and does not answer: an allowed end is stored,
    audited and answered as pending after a short wait."""
    monkeypatch.setattr(session_ops, "CONFIRM_TIMEOUT", 0.05)

    async def publish() -> None:
        await store.put_node_report(report(SERVER, [alice_pop3()]))
    run(publish())


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("op", OPERATIONS.values(), ids=OPERATIONS.keys())
def test_permission_matrix(api, store, run, principals, op: Op, caller: str, monkeypatch) -> None:
    if op.node:
        publish_live_session(store, run, monkeypatch)
    before = snapshot(store, run)
    audit_before = run(store.list_audit(10000))
    response = _request(api, op, caller, principals)
    status = expected(op, caller)
    assert response.status_code == status, f"{op.method} {op.path} as {caller}: {response.text}"
    new_entries = run(store.list_audit(10000))[: -len(audit_before) or None]
    if status in (401, 403):
        error = error_of(response, status)
        assert snapshot(store, run) == before, "a refused request changed the store"
        if status == 401:
            assert response.headers["WWW-Authenticate"] == 'Bearer, Basic realm="postroom"'
            assert new_entries == []
        elif op.changes:
            name = principals[caller].name
            assert [(e.actor, e.channel, e.outcome) for e in new_entries] == [(name, "api", "refused")]
            assert new_entries[0].detail == error["message"]
        else:
            assert new_entries == []
    elif op.changes:
        assert new_entries, "an allowed change writes an audit entry"
        assert {(e.actor, e.channel, e.outcome) for e in new_entries} == {(principals[caller].name, "api", "success")}
    else:
        assert new_entries == [], "reading is never audited"
