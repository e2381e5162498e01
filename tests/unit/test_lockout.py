"""The failed-login policy (lockout.py) on a fake clock: growing delay, block after N,
expiry, trusted networks never blocked, success resets, the store's list is the truth."""
from __future__ import annotations

from dataclasses import replace

import pytest

from postroom.lockout import AbuseGuard, Policy, parse_networks
from postroom.model import Block, LoginPolicy

ATTACKER = "203.0.113.9"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def guard(clock: Clock, **changes) -> AbuseGuard:
    return AbuseGuard(replace(Policy(), **changes), clock=clock)


def test_delay_doubles_from_the_base_and_is_capped(clock: Clock) -> None:
    g = guard(clock)
    delays = []
    for _ in range(7):
        g.failed("pop3", ATTACKER, "x@example.com")
        delays.append(g.delay(ATTACKER, 0.5))
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 15.0]
    assert g.delay(ATTACKER, 0.0) == 0.0  # no base delay configured: none added


def test_source_blocked_after_n_failures_until_expiry(clock: Clock) -> None:
    g = guard(clock)
    for i in range(9):
        assert g.failed("pop3", ATTACKER, f"user{i}@example.com") == []
    assert g.blocked(ATTACKER, "any@example.com") is None
    made = g.failed("smtp", ATTACKER, "user9@example.com")
    assert [(b.kind, b.value, b.failures, b.service, b.until - b.since) for b in made] == [
        ("source", ATTACKER, 10, "smtp", 900.0)]
    assert g.blocked(ATTACKER, "someone@example.com") is made[0]
    assert g.blocked("198.51.100.1", "someone@example.com") is None  # another source is served
    clock.now += 899
    assert g.blocked(ATTACKER, "someone@example.com") is not None
    clock.now += 1
    assert g.blocked(ATTACKER, "someone@example.com") is None
    assert g.failed("pop3", ATTACKER, "x@example.com") == []  # the count started over


def test_failures_outside_the_window_do_not_count(clock: Clock) -> None:
    g = guard(clock, max_source_failures=3)
    g.failed("pop3", ATTACKER, "a@example.com")
    g.failed("pop3", ATTACKER, "a@example.com")
    clock.now += 901
    assert g.failed("pop3", ATTACKER, "a@example.com") == []
    assert g.delay(ATTACKER, 1.0) == 1.0  # only the recent failure counts


def test_mailbox_blocked_for_untrusted_sources_only(clock: Clock) -> None:
    g = guard(clock, max_mailbox_failures=4)
    for i in range(4):  # a spread attack: one failure per source
        g.failed("pop3", f"203.0.113.{i}", "Crm@Example.com")
    block = g.blocked("198.51.100.50", "crm@example.com")
    assert block is not None and (block.kind, block.value) == ("mailbox", "crm@example.com")
    assert g.blocked("127.0.0.1", "crm@example.com") is None  # trusted (loopback by default)
    assert g.blocked("198.51.100.50", "other@example.com") is None


def test_trusted_networks_are_never_blocked_nor_delayed(clock: Clock) -> None:
    g = guard(clock, trusted=parse_networks("10.0.0.0/8, ::1"))
    for _ in range(50):
        assert g.failed("pop3", "10.1.2.3", "a@example.com") == []
        assert g.failed("pop3", "::1", "a@example.com") == []
    assert g.blocked("10.1.2.3", "a@example.com") is None
    assert g.delay("10.1.2.3", 0.5) == 0.5
    assert g.trusted("::ffff:10.0.0.1")
    assert not g.trusted("127.0.0.1")
    assert guard(clock, trusted=parse_networks("none")).trusted("127.0.0.1") is False
    assert AbuseGuard(clock=clock).trusted("127.0.0.1")  # the default: loopback


