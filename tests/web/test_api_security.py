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


# the login block policy -----------------------------------------------------------------------
POLICY = "/api/v1/security/policy"
DEFAULTS = {"trusted_networks": ["127.0.0.0/8", "::1/128"], "max_source_failures": 10, "max_mailbox_failures": 20,
            "window": 900, "block_time": 900, "max_delay": 15}


def test_show_and_change_the_policy(api, principals, run, store):
    assert api.get(POLICY, headers=principals["view-only"].bearer).json() == DEFAULTS
    changed = api.patch(POLICY, headers=principals["server-management"].bearer,
                        json={"max_source_failures": 3, "block_time": "1h", "trusted_networks": []})
    assert changed.status_code == 200, changed.text
    assert changed.json() == dict(DEFAULTS, max_source_failures=3, block_time=3600, trusted_networks=[])
    assert api.get(POLICY, headers=principals["view-only"].bearer).json() == changed.json()
    assert run(store.get_login_policy()).max_source_failures == 3
    [entry] = run(store.list_audit(action="security.policy.set"))
    assert (entry.actor, entry.channel, entry.outcome, entry.target) == ("server", "api", "success", "security/policy")
    assert entry.before == {"trusted_networks": ["127.0.0.0/8", "::1/128"], "max_source_failures": 10,
                            "block_time": 900}
    assert entry.after == {"trusted_networks": [], "max_source_failures": 3, "block_time": 3600}
    # a comma-separated text works as a list does
    again = api.patch(POLICY, headers=principals["organization-management"].bearer,
                      json={"trusted_networks": "10.0.0.0/8, ::1"})
    assert again.json()["trusted_networks"] == ["10.0.0.0/8", "::1/128"]


def test_an_invalid_policy_is_400_naming_the_field(api, principals, run, store):
    headers = principals["organization-management"].bearer
    for body, field in (({"max_mailbox_failures": 0}, "max_mailbox_failures"),
                        ({"window": "a day"}, "window"),
                        ({"max_delay": 61}, "max_delay"),
                        ({"trusted_networks": ["10.0.0.0/8", "nonsense"]}, "trusted_networks"),
                        ({"lockout": 5}, "lockout"),
                        ({}, "policy")):
        error = error_of(api.patch(POLICY, headers=headers, json=body), 400)
        assert error["field"] == field and error["message"].startswith(f"{field}: "), (body, error)
    error = error_of(api.patch(POLICY, headers=headers, json={"max_source_failures": 1001}), 400)
    assert error["message"] == "max_source_failures: 1001 is out of range (allowed: 1..1000)"
    assert run(store.get_login_policy()).to_dict() == DEFAULTS
    assert run(store.list_audit(action="security.policy.set")) == []


def test_view_only_cannot_change_the_policy(api, principals, run, store):
    for role in ("view-only", "recipient-management"):
        error = error_of(api.patch(POLICY, headers=principals[role].bearer, json={"max_source_failures": 3}), 403)
        assert error["code"] == "forbidden"
    assert run(store.get_login_policy()).to_dict() == DEFAULTS
    refused = run(store.list_audit(action="security.policy.set"))
    assert [(e.outcome, e.channel) for e in refused] == [("refused", "api"), ("refused", "api")]
