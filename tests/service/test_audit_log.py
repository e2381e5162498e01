"""The audit log: each successful change writes exactly one entry with the right before and
after; a refused change writes one "refused" entry and changes nothing; secrets never appear.
"""
from __future__ import annotations

from typing import Any, Awaitable, Callable

import pytest

from audit_support import refuse_audit_inserts
from postroom.errors import Forbidden, PostroomError
from postroom.model import LoginPolicy, MailboxFeatures, PopSettings, ReceiveConnector, WebSettings
from postroom.service import Caller, Context, admins, connectors, domains, mailboxes, pop, security, services, web
from postroom.storage import Store

Op = Callable[[Context], Awaitable[Any]]
ANY = object()  # a value the test does not pin (timestamps, generated ids)

# (operation, action, target, before, after): before/after as the audit entry must hold them.
CHANGES: dict[str, tuple[Op, str, str, Any, Any]] = {
    "pop.set": (lambda ctx: pop.set_pop(ctx, None, PopSettings.changes(login_type="plain-text-login",
                                                                       max_command_size=100)),
                "pop.set", "server/EX01/pop",
                {"login_type": "secure-login", "max_command_size": 512},
                {"login_type": "plain-text-login", "max_command_size": 100}),
    "service.set": (lambda ctx: services.set_service(ctx, "pop3", startup="disabled"),
                    "service.set", "server/EX01/service/pop3",
                    {"startup": "automatic", "status": "running"}, {"startup": "disabled", "status": "running"}),
    "service.stop": (lambda ctx: services.stop_service(ctx, "smtp"), "service.stop", "server/EX01/service/smtp",
                     {"startup": "automatic", "status": "running"}, {"startup": "automatic", "status": "stopped"}),
    "web.set": (lambda ctx: web.set_web(ctx, None, WebSettings.changes(http_bindings="127.0.0.1:8081",
                                                                       session_timeout="1h")),
                "web.set", "server/EX01/web",
                {"http_bindings": ["127.0.0.1:8080"], "session_timeout": 28800},
                {"http_bindings": ["127.0.0.1:8081"], "session_timeout": 3600}),
    "security.policy.set": (lambda ctx: security.set_login_policy(ctx, LoginPolicy.changes({"max_source_failures": "3",
                                                                        "trusted_networks": "none",
                                                                        "max_delay": "15s"})),
                            "security.policy.set", "security/policy",
                            {"max_source_failures": 10, "trusted_networks": ["127.0.0.0/8", "::1/128"]},
                            {"max_source_failures": 3, "trusted_networks": []}),
    "connector.set": (lambda ctx: connectors.set_connector(ctx, "Client EX01", None,
                                                           ReceiveConnector.changes(enabled=False)),
                      "connector.set", "server/EX01/connector/Client EX01", {"enabled": True}, {"enabled": False}),
    "connector.remove": (lambda ctx: connectors.remove_connector(ctx, "Default EX01"),
                         "connector.remove", "server/EX01/connector/Default EX01", ANY, None),
    "domain.add": (lambda ctx: domains.add_domain(ctx, "Example.ORG"), "domain.add", "domain/example.org",
                   None, {"name": "example.org"}),
    "mailbox.set": (lambda ctx: mailboxes.set_mailbox(
        ctx, "demo@example.com", MailboxFeatures.changes(pop_enabled=False)),
                    "mailbox.set", "mailbox/demo@example.com", ANY, ANY),
    "mailbox.password": (lambda ctx: mailboxes.set_password(ctx, "demo@example.com", "S3cret-mailbox-pw"),
                         "mailbox.password", "mailbox/demo@example.com", None, {"password_set": True}),
    "admin.new": (lambda ctx: admins.new_admin(ctx, "Carol", "S3cret-admin-pw", "view-only,server-management"),
                  "admin.new", "admin/carol", None,
                  {"name": "carol", "roles": ["server-management", "view-only"], "password_set": True,
                   "created_at": ANY}),
    "admin.set-role": (lambda ctx: admins.set_roles(ctx, "spare", "recipient-management"),
                       "admin.set-role", "admin/spare", {"roles": ["view-only"]}, {"roles": ["recipient-management"]}),
    "admin.remove": (lambda ctx: admins.remove_admin(ctx, "spare"), "admin.remove", "admin/spare",
                     {"name": "spare", "roles": ["view-only"], "password_set": False, "created_at": ANY,
                      "tokens": 0}, None),
    "admin.token.new": (lambda ctx: admins.new_token(ctx, "spare", description="ticket system", expires="30d"),
                        "admin.token.new", ANY, None, ANY),
}


@pytest.fixture(autouse=True)
def spare_admin(store: Store, run) -> None:
    run(store.add_admin("spare", None, ("view-only",)))


def matches(actual: Any, expected: Any) -> bool:
    if expected is ANY:
        return True
    if isinstance(expected, dict):
        return isinstance(actual, dict) and actual.keys() == expected.keys() and all(
            matches(actual[k], v) for k, v in expected.items())
    return actual == expected


