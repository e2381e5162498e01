"""`postroom log audit`: who changed what, newest first, with before/after and no secrets."""
from __future__ import annotations

import pytest

from .conftest import Admin, flat

PASSWORD = "Sup3r-secret-pw"
NEW_PASSWORD = "An0ther-secret-pw"


@pytest.fixture
def changed(admin: Admin) -> Admin:
    admin.ok("pop", "set", "--login-type", "plain-text-login")
    admin.new_mailbox("alice@example.com", PASSWORD)
    admin.ok("mailbox", "set", "alice@example.com", "--pop", "disabled")
    admin.ok("service", "set", "pop3", "--startup", "manual")
    admin.ok("mailbox", "password", "alice@example.com", "--password-stdin", input=NEW_PASSWORD + "\n")
    admin.ok("domain", "add", "example.org")
    return admin


def test_audit_entries_newest_first_by_the_local_operator(changed: Admin) -> None:
    entries = changed.audit()
    actions = [e["action"] for e in entries]
    assert actions[:6] == ["domain.add", "mailbox.password", "service.set", "mailbox.set", "mailbox.new", "pop.set"]
    assert actions[-1] == "init"
    assert all(e["actor"] == "local-operator" for e in entries)
    ids = [e["id"] for e in entries]
    assert ids == sorted(ids, reverse=True)
    ats = [e["at"] for e in entries]
    assert ats == sorted(ats, reverse=True)


def test_audit_records_before_and_after(changed: Admin) -> None:
    by_action = {}
    for entry in changed.audit():
        by_action.setdefault(entry["action"], entry)  # the newest of each action

    pop_set = by_action["pop.set"]
    assert pop_set["target"] == "server/EX01/pop"
    assert pop_set["before"] == {"login_type": "secure-login"}
    assert pop_set["after"] == {"login_type": "plain-text-login"}

    new = by_action["mailbox.new"]
    assert new["target"] == "mailbox/alice@example.com"
    assert new["before"] is None
    assert new["after"]["address"] == "alice@example.com" and new["after"]["pop_enabled"] is True

    mailbox_set = by_action["mailbox.set"]
    assert mailbox_set["before"]["pop_enabled"] is True
    assert mailbox_set["after"]["pop_enabled"] is False

    service_set = by_action["service.set"]
    assert service_set["target"] == "server/EX01/service/pop3"
    assert service_set["before"] == {"startup": "automatic", "status": "running"}
    assert service_set["after"] == {"startup": "manual", "status": "running"}

    assert by_action["mailbox.password"]["after"] == {"password_set": True}
    assert by_action["domain.add"]["after"] == {"name": "example.org"}


def test_audit_never_contains_a_password_or_a_hash(changed: Admin) -> None:
    text = changed.ok("log", "audit", "--limit", "1000", "--json").stdout
    assert PASSWORD not in text
    assert NEW_PASSWORD not in text
    assert changed.demo_password not in text
    assert "$argon2" not in text
    assert "password_hash" not in text
    human = changed.ok("log", "audit").stdout
    assert PASSWORD not in human and "$argon2" not in human


def test_audit_limit_and_target(changed: Admin) -> None:
    assert [e["action"] for e in changed.json("log", "audit", "--limit", "2")] == ["domain.add", "mailbox.password"]
    alice = changed.json("log", "audit", "--target", "mailbox/alice@example.com")
    assert [e["action"] for e in alice] == ["mailbox.password", "mailbox.set", "mailbox.new"]
    assert changed.json("log", "audit", "--target", "mailbox/nobody@example.com") == []


@pytest.mark.parametrize("limit", ["0", "10001"])
def test_audit_limit_out_of_range(admin: Admin, limit: str) -> None:
    result = admin.fails(2, "log", "audit", "--limit", limit)
    assert result.stderr.startswith("error: limit:")
    assert "1..10000" in result.stderr


def test_audit_records_removal_and_import(admin: Admin, tmp_path) -> None:
    eml = tmp_path / "one.eml"
    eml.write_bytes(b"Subject: x\n\ny\n")
    admin.ok("mailbox", "import", "demo@example.com", str(eml))
    admin.ok("mailbox", "remove", "demo@example.com", "--yes")
    remove, imported = admin.audit()[:2]
    assert imported["action"] == "mailbox.import"
    assert imported["after"] == {"path": str(eml), "format": "eml", "messages": 1}
    assert remove["action"] == "mailbox.remove"
    # two messages: the welcome message and the import
    assert remove["before"]["address"] == "demo@example.com" and remove["before"]["messages"] == 2
    assert remove["after"] is None


def test_refused_and_no_op_changes_write_no_audit_entry(admin: Admin) -> None:
    before = admin.audit()
    admin.fails(2, "pop", "set", "--max-command-size", "5")
    admin.fails(4, "domain", "add", "example.com")
    admin.fails(3, "mailbox", "show", "nobody@example.com")
    admin.ok("pop", "set", "--login-type", "secure-login")  # already so: nothing changes
    assert admin.audit() == before


def test_audit_human_table(admin: Admin) -> None:
    admin.ok("pop", "set", "--login-type", "plain-text-login")
    out = flat(admin.ok("log", "audit").stdout)
    assert "actor" in out and "action" in out
