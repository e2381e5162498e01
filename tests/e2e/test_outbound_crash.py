"""SIGKILL of `postroom serve` while it delivers a burst of relayed mail: after a restart (one
node on SQLite) or through the other node (two nodes sharing PostgreSQL), every message that
got "250" reaches the next hop, none is lost, and a message arrives twice only in SMTP's own
window (the connection was lost after the final dot, before the reply; RFC 5321 6.1).

The next hop is Postfix's `smtp-sink`, which dumps each message to a file and waits a second
before its reply to the final dot (`-W .:1`), so that at the kill many deliveries are in
flight, some of them in that window. Messages are counted by their Message-ID in the dumps.
The delivery worker's lease is shortened to 3 s (POSTROOM_OUTBOUND_LEASE): the claims of the
killed process are taken over once it runs out. Each test prints its figures (run with -s).
"""
from __future__ import annotations

import asyncio
import collections
import re
import smtplib
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

from pg_support import fresh_store_url

from .harness import Postroom, free_port, require_tool, wait_until
from .relay_lab import start_sink as _sink

pytestmark = pytest.mark.e2e

BURST = 200
SENDERS = 4
LEASE = 3
RECORD_SLACK = 2.0  # seconds a node may take to record a reply it got (a loaded 2-core test machine)
_MESSAGE_ID = re.compile(rb"^Message-ID: <(crash-[0-9a-z-]+)@app\.example>", re.M | re.I)


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    binary = require_tool("smtp-sink")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="outbound-crash-sink-") as name:
        dump = Path(name)
        dump.chmod(0o777)
        proc = _sink(binary, "127.0.0.21", port, "-W", ".:1", "-d", f"{dump}/%M.")
        try:
            yield dump, port
        finally:
            proc.kill()
            proc.wait()


def received(dump: Path) -> collections.Counter[str]:
    """Message-ID -> how many times the sink got it (a dump still being written is skipped)."""
    counts: collections.Counter[str] = collections.Counter()
    for path in dump.iterdir():
        try:
            found = _MESSAGE_ID.search(path.read_bytes())
        except OSError:
            continue
        if found:
            counts[found.group(1).decode()] += 1
    return counts


def configure(node: Postroom, port: int, relay_port: int, source_servers: str) -> None:
    node.cli_batch(
        ("send-connector", "new", "Outbound", "--address-spaces", "*", "--no-dns-routing",
         "--smart-hosts", f"127.0.0.21:{port}", "--source-servers", source_servers),
        ("connector", "new", f"Relay {node.server}", "--bindings", f"127.0.0.1:{relay_port}",
         "--remote-ip-ranges", "127.0.0.1", "--permission-groups", "anonymous-relay", "--auth", "none"),
    )
    node.relay_port = relay_port


