"""What every kind of evidence (login failures, sessions that ended without a login) must do
the same way: refuse a bad query naming its field, refuse to work on a closed store, and keep
what it recorded across a reopen. The contract files of each kind call these with their own
record and list methods."""
from __future__ import annotations

from typing import Any, Callable

import pytest

from postroom.errors import Unavailable, ValidationError

BAD_QUERIES = [({"limit": 0}, "limit"), ({"limit": True}, "limit"), ({"since": "not a time"}, "since")]


def refuses_bad_query(store: Any, run: Callable[..., Any], lister: str, kwargs: dict[str, Any], field: str) -> None:
    async def body() -> None:
        with pytest.raises(ValidationError) as refused:
            await getattr(store, lister)(**kwargs)
        assert refused.value.field == field
    run(body())


def persists_and_needs_an_open_store(make_store: Callable[[], Any], run: Callable[..., Any], recorder: str,
                                     lister: str, row: Any, shown: Callable[[Any], Any], expected: list[Any]) -> None:
    async def body() -> None:
        store = make_store()
        with pytest.raises(Unavailable):
            await getattr(store, recorder)([])
        await store.open()
        await store.migrate()
        await getattr(store, recorder)([row])
        await store.close()
        with pytest.raises(Unavailable):
            await getattr(store, lister)()
        store = make_store()
        await store.open()
        try:
            assert [shown(r) for r in await getattr(store, lister)()] == expected
        finally:
            await store.close()
    run(body())
