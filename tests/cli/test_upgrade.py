"""Upgrading an install made before receive connectors: `init` (or `serve`) migrates the store
and adds what this version's init creates, on the ports of the install's profile."""
from __future__ import annotations

import json
import sqlite3
from importlib import resources
from pathlib import Path

import pytest

from postroom.datadir import write_local_server
from postroom.model import PopSettings
from postroom.storage.sql import schema

from .conftest import Admin

DEV_POP = PopSettings().with_changes(bindings="127.0.0.1:1110", ssl_bindings="127.0.0.1:1995",
                                     certificate="/nonexistent.pem")


# Every migration after schema 1, in order: a schema-1 install gets all of them.
LATER = [version for version, _, _ in schema.migrations("sqlite") if version > 1]


def schema_one_install(data: Path, pop: PopSettings) -> None:
    """What postroom with schema 1 left behind: node.json and a store with server EX01."""
    data.mkdir(parents=True)
    sql = resources.files("postroom.storage").joinpath("migrations", "sqlite", "0001_initial.sql")
    conn = sqlite3.connect(data / "postroom.db", isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("CREATE TABLE schema_migrations"
                     " (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)")
        conn.executescript(sql.read_text(encoding="utf-8"))
        conn.execute("INSERT INTO schema_migrations VALUES (1, '0001_initial.sql', '2024-01-01T00:00:00+00:00')")
        conn.execute("INSERT INTO servers (name, fqdn) VALUES ('EX01', 'ex01.example.com')")
        conn.execute("INSERT INTO services VALUES ('EX01', 'pop3', 'automatic', 'running')")
        conn.execute("INSERT INTO pop_settings VALUES ('EX01', ?)", (json.dumps(pop.to_dict()),))
    finally:
        conn.close()
    write_local_server(str(data), "EX01")


@pytest.mark.parametrize("pop, default_port, client_port", [
    (DEV_POP, "127.0.0.1:2525", "127.0.0.1:2587"),
    (PopSettings(), "0.0.0.0:25", "0.0.0.0:587"),
])
def test_init_on_a_schema_one_install_adds_smtp_and_the_default_connectors(runner, tmp_path, pop, default_port,
                                                                           client_port):
    admin = Admin(runner, tmp_path / "var")
    schema_one_install(admin.data, pop)
    assert admin.json("init")["migrations_applied"] == LATER
    connectors = {c["name"]: c for c in admin.json("connector", "list")}
    assert sorted(connectors) == ["Client EX01", "Default EX01"]
    assert connectors["Default EX01"]["bindings"][0] == default_port
    assert connectors["Client EX01"]["bindings"][0] == client_port
    assert connectors["Client EX01"]["permission_groups"] == ["users"]
    services = {s["name"]: s for s in admin.json("service", "list")}
    assert services["smtp"]["startup"] == "automatic" and services["pop3"]["startup"] == "automatic"
    assert services["admin"]["startup"] == "automatic"  # migration 3 adds the admin service
    # migration 15 adds IMAP4: on the install's profile, with POP3's certificate
    imap = admin.json("imap", "show")
    dev = pop.bindings == DEV_POP.bindings
    assert imap["bindings"] == (["127.0.0.1:1143"] if dev else ["0.0.0.0:143", "[::]:143"])
    assert imap["certificate"] == pop.certificate
    assert services["imap4"]["startup"] == ("automatic" if dev else "manual")
    upgrade = [e for e in admin.audit() if e["action"] == "upgrade"]
    assert upgrade and upgrade[0]["after"]["connectors"] == ["Default EX01", "Client EX01"]
    # Running init again changes nothing more.
    admin.ok("init")
    assert len(admin.json("connector", "list")) == 2
    assert len([e for e in admin.audit() if e["action"] == "upgrade"]) == 1


def test_serve_exits_when_a_pending_migration_meets_a_full_disk(admin: Admin, monkeypatch) -> None:
    """A node may serve a full disk, not an unmigrated store: `serve` says why and exits 6."""
    from postroom import logs
    from postroom.errors import StorageFull
    from postroom.server import main
    from postroom.storage.sqlite import SqliteStore

    async def full(self) -> list[int]:
        raise StorageFull("the disk holding the store is full, free some space: database or disk is full")

    monkeypatch.setattr(SqliteStore, "migrate", full)
    monkeypatch.setattr(main, "install_event_loop", lambda: None)  # keep the test process's loop and logging
    monkeypatch.setattr(logs, "configure", lambda *args: None)
    result = admin.fails(6, "serve")
    assert "cannot apply the store's pending migrations" in result.stderr
    assert "cannot serve an unmigrated store, free some space" in " ".join(result.stderr.split())
