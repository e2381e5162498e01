"""`postroom migrate --from DATA --to postgresql://...`: an embedded install with 10,000 messages
moves to PostgreSQL byte-exact (UIDLs and arrival times kept), the data directory then uses
PostgreSQL, and the command refuses what it must not do."""
from __future__ import annotations

import asyncio
import json
import os
import re
from typing import Any, Iterator

import pytest

from pg_support import fresh_store_url
from postroom.model import OutboundSubmission, QueueKey
from postroom.storage.postgres import PostgresStore
from postroom.storage.sqlite import SqliteStore

from .conftest import describe, flat, invoke


@pytest.fixture
def url() -> Iterator[str]:
    yield from fresh_store_url()


def message(number: int) -> bytes:
    # Sizes from a few bytes to ~20 KB, 8-bit octets, every one different.
    filler = bytes((number * 7 + i) % 256 for i in range(number % 97 * 200)).replace(b"\r", b"").replace(b"\n", b"")
    return b"Subject: message %d\r\n\r\n" % number + filler + b"\r\n"


async def everything(store: Any) -> dict[str, list[tuple[str, str, bytes]]]:
    """address -> [(uidl, received_at, octets)] for every mailbox, oldest first."""
    found = {}
    for mailbox in await store.list_mailboxes():
        found[mailbox.address] = [(info.uidl, info.received_at, await store.read_message(mailbox.id, info.id))
                                  for info in await store.list_messages(mailbox.id)]
    return found


def embedded(admin: Any) -> SqliteStore:
    return SqliteStore(os.path.join(admin.data, "postroom.db"))


def migrate(admin: Any, source: Any, to: str, code: int = 0) -> Any:
    """`postroom migrate --from SOURCE --to URL` (no --data: the command names its own)."""
    args = ["migrate", "--from", str(source), "--to", to] + (["--json"] if code == 0 else [])
    result = invoke(admin.runner, args)
    assert result.exit_code == code, describe(args, result)
    if code:
        assert result.stderr.startswith("error: ") and "Traceback" not in result.output
        return flat(result.stderr)
    return json.loads(result.stdout)


def read(store: Any, fn: Any) -> Any:
    async def main() -> Any:
        await store.open()
        try:
            return await fn(store)
        finally:
            await store.close()
    return asyncio.run(main())


