"""SQLite only: how messages are laid out on disk (a body stored once for several
recipients, removed with its last entry), and the upgrade of a schema-1 database."""
from __future__ import annotations

import asyncio
import json
import sqlite3
import tracemalloc
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from postroom.errors import NotFound
from postroom.model import (
    AuditEntry, ImapSettings, MessageInfo, PopSettings, RecipientResult, RecipientStatus, Service, ServiceStatus,
    Startup, WebSettings,
)
from postroom.storage import SpooledBody
from postroom.storage import queued_body_pieces
from postroom.storage.sql import schema
from postroom.storage.sqlite import SqliteStore
from waiting import until

from .test_store_contract import EIGHT_BIT, MESSAGE, SERVER, mailbox, services_for, wire
from .test_store_contract_queue import PARTNER, at, submission

# Every migration after schema 1, in order: a schema-1 database gets all of them.
LATER = [version for version, _, _ in schema.migrations("sqlite") if version > 1]


def peek(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Read the database file with a connection of our own (committed data only)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def bodies(path: Path) -> int:
    return peek(path, "SELECT count(*) FROM message_bodies")[0][0]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "postroom.db"


@pytest.fixture
def opened(db: Path, run):
    store = SqliteStore(str(db))
    run(store.open())
    run(store.migrate())
    yield store
    run(store.close())


def test_a_body_is_stored_once_and_goes_with_its_last_entry(opened, db, run):
    async def body():
        boxes = [await mailbox(opened, f"u{n}@example.com", f"U{n}") for n in range(3)]
        infos = await opened.deliver_message(boxes, EIGHT_BIT)
        assert bodies(db) == 1
        assert peek(db, "SELECT count(*), count(DISTINCT body_id) FROM messages") == [(3, 1)]
        assert peek(db, "SELECT size, data FROM message_bodies") == [(len(EIGHT_BIT), EIGHT_BIT)]
        await opened.delete_messages(boxes[0], [infos[0].id])
        await opened.delete_messages(boxes[1], [infos[1].id])
        assert bodies(db) == 1
        assert await opened.read_message(boxes[2], infos[2].id) == EIGHT_BIT
        await opened.delete_messages(boxes[2], [infos[2].id])
        assert bodies(db) == 0
        assert peek(db, "SELECT count(*) FROM messages") == [(0,)]
    run(body())


def test_removing_mailboxes_removes_bodies_by_cascade(opened, db, run):
    async def body():
        alice = await mailbox(opened)
        bob = await mailbox(opened, "bob@example.com", "Bob")
        shared = await opened.deliver_message([alice, bob], MESSAGE)
        await opened.deliver_many(alice, [wire(b"only alice 1"), wire(b"only alice 2")])
        assert bodies(db) == 3
        await opened.remove_mailbox("alice@example.com")
        assert bodies(db) == 1, "alice's own bodies go; the shared one stays for bob"
        assert await opened.read_message(bob, shared[1].id) == MESSAGE
        await opened.remove_mailbox("bob@example.com")
        assert bodies(db) == 0
    run(body())


def test_a_refused_delivery_leaves_no_body(opened, db, run):
    async def body():
        box = await mailbox(opened)
        with pytest.raises(NotFound):
            await opened.deliver_message([box, box + 1000], MESSAGE)
        with pytest.raises(NotFound):
            await opened.deliver(box + 1000, MESSAGE)
        assert bodies(db) == 0
        assert peek(db, "SELECT count(*) FROM messages") == [(0,)]
    run(body())


def test_a_queued_message_shares_the_body_which_goes_with_the_last_reference(opened, db, run):
    # The outbound queue (schema 9): the queued copy points at the local copies' body; the
    # body goes when neither a mailbox entry nor a queued message refers to it.
    async def body():
        alice = await mailbox(opened)
        kept_local, kept_queued = (submission(("bob@partner.example", PARTNER)) for _ in range(2))
        infos = await opened.deliver_message([alice], MESSAGE, outbound=kept_local)
        await opened.deliver_message([alice], EIGHT_BIT, outbound=kept_queued)
        await opened.deliver_message([], MESSAGE, outbound=submission(("carol@partner.example", PARTNER)))
        assert bodies(db) == 3
        assert peek(db, "SELECT count(DISTINCT body_id) FROM queue_messages") == [(3,)]

        entries = await opened.list_messages(alice)
        await opened.delete_messages(alice, [entries[1].id])  # the queue still has EIGHT_BIT
        assert bodies(db) == 3
        claims = await opened.claim_due("EX01/1", at(1), 60, 10)
        for claim in claims:
            sent = [RecipientResult(r.address, RecipientStatus.SENT, "250") for r in claim.recipients]
            await opened.finish_attempt(claim.message.id, "EX01/1", sent)
        assert bodies(db) == 1  # the queue's own and EIGHT_BIT went; the local MESSAGE stays
        assert peek(db, "SELECT count(*) FROM queue_messages") == [(0,)]
        assert peek(db, "SELECT count(*) FROM queue_recipients") == [(0,)]
        assert await opened.read_message(alice, infos[0].id) == MESSAGE
        await opened.delete_messages(alice, [infos[0].id])
        assert bodies(db) == 0
    run(body())


def test_deliveries_with_remote_recipients_keep_group_commit(opened, monkeypatch, run):
    # 40 SMTP deliveries at once, each with local and remote recipients: a few group
    # transactions (one fsync each) hold all of them, local entries and queued copies alike.
    from postroom.storage.sqlite import threads

    groups: list[int] = []
    run_group = threads.Writer._run_group

    def counted(self: Any, jobs: list[Any]) -> None:
        groups.append(len(jobs))
        run_group(self, jobs)
    monkeypatch.setattr(threads.Writer, "_run_group", counted)

    async def body():
        alice = await mailbox(opened)
        outbounds = [submission((f"r{n}@partner.example", PARTNER)) for n in range(40)]
        groups.clear()
        await asyncio.gather(*(opened.deliver_message([alice], MESSAGE, outbound=o) for o in outbounds))
        assert sum(groups) == 40 and len(groups) < 10, groups
        assert len(await opened.list_queued_messages()) == 40
    run(body())


def test_bookkeeping_commits_without_fsync_and_mail_always_with_it(opened, monkeypatch, run):
    # What each write transaction commits with. PRAGMA synchronous: 2 = FULL (fsync at every
    # commit), 1 = NORMAL (none; durable with the next FULL commit). temp_store: 0 = statement
    # journals spill to a file, 2 = they stay in memory (small bookkeeping transactions only).
    from postroom.storage.sqlite import threads

    seen: list[tuple[list[bool], int, int]] = []
    run_group = threads.Writer._run_group

    from .test_store_contract_smtp import receive

    def recorded(self: Any, jobs: list[Any]) -> None:
        self._sync_for(jobs)
        pragmas = [self.conn.execute(f"PRAGMA {name}").fetchone()[0] for name in ("synchronous", "temp_store")]
        seen.append(([job.durable for job in jobs], *pragmas))
        run_group(self, jobs)
    monkeypatch.setattr(threads.Writer, "_run_group", recorded)

    async def body():
        alice = await mailbox(opened)
        first, second = submission(("bob@partner.example", PARTNER)), submission(("carol@partner.example", PARTNER))
        seen.clear()
        await opened.deliver_message([alice], MESSAGE, outbound=first)
        await opened.deliver_message([], MESSAGE, outbound=second)
        assert seen == [([True], 2, 0), ([True], 2, 0)]  # mail accepted: fsync'd before its 250
        claims = await opened.claim_due("node-a", at(1), 60, 10)
        seen.clear()
        sent = [RecipientResult(claims[0].recipients[0].address, RecipientStatus.SENT, "250 ok", at=at(2))]
        assert await opened.finish_attempt(claims[0].message.id, "node-a", sent) is True
        assert seen == [([False], 1, 2)]  # a delivery recorded: no fsync, no temporary file
        # Grouped with bookkeeping, a delivery is still committed with its fsync.
        seen.clear()
        sent = [RecipientResult(claims[1].recipients[0].address, RecipientStatus.SENT, "250 ok", at=at(2))]
        await asyncio.gather(opened.finish_attempt(claims[1].message.id, "node-a", sent),
                             opened.deliver_message([alice], MESSAGE))
        assert seen and all(sync == 2 and temp == 0 for durable, sync, temp in seen if any(durable)), seen
        assert [durable for durable, _, _ in seen if not any(durable)] in ([], [[False]]), seen
        assert len(await opened.list_queued_messages()) == 0 and len(await opened.list_messages(alice)) == 2
        seen.clear()
        await opened.deliver_message([alice], MESSAGE, [receive("alice@example.com", queue_id="Q1")])
        await opened._tracking.flush()
        assert seen == [([True], 2, 0), ([False], 1, 2)]  # the mail, then its tracking row (a log)
    run(body())


def test_a_big_queued_message_is_never_whole_in_memory(opened, tmp_path, run):
    # A spooled 24 MB message queued and read back in 1 MiB pieces: the Python heap never
    # holds more than a few pieces (tracemalloc traces every thread's allocations).
    size = 24 << 20
    path = tmp_path / "big.msg"
    with open(path, "wb") as handle:
        for _ in range(size >> 20):
            handle.write(b"x" * ((1 << 20) - 2) + b"\r\n")

    async def body():
        outbound = submission(("bob@partner.example", PARTNER))
        tracemalloc.start()
        try:
            await opened.deliver_message([], b"", head=b"Received: by ex01\r\n",
                                         spooled=SpooledBody(str(path), size), outbound=outbound)
            message, _ = await opened.get_queued_message(outbound.queue_id)
            total = 0
            async for piece in queued_body_pieces(opened, message):
                total += len(piece)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert total == message.size == size + len(b"Received: by ex01\r\n")
        assert peak < 8 << 20, f"peak {peak >> 20} MiB"
    run(body())


def test_listing_messages_reads_no_body(opened, db, run):
    columns = [row[1] for row in peek(db, "PRAGMA table_info(messages)")]
    assert columns == ["id", "mailbox_id", "body_id", "uidl", "size", "received_at", "folder_id", "uid", "flags",
                       "modseq"]
    assert [row[1] for row in peek(db, "PRAGMA table_info(message_bodies)")][-1] == "data"
    plan = " ".join(row[-1] for row in peek(db, "EXPLAIN QUERY PLAN SELECT id, uidl, size, received_at"
                                                " FROM messages WHERE mailbox_id = ? ORDER BY id", (1,)))
    assert "messages_mailbox" in plan and "message_bodies" not in plan


# upgrading a schema-1 database --------------------------------------------------------------

def migration_sql(name: str) -> str:
    return resources.files("postroom.storage").joinpath("migrations", "sqlite", name).read_text(encoding="utf-8")


OLD_MESSAGES = [  # (id, mailbox, uidl, data)
    (1, 1, "0f1e2d3c4b5a69788796a5b4c3d2e1f0", MESSAGE),
    (2, 2, "uidl-from-an-import-2", EIGHT_BIT),
    (3, 1, "aaaabbbbccccddddeeeeffff00001111", wire(b"Subject: three", b"", b"", b".", b"..")),
    (5, 1, "55555555555555555555555555555555", b"\r\n"),
    (6, 2, "66666666666666666666666666666666", wire(b"deleted before the upgrade")),
]


def schema_one_database(path: Path) -> None:
    """What postroom 1 left: schema 1 applied, two servers (EX02 already has smtp and admin),
    mailboxes and messages, with gaps in the message ids (4 and 6 were deleted), an audit entry."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("CREATE TABLE schema_migrations"
                     " (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)")
        conn.executescript(migration_sql("0001_initial.sql"))
        conn.execute("INSERT INTO schema_migrations VALUES (1, '0001_initial.sql', '2024-01-01T00:00:00+00:00')")
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO servers (name, fqdn) VALUES (?, ?)",
                         [("EX01", "ex01.example.com"), ("EX02", "ex02.example.com")])
        conn.executemany("INSERT INTO services (server, name, startup, status) VALUES (?, ?, ?, ?)", [
            ("EX01", "pop3", "automatic", "running"),
            ("EX02", "pop3", "manual", "stopped"),
            ("EX02", "smtp", "disabled", "stopped"),
            ("EX02", "admin", "manual", "stopped"),
        ])
        conn.execute("INSERT INTO audit (at, actor, action, target, before, after) VALUES"
                     " ('2024-01-01T00:00:00.000000+00:00', 'root', 'init', 'server/EX01', NULL, '{\"dev\": false}')")
        conn.executemany("INSERT INTO mailboxes (id, address, domain, display_name, created_at)"
                         " VALUES (?, ?, 'example.com', ?, '2024-01-01T00:00:00+00:00')",
                         [(1, "alice@example.com", "Alice"), (2, "bob@example.com", "Bob")])
        conn.executemany(
            "INSERT INTO messages (id, mailbox_id, uidl, size, received_at, data) VALUES (?, ?, ?, ?, ?, ?)",
            [(id_, box, uidl, len(data), f"2024-01-0{id_}T12:00:00.000000+00:00", data)
             for id_, box, uidl, data in OLD_MESSAGES],
        )
        conn.execute("DELETE FROM messages WHERE id = 6")
        conn.execute("UPDATE config_state SET version = 7")
        conn.execute("COMMIT")
    finally:
        conn.close()


def expected(box: int) -> list[tuple[MessageInfo, bytes]]:
    return [(MessageInfo(id_, uidl, len(data), f"2024-01-0{id_}T12:00:00.000000+00:00"), data)
            for id_, mailbox_id, uidl, data in OLD_MESSAGES if mailbox_id == box and id_ != 6]


def test_schema_one_database_upgrades_keeping_every_message(db, run):
    schema_one_database(db)

    async def body():
        store = SqliteStore(str(db))
        await store.open()
        try:
            assert await store.schema_version() == 1
            assert await store.migrate() == LATER
            assert await store.schema_version() == LATER[-1]
            for box in (1, 2):
                kept = expected(box)
                assert await store.list_messages(box) == [info for info, _ in kept]
                for info, data in kept:
                    assert await store.read_message(box, info.id) == data
                assert await store.mailbox_usage(box) == (len(kept), sum(len(d) for _, d in kept))

            # SMTP arrives on every server, as Exchange has it; a row already there is kept
            assert await store.get_service("EX01", "smtp") == Service("EX01", "smtp", Startup.AUTOMATIC,
                                                                      ServiceStatus.STOPPED)
            assert (await store.get_service("EX02", "smtp")).startup is Startup.DISABLED
            assert (await store.get_service("EX01", "pop3")).status is ServiceStatus.RUNNING
            # ... and so does the admin service (migration 3), with default settings
            assert await store.get_service("EX01", "admin") == Service("EX01", "admin", Startup.AUTOMATIC,
                                                                       ServiceStatus.RUNNING)
            assert (await store.get_service("EX02", "admin")).startup is Startup.MANUAL
            for server in ("EX01", "EX02"):
                assert await store.get_web_settings(server) == WebSettings()
                # ... and IMAP4 (migration 15), stopped with startup manual, as Exchange installs it
                assert await store.get_service(server, "imap4") == Service(server, "imap4", Startup.MANUAL,
                                                                           ServiceStatus.STOPPED)
                assert await store.get_imap_settings(server) == ImapSettings()
            assert await store.config_version() == 10  # one bump per migration that adds configuration
            # old audit entries were made by the CLI and succeeded
            assert await store.list_audit() == [AuditEntry(1, "2024-01-01T00:00:00.000000+00:00", "root", "init",
                                                           "server/EX01", None, {"dev": False}, "cli", "success")]
            assert await store.list_admins() == []
            assert await store.list_connectors() == []
            assert await store.list_tracking() == []

            # ids are never reused, even the one deleted before the upgrade
            new = await store.deliver(2, MESSAGE)
            assert new.id == 7
            shared = await store.deliver_message([1, 2], EIGHT_BIT)
            assert [i.id for i in shared] == [8, 9]
            assert await store.migrate() == []
        finally:
            await store.close()

        assert bodies(db) == 4 + 1 + 1  # one per old message, then one each for the new ones
        assert peek(db, "SELECT id, body_id FROM messages WHERE id <= 5 ORDER BY id") == [
            (1, 1), (2, 2), (3, 3), (5, 5)]
        assert peek(db, "PRAGMA foreign_key_check") == []
        assert peek(db, "PRAGMA integrity_check") == [("ok",)]
        tables = {row[0] for row in peek(db, "SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert "messages_new" not in tables
        assert {"receive_connectors", "message_bodies", "message_tracking", "messages"} <= tables
        assert {"admins", "api_tokens", "web_sessions", "web_settings"} <= tables
        # the defaults the migration spells out are WebSettings()'s (settings added later, such as
        # the admin listener's caps and timeouts, take their defaults when read)
        spelled = [json.loads(text) for text, in peek(db, "SELECT settings FROM web_settings")]
        defaults = WebSettings().to_dict()
        assert [{k: defaults[k] for k in row} for row in spelled] == spelled and len(spelled) == 2
        assert [WebSettings.from_dict(row) for row in spelled] == [WebSettings()] * 2

        store = SqliteStore(str(db))
        await store.open()
        try:
            await store.delete_messages(1, [1, 3])
            await store.remove_mailbox("bob@example.com")
            assert [i.id for i in await store.list_messages(1)] == [5, 8]
        finally:
            await store.close()
        assert bodies(db) == 2  # message 5's and the shared one's (still alice's)
    run(body())


def test_empty_schema_one_database_upgrades_without_a_config_change(db, run):
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("CREATE TABLE schema_migrations"
                 " (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)")
    conn.executescript(migration_sql("0001_initial.sql"))
    conn.execute("INSERT INTO schema_migrations VALUES (1, '0001_initial.sql', '2024-01-01T00:00:00+00:00')")
    conn.close()

    async def body():
        store = SqliteStore(str(db))
        await store.open()
        try:
            assert await store.migrate() == LATER
            assert await store.config_version() == 0
            await store.add_server(SERVER, services_for("EX01"), PopSettings())
            box = await mailbox(store)
            assert (await store.deliver(box, MESSAGE)).id == 1
        finally:
            await store.close()
    run(body())


def test_tracking_rows_are_written_in_batches_and_keep_the_time_of_their_event(opened, db, run):
    """Another connection (the CLI beside a running node) sees a batch once it is written,
    within the buffer's delay; each row keeps the time it was handed over, not the batch's."""
    from postroom.storage.sqlite.tracking import TRACKING_DELAY

    from .test_store_contract_smtp import receive

    def tracked() -> list[tuple[str, str]]:
        return peek(db, "SELECT queue_id, at FROM message_tracking ORDER BY id")

    async def body():
        box = await mailbox(opened)
        handed = schema.now()
        for n in range(3):
            await opened.deliver_message([box], MESSAGE, [receive("alice@example.com", queue_id=f"Q{n}")])
        assert tracked() == [], "three deliveries, no tracking transaction yet"
        # the batch is due after TRACKING_DELAY; a busy machine may take longer
        await until(tracked, 100 * TRACKING_DELAY, "the tracking batch to be written")
        rows = tracked()
        assert [q for q, _ in rows] == ["Q0", "Q1", "Q2"]
        assert all(handed <= at < schema.now() for _, at in rows)

        # the rows are visible once committed, a moment before the batch's task ends (a row
        # handed over meanwhile would join that batch): let it end
        await until(lambda: opened._tracking._task is None, 100 * TRACKING_DELAY, "the batch to end")
        opened._tracking.delay = 60.0  # a batch that would wait: flushing (list, close) writes it
        await opened.append_tracking([receive("bob@example.com", queue_id="Q3")])
        stamped = schema.now()
        await asyncio.sleep(0.2)  # a time for the batch NOT to be written in: nothing to wait for
        assert len(tracked()) == 3
        assert [e.queue_id for e in await opened.list_tracking()][-1] == "Q3"
        assert tracked()[-1][0] == "Q3" and tracked()[-1][1] < stamped, "the time of the event, not of the write"
    run(body())


def test_a_tracking_batch_that_cannot_be_written_is_logged_and_mail_goes_on(opened, db, run, caplog):
    from postroom.errors import Unavailable

    from .test_store_contract_smtp import receive

    async def failing(job):
        raise Unavailable("disk full (test)")

    async def body():
        box = await mailbox(opened)
        real = opened._tracking._write
        opened._tracking._write = failing
        await opened.deliver_message([box], MESSAGE, [receive("alice@example.com", queue_id="LOST")])
        await opened._tracking.flush()  # does not raise
        opened._tracking._write = real
        assert await opened.read_message(box, (await opened.list_messages(box))[0].id) == MESSAGE
        assert await opened.list_tracking() == []
    with caplog.at_level("WARNING", logger="postroom.store"):
        run(body())
    assert "message tracking: 1 row(s) could not be written: disk full (test)" in caplog.text


def test_a_closed_store_leaves_no_write_ahead_log_behind(db, run):
    """The last connection to close checkpoints the WAL and removes it and its index, but only
    when it closes alone: the readers close first, then the writer. (Closing them all at once
    left both files about every other time; a node stopped and started again on a full disk
    then found its index made and never needed the reserve.)"""
    async def body():
        box = None
        for n in range(20):
            store = SqliteStore(str(db))
            await store.open()
            await store.migrate()
            box = box or await mailbox(store)
            await store.deliver(box, MESSAGE)
            await asyncio.gather(*(store.list_messages(box) for _ in range(4)))  # every reader used
            await store.close()
            left = sorted(p.name for p in db.parent.iterdir() if p.name.endswith(("-wal", "-shm")))
            assert left == [], f"after close {n + 1}"
    run(body())
