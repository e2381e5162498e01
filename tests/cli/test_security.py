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
