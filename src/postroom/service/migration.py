"""`postroom migrate --from DATA_DIR --to postgresql://...`: move an embedded install to a
PostgreSQL store, then point the data directory at it.

What moves: the servers with their services, POP3 settings, receive connectors, admin
service settings and transport settings; the send connectors (their passwords stay sealed: the
data directory keeps its secrets.key); the login block policy; accepted domains and their DKIM keys; admin
principals and their API tokens; mailboxes (with their password hashes), their IMAP4 folders
(uidvalidity, uidnext kept) and subscriptions, and every message, each keeping its UID, flags
and arrival time and in INBOX its UIDL, so neither a POP3 client that remembers UIDLs nor an
IMAP4 client that caches UIDs downloads anything twice. What stays behind in the source file
(kept untouched, as an archive): the audit log, message tracking, activity counters, failed
logins, blocks and console sessions. The outbound queue does not move: the command refuses
while it holds messages.

The copy is verified before the data directory changes: per mailbox, the message count and a
SHA-256 over every folder and every message's UIDL, UID, flags, arrival time and octets,
read back from the target.
"""
from __future__ import annotations

import asyncio
import hashlib
import os
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

from ..datadir import claim_data_dir, read_local_server, write_local_server
from ..errors import Conflict, Unavailable, ValidationError
from ..model.imap import Folder, FolderMessage
from ..storage import EMBEDDED, Store, check_store_url, safe_url, store_url
from ..storage.postgres import PostgresStore
from ..storage.sqlite import SqliteStore

BATCH = 200  # messages per target transaction
Progress = Callable[[int, int], None]  # (messages copied, messages in all)


@dataclass
class MigrationReport:
    server: str
    target: str  # the URL without its password
    servers: int = 0
    domains: int = 0
    dkim_keys: int = 0
    admins: int = 0
    tokens: int = 0
    mailboxes: int = 0
    messages: int = 0
    octets: int = 0
    checksum: str = ""  # SHA-256 over every mailbox's digest, in address order
    seconds: float = 0.0
    left_behind: list[str] = field(default_factory=lambda: [
        "audit log", "message tracking", "activity counters", "failed logins", "login blocks", "console sessions"])


async def migrate_store(data_dir: str, target_url: str, progress: Progress | None = None) -> MigrationReport:
    started = time.monotonic()
    server = read_local_server(data_dir)
    if store_url(data_dir) != EMBEDDED:
        raise ValidationError("from", f"{data_dir} already uses the store {safe_url(store_url(data_dir))}")
    target_url = check_store_url(target_url)
    if target_url == EMBEDDED:
        raise ValidationError("to", "name the PostgreSQL store to move to (postgresql://USER@HOST/DATABASE)")
    lock_fd = claim_data_dir(data_dir)  # no `serve` may write to the source meanwhile
    source: Store = SqliteStore(os.path.join(data_dir, "postroom.db"))
    target: Store = PostgresStore(target_url)
    report = MigrationReport(server, safe_url(target_url))
    try:
        await source.open()
        await target.open()
        await source.migrate()  # an older install: bring it to this version's schema first
        await target.migrate()
        await _check_queue_empty(source)
        await _check_empty(target)
        await _copy_organisation(source, target, report)
        digests = await _copy_mailboxes(source, target, report, progress)
        await _verify(target, digests)
        report.checksum = hashlib.sha256("".join(digests[a][1] for a in sorted(digests)).encode()).hexdigest()
        report.seconds = round(time.monotonic() - started, 2)
        await target.append_audit("local-operator", "migrate", f"server/{server}", None, {
            "from": os.path.abspath(data_dir), "mailboxes": report.mailboxes, "messages": report.messages,
            "octets": report.octets, "checksum": report.checksum})
        write_local_server(data_dir, server, target_url)  # from now on this data directory uses the target
        return report
    finally:
        await target.close()
        await source.close()
        os.close(lock_fd)


async def _check_queue_empty(source: Store) -> None:
    """The outbound queue does not move: it must be empty (its mail gone out, or removed)."""
    queued = sum((await source.queue_counts()).values())
    if queued:
        raise Conflict(f"{queued} message(s) are still in the outbound queue, which does not move: let them go out"
                       " or remove them (postroom queue list), then migrate")


async def _check_empty(target: Store) -> None:
    held = []
    if servers := await target.list_servers():
        held.append(f"servers {', '.join(s.name for s in servers)}")
    if mailboxes := await target.count_mailboxes():
        held.append(f"{mailboxes} mailboxes")
    if await target.list_domains():
        held.append("accepted domains")
    if await target.list_admins():
        held.append("admins")
    if held:
        raise Conflict(f"the target store is not empty (it holds {', '.join(held)}); migrate into a new database")


