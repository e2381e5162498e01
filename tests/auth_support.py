"""For the tests of password checks: counting the argon2 verifications that really run."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor


class CountingExecutor(ThreadPoolExecutor):
    """Counts how many argon2 verifications reach the thread pool: the passwords checked."""

    def __init__(self) -> None:
        super().__init__(max_workers=2)
        self.calls = 0

    def submit(self, fn, /, *args, **kwargs):
        self.calls += 1
        return super().submit(fn, *args, **kwargs)
