"""DKIM keys for tests, made once per test session (an RSA-2048 key takes a while to make)."""
from __future__ import annotations

import dataclasses
import functools

from postroom.dkim import generate_key
from postroom.model import DkimAlgorithm, DkimKey


@functools.lru_cache(maxsize=None)
def _made(algorithm: DkimAlgorithm) -> DkimKey:
    return generate_key("example.com", "made", algorithm)


def dkim_key(domain: str = "example.com", selector: str = "s1", algorithm: str = "rsa-2048",
             created_at: str = "") -> DkimKey:
    """A key pair of `algorithm` (shared by every call: only the names differ)."""
    return dataclasses.replace(_made(DkimAlgorithm(algorithm)), domain=domain, selector=selector,
                               created_at=created_at)