async def _copy_organisation(source: Store, target: Store, report: MigrationReport) -> None:
    for server in await source.list_servers():
        await target.add_server(server, await source.list_services(server.name),
                                await source.get_pop_settings(server.name),
                                await source.list_connectors(server.name),
                                await source.get_web_settings(server.name),
                                imap=await source.get_imap_settings(server.name))
        await target.put_transport_settings(server.name, await source.get_transport_settings(server.name))
        report.servers += 1
    await target.put_login_policy(await source.get_login_policy())
    for connector in await source.list_send_connectors():  # the password stays sealed: same key file
        await target.add_send_connector(connector)
    for domain in await source.list_domains():
        await target.add_domain(domain)
        report.domains += 1
    for key in await source.list_dkim_keys():
        await target.add_dkim_key(key)
        report.dkim_keys += 1
    for admin in await source.list_admins():
        await target.add_admin(admin.name, admin.password_hash, admin.roles)
        report.admins += 1
    for token in await source.list_tokens():
        await target.add_token(token)
        report.tokens += 1


async def _copy_mailboxes(source: Store, target: Store, report: MigrationReport,
                          progress: Progress | None) -> dict[str, tuple[int, str]]:
    """Every mailbox with its folders, subscriptions and messages (each keeping its UID, flags
    and internal date, and in INBOX its UIDL); returns address -> (message count, SHA-256 hex)."""
    mailboxes = await source.list_mailboxes()
    total = 0
    for mailbox in mailboxes:
        for folder in await source.list_folders(mailbox.id):
            total += (await source.folder_status(folder.id)).messages
    digests: dict[str, tuple[int, str]] = {}
    done = 0
    if progress:
        progress(0, total)
    for mailbox in mailboxes:
        copy = await target.create_mailbox(mailbox.address, mailbox.display_name, mailbox.password_hash,
                                           enabled=mailbox.enabled, pop_enabled=mailbox.pop_enabled,
                                           imap_enabled=mailbox.imap_enabled)
        if mailbox.send_as:
            copy = await target.update_mailbox(mailbox.address, send_as=mailbox.send_as)
        folders = await source.list_folders(mailbox.id)
        targets = {f.name: f for f in await target.restore_folders(copy.id, folders,
                                                                   await source.list_subscriptions(mailbox.id))}
        uidls = {info.id: info.uidl for info in await source.list_messages(mailbox.id)}  # INBOX's
        digest, count = hashlib.sha256(), 0
        for folder in folders:
            _add_folder(digest, folder)
            messages = await source.folder_messages(folder.id)
            for start in range(0, len(messages), BATCH):
                batch = messages[start:start + BATCH]
                bodies = await _read_all(source, mailbox.id, batch)
                for message, data in zip(batch, bodies):
                    _add(digest, message, uidls.get(message.id, ""), data)
                    report.octets += len(data)
                await target.restore_folder_messages(targets[folder.name].id, [
                    (message, uidls.get(message.id, ""), data) for message, data in zip(batch, bodies)])
                done += len(batch)
                if progress:
                    progress(done, total)
            count += len(messages)
        digests[mailbox.address] = (count, digest.hexdigest())
        report.mailboxes += 1
        report.messages += count
    return digests


async def _verify(target: Store, digests: dict[str, tuple[int, str]]) -> None:
    """Read every folder and message back from the target: same count and same digest per mailbox."""
    for address, (count, expected) in digests.items():
        mailbox = await target.get_mailbox(address)
        uidls = {info.id: info.uidl for info in await target.list_messages(mailbox.id)}
        digest, found = hashlib.sha256(), 0
        for folder in await target.list_folders(mailbox.id):
            _add_folder(digest, folder)
            messages = await target.folder_messages(folder.id)
            for start in range(0, len(messages), BATCH):
                batch = messages[start:start + BATCH]
                for message, data in zip(batch, await _read_all(target, mailbox.id, batch)):
                    _add(digest, message, uidls.get(message.id, ""), data)
            found += len(messages)
        if found != count or digest.hexdigest() != expected:
            raise Unavailable(f"verification failed for {address}: {found} of {count} messages, checksum"
                              f" {'matches' if digest.hexdigest() == expected else 'differs'}; the data directory"
                              " still uses the embedded store")


async def _read_all(store: Store, mailbox_id: int, messages: Sequence[FolderMessage]) -> list[bytes]:
    """The bodies of `messages`, in order, read a few at a time (the store's readers work in parallel)."""
    return list(await asyncio.gather(*[store.read_message(mailbox_id, message.id) for message in messages]))


def _add_folder(digest: "hashlib._Hash", folder: Folder) -> None:
    digest.update(f"{folder.name}\0{folder.uidvalidity}\0{folder.uidnext}\0{folder.special_use}\0".encode())


def _add(digest: "hashlib._Hash", message: FolderMessage, uidl: str, data: bytes) -> None:
    digest.update(f"{uidl}\0{message.uid}\0{' '.join(message.flags)}\0{message.internal_date}\0".encode()
                  + len(data).to_bytes(8, "big"))
    digest.update(data)
