"""Receive connectors in the service layer: what the node reports is shown with each connector."""
from __future__ import annotations

import time
from typing import Any

import pytest

from postroom.errors import NotFound, ValidationError
from postroom.model import NodeReport, ReceiveConnector
from postroom.service import connectors, services

APPLIED_EVERYTHING = 10 ** 9  # an applied_version no change in a test reaches


def report(store, run, *, smtp: dict[str, Any] | None = None, age: float = 0.0) -> None:
    """Pretend a node serves EX01: its heartbeat `age` seconds old, its smtp service as given."""
    smtp = {"state": "running", "listening": [], "errors": [], "applied_version": APPLIED_EVERYTHING,
            "connectors": {}, **(smtp or {})}
    run(store.put_node_report(NodeReport("EX01", time.time() - age, 4242, {"smtp": smtp})))


def by_name(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["name"]: row for row in rows}


LIVE = {
    "Client EX01": {"state": "running", "listening": ["127.0.0.1:2587"], "errors": []},
    "Default EX01": {"state": "failed", "listening": [], "errors": ["127.0.0.1:2525: Address already in use"]},
}


def test_list_and_show_carry_what_the_node_reports(context, store, run) -> None:
    report(store, run, smtp={"connectors": LIVE})
    rows = by_name(run(connectors.list_connectors(context("view-only"))))
    for name, live in LIVE.items():
        assert {k: rows[name][k] for k in ("state", "listening", "errors")} == live
    shown = run(connectors.show_connector(context("view-only"), "Default EX01"))
    assert shown == rows["Default EX01"]
    assert shown["bindings"] == ["127.0.0.1:2525"]


def test_a_stale_heartbeat_means_no_node(context, store, run) -> None:
    report(store, run, smtp={"connectors": LIVE}, age=services.NODE_STALE_AFTER + 1)
    rows = run(connectors.list_connectors(context("view-only"), "all"))
    assert sorted(row["name"] for row in rows) == sorted(LIVE)
    for row in rows:
        assert row["state"] == "no node serving this server (run `postroom serve`)"
        assert (row["listening"], row["errors"]) == ([], [])


def test_a_connector_the_node_does_not_run(context, store, run) -> None:
    ctx = context("server-management")
    run(connectors.set_connector(ctx, "Default EX01", None, ReceiveConnector.changes(enabled=False)))
    report(store, run, smtp={"connectors": {"Client EX01": LIVE["Client EX01"]}})
    rows = by_name(run(connectors.list_connectors(ctx)))
    assert rows["Default EX01"]["state"] == "disabled"
    run(connectors.new_connector(ctx, "Relay", None, "custom", ReceiveConnector.changes(bindings="127.0.0.1:2526")))
    assert run(connectors.show_connector(ctx, "Relay"))["state"] == "stopped"
    report(store, run, smtp={"state": "stopped", "connectors": {}})
    assert run(connectors.show_connector(ctx, "Relay"))["state"] == "stopped (the smtp service is stopped)"


def test_a_change_answers_with_what_the_node_did(context, store, run) -> None:
    report(store, run, smtp={"connectors": {**LIVE, "Relay": {"state": "running", "listening": ["127.0.0.1:2526"],
                                                               "errors": []}}})
    view = run(connectors.new_connector(context("server-management"), "Relay", None, "custom",
                                        ReceiveConnector.changes(bindings="127.0.0.1:2526")))
    assert (view["state"], view["listening"]) == ("running", ["127.0.0.1:2526"])
    removed = run(connectors.remove_connector(context("server-management"), "Relay"))
    assert (removed["state"], removed["listening"]) == ("removed", [])


def test_a_change_the_node_has_not_applied_in_time_is_pending(context, store, run, monkeypatch) -> None:
    monkeypatch.setattr(services, "NODE_CONFIRM_TIMEOUT", 0.2)
    report(store, run, smtp={"connectors": LIVE, "applied_version": 0})
    view = run(connectors.set_connector(context("server-management"), "Client EX01", None,
                                        ReceiveConnector.changes(banner="hello")))
    assert view["state"].startswith("pending") and view["banner"] == "hello"
    removed = run(connectors.remove_connector(context("server-management"), "Client EX01"))
    assert removed["state"].startswith("removed; pending")


def test_without_a_node_a_change_says_so(context, run) -> None:
    view = run(connectors.set_connector(context("server-management"), "Client EX01", None,
                                        ReceiveConnector.changes(enabled=False)))
    assert view["enabled"] is False and view["state"].startswith("no node")
    removed = run(connectors.remove_connector(context("server-management"), "Client EX01"))
    assert removed["state"] == "removed; no node serving this server (run `postroom serve`)"


def test_no_op_set_writes_nothing(context, store, run) -> None:
    version, audit = run(store.config_version()), run(store.list_audit(10000))
    view = run(connectors.set_connector(context("server-management"), "Client EX01", None,
                                        ReceiveConnector.changes(enabled=True, auth="basic,tls,basic-require-tls")))
    assert view["auth"] == ["tls", "basic", "basic-require-tls"]
    assert (run(store.config_version()), run(store.list_audit(10000))) == (version, audit)


def test_unknown_property_names_itself(context, run) -> None:
    with pytest.raises(ValidationError) as refused:
        run(connectors.set_connector(context("server-management"), "Client EX01", None,
                                     ReceiveConnector.changes(colour="blue")))
    assert refused.value.field == "colour"
    with pytest.raises(ValidationError) as refused:
        run(connectors.new_connector(context("server-management"), "X", None, "custom",
                                     ReceiveConnector.changes(bindings="127.0.0.1:2600", comment="x")))
    assert refused.value.field == "comment"


def test_unknown_connector_and_server(context, run) -> None:
    with pytest.raises(NotFound):
        run(connectors.show_connector(context("view-only"), "Nope"))
    with pytest.raises(NotFound) as missing:
        run(connectors.list_connectors(context("view-only"), "NOPE"))
    assert "NOPE" in missing.value.message


@pytest.mark.parametrize("a,b,overlap", [
    ("127.0.0.1:25", "127.0.0.1:25", True),
    ("0.0.0.0:25", "127.0.0.1:25", True),
    ("127.0.0.1:25", "0.0.0.0:25", True),
    ("[::]:25", "[::1]:25", True),
    ("0.0.0.0:25", "[::]:25", False),  # separate sockets per address family
    ("127.0.0.1:25", "127.0.0.2:25", False),
    ("127.0.0.1:25", "127.0.0.1:26", False),
])
def test_bindings_overlap(a: str, b: str, overlap: bool) -> None:
    assert connectors.bindings_overlap(a, b) is overlap


def test_an_existing_clash_does_not_block_unrelated_changes(context, store, run) -> None:
    # e.g. POP3 moved onto a connector's port by an older version: fixing other things still works
    pop = run(store.get_pop_settings("EX01"))
    run(store.put_pop_settings("EX01", pop.with_changes(bindings="127.0.0.1:2587")))
    ctx = context("server-management")
    assert run(connectors.set_connector(ctx, "Client EX01", None,
                                        ReceiveConnector.changes(banner="hello")))["banner"] == "hello"
    with pytest.raises(ValidationError) as refused:
        run(connectors.set_connector(ctx, "Client EX01", None,
                                     ReceiveConnector.changes(bindings="127.0.0.1:2587,[::1]:2587")))
    assert refused.value.field == "bindings" and "POP3" in refused.value.message
