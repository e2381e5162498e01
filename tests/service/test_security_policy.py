"""service/security.py: reading and changing the organization's login block policy. Roles and
the audit entry's before/after are also in the role and audit tables (test_roles.py,
test_audit_log.py); here: what is validated, written and audited, and what is not."""
from __future__ import annotations

import pytest

from postroom.errors import Forbidden, ValidationError
from postroom.model import LoginPolicy
from postroom.service import security


def policy_entries(store, run) -> list:
    return run(store.list_audit(100, action="security.policy.set"))


def test_a_change_is_validated_whole_before_anything_is_written(context, store, run) -> None:
    admin = context("server-management")
    version = run(store.config_version())
    with pytest.raises(ValidationError) as refused:
        run(security.set_login_policy(admin, LoginPolicy.changes({"max_source_failures": "3", "block_time": "10s"})))
    assert refused.value.field == "block_time" and "allowed: 60s..604800s" in refused.value.message
    assert run(store.get_login_policy()) == LoginPolicy() and run(store.config_version()) == version
    assert policy_entries(store, run) == []


def test_nothing_to_change_names_the_fields(context, run) -> None:
    with pytest.raises(ValidationError) as refused:
        run(security.set_login_policy(context("organization-management"), LoginPolicy.changes({})))
    assert refused.value.field == "policy" and "max_source_failures" in refused.value.message


def test_the_same_values_again_write_and_audit_nothing(context, store, run) -> None:
    admin = context("organization-management")
    view = run(security.set_login_policy(admin, LoginPolicy.changes({"max_source_failures": 4,
                                                                     "trusted_networks": "10.0.0.0/8"})))
    assert view == dict(LoginPolicy().to_dict(), max_source_failures=4, trusted_networks=["10.0.0.0/8"])
    version = run(store.config_version())
    same = {"max_source_failures": "4", "trusted_networks": ["10.0.0.0/8"]}
    assert run(security.set_login_policy(admin, LoginPolicy.changes(same))) == view
    assert run(store.config_version()) == version and len(policy_entries(store, run)) == 1
    assert run(security.login_policy(context("view-only"))) == view


def test_a_refused_change_is_audited_even_when_its_values_are_invalid(context, store, run) -> None:
    with pytest.raises(Forbidden):
        run(security.set_login_policy(context("view-only", name="vera"), LoginPolicy.changes({"window": "never"})))
    [entry] = policy_entries(store, run)
    assert (entry.actor, entry.outcome, entry.target, entry.before, entry.after) == (
        "vera", "refused", "security/policy", None, None)
