"""The Store contract, DKIM signing keys (ConfigStore): one per (accepted domain, algorithm),
selectors unique per domain ignoring case, every write a configuration change."""
from __future__ import annotations

import pytest

from dkim_support import dkim_key
from postroom.errors import Conflict, NotFound, ValidationError
from postroom.model import DkimAlgorithm

from .test_store_contract import is_utc_iso, mailbox

pytestmark = [pytest.mark.store_config]


def test_dkim_keys_are_stored_whole_and_listed_by_domain(store, run):
    async def body():
        assert await store.list_dkim_keys() == []
        for domain in ("example.org", "example.com"):
            await store.add_domain(domain)
        version = await store.config_version()
        rsa = await store.add_dkim_key(dkim_key("example.com", "s1", "rsa-2048", "2026-12-01T10:00:00+00:00"))
        assert await store.config_version() > version
        assert rsa == dkim_key("example.com", "s1", "rsa-2048", "2026-12-01T10:00:00+00:00")
        ed = await store.add_dkim_key(dkim_key("example.com", "S2", "ed25519"))
        assert ed.selector == "s2" and is_utc_iso(ed.created_at)  # lower-cased; created now when not given
        other = await store.add_dkim_key(dkim_key("example.org", "s1", "ed25519", "2026-12-02T00:00:00+00:00"))
        assert await store.list_dkim_keys() == [ed, rsa, other]  # by domain, then algorithm
        assert await store.list_dkim_keys("example.com") == [ed, rsa]
        assert await store.list_dkim_keys("example.net") == []
        [read] = await store.list_dkim_keys("example.org")
        assert read.private_key_pem == other.private_key_pem and read.algorithm is DkimAlgorithm.ED25519
        assert read.public_key_b64 == other.public_key_b64
    run(body())


def test_one_key_per_algorithm_and_selector(store, run):
    async def body():
        await store.add_domain("example.com")
        await store.add_dkim_key(dkim_key("example.com", "s1", "rsa-2048"))
        with pytest.raises(Conflict, match="already has an rsa-2048 DKIM key .selector s1"):
            await store.add_dkim_key(dkim_key("example.com", "s9", "rsa-2048"))
        with pytest.raises(Conflict, match="selector s1"):
            await store.add_dkim_key(dkim_key("example.com", "S1", "ed25519"))
        assert [k.selector for k in await store.list_dkim_keys()] == ["s1"]
    run(body())


def test_a_key_needs_an_accepted_domain(store, run):
    async def body():
        version = await store.config_version()
        with pytest.raises(NotFound, match="example.com"):
            await store.add_dkim_key(dkim_key("example.com"))
        assert await store.list_dkim_keys() == [] and await store.config_version() == version
    run(body())


def test_bad_keys_are_refused(store, run):
    async def body():
        await store.add_domain("example.com")
        for bad in (dkim_key(selector="bad selector"), dkim_key(domain="not a domain"), "a key"):
            with pytest.raises(ValidationError):
                await store.add_dkim_key(bad)
        assert await store.list_dkim_keys() == []
    run(body())


def test_removing_keys(store, run):
    async def body():
        await store.add_domain("example.com")
        await store.add_dkim_key(dkim_key("example.com", "s1", "rsa-2048"))
        await store.add_dkim_key(dkim_key("example.com", "s2", "ed25519"))
        with pytest.raises(NotFound, match="s3._domainkey.example.com"):
            await store.remove_dkim_key("example.com", "s3")
        version = await store.config_version()
        await store.remove_dkim_key("example.com", "s1")
        assert await store.config_version() > version
        assert [k.selector for k in await store.list_dkim_keys()] == ["s2"]
        with pytest.raises(NotFound):
            await store.remove_dkim_key("example.com", "s1")
        # a freed algorithm takes a new key (rotation: remove, then new)
        await store.add_dkim_key(dkim_key("example.com", "s3", "rsa-2048"))
        assert [k.selector for k in await store.list_dkim_keys()] == ["s2", "s3"]
    run(body())


def test_a_domain_with_keys_cannot_be_removed(store, run):
    async def body():
        await store.add_domain("example.com")
        await store.add_dkim_key(dkim_key("example.com", "s1", "ed25519"))
        with pytest.raises(Conflict, match="1 DKIM signing key"):
            await store.remove_domain("example.com")
        await mailbox(store, "alice@example.com")
        with pytest.raises(Conflict, match="1 mailbox"):  # mailboxes are named first
            await store.remove_domain("example.com")
        await store.remove_mailbox("alice@example.com")
        await store.remove_dkim_key("example.com", "s1")
        await store.remove_domain("example.com")
        assert await store.list_domains() == []
    run(body())
