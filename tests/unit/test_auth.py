"""Authenticator: argon2id off the loop, verified-credential cache, failure delay."""
from __future__ import annotations

import asyncio

import pytest

from auth_support import CountingExecutor
from postroom.auth import Authenticator, hash_password
from postroom.errors import ValidationError

HASH = hash_password("correct horse")  # one argon2 hash for the module: they cost ~35 ms


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(**kwargs) -> tuple[Authenticator, CountingExecutor]:
    executor = CountingExecutor()
    kwargs.setdefault("failure_delay", 0)
    return Authenticator(executor=executor, **kwargs), executor


def test_hash_is_argon2id_and_refuses_empty():
    assert HASH.startswith("$argon2id$")
    with pytest.raises(ValidationError) as info:
        hash_password("")
    assert info.value.field == "password"


def test_right_and_wrong_password():
    auth, _ = make()
    assert asyncio.run(auth.verify("alice@example.com", "correct horse", HASH)) is True
    assert asyncio.run(auth.verify("alice@example.com", "wrong", HASH)) is False
    assert asyncio.run(auth.verify("alice@example.com", "", HASH)) is False


def test_malformed_stored_hash_is_a_failure_not_a_crash():
    auth, _ = make()
    assert asyncio.run(auth.verify("alice@example.com", "x", "not-a-hash")) is False


def test_unknown_user_still_spends_an_argon2_verification():
    auth, executor = make()
    assert asyncio.run(auth.verify("nobody@example.com", "anything", None)) is False
    assert executor.calls == 1


def test_cache_hit_avoids_the_executor():
    auth, executor = make()

    async def scenario():
        assert await auth.verify("alice@example.com", "correct horse", HASH)
        assert await auth.verify("alice@example.com", "correct horse", HASH)
        assert await auth.verify("alice@example.com", "correct horse", HASH)

    asyncio.run(scenario())
    assert executor.calls == 1


def test_cache_never_vouches_for_a_wrong_password_or_another_address():
    auth, executor = make()

    async def scenario():
        assert await auth.verify("alice@example.com", "correct horse", HASH)
        assert not await auth.verify("alice@example.com", "wrong", HASH)
        # Same stored hash, different identity: must not ride on alice's entry.
        assert await auth.verify("bob@example.com", "correct horse", HASH)
        assert not await auth.verify("alice@example.org", "wrong", HASH)

    asyncio.run(scenario())
    assert executor.calls == 4


def test_password_change_invalidates_the_cache():
    auth, executor = make()
    new_hash = hash_password("battery staple")

    async def scenario():
        assert await auth.verify("alice@example.com", "correct horse", HASH)
        # The store now holds a new hash: the old password must fail even though it is cached.
        assert not await auth.verify("alice@example.com", "correct horse", new_hash)
        assert await auth.verify("alice@example.com", "battery staple", new_hash)

    asyncio.run(scenario())
    assert executor.calls == 3


def test_invalidate_forgets_the_entry():
    auth, executor = make()

    async def scenario():
        await auth.verify("alice@example.com", "correct horse", HASH)
        auth.invalidate("alice@example.com")
        await auth.verify("alice@example.com", "correct horse", HASH)

    asyncio.run(scenario())
    assert executor.calls == 2


def test_cache_entries_expire():
    clock = FakeClock()
    auth, executor = make(cache_ttl=60, clock=clock)

    async def scenario():
        await auth.verify("alice@example.com", "correct horse", HASH)
        clock.now += 59
        await auth.verify("alice@example.com", "correct horse", HASH)
        assert executor.calls == 1
        clock.now += 2  # 61 s after the first verification
        assert await auth.verify("alice@example.com", "correct horse", HASH)
        assert executor.calls == 2

    asyncio.run(scenario())


def test_cache_is_bounded_lru():
    auth, executor = make(cache_size=2)

    async def scenario():
        for user in ("a@x.org", "b@x.org", "a@x.org", "c@x.org"):  # a used again, so b is oldest
            await auth.verify(user, "correct horse", HASH)
        assert executor.calls == 3
        await auth.verify("a@x.org", "correct horse", HASH)
        await auth.verify("c@x.org", "correct horse", HASH)
        assert executor.calls == 3
        await auth.verify("b@x.org", "correct horse", HASH)
        assert executor.calls == 4

    asyncio.run(scenario())


def test_cache_holds_no_password():
    auth, _ = make()
    asyncio.run(auth.verify("alice@example.com", "correct horse", HASH))
    entry = auth._cache["alice@example.com"]
    assert b"correct horse" not in entry.mac and "correct horse" not in repr(entry)


def test_failure_delay_slows_only_the_failing_session():
    auth, _ = make(failure_delay=0.3)
    finished: list[str] = []

    async def attempt(name: str, password: str) -> bool:
        ok = await auth.verify(f"{name}@example.com", password, HASH)
        finished.append(name)
        return ok

    async def scenario():
        # The failing attempt starts first, yet the good one completes while it waits.
        return await asyncio.gather(attempt("mallory", "wrong"), attempt("alice", "correct horse"))

    assert asyncio.run(scenario()) == [False, True]
    assert finished == ["alice", "mallory"]


def test_failure_delay_does_not_block_the_loop():
    auth, _ = make(failure_delay=0.3)
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)  # a tick every 10 ms: counting them is the test

    async def scenario():
        task = asyncio.create_task(ticker())
        assert not await auth.verify("nobody@example.com", "x", None)
        task.cancel()

    asyncio.run(scenario())
    assert ticks >= 10  # the loop kept running through argon2 and the 0.3 s delay


def test_default_executor_is_created_and_closed():
    auth = Authenticator(failure_delay=0)
    try:
        assert asyncio.run(auth.verify("alice@example.com", "correct horse", HASH))
    finally:
        auth.close()
