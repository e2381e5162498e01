"""The Store contract, audited changes: a write given an AuditNote commits the change and its
audit entry in one transaction, on every backend. The audit table is made to refuse inserts
(a trigger), and every audited write must then leave nothing changed; a change that fails
leaves no entry."""
from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable

import pytest

from audit_support import refuse_audit_inserts
from dkim_support import dkim_key
from postroom.errors import Conflict, NotFound, PostroomError, ValidationError
from postroom.model import (
    Block, LoginPolicy, PopSettings, ReceiveConnector, Service, ServiceStatus, Startup, WebSettings,
)
from postroom.storage import AuditNote

from .test_store_contract import MESSAGE, SERVER, services_for
from .test_store_contract_admin import token

pytestmark = [pytest.mark.store_admin, pytest.mark.store_config, pytest.mark.store_blocks]


def note(action: str, after: Any = None, before: Any = None) -> AuditNote:
    return AuditNote("alice", action, "target/1", before, {"x": 1} if after is None else after, "api")


async def seeded(store) -> None:
    """A server (with a connector), a domain with a DKIM key, a mailbox, an admin with a token, and a block."""
    await store.add_server(SERVER, services_for(SERVER.name), PopSettings(),
                           [ReceiveConnector("Client EX01", SERVER.name)])
    await store.add_domain("example.com")
    await store.add_dkim_key(dkim_key("example.com", "s1", "rsa-2048"))
    bob = await store.create_mailbox("bob@example.com", "Bob", None)
    await store.deliver(bob.id, MESSAGE)
    await store.add_admin("carol", None, ["view-only"])
    await store.add_token(token("t1", "carol"))
    await store.add_blocks(SERVER.name, [Block("source", "192.0.2.9", 1.0, 4e9, 5, "pop3")])


async def state(store) -> dict[str, Any]:
    """Everything the audited writes below could change."""
    return {
        "pop": await store.get_pop_settings(SERVER.name), "web": await store.get_web_settings(SERVER.name),
        "policy": await store.get_login_policy(), "services": await store.list_services(SERVER.name),
        "connectors": await store.list_connectors(SERVER.name), "domains": await store.list_domains(),
        "mailboxes": await store.list_mailboxes(), "admins": await store.list_admins(),
        "tokens": await store.list_tokens(), "blocks": await store.list_blocks(),
        "dkim": await store.list_dkim_keys(),
        "messages": [await store.list_messages(m.id) for m in await store.list_mailboxes()],
        "version": await store.config_version(),
    }


async def delete_bobs_message(store: Any, audit: AuditNote) -> int:
    bob = await store.get_mailbox("bob@example.com")
    [message] = await store.list_messages(bob.id)
    return await store.delete_messages(bob.id, [message.id], audit=audit)


Write = Callable[[Any, AuditNote], Awaitable[Any]]
WRITES: dict[str, Write] = {
    "put_pop_settings": lambda s, n: s.put_pop_settings(SERVER.name, PopSettings(banner="changed"), audit=n),
    "put_web_settings": lambda s, n: s.put_web_settings(SERVER.name, WebSettings(session_timeout=999), audit=n),
    "put_login_policy": lambda s, n: s.put_login_policy(LoginPolicy(max_source_failures=3), audit=n),
    "update_service": lambda s, n: s.update_service(
        Service(SERVER.name, "pop3", Startup.AUTOMATIC, ServiceStatus.RUNNING), audit=n),
    "add_connector": lambda s, n: s.add_connector(ReceiveConnector("Other", SERVER.name), audit=n),
    "put_connector": lambda s, n: s.put_connector(ReceiveConnector("Client EX01", SERVER.name, banner="x"), audit=n),
    "remove_connector": lambda s, n: s.remove_connector(SERVER.name, "Client EX01", audit=n),
    "add_domain": lambda s, n: s.add_domain("example.org", audit=n),
    "remove_domain": lambda s, n: s.remove_domain("example.org", audit=n),
    "add_dkim_key": lambda s, n: s.add_dkim_key(dkim_key("example.com", "s2", "ed25519"), audit=n),
    "remove_dkim_key": lambda s, n: s.remove_dkim_key("example.com", "s1", audit=n),
    "create_mailbox": lambda s, n: s.create_mailbox("dan@example.com", "Dan", None, audit=n),
    "update_mailbox": lambda s, n: s.update_mailbox("bob@example.com", display_name="Robert", audit=n),
    "remove_mailbox": lambda s, n: s.remove_mailbox("bob@example.com", audit=n),
    "add_admin": lambda s, n: s.add_admin("dave", None, ["view-only"], audit=n),
    "update_admin": lambda s, n: s.update_admin("carol", roles=["organization-management"], audit=n),
    "remove_admin": lambda s, n: s.remove_admin("carol", audit=n),
    "add_token": lambda s, n: s.add_token(token("t2", "carol"), audit=n),
    "remove_token": lambda s, n: s.remove_token("t1", audit=n),
    "remove_blocks": lambda s, n: s.remove_blocks("192.0.2.9", audit=n),
    "delete_messages": delete_bobs_message,  # an admin's deletion (postroom mailbox message --delete)
}


