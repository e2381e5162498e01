"""`postroom backup` while the node serves and mail arrives: the backup is consistent (it
restores and passes its checks), and every message acknowledged before it started is in it,
byte for byte."""
from __future__ import annotations

import asyncio
import smtplib
import threading

import pytest

from postroom.storage import open_store

from .harness import Postroom, wait_until

pytestmark = pytest.mark.e2e


def test_backup_during_deliveries_restores_every_earlier_message(tmp_path):
    server = Postroom(tmp_path / "live")
    server.init()
    server.new_mailbox("backup@example.com", "pw-backup-1")
    server.start()
    acknowledged: list[bytes] = []
    stop = threading.Event()

    def send() -> None:
        with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as client:
            number = 0
            while not stop.is_set():
                body = (b"Subject: during backup %d\r\n\r\n" % number) + b"x" * 20000 + b"\r\n"
                client.sendmail("sender@example.net", ["backup@example.com"], body)
                acknowledged.append(body)
                number += 1

    sender = threading.Thread(target=send)
    sender.start()
    try:
        wait_until(lambda: len(acknowledged) >= 30, 30, "30 acknowledged messages before the backup")
        before_backup = list(acknowledged)
        archive = tmp_path / "live.tar.gz"
        server.cli("backup", str(archive))
    finally:
        stop.set()
        sender.join(20)
        server.stop()

    restored = Postroom(tmp_path / "restored")
    restored.cli("restore", str(archive))
    messages = restored.cli_json("mailbox", "show", "backup@example.com")["messages"]
    assert len(before_backup) <= messages <= len(acknowledged)

    async def read_bodies() -> set[bytes]:
        store = open_store(str(restored.data))
        await store.open()
        try:
            box = await store.get_mailbox("backup@example.com")
            return {await store.read_message(box.id, m.id) for m in await store.list_messages(box.id)}
        finally:
            await store.close()
    stored = asyncio.run(read_bodies())
    for body in before_backup:
        assert any(s.endswith(body) for s in stored)  # stored with trace headers in front
