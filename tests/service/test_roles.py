"""Role checks in the service layer: who may read, who may change what, and that refusals are clean.

Exchange's role groups: view-only reads everything and changes nothing; recipient-management
changes mailboxes and domains; server-management changes services and protocol settings;
organization-management does everything; holding two groups gives the union.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Awaitable, Callable

import pytest

from postroom.errors import Forbidden, ValidationError
from postroom.model import (
    ApiToken, ImapSettings, LoginPolicy, MailboxFeatures, PopSettings, ReceiveConnector, SendConnector, TrackingEvent,
    TrackingEventId, TransportSettings, WebSettings,
)
from dkim_support import dkim_key
from postroom.service import (
    LOCAL_OPERATOR, Context, admins, connectors, dkim_keys, domains, imap, logs, mailboxes, pop, security,
    send_connectors, services, transport, web,
)
from postroom.storage import Store

Op = Callable[[Context], Awaitable[Any]]

READS: dict[str, Op] = {
    "list_services": lambda ctx: services.list_services(ctx),
    "list_services_all": lambda ctx: services.list_services(ctx, "all"),
    "show_pop": lambda ctx: pop.show_pop(ctx),
    "show_imap": lambda ctx: imap.show_imap(ctx),
    "list_mailboxes": lambda ctx: mailboxes.list_mailboxes(ctx),
    "show_mailbox": lambda ctx: mailboxes.show_mailbox(ctx, "demo@example.com"),
    "list_domains": lambda ctx: domains.list_domains(ctx),
    "show_dkim": lambda ctx: dkim_keys.show_dkim(ctx, "example.com"),
    "list_dkim": lambda ctx: dkim_keys.list_dkim(ctx),
    "list_audit": lambda ctx: logs.list_audit(ctx),
    "list_connectors": lambda ctx: connectors.list_connectors(ctx),
    "list_connectors_all": lambda ctx: connectors.list_connectors(ctx, "all"),
    "show_connector": lambda ctx: connectors.show_connector(ctx, "Client EX01"),
    "list_tracking": lambda ctx: logs.list_tracking(ctx, recipient="demo@example.com", since="1h"),
    "show_web": lambda ctx: web.show_web(ctx),
    "list_admins": lambda ctx: admins.list_admins(ctx),
    "show_admin": lambda ctx: admins.show_admin(ctx, "admin"),
    "list_tokens": lambda ctx: admins.list_tokens(ctx),
    "login_policy": lambda ctx: security.login_policy(ctx),
    "list_send_connectors": lambda ctx: send_connectors.list_send_connectors(ctx),
    "show_transport": lambda ctx: transport.show_transport(ctx),
}

# What each read shows of the store the fixtures set up (so a read that returned nothing, or
# another server's or caller's data, fails): every role group may see all of it.
SERVICES = ["admin", "imap4", "pop3", "smtp"]
CONNECTORS = {"Client EX01", "Default EX01"}
SHOWS: dict[str, Callable[[Any], bool]] = {
    "list_services": lambda r: [(s["server"], s["name"]) for s in r] == [("EX01", n) for n in SERVICES],
    "list_services_all": lambda r: [(s["server"], s["name"]) for s in r] == [("EX01", n) for n in SERVICES],
    "show_pop": lambda r: (r["server"], r["login_type"]) == ("EX01", "secure-login"),
    "show_imap": lambda r: (r["server"], r["bindings"]) == ("EX01", ["127.0.0.1:1143"]),
    "list_mailboxes": lambda r: [m["address"] for m in r["items"]] == ["demo@example.com"],
    "show_mailbox": lambda r: (r["address"], r["messages"]) == ("demo@example.com", 1),
    "list_domains": lambda r: r == ["example.com", "spare.example"],
    "show_dkim": lambda r: (r["signing"], [k["selector"] for k in r["keys"]]) == (True, ["spare"]),
    "list_dkim": lambda r: [(k["domain"], k["selector"]) for k in r] == [("example.com", "spare")],
    "list_audit": lambda r: [(e["actor"], e["action"]) for e in r] == [("local-operator", "init")],
    "list_connectors": lambda r: {c["name"] for c in r} == CONNECTORS,
    "list_connectors_all": lambda r: {c["name"] for c in r} == CONNECTORS,
    "show_connector": lambda r: (r["name"], r["server"]) == ("Client EX01", "EX01"),
    "list_tracking": lambda r: [(t["queue_id"], t["recipient"]) for t in r] == [("Q1", "demo@example.com")],
    "show_web": lambda r: (r["server"], r["http_bindings"]) == ("EX01", ["127.0.0.1:8080"]),
    "list_admins": lambda r: [(a["name"], a["roles"]) for a in r] == [("admin", ["organization-management"]),
                                                                      ("spare", ["view-only"])],
    "show_admin": lambda r: (r["name"], r["roles"], r["tokens"]) == ("admin", ["organization-management"], 0),
    "list_tokens": lambda r: [(t["id"], t["admin"]) for t in r] == [("spare0token1", "spare")],
    "login_policy": lambda r: (r["max_source_failures"], r["window"]) == (10, 900),
    "list_send_connectors": lambda r: r == [],  # init creates none, as in Exchange
    "show_transport": lambda r: (r["server"], r["max_hop_count"]) == ("EX01", 100),
}
READERS = [("view-only",), ("recipient-management",), ("server-management",),
           ("recipient-management", "server-management"), ("organization-management",)]

SERVER_CHANGES: dict[str, Op] = {
    "set_pop": lambda ctx: pop.set_pop(ctx, None, PopSettings.changes(login_type="plain-text-login")),
    "set_pop_several": lambda ctx: pop.set_pop(ctx, None, PopSettings.changes(max_command_size=100, banner="hello")),
    "set_imap": lambda ctx: imap.set_imap(ctx, None, ImapSettings.changes(login_type="plain-text-login")),
    "set_imap_several": lambda ctx: imap.set_imap(ctx, None, ImapSettings.changes(max_command_size=2048,
                                                                                  banner="hello")),
    "start_imap4": lambda ctx: services.start_service(ctx, "IMAP4"),
    "start_service": lambda ctx: services.start_service(ctx, "pop3"),
    "stop_service": lambda ctx: services.stop_service(ctx, "pop3"),
    "restart_service": lambda ctx: services.restart_service(ctx, "pop3"),
    "set_service": lambda ctx: services.set_service(ctx, "pop3", startup="manual"),
    "new_connector": lambda ctx: connectors.new_connector(ctx, "Relay", None, "custom",
                                                          ReceiveConnector.changes(bindings="127.0.0.1:2526")),
    "new_connector_client": lambda ctx: connectors.new_connector(ctx, "Submission", None, "client",
                                                                 ReceiveConnector.changes(bindings="127.0.0.1:2588")),
    "set_connector": lambda ctx: connectors.set_connector(ctx, "Client EX01", None,
                                                          ReceiveConnector.changes(enabled=False)),
    "set_connector_several": lambda ctx: connectors.set_connector(
        ctx, "Default EX01", None, ReceiveConnector.changes(max_message_size="10MB", permission_groups="users")),
    "remove_connector": lambda ctx: connectors.remove_connector(ctx, "Default EX01"),
    "set_web": lambda ctx: web.set_web(ctx, None, WebSettings.changes(http_bindings="127.0.0.1:8081")),
    "stop_admin_service": lambda ctx: services.stop_service(ctx, "admin"),
    "set_login_policy": lambda ctx: security.set_login_policy(ctx, LoginPolicy.changes({"max_source_failures": 3,
                                                                                        "window": "30m"})),
    "set_transport": lambda ctx: transport.set_transport(ctx, None, TransportSettings.changes(max_hop_count=30)),
}


def _import(ctx: Context) -> Awaitable[Any]:
    return mailboxes.import_messages(ctx, "demo@example.com", ctx.data_dir + "/../import.eml")


RECIPIENT_CHANGES: dict[str, Op] = {
    "add_domain": lambda ctx: domains.add_domain(ctx, "example.org"),
    "remove_domain": lambda ctx: domains.remove_domain(ctx, "spare.example"),
    "new_mailbox": lambda ctx: mailboxes.new_mailbox(ctx, "alice@example.com", "pw"),
    "set_mailbox": lambda ctx: mailboxes.set_mailbox(
        ctx, "demo@example.com", MailboxFeatures.changes(pop_enabled=False)),
    "set_mailbox_imap": lambda ctx: mailboxes.set_mailbox(
        ctx, "demo@example.com", MailboxFeatures.changes(imap_enabled="disabled")),
    "set_password": lambda ctx: mailboxes.set_password(ctx, "demo@example.com", "new password"),
    "remove_mailbox": lambda ctx: mailboxes.remove_mailbox(ctx, "demo@example.com"),
    "import_messages": _import,
}

# Admin principals and anyone's tokens: organization-management only.
ADMIN_CHANGES: dict[str, Op] = {
    "new_admin": lambda ctx: admins.new_admin(ctx, "carol", "pw-carol-1", "view-only"),
    "set_roles": lambda ctx: admins.set_roles(ctx, "spare", "server-management,view-only"),
    "set_admin_password": lambda ctx: admins.set_admin_password(ctx, "spare", "new-pw-2"),
    "remove_admin": lambda ctx: admins.remove_admin(ctx, "spare"),
    "new_token_for_another": lambda ctx: admins.new_token(ctx, "spare", description="script"),
    "revoke_token_of_another": lambda ctx: admins.revoke_token(ctx, "spare0token1"),
    # send connectors (organisation-wide transport): organization-management only, like admins
    "new_send_connector": lambda ctx: send_connectors.new_send_connector(
        ctx, "Internet", SendConnector.changes(address_spaces="*")),
}

# Organisation-wide mail flow (the domains' DKIM keys): organization-management only.
ORGANIZATION_CHANGES: dict[str, Op] = {
    "new_dkim_key": lambda ctx: dkim_keys.new_dkim_key(ctx, "example.com", "rsa-2048"),
    "remove_dkim_key": lambda ctx: dkim_keys.remove_dkim_keys(ctx, "example.com", "spare"),
    "remove_dkim_keys": lambda ctx: dkim_keys.remove_dkim_keys(ctx, "example.com"),
}

ALL_CHANGES = {**SERVER_CHANGES, **RECIPIENT_CHANGES}


@pytest.fixture(autouse=True)
def fixtures_for_changes(store: Store, data_dir: str, run) -> None:
    """What the change operations act on: a spare domain to remove and a message file to import;
    and a message-tracking row for the reads to show."""
    run(store.add_domain("spare.example"))
    run(store.add_dkim_key(dkim_key("example.com", "spare", "ed25519")))
    run(store.append_tracking([TrackingEvent(TrackingEventId.RECEIVE, "EX01", "SMTP", "Q1", "<m@example.net>",
                                             "bob@example.net", "demo@example.com", "250 2.6.0")]))
    run(store.add_admin("spare", None, ("view-only",)))
    run(store.add_token(ApiToken("spare0token1", "spare", "0" * 64, "spare")))
    (Path(data_dir).parent / "import.eml").write_bytes(b"Subject: imported\n\nhello\n")


def snapshot(store: Store, run) -> dict[str, Any]:
    """Everything a change could touch, read straight from the store."""
    async def read() -> dict[str, Any]:
        mailbox_rows = await store.list_mailboxes()
        return {
            "pop": await store.get_pop_settings("EX01"),
            "imap": await store.get_imap_settings("EX01"),
            "services": await store.list_services("EX01"),
            "connectors": await store.list_connectors(None),
            "domains": await store.list_domains(),
            "dkim": await store.list_dkim_keys(),  # with the private keys
            "mailboxes": mailbox_rows,  # includes password hashes
            "usage": [await store.mailbox_usage(m.id) for m in mailbox_rows],
            "admins": await store.list_admins(),
            "tokens": await store.list_tokens(),
            "web": await store.get_web_settings("EX01"),
            "login_policy": await store.get_login_policy(),
            "send_connectors": await store.list_send_connectors(),
            "transport": await store.get_transport_settings("EX01"),
            "config_version": await store.config_version(),
        }
    return run(read())


def assert_refused(context: Callable[..., Context], store: Store, run, roles: tuple[str, ...], op: Op) -> None:
    before = snapshot(store, run)
    audit_before = run(store.list_audit(10000))
    ctx = context(*roles)
    with pytest.raises(Forbidden) as refused:
        run(op(ctx))
    assert ctx.caller.name in refused.value.message
    assert snapshot(store, run) == before  # nothing changed
    new_entries = run(store.list_audit(10000))[: -len(audit_before) or None]
    if op in READS.values():
        assert new_entries == []  # reading is never audited, not even when refused
    else:  # a refused change leaves exactly one "refused" entry naming the caller and why
        assert [(e.actor, e.outcome) for e in new_entries] == [(ctx.caller.name, "refused")]
        assert new_entries[0].detail == refused.value.message and new_entries[0].after is None


def assert_allowed_change(context: Callable[..., Context], store: Store, run, roles: tuple[str, ...],
                          op: Op, name: str = "") -> None:
    before = snapshot(store, run)
    audit_before = run(store.list_audit(10000))
    ctx = context(*roles, name=name or None)
    run(op(ctx))
    assert snapshot(store, run) != before, "an allowed change changes the store"
    audit_after = run(store.list_audit(10000))
    new_entries = audit_after[: len(audit_after) - len(audit_before)]
    assert new_entries, "an allowed change writes an audit entry"
    assert all(entry.actor == ctx.caller.name for entry in new_entries)


# reads: every role group sees everything ------------------------------------------------------
@pytest.mark.parametrize("name", READS.keys())
def test_every_role_group_reads_what_the_store_holds(context, store, run, name: str) -> None:
    audit_before = run(store.list_audit(10000))
    for roles in READERS:
        seen = run(READS[name](context(*roles)))
        assert SHOWS[name](seen), (roles, seen)
    assert run(store.list_audit(10000)) == audit_before  # reading is not audited


# view-only ------------------------------------------------------------------------------------
@pytest.mark.parametrize("change", ALL_CHANGES.values(), ids=ALL_CHANGES.keys())
def test_view_only_cannot_change_anything(context, store, run, change: Op) -> None:
    assert_refused(context, store, run, ("view-only",), change)


# recipient-management -------------------------------------------------------------------------
@pytest.mark.parametrize("change", RECIPIENT_CHANGES.values(), ids=RECIPIENT_CHANGES.keys())
def test_recipient_management_can_change_recipients(context, store, run, change: Op) -> None:
    assert_allowed_change(context, store, run, ("recipient-management",), change)


@pytest.mark.parametrize("change", SERVER_CHANGES.values(), ids=SERVER_CHANGES.keys())
def test_recipient_management_cannot_change_the_server(context, store, run, change: Op) -> None:
    assert_refused(context, store, run, ("recipient-management",), change)


# server-management ----------------------------------------------------------------------------
@pytest.mark.parametrize("change", SERVER_CHANGES.values(), ids=SERVER_CHANGES.keys())
def test_server_management_can_change_the_server(context, store, run, change: Op) -> None:
    assert_allowed_change(context, store, run, ("server-management",), change)


@pytest.mark.parametrize("change", RECIPIENT_CHANGES.values(), ids=RECIPIENT_CHANGES.keys())
def test_server_management_cannot_change_recipients(context, store, run, change: Op) -> None:
    assert_refused(context, store, run, ("server-management",), change)


# unions, organization-management, nobody -------------------------------------------------------
@pytest.mark.parametrize("change", ALL_CHANGES.values(), ids=ALL_CHANGES.keys())
def test_two_roles_give_the_union_of_their_rights(context, store, run, change: Op) -> None:
    assert_allowed_change(context, store, run, ("recipient-management", "server-management"), change)


@pytest.mark.parametrize("change", ALL_CHANGES.values(), ids=ALL_CHANGES.keys())
def test_view_only_adds_nothing_to_another_role(context, store, run, change: Op) -> None:
    roles = ("view-only", "recipient-management")
    if change in RECIPIENT_CHANGES.values():
        assert_allowed_change(context, store, run, roles, change)
    else:
        assert_refused(context, store, run, roles, change)


@pytest.mark.parametrize("change", ALL_CHANGES.values(), ids=ALL_CHANGES.keys())
def test_organization_management_can_change_everything(context, store, run, change: Op) -> None:
    assert_allowed_change(context, store, run, ("organization-management",), change, name="admin@corp")


@pytest.mark.parametrize("roles", [("server-management",), ("recipient-management",), ("view-only",),
                                   ("server-management", "recipient-management")])
@pytest.mark.parametrize("change", ADMIN_CHANGES.values(), ids=ADMIN_CHANGES.keys())
def test_only_organization_management_manages_admins(context, store, run, roles, change: Op) -> None:
    assert_refused(context, store, run, roles, change)


@pytest.mark.parametrize("roles", [("server-management",), ("recipient-management",), ("view-only",),
                                   ("server-management", "recipient-management")])
@pytest.mark.parametrize("change", ORGANIZATION_CHANGES.values(), ids=ORGANIZATION_CHANGES.keys())
def test_only_organization_management_manages_dkim_keys(context, store, run, roles, change: Op) -> None:
    assert_refused(context, store, run, roles, change)


@pytest.mark.parametrize("change", ORGANIZATION_CHANGES.values(), ids=ORGANIZATION_CHANGES.keys())
def test_organization_management_manages_dkim_keys(context, store, run, change: Op) -> None:
    assert_allowed_change(context, store, run, ("organization-management",), change, name="boss")


@pytest.mark.parametrize("change", ADMIN_CHANGES.values(), ids=ADMIN_CHANGES.keys())
def test_organization_management_manages_admins(context, store, run, change: Op) -> None:
    assert_allowed_change(context, store, run, ("organization-management",), change, name="boss")


def test_a_principal_manages_its_own_password_and_tokens(context, store, run) -> None:
    me = context("view-only", name="spare")
    me.caller = type(me.caller)("spare", frozenset({"view-only"}), "api")
    token = run(admins.new_token(me, "spare", description="mine"))
    assert token["admin"] == "spare" and token["token"].startswith("postroom_")
    run(admins.set_admin_password(me, "spare", "my-own-pw"))
    run(admins.revoke_token(me, token["id"]))
    with pytest.raises(Forbidden):
        run(admins.set_roles(me, "spare", "organization-management"))  # but never its own roles
    with pytest.raises(Forbidden):
        run(admins.new_token(me, "admin"))


@pytest.mark.parametrize("roles", [(), ("no-such-role",)], ids=["none", "unknown"])
@pytest.mark.parametrize("op", {**READS, **ALL_CHANGES}.values(), ids={**READS, **ALL_CHANGES}.keys())
def test_callers_without_a_known_role_can_do_nothing(context, store, run, roles, op: Op) -> None:
    assert_refused(context, store, run, roles, op)


@pytest.mark.parametrize("roles", [("View-Only",), ("Organization-Management",), ("organization management",)])
def test_role_names_match_exactly(context, store, run, roles) -> None:
    assert_refused(context, store, run, roles, READS["show_pop"])
    assert_refused(context, store, run, roles, ALL_CHANGES["set_pop"])


def test_the_local_operator_is_organization_management() -> None:
    assert LOCAL_OPERATOR.name == "local-operator"
    assert LOCAL_OPERATOR.roles == frozenset({"organization-management"})


def test_forbidden_names_the_missing_right(context, run) -> None:
    with pytest.raises(Forbidden) as refused:
        run(pop.set_pop(context("recipient-management", name="rita"), None,
                        PopSettings.changes(login_type="plain-text-login")))
    assert "rita" in refused.value.message and "server-config" in refused.value.message
    with pytest.raises(Forbidden) as refused:
        run(mailboxes.new_mailbox(context("server-management", name="sam"), "alice@example.com", "pw"))
    assert "sam" in refused.value.message and "recipients" in refused.value.message


# the role check comes before anything else -----------------------------------------------------
BAD_INPUT_CHANGES: dict[str, Op] = {
    "set_pop_bad_value": lambda ctx: pop.set_pop(ctx, None, PopSettings.changes(max_command_size=5)),
    "start_bad_service": lambda ctx: services.start_service(ctx, "pop4"),
    "set_service_bad_startup": lambda ctx: services.set_service(ctx, "pop3", startup="sometimes"),
    "add_bad_domain": lambda ctx: domains.add_domain(ctx, "not a domain"),
    "new_dkim_key_bad_algorithm": lambda ctx: dkim_keys.new_dkim_key(ctx, "example.com", "dsa"),
    "remove_unknown_dkim_key": lambda ctx: dkim_keys.remove_dkim_keys(ctx, "example.com", "nope"),
    "new_mailbox_bad_address": lambda ctx: mailboxes.new_mailbox(ctx, "not-an-address", "pw"),
    "set_unknown_mailbox": lambda ctx: mailboxes.set_mailbox(
        ctx, "nobody@example.com", MailboxFeatures.changes(enabled=False)),
    "new_connector_bad_usage": lambda ctx: connectors.new_connector(ctx, "X", None, "partner",
                                                                    ReceiveConnector.changes()),
    "new_connector_taken_name": lambda ctx: connectors.new_connector(
        ctx, "Client EX01", None, "custom", ReceiveConnector.changes(bindings="127.0.0.1:2600")),
    "set_connector_bad_value": lambda ctx: connectors.set_connector(ctx, "Client EX01", None,
                                                                    ReceiveConnector.changes(auth="none,tls")),
    "set_unknown_connector": lambda ctx: connectors.set_connector(ctx, "Nope", None,
                                                                  ReceiveConnector.changes(enabled=False)),
    "remove_unknown_connector": lambda ctx: connectors.remove_connector(ctx, "Nope"),
    "connector_on_unknown_server": lambda ctx: connectors.remove_connector(ctx, "Client EX01", server="NOPE"),
}


@pytest.mark.parametrize("change", BAD_INPUT_CHANGES.values(), ids=BAD_INPUT_CHANGES.keys())
def test_view_only_is_refused_before_its_input_is_looked_at(context, store, run, change: Op) -> None:
    # A caller who may not change anything learns nothing from validation or lookups.
    assert_refused(context, store, run, ("view-only",), change)


# what allowed changes really do, through the service layer ---------------------------------------
def test_start_and_stop_without_a_node_report_no_node(context, store, run) -> None:
    ctx = context("server-management")
    stopped = run(services.stop_service(ctx, "pop3"))
    assert stopped["status"] == "stopped" and "no node" in stopped["state"]
    started = run(services.start_service(ctx, "pop3"))
    assert started["status"] == "running" and "no node" in started["state"]
    rows = run(services.list_services(context("view-only")))
    assert [(r["name"], r["status"], r["startup"]) for r in rows] == [
        ("admin", "running", "automatic"), ("imap4", "running", "automatic"), ("pop3", "running", "automatic"),
        ("smtp", "running", "automatic")]
    assert all("no node" in row["state"] for row in rows)


def test_set_pop_is_audited_with_before_and_after(context, store, run) -> None:
    ctx = context("server-management", name="sam")
    view = run(pop.set_pop(ctx, None, PopSettings.changes(login_type="plain-text-login")))
    assert view["login_type"] == "plain-text-login"
    entry = run(store.list_audit(1))[0]
    assert (entry.actor, entry.action, entry.target) == ("sam", "pop.set", "server/EX01/pop")
    assert (entry.before, entry.after) == ({"login_type": "secure-login"}, {"login_type": "plain-text-login"})


def test_set_pop_validates_everything_before_writing(context, store, run) -> None:
    before = snapshot(store, run)
    with pytest.raises(ValidationError) as refused:
        run(pop.set_pop(context("server-management"), None, PopSettings.changes(banner="fine", max_command_size=5000)))
    assert refused.value.field == "max_command_size"
    assert snapshot(store, run) == before


def test_set_imap_is_audited_with_before_and_after(context, store, run) -> None:
    ctx = context("server-management", name="sam")
    view = run(imap.set_imap(ctx, None, ImapSettings.changes(login_type="plain-text-login")))
    assert view["login_type"] == "plain-text-login"
    entry = run(store.list_audit(1))[0]
    assert (entry.actor, entry.action, entry.target) == ("sam", "imap.set", "server/EX01/imap")
    assert (entry.before, entry.after) == ({"login_type": "secure-login"}, {"login_type": "plain-text-login"})


def test_set_imap_validates_everything_before_writing(context, store, run) -> None:
    before = snapshot(store, run)
    with pytest.raises(ValidationError) as refused:
        run(imap.set_imap(context("server-management"), None, ImapSettings.changes(banner="fine",
                                                                                   max_command_size=512)))
    assert refused.value.field == "max_command_size"
    assert snapshot(store, run) == before


def test_recipient_changes_are_audited_as_the_caller(context, store, run) -> None:
    ctx = context("recipient-management", name="rita")
    run(domains.add_domain(ctx, "example.org"))
    run(mailboxes.new_mailbox(ctx, "alice@example.org", "secret-pw-123"))
    entries = run(store.list_audit(2))
    assert [(e.actor, e.action) for e in entries] == [("rita", "mailbox.new"), ("rita", "domain.add")]
    assert "secret-pw-123" not in repr(entries) and "$argon2" not in repr(entries)


def test_connector_changes_are_audited_as_the_caller_with_only_what_changed(context, store, run) -> None:
    ctx = context("server-management", name="sam")
    view = run(connectors.set_connector(ctx, "Client EX01", None,
                                        ReceiveConnector.changes(max_recipients_per_message=50, require_tls=True)))
    assert (view["max_recipients_per_message"], view["require_tls"]) == (50, True)
    assert "no node" in view["state"]
    entry = run(store.list_audit(1))[0]
    assert (entry.actor, entry.action, entry.target) == ("sam", "connector.set", "server/EX01/connector/Client EX01")
    assert entry.before == {"max_recipients_per_message": 200, "require_tls": False}
    assert entry.after == {"max_recipients_per_message": 50, "require_tls": True}


def test_set_connector_validates_everything_before_writing(context, store, run) -> None:
    before = snapshot(store, run)
    with pytest.raises(ValidationError) as refused:
        run(connectors.set_connector(context("server-management"), "Client EX01", None,
                                     ReceiveConnector.changes(banner="fine", max_recipients_per_message=0)))
    assert refused.value.field == "max_recipients_per_message"
    assert snapshot(store, run) == before