@pytest.mark.parametrize("write", sorted(WRITES))
def test_an_audited_write_commits_its_entry_with_it(store, run, write):
    async def body():
        await seeded(store)
        if write == "remove_domain":
            await store.add_domain("example.org")
        before = await state(store)
        await WRITES[write](store, note(write))
        assert await state(store) != before
        [entry] = await store.list_audit()
        assert (entry.actor, entry.action, entry.target, entry.after, entry.channel, entry.outcome) == (
            "alice", write, "target/1", {"x": 1}, "api", "success")
    run(body())


@pytest.mark.parametrize("write", sorted(WRITES))
def test_a_write_whose_audit_entry_fails_changes_nothing(store, run, write):
    async def body():
        await seeded(store)
        if write == "remove_domain":
            await store.add_domain("example.org")
        before = await state(store)
        await refuse_audit_inserts(store)
        with pytest.raises(PostroomError):
            await WRITES[write](store, note(write))
        assert await state(store) == before  # config_version included
        assert await store.list_audit() == []
    run(body())


def test_a_write_that_fails_leaves_no_audit_entry(store, run):
    async def body():
        await seeded(store)
        with pytest.raises(NotFound):
            await store.put_pop_settings("EX09", PopSettings(), audit=note("pop.set"))
        with pytest.raises(Conflict):
            await store.create_mailbox("bob@example.com", "Bob", None, audit=note("mailbox.new"))
        with pytest.raises(NotFound):
            await store.remove_token("nope", audit=note("admin.token.revoke"))
        with pytest.raises(Conflict):
            await store.remove_domain("example.com", audit=note("domain.remove"))  # bob is in it
        assert await store.list_audit() == []
    run(body())


def test_the_entry_can_show_what_the_write_made(store, run):
    async def body():
        await seeded(store)
        made = await store.create_mailbox("dan@example.com", "Dan", None, audit=note(
            "mailbox.new", after=lambda mailbox: {"id": mailbox.id, "created_at": mailbox.created_at}))
        [entry] = await store.list_audit()
        assert entry.after == {"id": made.id, "created_at": made.created_at}
    run(body())


def test_a_bad_note_is_refused_before_anything_is_written(store, run):
    async def body():
        await seeded(store)
        before = await state(store)
        with pytest.raises(ValidationError) as refused:
            await store.put_pop_settings(SERVER.name, PopSettings(banner="changed"),
                                         audit=AuditNote("alice", "pop.set", "t", None, None, "telnet"))
        assert refused.value.field == "channel"
        with pytest.raises(ValidationError) as refused:
            await store.add_domain("example.org", audit={"action": "domain.add"})
        assert refused.value.field == "audit"
        assert await state(store) == before and await store.list_audit() == []
    run(body())


def test_a_refused_audited_write_fails_alone_among_concurrent_writes(store, run):
    """The embedded store commits concurrent writes together: the one whose entry fails is
    rolled back alone (the group is rolled back and each write runs again alone), the others
    commit."""
    async def body():
        await seeded(store)
        await refuse_audit_inserts(store)
        results = await asyncio.gather(
            store.put_login_policy(LoginPolicy(max_source_failures=3), audit=note("security.policy.set")),
            store.add_domain("example.org"), store.add_domain("example.net"),
            return_exceptions=True)
        assert isinstance(results[0], PostroomError) and results[1:] == [None, None]
        assert await store.get_login_policy() == LoginPolicy()
        assert await store.list_domains() == ["example.com", "example.net", "example.org"]
    run(body())