def test_ten_thousand_messages_move_to_postgresql_byte_exact(admin, url):
    admin.new_mailbox("alice@example.com", "alice-pw-1")
    admin.new_mailbox("bob@example.com", "bob-pw-1")
    admin.ok("admin", "new", "ops", "--roles", "view-only", "--password-stdin", input="ops-password-1\n")

    async def fill(store: Any) -> None:
        boxes = [(await store.get_mailbox(a)).id for a in ("alice@example.com", "bob@example.com")]
        for start in range(0, 10_000, 500):
            await store.deliver_many(boxes[start // 500 % 2], [message(n) for n in range(start, start + 500)])
        await store.deliver_message(boxes, message(10_001))  # one body, two mailboxes
    read(embedded(admin), fill)
    before = read(embedded(admin), everything)
    assert sum(len(rows) for rows in before.values()) == 10_000 + 1 + 2  # + the welcome message + the shared one

    report = migrate(admin, admin.data, url)
    assert report["messages"] == 10_003 and report["mailboxes"] == 3 and report["admins"] == 2
    assert re.fullmatch(r"[0-9a-f]{64}", report["checksum"])

    assert read(PostgresStore(url), everything) == before
    # The data directory now uses PostgreSQL: the CLI (and serve) read the moved store.
    assert (admin.data / "node.json").read_text().count(url) == 1
    assert [m["address"] for m in admin.json("mailbox", "list")["items"]] == sorted(before)
    assert admin.json("admin", "show", "ops")["roles"] == ["view-only"]
    assert admin.pop()["bindings"] == ["127.0.0.1:1110"]
    assert [e["action"] for e in admin.audit()][:1] == ["migrate"]


def test_the_login_block_policy_moves_too(admin, url):
    admin.ok("security", "policy", "set", "--max-source-failures", "4", "--trusted-networks", "10.0.0.0/8")
    policy = admin.json("security", "policy")
    migrate(admin, admin.data, url)
    assert (admin.data / "node.json").read_text().count(url) == 1
    assert admin.json("security", "policy") == policy  # read from PostgreSQL now
    assert policy["max_source_failures"] == 4


def test_imap_settings_move_too(admin, url):
    admin.ok("imap", "set", "--login-type", "plain-text-login", "--max-command-size", "16384", "--banner", "IMAP here")
    admin.ok("mailbox", "set", "demo@example.com", "--imap", "disabled")
    imap = admin.json("imap", "show")
    migrate(admin, admin.data, url)
    assert (admin.data / "node.json").read_text().count(url) == 1
    assert admin.json("imap", "show") == imap and imap["max_command_size"] == 16384  # read from PostgreSQL now
    assert admin.json("mailbox", "show", "demo@example.com")["imap_enabled"] is False


def test_send_connectors_and_transport_settings_move_too(admin, url):
    admin.ok("send-connector", "new", "Relay", "--address-spaces", "*", "--no-dns-routing", "--smart-hosts",
             "relay.example.net:587", "--smart-host-auth", "basic", "--auth-username", "app", "--auth-password-stdin",
             input="relay-password-1\n")
    admin.ok("transport", "set", "--message-expiration-timeout", "1d", "--max-hop-count", "30")
    connectors, transport = admin.json("send-connector", "list"), admin.json("transport", "show")
    sealed = read(embedded(admin), lambda store: store.get_send_connector("Relay")).auth_password
    migrate(admin, admin.data, url)
    assert (admin.data / "node.json").read_text().count(url) == 1
    assert admin.json("send-connector", "list") == connectors  # read from PostgreSQL now
    assert admin.json("transport", "show") == transport and transport["max_hop_count"] == 30
    assert read(PostgresStore(url), lambda store: store.get_send_connector("Relay")).auth_password == sealed


def test_migrate_refuses_a_target_that_is_not_empty(admin, url):
    migrate(admin, admin.data, url)
    other = admin.__class__(admin.runner, admin.data.parent / "other")
    other.ok("init", "--dev", "--server-name", "EX02")
    error = migrate(other, other.data, url, code=4)
    assert "not empty" in error and "servers EX01" in error
    assert "postgresql" not in (other.data / "node.json").read_text()  # still embedded


def test_migrate_refuses_while_the_outbound_queue_holds_mail(admin, url):
    async def queue_one(store: Any) -> str:
        outbound = OutboundSubmission("alice@example.com", [("bob@partner.example", None, None,
                                                              QueueKey.dns("partner.example", "Internet"))])
        await store.deliver_message([], b"Subject: out\r\n\r\nbody\r\n", outbound=outbound)
        return outbound.queue_id

    queue_id = read(embedded(admin), queue_one)
    error = migrate(admin, admin.data, url, code=4)
    assert "1 message(s) are still in the outbound queue" in error
    assert "postgresql" not in (admin.data / "node.json").read_text()  # still embedded
    read(embedded(admin), lambda store: store.remove_message(queue_id))
    migrate(admin, admin.data, url)


def test_migrate_refuses_bad_targets_and_sources(admin, tmp_path):
    error = migrate(admin, admin.data, "mysql://u:secret@h/db", code=2)
    assert "store" in error and "secret" not in error
    assert "postroom init" in migrate(admin, tmp_path / "nothing", "postgresql://postgres@127.0.0.1:5432/x", code=2)
    assert "embedded" in (admin.data / "node.json").read_text() or "store" not in (admin.data / "node.json").read_text()


def test_send_as_grants_move_too(admin, url):
    admin.new_mailbox("crm@example.com", "crm-pw-1")
    admin.ok("mailbox", "set", "crm@example.com", "--send-as", "sales@example.com,*@apps.example")
    migrate(admin, admin.data, url)
    assert (admin.data / "node.json").read_text().count(url) == 1
    assert admin.json("mailbox", "show", "crm@example.com")["send_as"] == ["sales@example.com", "*@apps.example"]


def test_dkim_keys_move_too(admin, url):
    admin.ok("domain", "dkim", "new", "example.com", "--algorithm", "ed25519")
    before = admin.json("domain", "dkim", "show", "example.com")
    private = read(embedded(admin), lambda store: store.list_dkim_keys())
    report = migrate(admin, admin.data, url)
    assert report["dkim_keys"] == 1
    assert admin.json("domain", "dkim", "show", "example.com") == before  # read from PostgreSQL now
    assert read(PostgresStore(url), lambda store: store.list_dkim_keys()) == private  # the private key came along


async def folders(store: Any) -> dict[str, Any]:
    """address -> its folders (without ids), subscriptions and each folder's messages (UID,
    flags, arrival, octets): what an IMAP4 client caches."""
    found = {}
    for mailbox in await store.list_mailboxes():
        listed = {}
        for folder in await store.list_folders(mailbox.id):
            listed[folder.name] = (folder.uidvalidity, folder.uidnext, folder.special_use, [
                (m.uid, m.flags, m.internal_date, await store.read_message(mailbox.id, m.id))
                for m in await store.folder_messages(folder.id)])
        found[mailbox.address] = (listed, await store.list_subscriptions(mailbox.id))
    return found


def test_imap_folders_uids_and_flags_move_too(admin, url):
    admin.new_mailbox("alice@example.com", "alice-pw-1")

    async def fill(store: Any) -> None:
        box = (await store.get_mailbox("alice@example.com")).id
        await store.deliver_many(box, [message(n) for n in range(5)])
        inbox = await store.get_folder(box, "INBOX")
        await store.store_flags(inbox.id, [2, 3], ["\\Seen", "$Work"], "add")
        await store.store_flags(inbox.id, [1], ["\\Deleted"], "add")
        await store.expunge(inbox.id)  # UID 1 is gone for good: uidnext stays above it
        work = await store.create_folder(box, "Projects/Work")
        await store.append_message(work.id, message(7), ["\\Flagged"], "2021-06-01T10:00:00Z")
        await store.copy_messages(inbox.id, [3, 4], work.id, move=True)
        await store.set_subscription(box, "Projects/Work", True)
        await store.set_subscription(box, "Junk", False)
    read(embedded(admin), fill)
    before = read(embedded(admin), folders)
    pop3 = read(embedded(admin), everything)

    report = migrate(admin, admin.data, url)
    # INBOX: the welcome message (UID 1, expunged) and UIDs 2..6, less 3 and 4 (moved); Work: 1 + 2
    assert report["messages"] == 3 + 3
    assert read(PostgresStore(url), folders) == before
    assert read(PostgresStore(url), everything) == pop3  # UIDLs kept

    async def later(store: Any) -> tuple[int, int]:
        box = (await store.get_mailbox("alice@example.com")).id
        new = await store.create_folder(box, "Later")
        return new.uidvalidity, (await store.append_message((await store.get_folder(box, "Projects/Work")).id,
                                                            message(9))).uid
    validity, uid = read(PostgresStore(url), later)
    assert validity > max(f[0] for f in before["alice@example.com"][0].values())
    assert uid == before["alice@example.com"][0]["Projects/Work"][1]  # the next UID, as in the old store
