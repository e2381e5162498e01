"""The 250 promise of the outbound queue under SIGKILL: a process queues messages (local copy
plus remote recipients) concurrently and prints each queue id once deliver_message returns;
it is killed mid-burst; every printed id is then in the queue, whole (envelope, recipients,
body), on both backends, and no message is half stored."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from pg_support import fresh_store_url
from postroom.storage.postgres import PostgresStore
from postroom.storage.sqlite import SqliteStore

CHILD = textwrap.dedent('''
    import asyncio, sys
    from postroom.model import OutboundSubmission, QueueKey
    from postroom.storage.postgres import PostgresStore
    from postroom.storage.sqlite import SqliteStore

    def body(qid):
        return b"Subject: " + qid.encode() + b"\\r\\n\\r\\n" + (qid.encode() + b" ") * 2000 + b"\\r\\n"

    async def sender(store, box, number):
        key = QueueKey.dns("partner.example", "Internet")
        while True:
            outbound = OutboundSubmission("alice@example.com", [
                (f"bob{number}@partner.example", None, "FAILURE", key),
                (f"carol{number}@other.example", "rfc822;carol@other.example", None,
                 QueueKey.dns("other.example", "Internet"))])
            await store.deliver_message([box], body(outbound.queue_id), outbound=outbound)
            print(outbound.queue_id, flush=True)

    async def main(where):
        store = PostgresStore(where) if where.startswith("postgresql") else SqliteStore(where)
        await store.open()
        await store.migrate()
        box = (await store.create_mailbox("alice@example.com", "Alice", None)).id
        print("ready", flush=True)
        await asyncio.gather(*(sender(store, box, n) for n in range(8)))

    asyncio.run(main(sys.argv[1]))
''')


@pytest.fixture(params=["sqlite", "postgres"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield str(tmp_path / "postroom.db")
    else:
        yield from fresh_store_url()


def test_sigkill_mid_burst_loses_no_queued_message(where: str) -> None:
    child = subprocess.Popen([sys.executable, "-c", CHILD, where], stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONUNBUFFERED": "1"})
    promised: list[str] = []
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 60
        while len(promised) < 200 and time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                break
            promised.append(line.strip())
        child.send_signal(signal.SIGKILL)  # deliveries in flight right now
        rest, _ = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    promised += [line for line in rest.split() if line]  # printed before the kill, read after it
    assert len(promised) >= 200

    async def check() -> None:
        store: Any = PostgresStore(where) if where.startswith("postgresql") else SqliteStore(where)
        await store.open()
        try:
            queued = {m.id: m for m in await store.list_queued_messages(limit=100_000)}
            assert set(promised) <= set(queued), "a message acknowledged to the caller was lost"
            box = (await store.get_mailbox("alice@example.com")).id
            assert len(await store.list_messages(box)) == len(queued), "local copy and queued copy go together"
            for qid, message in queued.items():  # every stored message whole, promised or not
                _, recipients = await store.get_queued_message(qid)
                assert [r.domain for r in recipients] == ["partner.example", "other.example"]
                data = await store.read_queued_body(qid)
                assert len(data) == message.size and data.startswith(b"Subject: " + qid.encode())
        finally:
            await store.close()
    asyncio.run(check())
