"""`postroom init`: the data directory, the schema, this server with Exchange's defaults."""
from __future__ import annotations

import email.utils
import os
import secrets
import socket
from dataclasses import dataclass, field

from ..auth import hash_password
from ..datadir import NODE_FILE, read_local_server, read_store_url, write_local_server
from ..errors import Conflict, NotFound, ValidationError
from ..model import (
    DEV_WEB_SETTINGS, ImapSettings, PopSettings, Server, Service, ServiceStatus, Startup, WebSettings,
    default_connectors,
)
from ..storage import EMBEDDED, Store, check_store_url, open_store, safe_url, store_url
from ..tls import create_self_signed
from .web import console_url

DEV_POP_BINDINGS = ("127.0.0.1:1110",)
DEV_POP_SSL_BINDINGS = ("127.0.0.1:1995",)
DEV_IMAP_BINDINGS = ("127.0.0.1:1143",)  # the migration that brought IMAP4 spells these out as well
DEV_IMAP_SSL_BINDINGS = ("127.0.0.1:1993",)
DEV_DOMAIN = "example.com"
DEV_MAILBOX = "demo@example.com"
DEV_ADMIN = "admin"
# A new server's services, as Exchange installs them: POP3 and IMAP4 stopped with startup manual,
# SMTP and the admin service running (`--dev` starts every one); `config show --changed` compares
# with these.
SERVICE_DEFAULTS: dict[str, tuple[Startup, ServiceStatus]] = {
    "pop3": (Startup.MANUAL, ServiceStatus.STOPPED), "imap4": (Startup.MANUAL, ServiceStatus.STOPPED),
    "smtp": (Startup.AUTOMATIC, ServiceStatus.RUNNING), "admin": (Startup.AUTOMATIC, ServiceStatus.RUNNING)}
SMTP_MIGRATION = 2  # the schema version that brought receive connectors
ADMIN_MIGRATION = 3  # ... and the one that brought the admin service


@dataclass
class InitResult:
    created: bool
    server: str
    data_dir: str
    migrations: list[int]
    certificate: str | None = None
    demo_address: str | None = None
    demo_password: str | None = None
    admin_name: str | None = None
    admin_password: str | None = None
    store: str = EMBEDDED  # the store URL without its password
    joined: bool = False  # added to a store that already held other servers
    # How to get in, told at every run of `init` (make run runs it each time): the console's
    # address and the admin principals to sign in as.
    console_url: str | None = None
    admin_names: list[str] = field(default_factory=list)


def default_server_name() -> str:
    return socket.gethostname().split(".")[0] or "postroom"


def _validate_server_name(name: str) -> str:
    if not name or len(name) > 64 or not all(c.isalnum() or c in "-_" for c in name):
        raise ValidationError("server-name", f"{name!r} must be 1-64 letters, digits, '-' or '_'")
    return name


