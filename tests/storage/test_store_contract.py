"""The Store contract: lifecycle and configuration (StoreLifecycle, ConfigStore). Every backend
must pass all of it, through the Store protocol only; the other roles are in the
test_store_contract_*.py files, marked by role (tests/storage/conftest.py)."""
from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest

from postroom.errors import Conflict, NotFound, Unavailable, ValidationError
from postroom.model import LoginType, NodeReport, PopSettings, Server, Service, ServiceStatus, SortOrder, Startup

SERVER = Server("EX01", "ex01.example.com")
pytestmark = [pytest.mark.store_lifecycle, pytest.mark.store_config]


def services_for(server: str) -> list[Service]:
    return [
        Service(server, "smtp", Startup.AUTOMATIC, ServiceStatus.RUNNING),
        Service(server, "pop3", Startup.MANUAL, ServiceStatus.STOPPED),
        Service(server, "admin", Startup.AUTOMATIC, ServiceStatus.RUNNING),
    ]


CUSTOM_POP = PopSettings(
    login_type=LoginType.PLAIN_TEXT_AUTHENTICATION,
    bindings=("127.0.0.1:1110", "[::1]:1110"),
    ssl_bindings=("127.0.0.1:1995",),
    certificate="/etc/postroom/tls/cert.pem",
    certificate_key="/etc/postroom/tls/key.pem",
    banner="Welcome to EX01",
    max_connections=100,
    max_connections_from_single_ip=10,
    max_connections_per_user=3,
    max_command_size=100,
    authenticated_timeout=600,
    preauthenticated_timeout=45,
    sort_order=SortOrder.DESCENDING,
    protocol_log=True,
)


def wire(*lines: bytes) -> bytes:
    return b"".join(line + b"\r\n" for line in lines)


MESSAGE = wire(b"From: bob@example.net", b"To: alice@example.com", b"Subject: hi", b"", b"Hello Alice.")
EIGHT_BIT = wire(b"Subject: 8bit", b"", bytes(b for b in range(256) if b not in (10, 13)), b"caf\xc3\xa9 \x00\xff")


def is_utc_iso(text: str) -> bool:
    return datetime.fromisoformat(text).utcoffset() == timedelta(0)


async def mailbox(store: Any, address: str = "alice@example.com", name: str = "Alice") -> int:
    return (await store.create_mailbox(address, name, "$argon2id$hash")).id


# lifecycle and schema -----------------------------------------------------------------------

def test_migrate_applies_in_order_then_is_idempotent(make_store, run):
    async def body():
        store = make_store()
        await store.open()
        try:
            assert await store.schema_version() == 0
            applied = await store.migrate()
            assert applied and applied[0] == 1 and applied == sorted(set(applied))
            assert await store.schema_version() == applied[-1]
            assert await store.migrate() == []
            assert await store.schema_version() == applied[-1]
            assert await store.config_version() == 0
        finally:
            await store.close()
        store = make_store()
        await store.open()
        try:
            assert await store.migrate() == []
            assert await store.schema_version() == applied[-1]
        finally:
            await store.close()
    run(body())


def test_open_is_needed_and_close_is_final(make_store, run):
    async def body():
        store = make_store()
        with pytest.raises(Unavailable):
            await store.config_version()
        await store.open()
        await store.migrate()
        box = await mailbox(store)
        await store.close()
        await store.close()  # closing twice is harmless
        calls = [
            store.config_version(), store.schema_version(), store.migrate(), store.list_domains(),
            store.add_domain("example.org"), store.get_mailbox("alice@example.com"),
            store.find_mailbox("alice@example.com"), store.list_mailboxes(), store.deliver(box, MESSAGE),
            store.list_messages(box), store.read_message(box, 1), store.delete_messages(box, [1]),
            store.try_lock_mailbox(box, "s1"), store.append_audit("a", "b", "c", None, None),
            store.list_audit(), store.get_server("EX01"),
        ]
        for call in calls:
            with pytest.raises(Unavailable):
                await call
    run(body())


def test_data_persists_across_close_and_reopen(make_store, run):
    async def body():
        store = make_store()
        await store.open()
        await store.migrate()
        await store.add_server(SERVER, services_for("EX01"), CUSTOM_POP)
        await store.add_domain("example.com")
        created = await store.create_mailbox("alice@example.com", "Alice", "h1", pop_enabled=False)
        info = await store.deliver(created.id, EIGHT_BIT)
        entry = await store.append_audit("root", "mailbox.new", "alice@example.com", None, {"a": 1})
        version = await store.config_version()
        await store.close()

        store = make_store()
        await store.open()
        try:
            assert await store.migrate() == []
            assert await store.config_version() == version
            assert await store.get_server("EX01") == SERVER
            assert await store.list_services("EX01") == sorted(services_for("EX01"), key=lambda s: s.name)
            assert await store.get_pop_settings("EX01") == CUSTOM_POP
            assert await store.list_domains() == ["example.com"]
            assert await store.get_mailbox("alice@example.com") == created
            assert await store.list_messages(created.id) == [info]
            assert await store.read_message(created.id, info.id) == EIGHT_BIT
            assert await store.list_audit() == [entry]
        finally:
            await store.close()
    run(body())