def test_success_resets_the_source(clock: Clock) -> None:
    g = guard(clock, max_source_failures=3)
    g.failed("pop3", ATTACKER, "a@example.com")
    g.failed("pop3", ATTACKER, "a@example.com")
    g.succeeded(ATTACKER)
    assert g.delay(ATTACKER, 1.0) == 1.0
    g.failed("pop3", ATTACKER, "a@example.com")
    g.failed("pop3", ATTACKER, "a@example.com")
    assert g.blocked(ATTACKER, "a@example.com") is None


def test_adopting_the_store_list_clears_and_adds_blocks(clock: Clock) -> None:
    g = guard(clock, max_source_failures=2)
    g.failed("pop3", ATTACKER, "a@example.com")
    g.failed("pop3", ATTACKER, "a@example.com")
    written = g.drain_new()
    assert len(written) == 1 and g.drain_new() == []
    g.adopt(written)  # as read back from the store
    assert g.blocked(ATTACKER, "a@example.com") is not None
    g.adopt([])  # cleared by an admin
    assert g.blocked(ATTACKER, "a@example.com") is None
    assert g.failed("pop3", ATTACKER, "a@example.com") == []  # its failures were forgotten
    other = Block("source", "198.51.100.7", clock.now, clock.now + 60, 10, "smtp")  # another node's
    g.adopt([other, replace(other, value="198.51.100.8", until=clock.now - 1)])
    assert g.blocked("198.51.100.7", "x") is other
    assert g.blocked("198.51.100.8", "x") is None  # expired
    g.failed("pop3", ATTACKER, "a@example.com")  # a new block, not yet written: kept by adopt
    g.adopt([])
    assert g.blocked(ATTACKER, "a@example.com") is not None


def test_the_guard_runs_the_stored_policy() -> None:
    stored = LoginPolicy().with_changes(trusted_networks="none", max_source_failures="3", block_time="1m",
                                        window="10m", max_delay="5", max_mailbox_failures=4)
    policy = Policy.of(stored)
    assert (policy.trusted, policy.max_source_failures, policy.max_mailbox_failures) == ((), 3, 4)
    assert (policy.window, policy.block_time, policy.max_delay) == (600.0, 60.0, 5.0)
    assert Policy.of(LoginPolicy()) == Policy(), "one set of defaults"
    assert Policy().trusted == parse_networks("127.0.0.0/8, ::1")


def test_a_policy_installed_in_a_running_guard_applies_to_the_next_failure(clock: Clock) -> None:
    g = guard(clock, trusted=())
    for _ in range(3):
        assert g.failed("pop3", ATTACKER, "a@example.com") == []  # 10 by default
    g.policy = Policy.of(LoginPolicy(trusted_networks=(), max_source_failures=4, block_time=120))
    [block] = g.failed("pop3", ATTACKER, "a@example.com")
    assert (block.kind, block.value, block.failures, block.until - block.since) == ("source", ATTACKER, 4, 120.0)
    g.policy = Policy.of(LoginPolicy(trusted_networks=("203.0.113.0/24",)))  # now trusted: never blocked
    assert g.blocked(ATTACKER, "a@example.com") is None


