"""`postroom admin ...` and `postroom web ...`: principals, role groups, API tokens, the admin
service's bindings; every change audited as the local operator on channel cli."""
from __future__ import annotations

import re

from argon2 import PasswordHasher

from .conftest import Admin


def test_dev_init_creates_an_admin_whose_printed_password_verifies(runner, tmp_path) -> None:
    admin = Admin(runner, tmp_path / "var")
    out = admin.ok("init", "--dev", "--server-name", "EX01").stdout
    match = re.search(r"Admin admin \(organization-management\), password \(shown once\): (\S+)$", out, re.MULTILINE)
    assert match, out
    stored = admin.peek(lambda store: store.get_admin("admin"))
    assert stored.roles == ("organization-management",)
    assert PasswordHasher().verify(stored.password_hash, match.group(1))


def test_non_dev_init_has_no_admin_principal_and_https_on_443(plain_admin: Admin) -> None:
    assert plain_admin.json("admin", "list") == []
    assert plain_admin.json("web", "show") == {
        "server": "EX01", "bindings": ["0.0.0.0:443", "[::]:443"], "http_bindings": [], "session_timeout": 28800,
        "max_connections": 500, "max_connections_per_source": 20, "request_timeout": 20, "keep_alive_timeout": 30}


def test_admin_lifecycle(admin: Admin) -> None:
    created = admin.json("admin", "new", "Alice", "--role", "view-only,server-management", "--password-stdin",
                         input="alice-pw-1\n")
    assert created == {"name": "alice", "roles": ["server-management", "view-only"], "password_set": True,
                       "created_at": created["created_at"]}
    assert [a["name"] for a in admin.json("admin", "list")] == ["admin", "alice"]
    assert admin.json("admin", "set-role", "alice", "--role", "recipient-management")["roles"] == [
        "recipient-management"]
    old_hash = admin.peek(lambda store: store.get_admin("alice")).password_hash
    admin.ok("admin", "password", "alice", "--password-stdin", input="alice-pw-2\n")
    new_hash = admin.peek(lambda store: store.get_admin("alice")).password_hash
    assert new_hash != old_hash and PasswordHasher().verify(new_hash, "alice-pw-2")
    token = admin.json("admin", "token", "new", "alice", "--description", "crm", "--expires", "30d")
    assert token["token"].startswith(f"postroom_{token['id']}.")
    assert admin.json("admin", "show", "alice")["tokens"] == 1
    removed = admin.json("admin", "remove", "alice")
    assert removed["tokens_revoked"] == 1
    assert admin.json("admin", "token", "list") == []
    actions = [(e["action"], e["actor"], e["channel"], e["outcome"]) for e in admin.audit(5)]
    assert actions == [(action, "local-operator", "cli", "success") for action in (
        "admin.remove", "admin.token.new", "admin.password", "admin.set-role", "admin.new")]


def test_tokens_are_listed_without_secrets_and_revoked(admin: Admin) -> None:
    token = admin.json("admin", "token", "new", "admin")
    listed = admin.json("admin", "token", "list", "admin")
    assert listed == [{k: v for k, v in token.items() if k != "token"}]
    assert token["token"] not in admin.ok("admin", "token", "list").stdout
    revoked = admin.json("admin", "token", "revoke", token["id"])
    assert revoked["id"] == token["id"] and admin.json("admin", "token", "list") == []
    assert "does not exist" in admin.fails(3, "admin", "token", "revoke", token["id"]).stderr


def test_bad_input_names_the_field_and_allowed_values(admin: Admin) -> None:
    result = admin.fails(2, "admin", "new", "bob", "--role", "helpdesk", "--password-stdin", input="pw\n")
    assert "roles:" in result.stderr and "organization-management" in result.stderr and "view-only" in result.stderr
    assert "name:" in admin.fails(2, "admin", "new", "bad name", "--role", "view-only", "--password-stdin",
                                  input="pw\n").stderr
    assert "expires:" in admin.fails(2, "admin", "token", "new", "admin", "--expires", "yesterday").stderr
    assert "does not exist" in admin.fails(3, "admin", "set-role", "nobody", "--role", "view-only").stderr
    assert "already exists" in admin.fails(4, "admin", "new", "ADMIN", "--role", "view-only", "--password-stdin",
                                           input="pw\n").stderr


def test_the_last_organization_manager_cannot_be_removed_or_demoted(admin: Admin) -> None:
    result = admin.fails(4, "admin", "remove", "admin")
    assert "last member of organization-management" in result.stderr
    admin.fails(4, "admin", "set-role", "admin", "--role", "view-only")
    admin.json("admin", "new", "boss", "--role", "organization-management", "--password-stdin", input="pw-boss\n")
    assert admin.json("admin", "set-role", "admin", "--role", "view-only")["roles"] == ["view-only"]


def test_web_set_applies_checks_and_audits(admin: Admin) -> None:
    view = admin.json("web", "set", "--http-bindings", "127.0.0.1:8090,[::1]:8090", "--session-timeout", "1h")
    assert (view["http_bindings"], view["session_timeout"]) == (["127.0.0.1:8090", "[::1]:8090"], 3600)
    assert "loopback" in admin.fails(2, "web", "set", "--http-bindings", "10.0.0.1:80").stderr
    pop_binding = admin.pop()["bindings"][0]
    assert "POP3 binding" in admin.fails(2, "web", "set", "--bindings", pop_binding).stderr
    assert "admin service" in admin.fails(2, "pop", "set", "--bindings", "127.0.0.1:8090").stderr
    assert "admin service" in admin.fails(2, "connector", "set", "Client EX01", "--bindings", "127.0.0.1:8090").stderr
    assert "session-timeout:" in admin.fails(2, "web", "set", "--session-timeout", "10s").stderr
    entry = admin.audit(1)[0]
    assert (entry["action"], entry["target"]) == ("web.set", "server/EX01/web")
    assert entry["after"] == {"http_bindings": ["127.0.0.1:8090", "[::1]:8090"], "session_timeout": 3600}


def test_web_set_connection_caps_and_timeouts(admin: Admin) -> None:
    view = admin.json("web", "set", "--max-connections", "200", "--max-connections-per-source", "5",
                      "--request-timeout", "1m", "--keep-alive-timeout", "5s")
    assert [view[k] for k in ("max_connections", "max_connections_per_source", "request_timeout",
                              "keep_alive_timeout")] == [200, 5, 60, 5]
    assert "max-connections-per-source:" in admin.fails(2, "web", "set", "--max-connections-per-source", "0").stderr
    assert "request-timeout:" in admin.fails(2, "web", "set", "--request-timeout", "2h").stderr
    assert "keep-alive-timeout:" in admin.fails(2, "web", "set", "--keep-alive-timeout", "soon").stderr
    entry = admin.audit(1)[0]
    assert entry["after"] == {"max_connections": 200, "max_connections_per_source": 5, "request_timeout": 60,
                              "keep_alive_timeout": 5}


def test_log_audit_filters(admin: Admin) -> None:
    admin.ok("domain", "add", "example.org")
    rows = admin.json("log", "audit", "--action", "domain.add", "--channel", "cli", "--outcome", "success",
                      "--actor", "local-operator", "--since", "1h")
    assert [r["target"] for r in rows] == ["domain/example.org"]
    assert "channel:" in admin.fails(2, "log", "audit", "--channel", "web").stderr
    assert "outcome:" in admin.fails(2, "log", "audit", "--outcome", "maybe").stderr
