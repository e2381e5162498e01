"""The queued message as it leaves: what a relay must not pass on (postroom/dsn.py, shared with
the queue viewer's export)."""
from __future__ import annotations

from ...dsn import without_return_path

__all__ = ["without_return_path"]