# configuration version ----------------------------------------------------------------------

def test_config_version_bumps_on_every_configuration_write(store, run):
    async def body():
        seen = [await store.config_version()]

        async def bumped() -> None:
            now = await store.config_version()
            assert now > seen[-1], "a configuration write must increase config_version"
            seen.append(now)

        await store.add_server(SERVER, services_for("EX01"), PopSettings())

        await bumped()
        await store.update_service(Service("EX01", "pop3", Startup.AUTOMATIC, ServiceStatus.RUNNING))
        await bumped()
        await store.put_pop_settings("EX01", CUSTOM_POP)
        await bumped()
        await store.add_domain("example.com")
        await bumped()
        await store.create_mailbox("alice@example.com", "Alice", None)
        await bumped()
        await store.update_mailbox("alice@example.com", pop_enabled=False)
        await bumped()
        await store.remove_mailbox("alice@example.com")
        await bumped()
        await store.remove_domain("example.com")
        await bumped()
    run(body())


def test_config_version_ignores_mail_audit_and_node_reports(store, run):
    async def body():
        await store.add_server(SERVER, services_for("EX01"), PopSettings())
        box = await mailbox(store)
        before = await store.config_version()
        info = await store.deliver(box, MESSAGE)
        await store.deliver_many(box, [MESSAGE, MESSAGE])
        await store.delete_messages(box, [info.id])
        await store.append_audit("root", "x", "y", None, None)
        await store.put_node_report(NodeReport("EX01", 1.5, 42, {}))
        assert await store.try_lock_mailbox(box, "s1")
        await store.unlock_mailbox(box, "s1")
        assert await store.config_version() == before
    run(body())


def test_failed_configuration_write_changes_nothing(store, run):
    async def body():
        await store.add_domain("example.com")
        before = await store.config_version()
        with pytest.raises(Conflict):
            await store.add_domain("example.com")
        with pytest.raises(NotFound):
            await store.update_mailbox("nobody@example.com", display_name="x")
        assert await store.config_version() == before
    run(body())


# servers, services, POP settings, node reports ---------------------------------------------

def test_server_services_and_pop_settings_round_trip(store, run):
    async def body():
        assert await store.list_servers() == []
        await store.add_server(SERVER, services_for("EX01"), CUSTOM_POP)
        other = Server("EX02", "ex02.example.com")
        await store.add_server(other, services_for("EX02"), PopSettings())
        assert await store.get_server("EX01") == SERVER
        assert await store.list_servers() == [SERVER, other]
        assert [s.name for s in await store.list_services("EX01")] == ["admin", "pop3", "smtp"]
        pop3 = await store.get_service("EX01", "pop3")
        assert pop3 == Service("EX01", "pop3", Startup.MANUAL, ServiceStatus.STOPPED)
        assert isinstance(pop3.startup, Startup) and isinstance(pop3.status, ServiceStatus)
        loaded = await store.get_pop_settings("EX01")
        assert loaded == CUSTOM_POP
        assert isinstance(loaded.bindings, tuple) and loaded.login_type is LoginType.PLAIN_TEXT_AUTHENTICATION
        assert await store.get_pop_settings("EX02") == PopSettings()

        changed = Service("EX01", "pop3", Startup.AUTOMATIC, ServiceStatus.RUNNING)
        await store.update_service(changed)
        assert await store.get_service("EX01", "pop3") == changed
        assert await store.get_service("EX02", "pop3") == Service("EX02", "pop3", Startup.MANUAL, ServiceStatus.STOPPED)

        await store.put_pop_settings("EX02", CUSTOM_POP.with_changes(banner="Second"))
        assert (await store.get_pop_settings("EX02")).banner == "Second"
        assert await store.get_pop_settings("EX01") == CUSTOM_POP
    run(body())


def test_server_refusals(store, run):
    async def body():
        await store.add_server(SERVER, services_for("EX01"), PopSettings())
        with pytest.raises(Conflict, match="EX01"):
            await store.add_server(SERVER, [], PopSettings())
        with pytest.raises(NotFound):
            await store.get_server("NOPE")
        with pytest.raises(NotFound):
            await store.list_services("NOPE")
        with pytest.raises(NotFound):
            await store.get_service("EX01", "imap4")
        with pytest.raises(NotFound):
            await store.update_service(Service("EX01", "imap4", Startup.MANUAL, ServiceStatus.STOPPED))
        with pytest.raises(NotFound):
            await store.update_service(Service("NOPE", "pop3", Startup.MANUAL, ServiceStatus.STOPPED))
        with pytest.raises(NotFound):
            await store.get_pop_settings("NOPE")
        with pytest.raises(NotFound):
            await store.put_pop_settings("NOPE", PopSettings())
        assert await store.list_servers() == [SERVER]
    run(body())


