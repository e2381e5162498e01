"""`--store` / POSTROOM_STORE and `init --store` on PostgreSQL: the first init creates the
organisation, a later `init --store URL --server-name B` adds server B with Exchange's
defaults for a new server and touches nothing else, and every command finds the store the
data directory recorded."""
from __future__ import annotations

from typing import Any, Iterator

import pytest

from pg_support import fresh_store_url

from .conftest import Admin, flat, invoke


@pytest.fixture
def url() -> Iterator[str]:
    yield from fresh_store_url()


def organisation(admin: Admin) -> dict[str, Any]:
    return {
        "ex01 pop": admin.json("pop", "show", "--server", "EX01"),
        "ex01 connectors": admin.json("connector", "list", "--server", "EX01"),
        "ex01 web": admin.json("web", "show", "--server", "EX01"),
        "mailboxes": admin.json("mailbox", "list"),
        "domains": admin.json("domain", "list"),
        "admins": admin.json("admin", "list"),
    }


def test_a_second_server_joins_and_touches_nothing_else(runner, tmp_path, url):
    first = Admin(runner, tmp_path / "a")
    first.ok("init", "--dev", "--server-name", "EX01", "--store", url)
    first.new_mailbox("alice@example.com")
    before = organisation(first)

    second = Admin(runner, tmp_path / "b")
    joined = second.json("init", "--server-name", "EX02", "--store", url)
    assert joined["joined"] is True and joined["created"] is True
    assert joined["demo_password"] is None and joined["admin_password"] is None  # no demo objects twice
    assert organisation(second) == before  # seen from the new node: the same organisation, EX01 untouched

    services = {(s["server"], s["name"]): s for s in second.json("service", "list", "--server", "all")}
    assert (services["EX02", "pop3"]["status"], services["EX02", "pop3"]["startup"]) == ("stopped", "manual")
    assert services["EX02", "smtp"]["startup"] == "automatic"
    pop = second.pop()  # this node's own server, with Exchange's defaults for a new server
    assert pop["bindings"] == ["0.0.0.0:110", "[::]:110"] and pop["login_type"] == "secure-login"
    assert pop["certificate"].startswith(str(second.data))  # its own certificate, in its own data folder
    assert [c["name"] for c in second.json("connector", "list")] == ["Client EX02", "Default EX02"]
    assert [e["target"] for e in second.audit(5)][:1] == ["server/EX02"]


def test_the_data_directory_remembers_its_store(runner, tmp_path, url):
    admin = Admin(runner, tmp_path / "var")
    admin.ok("init", "--server-name", "EX01", "--store", url)
    assert url in (admin.data / "node.json").read_text()
    assert (admin.data / "node.json").stat().st_mode & 0o077 == 0  # the URL may hold a password
    admin.ok("domain", "add", "example.org")  # no --store: node.json names it
    assert not (admin.data / "postroom.db").exists()  # nothing went to an embedded store
    # --store before the command (or POSTROOM_STORE) overrides what a data directory recorded.
    embedded = Admin(runner, tmp_path / "embedded")
    embedded.ok("init", "--server-name", "EX09")
    assert embedded.json("domain", "list") == []
    for how in (["--store", url], []):
        env = {} if how else {"POSTROOM_STORE": url}
        shown = invoke(runner, [*how, "domain", "list", "--json", "--data", str(embedded.data)], env=env)
        assert shown.exit_code == 0 and '"example.org"' in shown.stdout
    assert embedded.json("domain", "list") == []  # and only for that invocation


def test_store_mistakes_are_named(runner, tmp_path, url):
    admin = Admin(runner, tmp_path / "var")
    admin.ok("init", "--server-name", "EX01", "--store", url)
    error = admin.fails(2, "init", "--store", "embedded")  # an install keeps its store
    assert "already uses the store" in flat(error.stderr)
    twin = Admin(runner, tmp_path / "twin")
    assert "already exists in this store" in flat(twin.fails(4, "init", "--server-name", "EX01", "--store", url).stderr)
    assert not (twin.data / "node.json").exists()
    bad = invoke(runner, ["--store", "mysql://root:hunter2@db/x", "domain", "list", "--data", str(admin.data)])
    assert bad.exit_code == 2 and "store" in bad.stderr and "hunter2" not in bad.stderr
    down = invoke(runner, ["domain", "list", "--data", str(admin.data)],
                  env={"POSTROOM_STORE": "postgresql://postroom:hunter2@127.0.0.1:9/postroom"})
    assert down.exit_code == 6 and "unavailable" in down.stderr and "hunter2" not in down.stderr
