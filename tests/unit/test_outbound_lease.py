"""POSTROOM_OUTBOUND_LEASE: the delivery worker's claim lease, a test/ops override of 60 s."""
from __future__ import annotations

import pytest

from postroom.errors import ValidationError
from postroom.server.outbound.worker import LEASE_SECONDS, lease_seconds


def test_default_and_override() -> None:
    assert lease_seconds({}) == LEASE_SECONDS == 60
    assert lease_seconds({"POSTROOM_OUTBOUND_LEASE": ""}) == 60
    assert lease_seconds({"POSTROOM_OUTBOUND_LEASE": " 5 "}) == 5


@pytest.mark.parametrize("text", ["soon", "2", "3601", "1.5"])
def test_bad_values_name_the_variable(text: str) -> None:
    with pytest.raises(ValidationError) as caught:
        lease_seconds({"POSTROOM_OUTBOUND_LEASE": text})
    assert caught.value.field == "POSTROOM_OUTBOUND_LEASE"
