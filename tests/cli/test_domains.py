"""`postroom domain add|list|remove`."""
from __future__ import annotations

import pytest

from .conftest import Admin, flat, invoke


def names(admin: Admin) -> list[str]:
    return [d["name"] for d in admin.json("domain", "list")]


def test_domain_add_list_remove(admin: Admin) -> None:
    result = admin.ok("domain", "add", "example.org")
    assert "Added accepted domain example.org" in flat(result.stdout)
    assert names(admin) == ["example.com", "example.org"]
    assert "example.org" in flat(admin.ok("domain", "list").stdout)

    assert admin.json("domain", "remove", "example.org") == {"name": "example.org"}
    assert names(admin) == ["example.com"]


def test_domain_names_are_normalised(admin: Admin) -> None:
    assert admin.json("domain", "add", "Mail.Example.NET.") == {"name": "mail.example.net"}
    assert "mail.example.net" in names(admin)
    admin.ok("domain", "remove", "MAIL.example.net")
    assert "mail.example.net" not in names(admin)


@pytest.mark.parametrize("name", ["example.com", "EXAMPLE.COM", "example.com."])
def test_duplicate_domain_is_a_conflict(admin: Admin, name: str) -> None:
    result = admin.fails(4, "domain", "add", name)
    assert "example.com" in result.stderr and "already exists" in result.stderr
    assert names(admin) == ["example.com"]


@pytest.mark.parametrize("name", [
    "localhost", "exa mple.com", "alice@example.com", "exa_mple.com", "", ".", "example..com",
    "a" * 64 + ".com", ("a" * 60 + ".") * 5 + "com", "ex/ample.com", "éxample.com",
])
def test_bad_domain_names_are_refused(admin: Admin, name: str) -> None:
    result = admin.fails(2, "domain", "add", name)
    assert result.stderr.startswith("error: domain:")
    assert "example.com" in result.stderr  # shows what a domain name looks like
    assert names(admin) == ["example.com"]


@pytest.mark.parametrize("name", ["-example.com", "example-.com", "mail.-example.com", "1.2.3.4"])
def test_domain_names_that_are_not_host_names_are_refused(runner, admin: Admin, name: str) -> None:
    # RFC 1123 labels neither start nor end with '-'; an IPv4 address is not a domain name.
    result = invoke(runner, ["domain", "add", "--data", str(admin.data), "--", name])
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert "domain" in result.stderr
    assert names(admin) == ["example.com"]


def test_removing_a_domain_that_still_has_mailboxes_is_a_conflict(admin: Admin) -> None:
    result = admin.fails(4, "domain", "remove", "example.com")
    assert "example.com" in result.stderr
    assert "1 mailbox" in result.stderr
    assert names(admin) == ["example.com"]
    admin.ok("mailbox", "remove", "demo@example.com", "--yes")
    admin.ok("domain", "remove", "example.com")
    assert names(admin) == []


def test_removing_an_unknown_domain_is_not_found(admin: Admin) -> None:
    result = admin.fails(3, "domain", "remove", "example.org")
    assert "example.org" in result.stderr


def test_removing_a_domain_with_a_bad_name_is_refused(admin: Admin) -> None:
    admin.fails(2, "domain", "remove", "not a domain")