async def initialise(data_dir: str, *, dev: bool = False, server_name: str | None = None,
                     fqdn: str | None = None, store_location: str | None = None) -> InitResult:
    """Create (or upgrade) an install. Re-running on an existing install only applies migrations.

    On a shared store (PostgreSQL) that already holds other servers, this adds one more server
    with Exchange's defaults for a new server and touches nothing else (no demo objects)."""
    os.makedirs(data_dir, mode=0o750, exist_ok=True)
    node_path = os.path.join(data_dir, NODE_FILE)
    existing = os.path.exists(node_path)
    name = read_local_server(data_dir) if existing else _validate_server_name(server_name or default_server_name())
    if existing and server_name and server_name != name:
        raise ValidationError("server-name", f"this data directory already belongs to server {name!r}")
    url = store_url(data_dir, store_location)
    if existing:
        recorded = check_store_url(read_store_url(data_dir) or EMBEDDED)
        if url != recorded:
            raise ValidationError("store", f"this data directory already uses the store {safe_url(recorded)}")

    store = open_store(data_dir, url)
    await store.open()
    try:
        applied = await store.migrate()
        if existing:
            await upgrade(store, name, applied)
            result = InitResult(False, name, data_dir, applied, store=safe_url(url))
            if await _has_mailbox(store, DEV_MAILBOX):
                result.demo_address = DEV_MAILBOX  # its password is never shown again: say how to reset it
            return await _with_access(store, name, result)
        others = [server.name for server in await store.list_servers()]
        if name in others:
            raise Conflict(f"server {name} already exists in this store; choose another --server-name, or run"
                           f" {name} from its own data directory")
        fqdn = fqdn or (socket.getfqdn() if not dev else "localhost")
        tls_dir = os.path.join(os.path.abspath(data_dir), "tls")
        cert_path = os.path.join(tls_dir, "postroom.pem")
        key_path = os.path.join(tls_dir, "postroom.key")
        create_self_signed(cert_path, key_path, _unique([fqdn, name, "localhost", "127.0.0.1"]))

        pop = PopSettings().with_changes(certificate=cert_path, certificate_key=key_path)
        imap = ImapSettings().with_changes(certificate=cert_path, certificate_key=key_path)
        if dev:
            pop = pop.with_changes(bindings=DEV_POP_BINDINGS, ssl_bindings=DEV_POP_SSL_BINDINGS)
            imap = imap.with_changes(bindings=DEV_IMAP_BINDINGS, ssl_bindings=DEV_IMAP_SSL_BINDINGS)
        services = [Service(name, service, *((Startup.AUTOMATIC, ServiceStatus.RUNNING) if dev else state))
                    for service, state in SERVICE_DEFAULTS.items()]
        web = DEV_WEB_SETTINGS if dev else WebSettings()
        await store.add_server(Server(name, fqdn), services, pop, default_connectors(name, dev=dev), web, imap=imap)

        result = InitResult(True, name, data_dir, applied, certificate=cert_path, store=safe_url(url),
                            joined=bool(others))
        if dev and not others:  # the demo objects are organisation-wide: only with the first server
            await store.add_domain(DEV_DOMAIN)
            password = secrets.token_urlsafe(12)
            mailbox = await store.create_mailbox(DEV_MAILBOX, "Demo mailbox", hash_password(password))
            await store.deliver(mailbox.id, _welcome_message(name))
            result.demo_address, result.demo_password = DEV_MAILBOX, password
            admin_password = secrets.token_urlsafe(12)
            await store.add_admin(DEV_ADMIN, hash_password(admin_password), ("organization-management",))
            result.admin_name, result.admin_password = DEV_ADMIN, admin_password
        await store.append_audit("local-operator", "init", f"server/{name}", None,
                                 {"dev": dev, "fqdn": fqdn, "migrations": applied, "store": safe_url(url)})
        await _with_access(store, name, result)
        # Written last: its presence means the install is complete.
        write_local_server(data_dir, name, None if url == EMBEDDED else url)
        return result
    finally:
        await store.close()


async def _with_access(store: Store, server: str, result: InitResult) -> InitResult:
    result.console_url = console_url(await store.get_web_settings(server), (await store.get_server(server)).fqdn)
    result.admin_names = sorted(admin.name for admin in await store.list_admins())
    return result


async def _has_mailbox(store: Store, address: str) -> bool:
    try:
        await store.get_mailbox(address)
    except NotFound:
        return False
    return True


async def upgrade(store: Store, server: str, applied: list[int]) -> None:
    """After migrations, add what this version's `init` creates and an older one did not.

    Migration 2 brought receive connectors: a server upgraded from schema 1 gets the two
    default connectors. Migration 3 brought the admin service (its row and default settings
    come with the migration). Both use the dev ports when the POP3 bindings are the dev profile's.
    """
    if not {SMTP_MIGRATION, ADMIN_MIGRATION} & set(applied):
        return
    dev = (await store.get_pop_settings(server)).bindings == DEV_POP_BINDINGS
    added: dict[str, object] = {"migrations": applied}
    if SMTP_MIGRATION in applied and not await store.list_connectors(server):
        for connector in default_connectors(server, dev=dev):
            await store.add_connector(connector)
        added["connectors"] = [c.name for c in default_connectors(server)]
    if ADMIN_MIGRATION in applied:
        web = DEV_WEB_SETTINGS if dev else WebSettings()
        await store.put_web_settings(server, web)
        added["web"] = web.to_dict()
    await store.append_audit("local-operator", "upgrade", f"server/{server}", None, added)


def _welcome_message(server: str) -> bytes:
    """One message in the demo mailbox, so the first POP3 or IMAP4 client has something to read."""
    date = email.utils.formatdate(localtime=False)
    lines = [
        f"From: postroom <postmaster@{DEV_DOMAIN}>", f"To: {DEV_MAILBOX}",
        "Subject: Welcome to postroom", f"Date: {date}",
        f"Message-ID: <{secrets.token_hex(8)}@{DEV_DOMAIN}>", "Content-Type: text/plain; charset=utf-8", "",
        f"This mailbox on server {server} is served over POP3 with STLS (port 1110)",
        "and implicit TLS (port 1995), and over IMAP4 with STARTTLS (port 1143) and",
        "implicit TLS (port 1993). Mail for it arrives over SMTP on port 2525",
        f"(connector \"Default {server}\") and port 2587 (connector \"Client {server}\",",
        "STARTTLS and AUTH). Administer it with `.venv/bin/postroom`, or with the",
        "REST API and console on http://127.0.0.1:8080 (sign in as admin with the",
        "password `make run` printed once; `.venv/bin/postroom admin password admin`",
        "sets a new one). docs/operations.md walks through every setting.",
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


def _unique(names: list[str]) -> list[str]:
    return list(dict.fromkeys(n for n in names if n))
