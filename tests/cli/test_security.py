"""`postroom security blocks [--json] [--clear VALUE | --clear-all]`."""
from __future__ import annotations

import time

from postroom.model import Block

from .conftest import Admin, flat


def seed(admin: Admin) -> None:
    now = time.time()
    blocks = [Block("source", "203.0.113.9", now - 60, now + 840, 10, "pop3"),
              Block("mailbox", "crm@example.com", now - 30, now + 870, 20, "smtp"),
              Block("source", "198.51.100.1", now - 2000, now - 1100, 10, "pop3")]  # expired
    admin.peek(lambda store: store.add_blocks("EX01", blocks))


def test_blocks_list_and_clear(admin: Admin) -> None:
    assert admin.json("security", "blocks") == []
    seed(admin)
    rows = admin.json("security", "blocks")
    assert [(r["kind"], r["value"], r["failures"], r["service"]) for r in rows] == [
        ("source", "203.0.113.9", 10, "pop3"), ("mailbox", "crm@example.com", 20, "smtp")]
    assert rows[0]["since"].endswith("Z") and rows[0]["until"] > rows[0]["since"]
    table = flat(admin.ok("security", "blocks").stdout)
    assert "203.0.113.9" in table and "crm@example.com" in table and "198.51.100.1" not in table

    assert "Lifted 1 block(s) on 203.0.113.9" in flat(admin.ok("security", "blocks", "--clear", "203.0.113.9").stdout)
    assert [r["value"] for r in admin.json("security", "blocks")] == ["crm@example.com"]
    admin.fails(3, "security", "blocks", "--clear", "203.0.113.9")  # no block on it any more
    admin.fails(2, "security", "blocks", "--clear", "x", "--clear-all")
    lifted = admin.json("security", "blocks", "--clear-all")
    assert [r["value"] for r in lifted] == ["crm@example.com"]
    assert admin.json("security", "blocks") == []
    entries = [e for e in admin.audit() if e["action"] == "security.block.clear"]
    assert sorted(e["target"] for e in entries) == ["block/*", "block/203.0.113.9"]


DEFAULT_POLICY = {"trusted_networks": ["127.0.0.0/8", "::1/128"], "max_source_failures": 10,
                  "max_mailbox_failures": 20, "window": 900, "block_time": 900, "max_delay": 15}


def test_policy_show_and_set(admin: Admin) -> None:
    assert admin.json("security", "policy") == DEFAULT_POLICY
    table = flat(admin.ok("security", "policy").stdout)
    assert "max-source-failures │ 10" in table and "127.0.0.0/8" in table

    changed = admin.json("security", "policy", "set", "--max-source-failures", "3", "--max-mailbox-failures", "5",
                         "--window", "30m", "--block-time", "01:00:00", "--max-delay", "5s",
                         "--trusted-networks", "10.0.0.0/8, 2001:db8::/32")
    assert changed == {"trusted_networks": ["10.0.0.0/8", "2001:db8::/32"], "max_source_failures": 3,
                       "max_mailbox_failures": 5, "window": 1800, "block_time": 3600, "max_delay": 5}
    assert admin.json("security", "policy") == changed
    assert admin.json("security", "policy", "set", "--trusted-networks", "none")["trusted_networks"] == []
    [latest, first] = [e for e in admin.audit() if e["action"] == "security.policy.set"]
    assert (first["actor"], first["channel"], first["target"]) == ("local-operator", "cli", "security/policy")
    assert first["before"]["max_source_failures"] == 10 and first["after"]["max_source_failures"] == 3
    assert latest["before"] == {"trusted_networks": ["10.0.0.0/8", "2001:db8::/32"]}
    assert latest["after"] == {"trusted_networks": []}


def test_policy_set_refuses_bad_values_naming_the_option(admin: Admin) -> None:
    for option, value, message in (
            ("--max-source-failures", "0", "error: max-source-failures: 0 is out of range (allowed: 1..1000)"),
            ("--window", "a day", "error: window: 'a day' is not a duration (use seconds, 30s, 5m, 1h, 1d or "
                                  "hh:mm:ss)"),
            ("--block-time", "10", "error: block-time: 10s is out of range (allowed: 60s..604800s)"),
            ("--max-delay", "90", "error: max-delay: 90s is out of range (allowed: 1s..60s)"),
            ("--trusted-networks", "10.0.0.0/8,everyone", "error: trusted-networks: 'everyone' is not an IP address "
                                                          "or CIDR block")):
        result = admin.fails(2, "security", "policy", "set", option, value)
        assert flat(result.stderr).startswith(message), result.stderr
    assert flat(admin.fails(2, "security", "policy", "set").stderr).startswith("error: policy: nothing to change")
    assert admin.json("security", "policy") == DEFAULT_POLICY
    assert not [e for e in admin.audit() if e["action"] == "security.policy.set"]
