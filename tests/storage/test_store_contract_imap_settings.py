"""The Store contract of the IMAP4 settings (ConfigStore: get_imap_settings, put_imap_settings,
add_server's `imap`), on every backend, and the migration that brings them to a store made
before IMAP4 (SQLite schema 15, PostgreSQL schema 10)."""
from __future__ import annotations

import json
from typing import Any

import pytest

from postroom.errors import NotFound, ValidationError
from postroom.model import ImapSettings, LoginType, PopSettings, Server, Service, ServiceStatus, Startup
from postroom.storage.postgres import PostgresStore
from postroom.storage.postgres import base as postgres_base
from postroom.storage.postgres.base import dollar
from postroom.storage.sql import schema
from postroom.storage.sqlite import schema as sqlite_schema

from .test_store_contract import SERVER, services_for
from .test_store_contract_audit import note

pytestmark = [pytest.mark.store_config]

CUSTOM_IMAP = ImapSettings(
    login_type=LoginType.PLAIN_TEXT_LOGIN,
    bindings=("127.0.0.1:1143",),
    ssl_bindings=("127.0.0.1:1993", "[::1]:1993"),
    certificate="/etc/postroom/tls/cert.pem",
    banner="IMAP on EX01",
    max_connections_per_user=4,
    max_command_size=16384,
    authenticated_timeout=3600,
    protocol_log=True,
)


def test_imap_settings_are_the_defaults_unless_given_and_round_trip(store, run):
    async def body():
        await store.add_server(SERVER, services_for("EX01"), PopSettings())
        await store.add_server(Server("EX02", "ex02.example.com"), services_for("EX02"), PopSettings(),
                               imap=CUSTOM_IMAP)
        assert await store.get_imap_settings("EX01") == ImapSettings()
        assert await store.get_imap_settings("EX02") == CUSTOM_IMAP
        version = await store.config_version()
        changed = CUSTOM_IMAP.with_changes(banner="Second", login_type="secure-login")
        await store.put_imap_settings("EX01", changed, audit=note("imap.set"))
        assert await store.config_version() > version
        assert await store.get_imap_settings("EX01") == changed
        assert await store.get_imap_settings("EX02") == CUSTOM_IMAP, "per server"
        assert await store.get_pop_settings("EX01") == PopSettings(), "POP3's settings are apart"
        assert (await store.list_audit(1))[0].action == "imap.set"
    run(body())


def test_imap_settings_of_a_missing_server(store, run):
    async def body():
        with pytest.raises(NotFound, match="NOPE"):
            await store.get_imap_settings("NOPE")
        version = await store.config_version()
        with pytest.raises(NotFound, match="NOPE"):
            await store.put_imap_settings("NOPE", ImapSettings(), audit=note("imap.set"))
        assert await store.config_version() == version and await store.list_audit(10) == []
    run(body())


def test_only_imap_settings_are_stored_as_imap_settings(store, run):
    async def body():
        await store.add_server(SERVER, services_for("EX01"), PopSettings())
        with pytest.raises(ValidationError):
            await store.put_imap_settings("EX01", PopSettings())  # type: ignore[arg-type]
        assert await store.get_imap_settings("EX01") == ImapSettings()
    run(body())


def test_imap_settings_survive_a_reopen_and_go_with_their_server(make_store, store, run):
    async def body():
        await store.add_server(SERVER, services_for("EX01"), PopSettings(), imap=CUSTOM_IMAP)
        other = make_store()
        await other.open()
        try:
            assert await other.get_imap_settings("EX01") == CUSTOM_IMAP
        finally:
            await other.close()
    run(body())


# the migration that brought IMAP4 --------------------------------------------------------------
IMAP_MIGRATION = {"sqlite": 15, "postgres": 10}


def _before_imap(monkeypatch: pytest.MonkeyPatch, backend: str) -> None:
    """Migrations stop before IMAP4's: the store is one made by the previous version."""
    last = IMAP_MIGRATION[backend]

    def earlier(dialect: str) -> list[tuple[int, str, str]]:
        return [m for m in schema.migrations(dialect) if m[0] < last]
    monkeypatch.setattr(sqlite_schema, "migrations", earlier)
    monkeypatch.setattr(postgres_base, "migrations", earlier)


async def _sql(store: Any, statement: str, *params: Any) -> None:
    """Rows written as the previous version wrote them (its add_server knew no IMAP4)."""
    if isinstance(store, PostgresStore):
        async def write(conn: Any) -> None:
            await conn.execute(dollar(statement), *params)
        await store._transaction(write)
    else:
        await store._write(lambda conn: conn.execute(statement, params))


async def _old_server(store: Any, name: str, pop: PopSettings) -> None:
    await _sql(store, "INSERT INTO servers (name, fqdn) VALUES (?, ?)", name, f"{name.lower()}.example.com")
    for service in services_for(name):
        await _sql(store, "INSERT INTO services (server, name, startup, status) VALUES (?, ?, ?, ?)",
                   name, service.name, service.startup.value, service.status.value)
    await _sql(store, "INSERT INTO pop_settings (server, settings) VALUES (?, ?)", name, json.dumps(pop.to_dict()))


DEV_POP = PopSettings().with_changes(bindings="127.0.0.1:1110", ssl_bindings="127.0.0.1:1995",
                                     certificate="/data/tls/postroom.pem", certificate_key="/data/tls/postroom.key")


def test_the_migration_gives_every_server_the_imap4_service_and_settings(make_store, run, monkeypatch, request):
    backend = "postgres" if "postgres" in request.node.callspec.id else "sqlite"
    _before_imap(monkeypatch, backend)
    store = make_store()

    async def body():
        await store.open()
        try:
            await store.migrate()
            await _old_server(store, "EX01", PopSettings().with_changes(certificate="/etc/tls/ex01.pem"))
            await _old_server(store, "EX02", DEV_POP)
            version = await store.config_version()
            monkeypatch.undo()
            assert (await store.migrate())[0] == IMAP_MIGRATION[backend]  # then any later ones
            assert await store.config_version() > version, "nodes apply the new service"
            # Exchange's defaults on a production server: stopped, startup manual, POP3's certificate
            assert await store.get_service("EX01", "imap4") == Service("EX01", "imap4", Startup.MANUAL,
                                                                       ServiceStatus.STOPPED)
            assert await store.get_imap_settings("EX01") == ImapSettings(certificate="/etc/tls/ex01.pem")
            # the dev profile's server gets the dev ports and a running service, as `init --dev`
            assert await store.get_service("EX02", "imap4") == Service("EX02", "imap4", Startup.AUTOMATIC,
                                                                       ServiceStatus.RUNNING)
            assert await store.get_imap_settings("EX02") == ImapSettings(
                bindings=("127.0.0.1:1143",), ssl_bindings=("127.0.0.1:1993",),
                certificate="/data/tls/postroom.pem", certificate_key="/data/tls/postroom.key")
            assert await store.get_pop_settings("EX02") == DEV_POP, "POP3 untouched"
            assert await store.migrate() == [], "applied once"
        finally:
            await store.close()
    run(body())
