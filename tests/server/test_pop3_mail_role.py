"""The POP3 service needs only the mail role of the store (storage.base.MailStore): a session
runs end to end against an in-memory double of those eight methods, and nothing else."""
from __future__ import annotations

import asyncio

from postroom.auth import Authenticator, hash_password
from postroom.errors import NotFound
from postroom.model import LoginType, Mailbox, MessageInfo, PopSettings
from postroom.server.pop3 import Pop3Service
from postroom.storage import MailStore

ALICE = Mailbox(7, "alice@example.com", "Alice", hash_password("pw-1"), True, True, True, "2024-05-01T12:00:00Z")
FIRST, SECOND = b"Subject: one\r\n\r\nFirst.\r\n", b"Subject: two\r\n\r\nSecond.\r\n"


class MemoryMailStore:
    """One mailbox in memory, through MailStore's methods only (no other attribute exists)."""

    def __init__(self) -> None:
        self.messages = {1: FIRST, 2: SECOND}
        self.holder: str | None = None

    async def find_mailbox(self, address: str) -> Mailbox | None:
        return ALICE if address == ALICE.address else None

    async def get_mailbox(self, address: str) -> Mailbox:
        if address != ALICE.address:
            raise NotFound("mailbox", address)
        return ALICE

    async def try_lock_mailbox(self, mailbox_id: int, holder: str) -> bool:
        if self.holder not in (None, holder):
            return False
        self.holder = holder
        return True

    async def unlock_mailbox(self, mailbox_id: int, holder: str) -> None:
        if self.holder == holder:
            self.holder = None

    async def list_messages(self, mailbox_id: int) -> list[MessageInfo]:
        return [MessageInfo(n, f"uidl-{n}", len(data), "2024-05-01T12:00:00Z") for n, data in self.messages.items()]

    async def read_message(self, mailbox_id: int, message_id: int) -> bytes:
        return self.messages[message_id]

    async def delete_messages(self, mailbox_id: int, message_ids) -> int:
        return sum(self.messages.pop(n, None) is not None for n in message_ids)

    async def mailbox_usage(self, mailbox_id: int) -> tuple[int, int]:
        return len(self.messages), sum(map(len, self.messages.values()))


def test_the_double_is_the_mail_role_and_nothing_more():
    declared = {name for klass in MailStore.__mro__ if klass.__module__ == MailStore.__module__ for name in vars(klass)
                if not name.startswith("_")}
    assert {name for name in vars(MemoryMailStore) if not name.startswith("_")} == declared


def test_a_pop3_session_runs_on_the_mail_role_alone():
    async def main():
        store = MemoryMailStore()
        service = Pop3Service(store, Authenticator(failure_delay=0.01), "TEST")
        service.configure(PopSettings(login_type=LoginType.PLAIN_TEXT_LOGIN), None, None)
        server = await asyncio.get_running_loop().create_server(service.protocol_factory(False, "test"),
                                                                "127.0.0.1", 0)
        reader, writer = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
        replies = [await reader.readline()]
        for line in (b"USER alice@example.com", b"PASS pw-1", b"STAT", b"RETR 1"):
            writer.write(line + b"\r\n")
            replies.append(await reader.readline())
        body = await reader.readuntil(b"\r\n.\r\n")
        assert store.holder is not None  # the session holds the mailbox
        for line in (b"DELE 1", b"QUIT"):
            writer.write(line + b"\r\n")
            replies.append(await reader.readline())
        assert [r.split(b" ")[0] for r in replies] == [b"+OK"] * 7, replies
        assert replies[3] == f"+OK 2 {len(FIRST) + len(SECOND)}\r\n".encode()
        assert body == FIRST + b".\r\n"
        assert await asyncio.wait_for(reader.read(), 3) == b""
        assert store.messages == {2: SECOND} and store.holder is None  # deleted at QUIT, lock released
        writer.close()
        server.close()
        await server.wait_closed()

    asyncio.run(main())
