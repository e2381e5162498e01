"""`postroom domain dkim new|show|remove`: per-domain DKIM keys, and the TXT records the admin
must publish, printed so that they can be pasted into a zone file or a DNS provider's form."""
from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from .conftest import Admin, flat

MONTH = datetime.now(timezone.utc).strftime("%Y%m")


def zone_line(stdout: str, selector: str) -> tuple[str, list[str]]:
    """(owner name, character-strings) of the zone-file line printed for `selector`."""
    match = re.search(rf"^  ({re.escape(selector)}\._domainkey\.\S+)\. IN TXT \( (.*) \)$", stdout, re.M)
    assert match, stdout
    return match.group(1), re.findall(r'"([^"]*)"', match.group(2))


def test_new_prints_the_record_to_publish(admin: Admin) -> None:
    result = admin.ok("domain", "dkim", "new", "example.com")
    selector = f"postroom-{MONTH}-rsa"
    assert "Made a DKIM rsa-2048 key for example.com" in flat(result.stdout)
    name, strings = zone_line(result.stdout, selector)
    assert name == f"{selector}._domainkey.example.com"
    assert len(strings) == 2 and all(len(s) <= 255 for s in strings)  # an RSA-2048 record needs two strings
    value = "".join(strings)
    assert value.startswith("v=DKIM1; k=rsa; p=MIIB")
    assert f"  name:  {name}\n" in result.stdout and f"  value: {value}\n" in result.stdout  # one unbroken line
    assert "PRIVATE" not in result.stdout
    [stored] = admin.peek(lambda store: store.list_dkim_keys("example.com"))
    assert stored.txt_value == value and "PRIVATE KEY" in stored.private_key_pem


def test_show_lists_every_key_and_says_whether_mail_is_signed(admin: Admin) -> None:
    off = admin.ok("domain", "dkim", "show", "example.com")
    assert "DKIM signing for example.com: off" in flat(off.stdout)
    assert "postroom domain dkim new example.com" in flat(off.stdout)
    admin.ok("domain", "dkim", "new", "example.com", "--algorithm", "ed25519", "--selector", "Ed1")
    admin.ok("domain", "dkim", "new", "example.com", "--algorithm", "rsa-2048")
    shown = admin.ok("domain", "dkim", "show", "Example.com.")
    assert "DKIM signing for example.com: on (2 keys" in flat(shown.stdout)
    name, [value] = zone_line(shown.stdout, "ed1")
    assert name == "ed1._domainkey.example.com" and value.startswith("v=DKIM1; k=ed25519; p=")
    zone_line(shown.stdout, f"postroom-{MONTH}-rsa")
    view = admin.json("domain", "dkim", "show", "example.com")
    assert [(k["selector"], k["algorithm"], k["signature_algorithm"]) for k in view["keys"]] == [
        ("ed1", "ed25519", "ed25519-sha256"), (f"postroom-{MONTH}-rsa", "rsa-2048", "rsa-sha256")]
    assert view["signing"] is True and "PRIVATE" not in shown.stdout + str(view)


def test_one_key_per_algorithm(admin: Admin) -> None:
    admin.ok("domain", "dkim", "new", "example.com", "--algorithm", "ed25519")
    result = admin.fails(4, "domain", "dkim", "new", "example.com", "--algorithm", "ed25519", "--selector", "two")
    assert "already has an ed25519 DKIM key" in flat(result.stderr)
    assert f"postroom domain dkim remove example.com --selector postroom-{MONTH}-ed25519" in flat(result.stderr)
    result = admin.fails(4, "domain", "dkim", "new", "example.com", "--selector", f"postroom-{MONTH}-ed25519")
    assert "choose another selector" in result.stderr


@pytest.mark.parametrize("args, field", [
    (["--algorithm", "rsa-1024"], "algorithm"), (["--algorithm", ""], "algorithm"),
    (["--selector", "has space"], "selector"), (["--selector", "a" * 64], "selector"),
    (["--selector", "x.-y"], "selector"),
])
def test_bad_options_are_refused_naming_the_field(admin: Admin, args: list[str], field: str) -> None:
    result = admin.fails(2, "domain", "dkim", "new", "example.com", *args)
    assert result.stderr.startswith(f"error: {field}:")
    if field == "algorithm":
        assert "rsa-2048, ed25519" in result.stderr
    assert admin.peek(lambda store: store.list_dkim_keys()) == []


def test_a_domain_must_be_accepted(admin: Admin) -> None:
    assert "example.org" in admin.fails(3, "domain", "dkim", "new", "example.org").stderr
    assert "example.org" in admin.fails(3, "domain", "dkim", "show", "example.org").stderr
    admin.fails(2, "domain", "dkim", "show", "not a domain")


def test_remove_one_key_or_all(admin: Admin) -> None:
    admin.ok("domain", "dkim", "new", "example.com", "--algorithm", "ed25519", "--selector", "e1")
    admin.ok("domain", "dkim", "new", "example.com", "--selector", "r1")
    assert "r2._domainkey.example.com" in admin.fails(3, "domain", "dkim", "remove", "example.com",
                                                      "--selector", "r2").stderr
    result = admin.ok("domain", "dkim", "remove", "example.com", "--selector", "R1")
    assert "Removed the DKIM rsa-2048 key r1 of example.com" in flat(result.stdout)
    assert "then delete it: r1._domainkey.example.com" in flat(result.stdout)
    admin.ok("domain", "dkim", "new", "example.com", "--selector", "r3")
    removed = admin.json("domain", "dkim", "remove", "example.com", "--yes")
    assert sorted(k["selector"] for k in removed) == ["e1", "r3"]
    assert admin.json("domain", "dkim", "show", "example.com")["keys"] == []
    admin.fails(3, "domain", "dkim", "remove", "example.com")
    actions = [(e["action"], e["target"]) for e in admin.audit()[:5]]
    assert actions[0][0] == actions[1][0] == "domain.dkim.remove"
    assert ("domain.dkim.remove", "domain/example.com/dkim/r1") in actions


def test_a_domain_with_keys_is_not_removed(admin: Admin) -> None:
    admin.ok("domain", "add", "example.org")
    admin.ok("domain", "dkim", "new", "example.org", "--algorithm", "ed25519")
    result = admin.fails(4, "domain", "remove", "example.org")
    assert "1 DKIM signing key" in result.stderr and "postroom domain dkim remove example.org" in flat(result.stderr)
    admin.ok("domain", "dkim", "remove", "example.org", "--yes")
    admin.ok("domain", "remove", "example.org")


def test_cli_changes_are_audited_as_the_local_operator(admin: Admin) -> None:
    # The CLI acts as the local operator (organization-management); the role checks of principals
    # are in tests/service/test_roles.py and tests/web/test_permissions.py.
    admin.ok("domain", "dkim", "new", "example.com", "--algorithm", "ed25519")
    entry = admin.audit()[0]
    assert (entry["actor"], entry["action"], entry["channel"]) == ("local-operator", "domain.dkim.new", "cli")
    assert "PRIVATE" not in str(entry) and entry["after"]["txt_value"].startswith("v=DKIM1; k=ed25519")
