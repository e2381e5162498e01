"""`postroom queue ...` and `postroom message ...` as an administrator types them: tables that
never cut a value, --json, clear errors with exit codes, export to a file or stdout, audit."""
from __future__ import annotations

import base64

import pytest
from queue_support import ACTIVE_ID, BOUNCE_ID, OTHER, PARTNER, SUSPENDED_ID, fill_queue

from .conftest import Admin, flat, invoke


@pytest.fixture
def queued(admin: Admin) -> Admin:
    admin.peek(fill_queue)
    return admin


def test_empty_queue_says_so(admin: Admin) -> None:
    assert admin.ok("queue", "list").stdout.strip() == "The outbound queue is empty."
    assert admin.json("queue", "list") == []


def test_queue_list_on_a_narrow_terminal_folds_never_cuts(queued: Admin) -> None:
    result = invoke(queued.runner, ["queue", "list", "--data", str(queued.data)], env={"COLUMNS": "60"})
    assert result.exit_code == 0 and "…" not in result.stdout
    joined = "".join(line.strip("│┃ ").split("│")[0].strip() for line in result.stdout.splitlines())
    assert PARTNER.name in joined.replace(" ", "") and OTHER.name in joined.replace(" ", "")


def test_queue_list_and_messages_tables(queued: Admin) -> None:
    table = flat(queued.ok("queue", "list").stdout)
    assert f"{PARTNER.name} │ dns-connector-delivery │ ready │ 2" in table
    messages = flat(queued.ok("queue", "messages", "--queue", PARTNER.name).stdout)
    assert ACTIVE_ID in messages and SUSPENDED_ID in messages and BOUNCE_ID not in messages
    assert f"{BOUNCE_ID} │ active │ <> │" in flat(queued.ok("queue", "messages", "--status", "active").stdout)
    shown = flat(queued.ok("message", "show", SUSPENDED_ID).stdout)
    assert "carol@partner.example │ ready │ dns-connector-delivery/partner.example/Internet │ 0" in shown


def test_errors_name_the_field_and_exit_non_zero(queued: Admin) -> None:
    assert "status: 'frozen' is not allowed (allowed: active, suspended, poison)" in flat(
        queued.fails(2, "queue", "messages", "--status", "frozen").stderr)
    assert "message-id: '42' is not a queue id" in flat(queued.fails(2, "message", "show", "42").stderr)
    assert "queued message '0A00000000FF' does not exist" in flat(
        queued.fails(3, "message", "remove", "0A00000000FF").stderr)
    assert "queue 'dns-connector-delivery/x.example/Internet' does not exist" in flat(
        queued.fails(3, "queue", "suspend", "dns-connector-delivery/x.example/Internet").stderr)
    assert "only a suspended message can be exported (postroom message suspend 0A0000000001)" in flat(
        queued.fails(4, "message", "export", ACTIVE_ID).stderr)


def test_actions_print_what_happened_and_are_audited(queued: Admin) -> None:
    assert queued.ok("queue", "suspend", PARTNER.name).stdout.strip() == f"Queue {PARTNER.name} is suspended"
    assert queued.ok("queue", "resume", PARTNER.name).stdout.strip() == f"Queue {PARTNER.name} is ready"
    assert "0 recipient(s) due now" in queued.ok("queue", "retry", PARTNER.name).stdout
    assert queued.ok("message", "suspend", ACTIVE_ID).stdout.strip() == f"Message {ACTIVE_ID} is suspended"
    assert queued.ok("message", "resume", ACTIVE_ID).stdout.strip() == f"Message {ACTIVE_ID} is active"
    removed = flat(queued.ok("message", "remove", "--ndr", SUSPENDED_ID).stdout)
    assert removed == f"Removed message {SUSPENDED_ID} Non-delivery report to <demo@example.com>: mailbox"
    actions = [(e["action"], e["target"], e["actor"], e["channel"]) for e in queued.audit()][:6]
    assert actions == [
        ("message.remove", f"message/{SUSPENDED_ID}", "local-operator", "cli"),
        ("message.resume", f"message/{ACTIVE_ID}", "local-operator", "cli"),
        ("message.suspend", f"message/{ACTIVE_ID}", "local-operator", "cli"),
        ("queue.retry", f"queue/{PARTNER.name}", "local-operator", "cli"),
        ("queue.resume", f"queue/{PARTNER.name}", "local-operator", "cli"),
        ("queue.suspend", f"queue/{PARTNER.name}", "local-operator", "cli"),
    ]


def test_export_to_a_file_to_stdout_and_as_json(queued: Admin, tmp_path) -> None:
    expected = queued.peek(lambda store: store.read_queued_body(SUSPENDED_ID))
    expected = expected[expected.index(b"\r\n") + 2:]  # without its Return-Path
    out = tmp_path / "held.eml"
    assert f"({len(expected)} octets) to {out}" in queued.ok("message", "export", SUSPENDED_ID, "--output",
                                                             str(out)).stdout
    assert out.read_bytes() == expected
    assert queued.ok("message", "export", SUSPENDED_ID).stdout_bytes == expected
    as_json = queued.json("message", "export", SUSPENDED_ID)
    assert as_json["id"] == SUSPENDED_ID and base64.b64decode(as_json["content_base64"]) == expected
