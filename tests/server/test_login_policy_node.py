"""A node runs the organization's stored login block policy: it installs it at start, and a
change written by any process (the CLI, the API, the console) replaces the running guard's
policy within a poll, without a restart. The retired environment variables are ignored, with
a warning naming them."""
from __future__ import annotations

import asyncio
import logging

from postroom.lockout import Policy
from postroom.model import LoginPolicy, PopSettings, Server, Service, ServiceStatus, Startup
from postroom.server.node import Node
from postroom.storage.sqlite import SqliteStore
from postroom.web.app import node_admin_app
from waiting import until

STRICT = LoginPolicy(trusted_networks=(), max_source_failures=3, window=600, block_time=120, max_delay=4)


async def idle_node(tmp_path) -> tuple[SqliteStore, Node]:
    """A node whose services are stopped: nothing listens, the policy still applies."""
    store = SqliteStore(str(tmp_path / "postroom.db"))
    await store.open()
    await store.migrate()
    services = [Service("TEST", name, Startup.MANUAL, ServiceStatus.STOPPED) for name in ("pop3", "smtp", "admin")]
    await store.add_server(Server("TEST", "test.example.com"), services, PopSettings())
    return store, Node(store, str(tmp_path), "TEST", admin_app=node_admin_app)


def test_the_stored_policy_applies_at_start_and_a_change_applies_live(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("POSTROOM_AUTH_MAX_FAILURES", "99")  # retired: must change nothing
    monkeypatch.setenv("POSTROOM_TRUSTED_NETWORKS", "none")

    async def main():
        store, node = await idle_node(tmp_path)
        await store.put_login_policy(STRICT)
        await node.start()
        try:
            assert node.guard.policy == Policy.of(STRICT)
            assert node.pop3.guard is node.guard and node.smtp.guard is node.guard
            changed = STRICT.with_changes(max_source_failures=7, trusted_networks="10.0.0.0/8")
            await store.put_login_policy(changed)  # as another process would
            await until(lambda: node.guard.policy == Policy.of(changed))
            assert node.guard.policy.max_source_failures == 7
            assert [str(n) for n in node.guard.policy.trusted] == ["10.0.0.0/8"]
        finally:
            await node.stop()
            await store.close()

    with caplog.at_level(logging.WARNING, logger="postroom.node"):
        asyncio.run(asyncio.wait_for(main(), 20))
    [warning] = [r.getMessage() for r in caplog.records if "no longer set the login block policy" in r.getMessage()]
    assert warning.startswith("POSTROOM_TRUSTED_NETWORKS, POSTROOM_AUTH_MAX_FAILURES no longer set")
    assert "postroom security policy set" in warning


def test_a_fresh_store_gives_the_default_policy_and_no_warning(tmp_path, monkeypatch, caplog):
    for name in ("POSTROOM_TRUSTED_NETWORKS", "POSTROOM_AUTH_MAX_FAILURES", "POSTROOM_AUTH_MAX_MAILBOX_FAILURES",
                 "POSTROOM_AUTH_BLOCK_TIME"):
        monkeypatch.delenv(name, raising=False)

    async def main():
        store, node = await idle_node(tmp_path)
        node.guard.policy = Policy.of(STRICT)  # whatever it held: the store's answer replaces it
        await node.start()
        try:
            assert node.guard.policy == Policy() == Policy.of(LoginPolicy())
        finally:
            await node.stop()
            await store.close()

    with caplog.at_level(logging.WARNING, logger="postroom.node"):
        asyncio.run(asyncio.wait_for(main(), 20))
    assert not [r for r in caplog.records if "login block policy" in r.getMessage()]
