"""`serve --grace` / POSTROOM_SHUTDOWN_GRACE: how long sessions get after SIGTERM."""
from __future__ import annotations

import pytest

from postroom.errors import ValidationError
from postroom.server.main import DEFAULT_GRACE, shutdown_grace


def test_default_environment_and_option(monkeypatch):
    monkeypatch.delenv("POSTROOM_SHUTDOWN_GRACE", raising=False)
    assert shutdown_grace() == DEFAULT_GRACE == 10.0
    monkeypatch.setenv("POSTROOM_SHUTDOWN_GRACE", "2.5")
    assert shutdown_grace() == 2.5
    assert shutdown_grace(0) == 0  # the option wins over the environment


@pytest.mark.parametrize("text", ["soon", "-1", "3601"])
def test_bad_values_are_refused(monkeypatch, text):
    monkeypatch.setenv("POSTROOM_SHUTDOWN_GRACE", text)
    with pytest.raises(ValidationError):
        shutdown_grace()
    monkeypatch.delenv("POSTROOM_SHUTDOWN_GRACE")
    with pytest.raises(ValidationError):
        shutdown_grace(-1.0)
