"""Shared test helpers."""
from __future__ import annotations

import os
import shutil

import pytest


def require_tool(name: str) -> str:
    """A real client binary, or a skip with the reason (a failure under CI=true)."""
    path = shutil.which(name)
    if path:
        return path
    message = f"{name} is not installed (make test installs it from Debian when run as root)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)
