"""`postroom mailbox messages ADDRESS` and `postroom mailbox message ADDRESS ID --raw|--delete`
(doveadm fetch / expunge): the table, the exact octets on stdout, deletion, exit codes, audit."""
from __future__ import annotations

import asyncio
import base64

from postroom.storage import open_store

from .conftest import Admin, flat

ADDRESS = "demo@example.com"
# 8-bit octets, a line that starts with a dot, a long line: --raw must give them back untouched
STORED = (b"From: App <app@example.net>\r\nSubject: nightly export\r\nX-Eight-Bit: caf\xc3\xa9\r\n\r\n"
          b".a line POP3 would dot-stuff\r\n" + bytes(range(32, 256)) + b"\r\n" + b"x" * 5000 + b"\r\n")


def deliver(admin: Admin, data: bytes = STORED) -> int:
    async def put(store) -> int:
        return (await store.deliver((await store.get_mailbox(ADDRESS)).id, data)).id
    return admin.peek(put)


def test_messages_lists_a_table_and_json(admin: Admin) -> None:
    number = deliver(admin)
    out = admin.ok("mailbox", "messages", ADDRESS).stdout
    assert "nightly export" in out and "App <app@example.net>" in out and "Welcome to postroom" in out
    octets = admin.json("mailbox", "show", ADDRESS)["octets"]
    assert flat(out).endswith(f"2 of 2 messages ({octets} octets) in {ADDRESS}")
    listed = admin.json("mailbox", "messages", ADDRESS)
    entry = listed["items"][-1]
    assert (entry["id"], entry["size"], entry["subject"], entry["from"]) == (
        number, len(STORED), "nightly export", "App <app@example.net>")
    assert admin.json("mailbox", "messages", ADDRESS, "--offset", "1", "--limit", "1")["items"] == [entry]


def test_a_subject_is_shown_as_written_never_as_markup(admin: Admin) -> None:
    number = deliver(admin, b"Subject: [/x] [bold]loud[/bold] \x1b[31mred\r\nFrom: [a] <a@example.net>\r\n\r\nx\r\n")
    assert "[/x] [bold]loud[/bold] \ufffd[31mred" in admin.ok("mailbox", "messages", ADDRESS).stdout
    assert "[a] <a@example.net>" in admin.ok("mailbox", "message", ADDRESS, str(number)).stdout


def test_raw_writes_the_stored_octets_byte_for_byte(admin: Admin) -> None:
    number = deliver(admin)
    assert admin.ok("mailbox", "message", ADDRESS, str(number), "--raw").stdout_bytes == STORED
    as_json = admin.json("mailbox", "message", ADDRESS, str(number), "--raw")
    assert base64.b64decode(as_json["content_base64"]) == STORED and as_json["subject"] == "nightly export"
    summary = admin.ok("mailbox", "message", ADDRESS, str(number)).stdout
    assert "nightly export" in summary and str(len(STORED)) in summary
    fetches = [e for e in admin.audit() if e["action"] == "mailbox.message.fetch"]
    assert [(e["actor"], e["channel"], e["target"]) for e in fetches] == [
        ("local-operator", "cli", f"mailbox/{ADDRESS}/message/{number}")] * 3


def test_delete_removes_it_then_says_it_is_gone(admin: Admin) -> None:
    number = deliver(admin)
    out = admin.ok("mailbox", "message", ADDRESS, str(number), "--delete").stdout
    assert flat(out) == f"Deleted message {number} ({len(STORED)} octets) from {ADDRESS}"
    assert [m["subject"] for m in admin.json("mailbox", "messages", ADDRESS)["items"]] == ["Welcome to postroom"]
    gone = admin.fails(3, "mailbox", "message", ADDRESS, str(number), "--delete")
    assert flat(gone.stderr) == (f"error: mailbox {ADDRESS} has no message {number} "
                                 f"(`postroom mailbox messages {ADDRESS}` lists them)")
    [entry] = [e for e in admin.audit() if e["action"] == "mailbox.message.delete"]
    assert entry["before"]["size"] == len(STORED) and entry["after"] is None


def test_delete_is_refused_while_a_pop3_session_holds_the_mailbox(admin: Admin) -> None:
    number = deliver(admin)
    with asyncio.Runner() as runner:  # the node's POP3 session: another store on the same data
        node = open_store(str(admin.data))
        runner.run(node.open())
        try:
            box = runner.run(node.get_mailbox(ADDRESS)).id
            assert runner.run(node.try_lock_mailbox(box, "pop3-session"))
            refused = admin.fails(4, "mailbox", "message", ADDRESS, str(number), "--delete")
            assert f"mailbox {ADDRESS} is in use by a POP3 session" in flat(refused.stderr)
            assert "nothing was deleted" in flat(refused.stderr)
        finally:
            runner.run(node.close())  # the session ends
    admin.ok("mailbox", "message", ADDRESS, str(number), "--delete")


def test_bad_input_exits_with_the_field_named(admin: Admin) -> None:
    assert flat(admin.fails(3, "mailbox", "messages", "nobody@example.com").stderr) == \
        "error: mailbox 'nobody@example.com' does not exist"
    assert "error: id: 'abc' is not a message id" in flat(admin.fails(2, "mailbox", "message", ADDRESS, "abc").stderr)
    assert flat(admin.fails(2, "mailbox", "message", ADDRESS, "1", "--raw", "--delete").stderr) == \
        "error: delete: give --raw or --delete, not both"
    assert "error: limit:" in admin.fails(2, "mailbox", "messages", ADDRESS, "--limit", "0").stderr
