from __future__ import annotations

import pytest

from .harness import Postroom


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A served install shared by a module's tests: tests use their own mailboxes."""
    instance = Postroom(tmp_path_factory.mktemp("postroom"), failure_delay=1.0)
    instance.init()
    instance.start()
    yield instance
    instance.stop()


@pytest.fixture
def fresh_server(tmp_path):
    """A served install for tests that change server-wide settings."""
    instance = Postroom(tmp_path)
    instance.init()
    instance.start()
    yield instance
    instance.stop()
