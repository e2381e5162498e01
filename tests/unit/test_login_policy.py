"""The login block policy's values (model.security.LoginPolicy): one place that refuses bad
input, naming the field and the allowed values, for the CLI, the REST API and the console."""
from __future__ import annotations

import pytest

from postroom.errors import ValidationError
from postroom.model import LoginPolicy


def test_defaults_are_the_documented_ones() -> None:
    assert LoginPolicy().to_dict() == {"trusted_networks": ["127.0.0.0/8", "::1/128"], "max_source_failures": 10,
                                       "max_mailbox_failures": 20, "window": 900, "block_time": 900, "max_delay": 15}


def test_values_are_parsed_as_the_cli_and_the_api_send_them() -> None:
    policy = LoginPolicy().with_changes(trusted_networks=" 10.1.2.3/8, 2001:DB8::/32,10.0.0.0/8 , 192.0.2.1",
                                        max_source_failures="3", max_mailbox_failures=1000, window="00:30:00",
                                        block_time="168h", max_delay="20s")
    assert policy.trusted_networks == ("10.0.0.0/8", "2001:db8::/32", "192.0.2.1/32")  # one spelling, no repeat
    assert (policy.max_source_failures, policy.max_mailbox_failures) == (3, 1000)
    assert (policy.window, policy.block_time, policy.max_delay) == (1800, 604800, 20)
    for nothing in ("none", "NONE", "", [], ["none"]):
        assert LoginPolicy().with_changes(trusted_networks=nothing).trusted_networks == ()
    assert LoginPolicy.from_dict(policy.to_dict()) == policy


@pytest.mark.parametrize("field, value, message", [
    ("max_source_failures", "0", "0 is out of range (allowed: 1..1000)"),
    ("max_source_failures", "lots", "'lots' is not a whole number (allowed: 1..1000)"),
    ("max_mailbox_failures", 1001, "1001 is out of range (allowed: 1..1000)"),
    ("window", "59", "59s is out of range (allowed: 60s..86400s)"),
    ("window", "25h", "90000s is out of range (allowed: 60s..86400s)"),
    ("block_time", "30s", "30s is out of range (allowed: 60s..604800s)"),
    ("block_time", "soon", "'soon' is not a duration (use seconds, 30s, 5m, 1h, 1d or hh:mm:ss)"),
    ("max_delay", "0", "0s is out of range (allowed: 1s..60s)"),
    ("max_delay", "2m", "120s is out of range (allowed: 1s..60s)"),
    ("trusted_networks", "10.0.0.0/8,lots", "'lots' is not an IP address or CIDR block"),
    ("trusted_networks", "10.0.0.0/33", "'10.0.0.0/33' is not an IP address or CIDR block"),
    ("trusted_networks", "none,10.0.0.0/8", "'none' is not an IP address or CIDR block"),
    ("trusted_networks", 7, "7 is not a list of networks"),
    ("trusted_networks", ",".join(f"10.0.{n}.0/24" for n in range(101)),
     "101 networks is too many (allowed: at most 100"),
])
def test_a_bad_value_is_refused_naming_the_field_and_the_allowed_values(field, value, message) -> None:
    with pytest.raises(ValidationError) as refused:
        LoginPolicy().with_changes(**{field: value})
    assert refused.value.field == field
    assert refused.value.message.startswith(f"{field}: ") and message in refused.value.message


def test_an_unknown_field_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ValidationError) as refused:
        LoginPolicy().with_changes(lockout_threshold=5)
    assert refused.value.field == "lockout_threshold"
    assert refused.value.allowed == ["block_time", "max_delay", "max_mailbox_failures", "max_source_failures",
                                     "trusted_networks", "window"]
