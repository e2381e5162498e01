"""Names as an administrator types them: `connector set Client` on EX01 means `Client EX01`, a
unique start of a name is enough, several matches are refused listing them, an unknown name is
answered with the names that exist, and service names take any case (`service start POP3`)."""
from __future__ import annotations

import pytest
from queue_support import OTHER, PARTNER, fill_queue

from .conftest import Admin, flat

BOTH = "'Client EX01', 'Default EX01'"


# receive connectors ------------------------------------------------------------------------------
def test_the_short_name_on_the_local_server_means_its_connector(admin: Admin) -> None:
    view = admin.json("connector", "set", "Client", "--disabled")
    assert (view["name"], view["enabled"]) == ("Client EX01", False)
    assert admin.json("connector", "show", "client")["enabled"] is False  # any case
    [entry] = admin.json("log", "audit", "--target", "server/EX01/connector/Client EX01")
    assert entry["action"] == "connector.set" and entry["after"] == {"enabled": False}
    # the human output names the connector it changed
    assert "Client EX01" in admin.ok("connector", "set", "Client", "--enabled").stdout


def test_a_unique_start_of_a_name_is_enough(admin: Admin) -> None:
    assert admin.json("connector", "show", "Def")["name"] == "Default EX01"
    assert admin.json("connector", "set", "default ex", "--max-recipients-per-message", "50")[
        "max_recipients_per_message"] == 50


def test_a_start_matching_two_connectors_is_refused_listing_both(admin: Admin) -> None:
    admin.ok("connector", "new", "Client relay", "--bindings", "127.0.0.1:2600", "--permission-groups", "users")
    before = admin.json("connector", "list")
    result = admin.fails(2, "connector", "set", "Cli", "--disabled")
    assert flat(result.stderr) == ("error: name: 'Cli' matches more than one receive connector on server EX01: give "
                                   "more of the name (allowed: Client EX01, Client relay)")
    assert admin.json("connector", "list") == before
    # the short name still means the server's own connector, the whole name the other one
    assert admin.json("connector", "show", "Client")["name"] == "Client EX01"
    assert admin.json("connector", "show", "client RELAY")["name"] == "Client relay"


@pytest.mark.parametrize("command", [["show", "Clinet"], ["set", "Clinet", "--disabled"], ["remove", "Clinet"]],
                         ids=lambda c: c[0])
def test_an_unknown_name_lists_the_connectors_that_exist(admin: Admin, command: list[str]) -> None:
    result = admin.fails(3, "connector", *command)
    assert flat(result.stderr) == f"error: receive connector 'Clinet' does not exist on server EX01 (existing: {BOTH})"


def test_removing_needs_the_whole_or_short_name_not_a_start(admin: Admin) -> None:
    admin.ok("connector", "new", "Relay", "--bindings", "127.0.0.1:2600", "--permission-groups", "users")
    result = admin.fails(2, "connector", "remove", "Rel")
    assert flat(result.stderr) == ("error: name: 'Rel' is only the start of receive connector 'Relay' on server "
                                   "EX01: give its whole name (allowed: Relay)")
    assert "Relay" in [c["name"] for c in admin.json("connector", "list")]
    assert admin.json("connector", "remove", "relay")["name"] == "Relay"  # any case
    assert admin.json("connector", "remove", "Client")["name"] == "Client EX01"  # the short name is a name
    assert [c["name"] for c in admin.json("connector", "list")] == ["Default EX01"]


# send connectors ---------------------------------------------------------------------------------
def test_send_connectors_by_start_of_name_and_unknown_lists_them(admin: Admin) -> None:
    assert flat(admin.fails(3, "send-connector", "show", "Internet").stderr) == (
        "error: send connector 'Internet' does not exist (there is none yet)")
    admin.ok("send-connector", "new", "Internet", "--address-spaces", "*")
    admin.ok("send-connector", "new", "Partner relay", "--address-spaces", "partner.example")
    assert admin.json("send-connector", "set", "inter", "--max-message-size", "10MB")["name"] == "Internet"
    assert flat(admin.fails(3, "send-connector", "set", "Intranet", "--disabled").stderr) == (
        "error: send connector 'Intranet' does not exist (existing: 'Internet', 'Partner relay')")
    assert "whole name" in admin.fails(2, "send-connector", "remove", "Partner").stderr
    assert admin.json("send-connector", "remove", "partner relay")["name"] == "Partner relay"


# queues ------------------------------------------------------------------------------------------
def test_a_queue_by_its_next_hop_and_an_unknown_one_lists_the_queues(admin: Admin) -> None:
    admin.peek(fill_queue)
    assert admin.ok("queue", "suspend", "partner.example").stdout.strip() == f"Queue {PARTNER.name} is suspended"
    assert admin.ok("queue", "resume", "PARTNER.EXAMPLE").stdout.strip() == f"Queue {PARTNER.name} is ready"
    assert {m["id"] for m in admin.json("queue", "messages", "--queue", "other.example")} == {
        m["id"] for m in admin.json("queue", "messages", "--queue", OTHER.name)}
    assert flat(admin.fails(3, "queue", "retry", "parnter.example").stderr) == (
        f"error: queue 'parnter.example' does not exist (existing: '{OTHER.name}', '{PARTNER.name}')")
    assert flat(admin.fails(2, "queue", "retry", "dns-connector-delivery/").stderr) == (
        "error: queue: 'dns-connector-delivery/' matches more than one queue: give more of the name "
        f"(allowed: {OTHER.name}, {PARTNER.name})")


# services ----------------------------------------------------------------------------------------
def test_service_names_take_any_case(plain_admin: Admin) -> None:
    view = plain_admin.json("service", "start", "POP3")
    assert (view["name"], view["status"]) == ("pop3", "running")
    assert plain_admin.json("service", "set", " Pop3 ", "--startup", "automatic")["startup"] == "automatic"
    assert plain_admin.json("service", "stop", "SMTP")["name"] == "smtp"
    assert [e["target"] for e in plain_admin.audit()[:3]] == ["server/EX01/service/smtp"] + [
        "server/EX01/service/pop3"] * 2
    assert "error: service: 'pop4' is not a service (allowed: pop3, imap4, smtp, admin)" == flat(
        plain_admin.fails(2, "service", "start", "pop4").stderr)
