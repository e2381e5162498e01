"""A mailbox's messages for administrators (doveadm fetch / expunge): recipient-management and
organization-management only, every listing, read and deletion audited (refusals too) without
the mail's subject or sender, and a deletion refused while a POP3 session holds the mailbox."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from postroom.errors import Conflict, Forbidden, NotFound, ValidationError
from postroom.service import mailbox_messages as messages
from postroom.storage import open_store

ADDRESS = "demo@example.com"  # the dev install's mailbox, holding its welcome message
ALLOWED = ("organization-management", "recipient-management")
REFUSED = ("server-management", "view-only")
ENCODED = (b"Return-Path: <app@example.net>\r\nReceived: from app by EX01\r\nDate: Mon, 7 Dec 2026 10:00:00 +0000\r\n"
           b"From: =?utf-8?q?Caf=C3=A9?= <app@example.net>\r\nSubject: =?utf-8?b?w6l0w6k=?= report\r\n"
           b" folded\r\n\r\nbody\r\n")
BARE = b"no header section at all\r\n"


def delivered(store, run, *bodies: bytes) -> list[int]:
    box = run(store.get_mailbox(ADDRESS)).id
    return [run(store.deliver(box, body)).id for body in bodies]


def entries(store, run, action: str) -> list:
    return [e for e in run(store.list_audit(1000)) if e.action == action]


def test_list_shows_size_arrival_and_decoded_headers_oldest_first(context, run, store) -> None:
    encoded, bare = delivered(store, run, ENCODED, BARE)
    listed = run(messages.list_messages(context("recipient-management"), ADDRESS.upper()))
    assert listed["address"] == ADDRESS and listed["total"] == 3 and listed["offset"] == 0
    welcome, first, second = listed["items"]
    assert welcome["subject"] == "Welcome to postroom" and welcome["from"] == "postroom <postmaster@example.com>"
    assert (first["id"], first["size"]) == (encoded, len(ENCODED))
    assert (first["subject"], first["from"]) == ("été report folded", "Café <app@example.net>")
    assert first["date"] == "Mon, 7 Dec 2026 10:00:00 +0000"  # as written
    assert first["received_at"] and first["uidl"]
    assert (second["id"], second["subject"], second["from"], second["date"]) == (bare, None, None, None)
    assert listed["octets"] == sum(m["size"] for m in listed["items"])
    page = run(messages.list_messages(context("organization-management"), ADDRESS, offset=1, limit=1))
    assert [m["id"] for m in page["items"]] == [encoded] and page["total"] == 3


def test_listing_is_audited_without_subjects(context, run, store) -> None:
    delivered(store, run, ENCODED)
    run(messages.list_messages(context("recipient-management", name="rita"), ADDRESS))
    [entry] = entries(store, run, "mailbox.messages")
    assert (entry.actor, entry.target, entry.outcome) == ("rita", f"mailbox/{ADDRESS}", "success")
    assert entry.after == {"offset": 0, "listed": 2, "total": 2}
    assert "report" not in repr(entry) and "app@example.net" not in repr(entry)


@pytest.mark.parametrize("role", REFUSED)
def test_other_roles_are_refused_and_the_refusal_is_audited(context, run, store, role) -> None:
    [number] = delivered(store, run, ENCODED)
    for action, call in (("mailbox.messages", messages.list_messages(context(role), ADDRESS)),
                         ("mailbox.message.fetch", messages.fetch_message(context(role), ADDRESS, number)),
                         ("mailbox.message.delete", messages.delete_message(context(role), ADDRESS, number))):
        with pytest.raises(Forbidden, match="recipient-management"):
            run(call)
        [entry] = entries(store, run, action)
        assert (entry.actor, entry.outcome) == (role, "refused")
    assert run(store.mailbox_usage(run(store.get_mailbox(ADDRESS)).id))[0] == 2  # nothing deleted


@pytest.mark.parametrize("role", ALLOWED)
def test_fetch_answers_the_exact_octets_and_is_audited(context, run, store, role) -> None:
    [number] = delivered(store, run, ENCODED)
    view, data = run(messages.fetch_message(context(role), ADDRESS, str(number)))
    assert data == ENCODED
    assert (view["id"], view["size"], view["subject"]) == (number, len(ENCODED), "été report folded")
    [entry] = entries(store, run, "mailbox.message.fetch")
    assert (entry.actor, entry.target) == (role, f"mailbox/{ADDRESS}/message/{number}")
    assert entry.after == {"id": number, "uidl": view["uidl"], "size": len(ENCODED),
                           "received_at": view["received_at"]}


def test_delete_removes_one_message_with_its_audit_entry(context, run, store) -> None:
    keep, gone = delivered(store, run, BARE, ENCODED)
    ctx = context("recipient-management")
    removed = run(messages.delete_message(ctx, ADDRESS, gone))
    assert (removed["id"], removed["deleted"]) == (gone, True)
    box = run(store.get_mailbox(ADDRESS)).id
    assert keep in [m.id for m in run(store.list_messages(box))]
    assert gone not in [m.id for m in run(store.list_messages(box))]
    [entry] = entries(store, run, "mailbox.message.delete")
    assert (entry.target, entry.before["id"], entry.after) == (f"mailbox/{ADDRESS}/message/{gone}", gone, None)
    with pytest.raises(NotFound, match=f"mailbox {ADDRESS} has no message {gone}"):
        run(messages.delete_message(ctx, ADDRESS, gone))
    assert run(store.try_lock_mailbox(box, "probe"))  # the deletion's lock is released, found or not


def test_delete_is_refused_while_a_pop3_session_holds_the_mailbox(context, run, store, data_dir) -> None:
    [number] = delivered(store, run, ENCODED)
    box = run(store.get_mailbox(ADDRESS)).id
    node = open_store(data_dir)  # the serving node: another store (another process) on the same data
    run(node.open())
    try:
        assert run(node.try_lock_mailbox(box, "pop3-session-7"))
        with pytest.raises(Conflict, match=f"mailbox {ADDRESS} is in use by a POP3 session"):
            run(messages.delete_message(context("organization-management"), ADDRESS, number))
        assert entries(store, run, "mailbox.message.delete") == []
        run(node.unlock_mailbox(box, "pop3-session-7"))
    finally:
        run(node.close())
    run(messages.delete_message(context("organization-management"), ADDRESS, number))
    assert number not in [m.id for m in run(store.list_messages(box))]


def test_same_store_sessions_count_too(context, run, store) -> None:
    """Through the API the node's own store is used: its POP3 sessions' locks refuse as well."""
    [number] = delivered(store, run, ENCODED)
    box = run(store.get_mailbox(ADDRESS)).id
    assert run(store.try_lock_mailbox(box, "pop3-session-1"))
    with pytest.raises(Conflict):
        run(messages.delete_message(context("organization-management"), ADDRESS, number))
    assert run(store.mailbox_usage(box))[0] == 2


@pytest.mark.parametrize("bad", ["0", "-1", "abc", "1.5", "", True, "99999999999999999999"])
def test_a_bad_id_is_refused_naming_the_field(context, run, bad) -> None:
    with pytest.raises(ValidationError) as refused:
        run(messages.fetch_message(context("organization-management"), ADDRESS, bad))
    assert refused.value.field == "id"


def test_unknown_mailbox_and_message(context, run) -> None:
    ctx = context("organization-management")
    with pytest.raises(NotFound, match="nobody@example.com"):
        run(messages.list_messages(ctx, "nobody@example.com"))
    with pytest.raises(NotFound, match=f"mailbox {ADDRESS} has no message 4242"):
        run(messages.fetch_message(ctx, ADDRESS, 4242))
    with pytest.raises(ValidationError) as refused:
        run(messages.list_messages(ctx, ADDRESS, limit=0))
    assert refused.value.field == "limit"


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600))
def test_any_bytes_give_a_summary(head: bytes) -> None:
    summary = messages.header_summary(head)
    assert set(summary) == {"date", "subject", "from"}
    for value in filter(None, summary.values()):  # one printable line, whatever the octets
        assert not any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F for c in value), value
        value.encode("utf-8")