@pytest.mark.parametrize("name", CHANGES)
def test_a_successful_change_writes_exactly_one_entry(context, store, run, name: str) -> None:
    op, action, target, before, after = CHANGES[name]
    ctx = context("organization-management", name="olga")
    ctx.caller = Caller("olga", frozenset({"organization-management"}), "api")
    old = run(store.list_audit(10000))
    run(op(ctx))
    new = run(store.list_audit(10000))[: len(run(store.list_audit(10000))) - len(old)]
    assert len(new) == 1, [e.action for e in new]
    entry = new[0]
    assert (entry.actor, entry.channel, entry.outcome, entry.action) == ("olga", "api", "success", action)
    assert matches(entry.target, target) and entry.detail is None
    assert matches(entry.before, before), entry.before
    assert matches(entry.after, after), entry.after


def test_token_creation_is_audited_without_the_token(context, store, run) -> None:
    view = run(admins.new_token(context("organization-management"), "spare", description="crm"))
    entry = run(store.list_audit(1))[0]
    assert entry.target == f"admin/spare/token/{view['id']}"
    assert entry.after["description"] == "crm" and "token" not in entry.after
    secret = view["token"].split(".", 1)[1]
    assert secret not in repr(run(store.list_audit(10000)))


def test_a_change_that_changes_nothing_is_not_audited(context, store, run) -> None:
    ctx = context("server-management")
    old = run(store.list_audit(10000))
    run(pop.set_pop(ctx, None, PopSettings.changes(login_type="secure-login")))  # already the value
    assert run(store.list_audit(10000)) == old


@pytest.mark.parametrize("name", CHANGES)
def test_a_refused_change_writes_a_refusal_and_changes_nothing(context, store, run, name: str) -> None:
    op, action, _target, _before, _after = CHANGES[name]
    ctx = context("view-only", name="vera")
    ctx.caller = Caller("vera", frozenset({"view-only"}), "console")
    state = run(_state(store))
    old = run(store.list_audit(10000))
    with pytest.raises(Forbidden):
        run(op(ctx))
    assert run(_state(store)) == state
    new = run(store.list_audit(10000))[: len(run(store.list_audit(10000))) - len(old)]
    assert [(e.actor, e.channel, e.outcome, e.action) for e in new] == [("vera", "console", "refused", action)]
    assert "vera may not do this" in new[0].detail and new[0].before is None and new[0].after is None


@pytest.mark.parametrize("name", CHANGES)
def test_a_change_whose_audit_entry_cannot_be_written_changes_nothing(context, store, run, name: str) -> None:
    """The entry is written in the change's own transaction: when the entry fails, so does the change."""
    op = CHANGES[name][0]
    state = run(_state(store))
    run(refuse_audit_inserts(store))
    with pytest.raises(PostroomError):
        run(op(context("organization-management")))
    assert run(_state(store)) == state


def test_secrets_never_reach_the_audit_log(context, store, run) -> None:
    ctx = context("organization-management")
    run(admins.new_admin(ctx, "dave", "Admin-Secret-1", "view-only"))
    run(admins.set_admin_password(ctx, "dave", "Admin-Secret-2"))
    run(mailboxes.new_mailbox(ctx, "eve@example.com", "Mailbox-Secret-3"))
    run(mailboxes.set_password(ctx, "eve@example.com", "Mailbox-Secret-4"))
    text = repr(run(store.list_audit(10000)))
    for secret in ("Admin-Secret-1", "Admin-Secret-2", "Mailbox-Secret-3", "Mailbox-Secret-4", "$argon2"):
        assert secret not in text


def test_audit_filters(context, store, run) -> None:
    from postroom.service import logs
    run(domains.add_domain(context("recipient-management", name="rita"), "a.example"))
    with pytest.raises(Forbidden):
        run(domains.add_domain(context("view-only", name="vera"), "b.example"))
    reader = context("view-only")
    assert [e["actor"] for e in run(logs.list_audit(reader, outcome="refused"))] == ["vera"]
    assert [e["target"] for e in run(logs.list_audit(reader, actor="rita"))] == ["domain/a.example"]
    assert [e["action"] for e in run(logs.list_audit(reader, action="domain.add", since="1h"))] == [
        "domain.add", "domain.add"]
    assert run(logs.list_audit(reader, channel="api")) == []


async def _state(store: Store) -> dict[str, Any]:
    return {
        "pop": await store.get_pop_settings("EX01"), "services": await store.list_services("EX01"),
        "web": await store.get_web_settings("EX01"), "policy": await store.get_login_policy(),
        "connectors": await store.list_connectors(None),
        "domains": await store.list_domains(), "mailboxes": await store.list_mailboxes(),
        "admins": await store.list_admins(), "tokens": await store.list_tokens(),
    }