def test_node_report_round_trip(store, run):
    async def body():
        await store.add_server(SERVER, services_for("EX01"), PopSettings())
        assert await store.get_node_report("EX01") is None
        report = NodeReport("EX01", 1700000000.25, 4242, {
            "pop3": {"listening": ["127.0.0.1:1110"], "errors": []},
            "smtp": {"listening": [], "errors": ["[Errno 98] address in use"]},
        })
        await store.put_node_report(report)
        assert await store.get_node_report("EX01") == report
        newer = NodeReport("EX01", 1700000001.5, 4243, {})
        await store.put_node_report(newer)
        assert await store.get_node_report("EX01") == newer
    run(body())


# accepted domains ---------------------------------------------------------------------------

def test_domains(store, run):
    async def body():
        assert await store.list_domains() == []
        for name in ("example.org", "example.com", "b.example.net"):
            await store.add_domain(name)
        assert await store.list_domains() == ["b.example.net", "example.com", "example.org"]
        with pytest.raises(Conflict, match="example.com"):
            await store.add_domain("example.com")
        with pytest.raises(NotFound):
            await store.remove_domain("missing.example")
        await mailbox(store, "alice@example.com")
        await mailbox(store, "bob@example.com", "Bob")
        await mailbox(store, "carol@example.org", "Carol")
        with pytest.raises(Conflict, match="2"):
            await store.remove_domain("example.com")
        assert await store.list_domains() == ["b.example.net", "example.com", "example.org"]
        await store.remove_mailbox("alice@example.com")
        await store.remove_mailbox("bob@example.com")
        await store.remove_domain("example.com")
        assert await store.list_domains() == ["b.example.net", "example.org"]
    run(body())


# mailboxes ----------------------------------------------------------------------------------

def test_mailbox_create_get_find(store, run):
    async def body():
        created = await store.create_mailbox("alice@example.com", "Alice Liddell", "$argon2id$x",
                                             pop_enabled=False, imap_enabled=True, enabled=True)
        assert (created.address, created.display_name, created.password_hash) == (
            "alice@example.com", "Alice Liddell", "$argon2id$x")
        assert (created.enabled, created.pop_enabled, created.imap_enabled) == (True, False, True)
        assert is_utc_iso(created.created_at)
        assert await store.get_mailbox("alice@example.com") == created
        assert await store.find_mailbox("alice@example.com") == created
        assert await store.get_mailbox("Alice@EXAMPLE.com") == created
        assert await store.find_mailbox("nobody@example.com") is None
        with pytest.raises(NotFound):
            await store.get_mailbox("nobody@example.com")
        with pytest.raises(Conflict, match="alice@example.com"):
            await store.create_mailbox("alice@example.com", "Again", None)
        with pytest.raises(Conflict):
            await store.create_mailbox("ALICE@example.com", "Again", None)
        other = await store.create_mailbox("bob@example.com", "", None)
        assert other.id != created.id and other.password_hash is None
        assert await store.count_mailboxes() == 2
    run(body())


def test_mailbox_update(store, run):
    async def body():
        created = await store.create_mailbox("alice@example.com", "Alice", "old")
        updated = await store.update_mailbox("alice@example.com", display_name="Alice L.",
                                             password_hash="new", pop_enabled=False, enabled=False)
        assert updated.id == created.id and updated.address == created.address
        assert (updated.display_name, updated.password_hash, updated.enabled, updated.pop_enabled,
                updated.imap_enabled) == ("Alice L.", "new", False, False, True)
        assert await store.get_mailbox("alice@example.com") == updated
        updated = await store.update_mailbox("ALICE@example.com", imap_enabled=False, password_hash=None)
        assert (updated.imap_enabled, updated.password_hash) == (False, None)
        assert await store.update_mailbox("alice@example.com") == updated
        for field, value in [("id", 99), ("created_at", "x"), ("domain", "example.org"), ("quota", 1)]:
            with pytest.raises(ValidationError) as caught:
                await store.update_mailbox("alice@example.com", **{field: value})
            assert caught.value.field == field
        for field, value in [("enabled", "yes"), ("pop_enabled", 1), ("display_name", None), ("password_hash", 5)]:
            with pytest.raises(ValidationError) as caught:
                await store.update_mailbox("alice@example.com", **{field: value})
            assert caught.value.field == field
        with pytest.raises(NotFound):
            await store.update_mailbox("nobody@example.com", display_name="x")
        assert await store.get_mailbox("alice@example.com") == updated
    run(body())