def test_memory_stays_bounded(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("postroom.lockout.MAX_TRACKED", 10)
    g = guard(clock)
    for i in range(100):
        clock.now += 1
        g.failed("pop3", f"203.0.113.{i}", f"name{i}@example.com")
    assert len(g.failures) <= 11
    assert ("source", "203.0.113.99") in g.failures  # the newest are kept


# attempts in flight ------------------------------------------------------------------------
def test_attempts_in_flight_count_toward_the_source_threshold(clock: Clock) -> None:
    g = guard(clock, max_source_failures=3, trusted=())
    g.failed("pop3", ATTACKER, "a@example.com")  # one recorded failure
    first, second = g.begin(ATTACKER, "a@example.com"), g.begin(ATTACKER, "b@example.com")
    assert first is not None and second is not None
    assert g.begin(ATTACKER, "c@example.com") is None  # 1 failure + 2 in flight: at the threshold
    assert g.blocked(ATTACKER, "c@example.com") is None  # refused, yet nothing is blocked
    elsewhere = g.begin("198.51.100.1", "c@example.com")  # another source is served
    assert elsewhere is not None
    elsewhere.release()
    first.release()  # a success or an error: the slot is free again
    third = g.begin(ATTACKER, "c@example.com")
    assert third is not None
    assert second.failed("pop3") == []  # 2 failures + 1 in flight
    made = third.failed("smtp")  # the third failure blocks the source
    assert [(b.kind, b.value, b.failures, b.service) for b in made] == [("source", ATTACKER, 3, "smtp")]
    assert g.in_flight == {}


def test_attempts_in_flight_count_toward_the_mailbox_threshold(clock: Clock) -> None:
    g = guard(clock, max_mailbox_failures=2, trusted=())
    held = [g.begin(f"203.0.113.{i}", "Crm@Example.com") for i in range(2)]  # a spread attack
    assert all(held)
    assert g.begin("203.0.113.9", "crm@example.com") is None
    assert g.begin("203.0.113.9", "other@example.com") is not None


def test_an_attempt_is_settled_once_whatever_happens(clock: Clock) -> None:
    g = guard(clock, max_source_failures=2, trusted=())
    attempt = g.begin(ATTACKER, "a@example.com")
    assert attempt is not None
    with attempt:  # an exception or a cancelled task leaves the `with`: the slot is released
        assert g.in_flight == {("source", ATTACKER): 1, ("mailbox", "a@example.com"): 1}
    assert g.in_flight == {}
    assert attempt.failed("pop3") == []  # already settled: not counted
    assert g.delay(ATTACKER, 1.0) == 1.0  # no failure recorded
    other = g.begin(ATTACKER, "a@example.com")
    assert other is not None
    other.failed("pop3")
    other.release()
    other.failed("pop3")
    assert len(g.failures[("source", ATTACKER)]) == 1


def test_trusted_sources_reserve_nothing_and_are_never_refused(clock: Clock) -> None:
    g = guard(clock, max_source_failures=1, max_mailbox_failures=1)
    attempts = [g.begin("127.0.0.1", "a@example.com") for _ in range(5)]
    assert all(attempts) and g.in_flight == {}
    for attempt in attempts:
        assert attempt is not None and attempt.failed("pop3") == []


def test_admin_principals_are_counted_apart_from_mailboxes(clock: Clock) -> None:
    g = guard(clock, max_mailbox_failures=2, trusted=())
    for i in range(2):
        g.failed("admin", f"203.0.113.{i}", "alice", kind="admin")
    block = g.blocked("203.0.113.9", "Alice", kind="admin")
    assert block is not None and (block.kind, block.value) == ("admin", "alice")
    assert g.blocked("203.0.113.9", "alice") is None  # the mailbox name "alice" is not the principal
    assert g.begin("203.0.113.9", "alice", kind="admin") is None
    assert g.begin("203.0.113.9", "alice") is not None
    assert g.retry_after("203.0.113.9", "alice", kind="admin") == 900
    clock.now += 100
    assert g.retry_after("203.0.113.9", "alice", kind="admin") == 800


def test_seeded_failures_count_but_start_no_block(clock: Clock) -> None:
    g = guard(clock, max_source_failures=3, trusted=())
    g.seed("source", ATTACKER, [clock.now - 60, clock.now - 30, clock.now - 901])  # the last is out of the window
    assert g.blocked(ATTACKER, "a@example.com") is None and g.drain_new() == []
    assert g.begin(ATTACKER, "a@example.com") is not None  # 2 seeded + 1 in flight: at the threshold now
    assert g.begin(ATTACKER, "b@example.com") is None


def test_blocks_stored_by_their_maker_are_not_written_again(clock: Clock) -> None:
    g = guard(clock, max_source_failures=1, trusted=())
    made = g.failed("admin", ATTACKER, "alice", kind="admin")
    g.stored(made)
    assert g.drain_new() == []  # the heartbeat does not resurrect it after a clear
    assert g.blocked(ATTACKER, "x") is not None
