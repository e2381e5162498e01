"""REST: /api/v1/security/blocks lists the failed-login blocks, lifts one, or lifts them all,
like `postroom security blocks [--clear VALUE | --clear-all]`."""
from __future__ import annotations

import time

from postroom.model import Block

from .conftest import SERVER, error_of

BLOCKS = "/api/v1/security/blocks"


def test_list_clear_one_and_clear_all(api, principals, run, store):
    now = time.time()
    run(store.add_blocks(SERVER, [Block("mailbox", "alice@example.com", now, now + 600, 20, "smtp")]))
    headers = principals["server-management"].bearer
    listed = api.get(BLOCKS, headers=headers).json()
    assert sorted(b["value"] for b in listed) == ["192.0.2.7", "alice@example.com"]

    lifted = api.delete(f"{BLOCKS}/192.0.2.7", headers=headers)
    assert lifted.status_code == 200 and [b["value"] for b in lifted.json()] == ["192.0.2.7"]
    assert error_of(api.delete(f"{BLOCKS}/192.0.2.7", headers=headers), 404)["message"]

    everything = api.delete(BLOCKS, headers=headers)
    assert everything.status_code == 200 and [b["value"] for b in everything.json()] == ["alice@example.com"]
    assert run(store.list_blocks()) == []
    assert api.delete(BLOCKS, headers=headers).json() == []  # nothing left: nothing lifted, no error
    cleared = [e for e in run(store.list_audit(action="security.block.clear")) if e.target == "block/*"]
    assert len(cleared) == 1 and cleared[0].channel == "api"


def test_view_only_cannot_clear_all(api, principals, run, store):
    error = error_of(api.delete(BLOCKS, headers=principals["view-only"].bearer), 403)
    assert error["code"] == "forbidden"
    assert [b.value for b in run(store.list_blocks())] == ["192.0.2.7"]