def test_mailbox_search_and_paging(store, run):
    async def body():
        names = [f"user{n:04d}@example.com" for n in range(1000)]
        created = await asyncio.gather(*[
            store.create_mailbox(address, f"Person {n % 7}" + (" 100%_sure" if n % 100 == 0 else ""), None)
            for n, address in enumerate(reversed(names))
        ])
        assert len({m.id for m in created}) == 1000
        everything = await store.list_mailboxes()
        assert [m.address for m in everything] == sorted(names)
        assert await store.count_mailboxes() == 1000

        pages = [await store.list_mailboxes(offset=o, limit=137) for o in range(0, 1100, 137)]
        assert all(len(page) <= 137 for page in pages)
        assert [m for page in pages for m in page] == everything
        assert await store.list_mailboxes(offset=1000, limit=10) == []
        assert await store.list_mailboxes(limit=0) == []

        hits = await store.list_mailboxes(search="user01")
        assert [m.address for m in hits] == [a for a in sorted(names) if "user01" in a]
        assert await store.count_mailboxes("user01") == 100
        assert await store.count_mailboxes("USER01") == 100
        person3 = await store.list_mailboxes(search="person 3", offset=10, limit=5)
        assert len(person3) == 5 and all(m.display_name.startswith("Person 3") for m in person3)
        assert await store.count_mailboxes("Person 3") == len([n for n in range(1000) if (999 - n) % 7 == 3])
        # LIKE wildcards in the search are literal characters
        assert await store.count_mailboxes("%") == 10
        assert await store.count_mailboxes("0%_s") == 10
        assert await store.count_mailboxes("_") == 10
        assert await store.count_mailboxes("user_") == 0
        assert await store.list_mailboxes(search="nomatch") == []
        with pytest.raises(ValidationError):
            await store.list_mailboxes(offset=-1)
        with pytest.raises(ValidationError):
            await store.list_mailboxes(limit=-5)
    run(body())


def test_remove_mailbox_removes_its_messages(store, run):
    async def body():
        old = await mailbox(store)
        keep = await mailbox(store, "bob@example.com", "Bob")
        kept = await store.deliver(keep, MESSAGE)
        info = await store.deliver(old, MESSAGE)
        await store.remove_mailbox("alice@example.com")
        assert await store.find_mailbox("alice@example.com") is None
        with pytest.raises(NotFound):
            await store.remove_mailbox("alice@example.com")
        assert await store.list_messages(old) == []
        assert await store.mailbox_usage(old) == (0, 0)
        with pytest.raises(NotFound):
            await store.read_message(old, info.id)
        new = await mailbox(store)
        assert new != old, "a removed mailbox's id must never be reused"
        assert await store.list_messages(new) == []
        assert await store.list_messages(keep) == [kept]
    run(body())


# claiming a server ------------------------------------------------------------------------

def test_claiming_a_server_lasts_until_close(make_store, run):
    # Server claims are PostgreSQL advisory locks, database-wide: names no other test claims.
    first, second = (f"CLAIM-{uuid.uuid4().hex[:8]}" for _ in range(2))

    async def body():
        store = make_store()
        await store.open()
        await store.migrate()
        await store.claim_server(first)
        await store.claim_server(first)  # the same server again: fine
        with pytest.raises(Conflict):
            await store.claim_server(second)  # one store (node) serves one server
        await store.close()
        with pytest.raises(Unavailable):
            await store.claim_server(first)
        again = make_store()
        await again.open()
        try:
            await again.claim_server(first)  # released with the close
        finally:
            await again.close()
    run(body())


def test_send_as_grants_are_stored_read_back_and_bump_the_config(store, run):
    async def body():
        await store.add_domain("example.com")
        created = await store.create_mailbox("alice@example.com", "Alice", None)
        assert created.send_as == ()
        before = await store.config_version()
        changed = await store.update_mailbox("alice@example.com", send_as=("sales@example.com", "*@apps.example"))
        assert changed.send_as == ("sales@example.com", "*@apps.example")
        assert await store.config_version() > before
        for found in (await store.get_mailbox("alice@example.com"), await store.find_mailbox("alice@example.com"),
                      (await store.list_mailboxes())[0]):
            assert found.send_as == ("sales@example.com", "*@apps.example")
        assert (await store.update_mailbox("alice@example.com", send_as=())).send_as == ()
        for bad in ("sales@example.com", ["ok@example.com", 3], [""]):
            with pytest.raises(ValidationError) as refused:
                await store.update_mailbox("alice@example.com", send_as=bad)
            assert refused.value.field == "send_as"
        assert (await store.get_mailbox("alice@example.com")).send_as == ()
    run(body())
