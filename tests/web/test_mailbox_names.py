"""Mailbox addresses (RFC 5321 mailboxes) and display names (one line, 1 to 256 characters) through
the REST API and the console: the same rule as the CLI (validation.py), refused next to the field."""
from __future__ import annotations

from typing import Any

import pytest

from .conftest import MAILBOX_USER, error_of
from .test_console_pages_recipients import field_error, mailbox, org, post  # noqa: F401 (org: a fixture)

ALICE = MAILBOX_USER[0]
BAD_ADDRESSES = ["../../x@example.com", "a..b@example.com", ".a@example.com", "a@-bad.example", "a@exa_mple.com",
                 "l" * 65 + "@example.com", "a b@example.com", "a\x00b@example.com", "a\r\nb@example.com"]
BAD_NAMES = [("Alice\nBcc: x@example.com", "U+000A"), ("Alice\r\n", "U+000D"), ("Al\x00ice", "U+0000"),
             ("Al\x85ice", "U+0085"), ("Alice\u2029", "U+2029"), ("x" * 257, "1 to 256")]


def addresses(run, store) -> list[str]:
    return [m.address for m in run(store.list_mailboxes())]


@pytest.fixture
def bearer(principals) -> dict[str, str]:
    return principals["organization-management"].bearer


# the REST API ----------------------------------------------------------------------------------
@pytest.mark.parametrize("address", BAD_ADDRESSES)
def test_the_api_refuses_an_address_that_is_not_a_mailbox(api, bearer, run, store, address: str) -> None:
    before = addresses(run, store)
    error = error_of(api.post("/api/v1/mailboxes", json={"address": address, "password": "pw"}, headers=bearer), 400)
    assert error["field"] == "address" and "local-part@domain like alice@example.com" in error["message"]
    assert addresses(run, store) == before


@pytest.mark.parametrize("address, stored", [("first.last@example.com", "first.last@example.com"),
                                             ('"quoted local"@example.com', '"quoted local"@example.com'),
                                             ("o'brien@example.com", "o'brien@example.com"),
                                             ("User+Tag@Example.com", "user+tag@example.com")])
def test_the_api_accepts_valid_addresses(api, bearer, address: str, stored: str) -> None:
    answer = api.post("/api/v1/mailboxes", json={"address": address, "password": "pw"}, headers=bearer)
    assert answer.status_code == 201 and answer.json()["address"] == stored, answer.text


@pytest.mark.parametrize("name, problem", BAD_NAMES)
def test_the_api_refuses_a_bad_display_name_on_create_and_change(api, bearer, run, store, name: str,
                                                                 problem: str) -> None:
    before = addresses(run, store)
    error = error_of(api.post("/api/v1/mailboxes", json={"address": "bob@example.com", "password": "pw",
                                                          "display_name": name}, headers=bearer), 400)
    assert error["field"] == "display_name" and problem in error["message"]
    assert addresses(run, store) == before
    error = error_of(api.patch(f"/api/v1/mailboxes/{ALICE}", json={"display_name": name}, headers=bearer), 400)
    assert error["field"] == "display_name" and problem in error["message"]
    assert mailbox(run, store, ALICE).display_name == "alice"


# the console -----------------------------------------------------------------------------------
def new_form(**fields: Any) -> dict[str, Any]:
    return {"address": "bob@example.com", "password": "bob's password", "display_name": "Bob", **fields}


@pytest.mark.parametrize("address", BAD_ADDRESSES[:6])
def test_the_console_refuses_an_address_next_to_its_field(api, org, run, store, address: str) -> None:
    before = addresses(run, store)
    answer = post(api, "/console/mailboxes/new", org, **new_form(address=address))
    assert answer.status_code == 400
    assert "is not an email address" in field_error(answer.text, "address")
    assert addresses(run, store) == before


@pytest.mark.parametrize("name, problem", BAD_NAMES)
def test_the_console_refuses_a_bad_display_name_next_to_its_field(api, org, run, store, name: str,
                                                                  problem: str) -> None:
    before = addresses(run, store)
    answer = post(api, "/console/mailboxes/new", org, **new_form(display_name=name))
    assert answer.status_code == 400 and problem in field_error(answer.text, "display_name")
    assert addresses(run, store) == before
    answer = post(api, f"/console/mailboxes/{ALICE}", org, tab="general", display_name=name, enabled="on")
    assert answer.status_code == 400 and problem in field_error(answer.text, "display_name")
    assert mailbox(run, store, ALICE).display_name == "alice"