def submit_burst(port: int, tag: str) -> set[str]:
    """BURST messages over SENDERS connections; the Message-IDs that got 250."""
    acknowledged: set[str] = set()
    lock = threading.Lock()

    def send(sender: int) -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
            client.ehlo("app.example")
            for number in range(sender, BURST, SENDERS):
                ident = f"crash-{tag}-{number}"
                data = (f"From: app@app.example\r\nTo: r{number}@partner.example\r\nSubject: {ident}\r\n"
                        f"Message-ID: <{ident}@app.example>\r\n\r\n" + "line of the body\r\n" * 100).encode()
                if not client.sendmail("app@app.example", [f"r{number}@partner.example"], data):
                    with lock:
                        acknowledged.add(ident)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(SENDERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return acknowledged


def kill_mid_delivery(node: Postroom, dump: Path) -> tuple[collections.Counter[str], float]:
    """SIGKILL once a quarter of the burst has arrived; what the sink had then, and when."""
    wait_until(lambda: len(received(dump)) >= BURST // 4, 60, "a quarter of the burst at the sink")
    node.kill()
    killed_at = time.time()
    time.sleep(0.2)  # the sink finishes writing the dumps of messages whose dot it had
    before = received(dump)
    assert len(before) < BURST, "the burst was delivered before the kill: nothing was in flight"
    assert not [ident for ident, count in before.items() if count > 1], "a duplicate before any crash"
    return before, killed_at


def first_copies(dump: Path, idents: set[str]) -> dict[str, float]:
    """When the sink wrote its first copy of each of these messages (the dump's mtime)."""
    first: dict[str, float] = {}
    for path in dump.iterdir():
        found = _MESSAGE_ID.search(path.read_bytes())
        if found and found.group(1).decode() in idents:
            ident = found.group(1).decode()
            first[ident] = min(first.get(ident, float("inf")), path.stat().st_mtime)
    return first


def check_delivered(dump: Path, promised: set[str], started: float, label: str,
                    killed: tuple[collections.Counter[str], float], node: Postroom) -> None:
    at_kill, killed_at = killed
    wait_until(lambda: set(received(dump)) - set(at_kill), 30, "a first delivery after the kill")
    first = time.monotonic() - started
    wait_until(lambda: promised <= set(received(dump)), 90, "every acknowledged message at the sink")
    drained = time.monotonic() - started
    # The queue empties once the messages in SMTP's window are sent again (their leases expire).
    try:
        wait_until(lambda: queued(node) == {}, 30, "the queue to be empty", interval=0.5)
    except AssertionError:
        left = queued(node)
        raise AssertionError(f"{len(left)} messages still queued: {list(left.items())[:5]}") from None
    counts = received(dump)
    missing = promised - set(counts)
    assert not missing, f"{len(missing)} acknowledged messages lost, e.g. {sorted(missing)[:3]}"
    assert set(counts) <= promised
    more = {ident: count for ident, count in counts.items() if count > 2}
    assert not more, f"delivered more than twice: {more}"
    twice = {ident for ident, count in counts.items() if count == 2}
    # SMTP's window: the sink had the message (its dot) when the sender died, before the
    # sender could record the reply. A message first sent after the kill is sent once.
    outside = twice - set(at_kill)
    assert not outside, f"{len(outside)} messages sent twice though the sink had none of them at the kill"
    # ... widened by the time the sender takes to record the reply: the sink answers 1 s after
    # its dump, so a message it had more than 1 s + RECORD_SLACK before the kill was answered and
    # recorded, and must not come again.
    ages = sorted(killed_at - when for when in first_copies(dump, twice).values())
    late = [age for age in ages if age > 1.0 + RECORD_SLACK]
    assert not late, f"sent again though the sink had them {late} s before the kill (answered, and recorded?)"
    print(f"\n[outbound crash {label}] submitted={len(promised)} at_sink_when_killed={len(at_kill)} "
          f"delivered={len(counts)} duplicates={len(twice)} first_delivery_after_s={first:.1f} "
          f"drained_after_s={drained:.1f} oldest_duplicate_s={max(ages, default=0):.2f} "
          f"(lease {LEASE} s; the sink answers each final dot after 1 s)")


def queued(node: Postroom) -> dict[str, str]:
    """Messages still in the shared queue and their state, read from the store (as an admin's
    queue viewer would)."""
    from postroom.storage import open_store

    async def count() -> dict[str, str]:
        store = open_store(str(node.data))
        await store.open()
        try:
            return {m.id: f"{m.status.value} crashes={m.crash_count} lease={m.lease_holder}@{m.lease_until}"
                    for m in await store.list_queued_messages()}
        finally:
            await store.close()

    return asyncio.run(count())


def test_sigkill_during_relay_burst_sqlite_restart_delivers_each_message_once(tmp_path, sink):
    dump, port = sink
    node = Postroom(tmp_path)
    node.env["POSTROOM_OUTBOUND_LEASE"] = str(LEASE)
    node.init()
    configure(node, port, free_port(), node.server)
    node.start()
    try:
        promised = submit_burst(node.relay_port, "sqlite")
        assert len(promised) == BURST
        killed = kill_mid_delivery(node, dump)
        started = time.monotonic()
        node.start()
        check_delivered(dump, promised, started, "sqlite, one node, restarted", killed, node)
    finally:
        node.stop()


def test_sigkill_of_one_of_two_nodes_the_other_delivers_its_claimed_messages(tmp_path, sink):
    dump, port = sink
    for url in fresh_store_url():
        # Server names of their own: a node's claim on its name is a PostgreSQL advisory lock,
        # database-wide, and other tests run EX01/EX02 in other schemas of the same database.
        node_a = Postroom(tmp_path / "a", server="CRASH1", store=url)
        node_b = Postroom(tmp_path / "b", server="CRASH2", store=url)
        for node in (node_a, node_b):
            node.env["POSTROOM_OUTBOUND_LEASE"] = str(LEASE)
            node.init()
        configure(node_a, port, free_port(), "CRASH1,CRASH2")
        node_a.start()
        node_b.start()
        try:
            promised = submit_burst(node_a.relay_port, "pg")
            assert len(promised) == BURST
            killed = kill_mid_delivery(node_a, dump)
            started = time.monotonic()
            check_delivered(dump, promised, started, "postgresql, node 1 killed, node 2 delivers", killed, node_b)
        finally:
            node_a.stop()
            node_b.stop()
