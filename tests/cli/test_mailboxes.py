"""`postroom mailbox new|list|show|set|password|remove`."""
from __future__ import annotations

import pytest

from .conftest import Admin, flat


def test_mailbox_new_with_password_from_stdin(admin: Admin) -> None:
    view = admin.new_mailbox("alice@example.com", "correct horse", "--display-name", "Alice Liddell")
    assert view["address"] == "alice@example.com"
    assert view["display_name"] == "Alice Liddell"
    assert view["enabled"] is True and view["pop_enabled"] is True  # POP3 on by default, as in Exchange
    assert view["password_set"] is True
    assert "password_hash" not in view and "password" not in view
    shown = admin.json("mailbox", "show", "alice@example.com")
    assert {k: shown[k] for k in view} == view
    assert (shown["messages"], shown["octets"]) == (0, 0)


def test_mailbox_new_defaults_display_name_to_local_part_and_lowercases(admin: Admin) -> None:
    view = admin.new_mailbox("Bob.Smith@Example.COM")
    assert view["address"] == "bob.smith@example.com"
    assert view["display_name"] == "bob.smith"


@pytest.mark.parametrize("option", ["--pop-enabled", "--pop"])  # the API's name; --pop, the article's, kept
def test_mailbox_new_and_set_pop_enabled(admin: Admin, option: str) -> None:
    assert admin.new_mailbox("carol@example.com", "pw", option, "disabled")["pop_enabled"] is False
    assert admin.json("mailbox", "set", "carol@example.com", option, "enabled")["pop_enabled"] is True
    assert "--pop-enabled, --pop enabled|disabled" in flat(admin.ok("mailbox", "set", "--help").stdout)


def test_mailbox_new_human_output(admin: Admin) -> None:
    out = flat(admin.ok("mailbox", "new", "dave@example.com", "--password-stdin", input="pw\n").stdout)
    assert "dave@example.com" in out and "password-set" in out


def test_mailbox_new_in_a_domain_that_is_not_accepted(admin: Admin) -> None:
    result = admin.fails(2, "mailbox", "new", "alice@example.org", "--password-stdin", input="pw\n")
    assert result.stderr.startswith("error: address:")
    assert "postroom domain add example.org" in flat(result.stderr)
    assert admin.json("mailbox", "list")["total"] == 1


@pytest.mark.parametrize("address", ["alice@example.com", "Alice@Example.com", "ALICE@EXAMPLE.COM"])
def test_duplicate_mailbox_is_a_conflict_case_insensitively(admin: Admin, address: str) -> None:
    admin.new_mailbox("alice@example.com", "first")
    audit_before = admin.audit()
    result = admin.fails(4, "mailbox", "new", address, "--password-stdin", input="second\n")
    assert "alice@example.com" in result.stderr and "already exists" in result.stderr
    assert admin.json("mailbox", "list")["total"] == 2
    assert admin.audit() == audit_before


@pytest.mark.parametrize("address", ["alice", "alice@", "@example.com", "alice@@example.com",
                                     "al ice@example.com", "alice@exa mple.com"])
def test_mailbox_new_refuses_a_bad_address(admin: Admin, address: str) -> None:
    result = admin.fails(2, "mailbox", "new", address, "--password-stdin", input="pw\n")
    assert result.stderr.startswith("error: address:")
    assert "alice@example.com" in result.stderr  # shows what an address looks like


def test_mailbox_new_without_password_stdin_and_no_terminal(admin: Admin) -> None:
    result = admin.fails(2, "mailbox", "new", "alice@example.com", input="pw\n")
    assert result.stderr.startswith("error: password:")
    assert "--password-stdin" in result.stderr
    admin.fails(3, "mailbox", "show", "alice@example.com")


@pytest.mark.parametrize("stdin,why", [("\n", "must not be empty"), ("", "must not be empty"),
                                      ("tab\there\n", "control characters"), ("x" * 257 + "\n", "256")])
def test_mailbox_new_refuses_a_bad_password(admin: Admin, stdin: str, why: str) -> None:
    result = admin.fails(2, "mailbox", "new", "alice@example.com", "--password-stdin", input=stdin)
    assert result.stderr.startswith("error: password:")
    assert why in result.stderr
    admin.fails(3, "mailbox", "show", "alice@example.com")


def test_password_stdin_keeps_spaces_and_drops_only_the_line_end(admin: Admin) -> None:
    from argon2 import PasswordHasher

    admin.new_mailbox("alice@example.com", "  spaced out  ")
    assert PasswordHasher().verify(admin.password_hash("alice@example.com"), "  spaced out  ")


def test_mailbox_new_refuses_pop_maybe(admin: Admin) -> None:
    result = admin.fails(2, "mailbox", "new", "alice@example.com", "--pop", "maybe", "--password-stdin",
                         input="pw\n")
    assert result.stderr.startswith("error: pop-enabled:")
    assert "enabled" in result.stderr and "disabled" in result.stderr


# list ---------------------------------------------------------------------------------------
@pytest.fixture
def populated(admin: Admin) -> Admin:
    admin.ok("domain", "add", "example.org")
    for address, name in [("alice@example.com", "Alice"), ("bob@example.com", "Bob"),
                          ("carol@example.org", "Carol Support"), ("support@example.org", "Help desk")]:
        admin.new_mailbox(address, "pw", "--display-name", name)
    return admin


def addresses(view: dict) -> list[str]:
    return [m["address"] for m in view["items"]]


def test_mailbox_list_all_ordered_by_address(populated: Admin) -> None:
    view = populated.json("mailbox", "list")
    assert view["total"] == 5 and view["offset"] == 0
    assert addresses(view) == ["alice@example.com", "bob@example.com", "carol@example.org",
                               "demo@example.com", "support@example.org"]
    assert all("password_hash" not in m for m in view["items"])


def test_mailbox_list_search_matches_address_or_display_name(populated: Admin) -> None:
    view = populated.json("mailbox", "list", "--search", "support")
    assert addresses(view) == ["carol@example.org", "support@example.org"]  # display name, address
    assert view["total"] == 2
    assert addresses(populated.json("mailbox", "list", "--search", "example.org")) == [
        "carol@example.org", "support@example.org"]
    assert populated.json("mailbox", "list", "--search", "nobody-matches")["total"] == 0


def test_mailbox_list_search_treats_wildcards_literally(populated: Admin) -> None:
    assert populated.json("mailbox", "list", "--search", "%")["total"] == 0
    assert populated.json("mailbox", "list", "--search", "_")["total"] == 0


def test_mailbox_list_offset_and_limit_page_through_with_the_full_total(populated: Admin) -> None:
    page = populated.json("mailbox", "list", "--offset", "1", "--limit", "2")
    assert page["total"] == 5 and page["offset"] == 1
    assert addresses(page) == ["bob@example.com", "carol@example.org"]
    last = populated.json("mailbox", "list", "--offset", "4", "--limit", "2")
    assert addresses(last) == ["support@example.org"]
    assert populated.json("mailbox", "list", "--offset", "10")["items"] == []
    combined = populated.json("mailbox", "list", "--search", "example.com", "--offset", "1", "--limit", "1")
    assert combined["total"] == 3 and addresses(combined) == ["bob@example.com"]


def test_mailbox_list_human_output_counts(populated: Admin) -> None:
    out = flat(populated.ok("mailbox", "list", "--limit", "2").stdout)
    assert "2 of 5 mailboxes" in out
    assert "alice@example.com" in out and "support@example.org" not in out


@pytest.mark.parametrize("args,setting", [(["--offset=-1"], "offset"), (["--limit", "0"], "limit")])
def test_mailbox_list_refuses_bad_paging(admin: Admin, args: list[str], setting: str) -> None:
    result = admin.fails(2, "mailbox", "list", *args)
    assert result.stderr.startswith(f"error: {setting}:")


# show / set ---------------------------------------------------------------------------------
def test_mailbox_show_unknown_is_not_found(admin: Admin) -> None:
    result = admin.fails(3, "mailbox", "show", "nobody@example.com")
    assert "nobody@example.com" in result.stderr and "does not exist" in result.stderr


def test_mailbox_show_is_case_insensitive(admin: Admin) -> None:
    assert admin.json("mailbox", "show", "Demo@EXAMPLE.com")["address"] == "demo@example.com"


def test_mailbox_set_pop_disabled_and_enabled(admin: Admin) -> None:
    assert admin.json("mailbox", "set", "demo@example.com", "--pop", "disabled")["pop_enabled"] is False
    assert admin.json("mailbox", "show", "demo@example.com")["pop_enabled"] is False
    assert admin.json("mailbox", "set", "demo@example.com", "--pop", "enabled")["pop_enabled"] is True
    assert admin.json("mailbox", "show", "demo@example.com")["pop_enabled"] is True


def test_mailbox_set_disabled_and_enabled(admin: Admin) -> None:
    view = admin.json("mailbox", "set", "demo@example.com", "--disabled")
    assert view["enabled"] is False and view["pop_enabled"] is True  # the feature flag is separate
    assert admin.json("mailbox", "show", "demo@example.com")["enabled"] is False
    admin.ok("mailbox", "set", "demo@example.com", "--enabled")
    assert admin.json("mailbox", "show", "demo@example.com")["enabled"] is True


def test_mailbox_set_display_name(admin: Admin) -> None:
    admin.ok("mailbox", "set", "demo@example.com", "--display-name", "CRM intake")
    assert admin.json("mailbox", "show", "demo@example.com")["display_name"] == "CRM intake"


def test_mailbox_set_several_changes_at_once(admin: Admin) -> None:
    view = admin.json("mailbox", "set", "demo@example.com", "--pop", "disabled", "--disabled",
                      "--display-name", "Old")
    assert (view["pop_enabled"], view["enabled"], view["display_name"]) == (False, False, "Old")


def test_mailbox_set_with_nothing_to_change(admin: Admin) -> None:
    before, audit_before = admin.json("mailbox", "show", "demo@example.com"), admin.audit()
    result = admin.fails(2, "mailbox", "set", "demo@example.com")
    assert "nothing to change" in result.stderr
    assert "--pop-enabled" in result.stderr
    assert admin.json("mailbox", "show", "demo@example.com") == before
    assert admin.audit() == audit_before


def test_mailbox_set_pop_maybe_names_the_allowed_values(admin: Admin) -> None:
    before = admin.json("mailbox", "show", "demo@example.com")
    result = admin.fails(2, "mailbox", "set", "demo@example.com", "--pop", "maybe", "--display-name", "X")
    assert result.stderr.startswith("error: pop-enabled:")
    assert "enabled" in result.stderr and "disabled" in result.stderr
    assert admin.json("mailbox", "show", "demo@example.com") == before  # display name not applied either


@pytest.mark.parametrize("name", ["   ", "x" * 257])
def test_mailbox_set_refuses_a_bad_display_name(admin: Admin, name: str) -> None:
    before = admin.json("mailbox", "show", "demo@example.com")
    result = admin.fails(2, "mailbox", "set", "demo@example.com", "--display-name", name, "--pop", "disabled")
    assert result.stderr.startswith("error: display-name:")
    assert admin.json("mailbox", "show", "demo@example.com") == before


def test_mailbox_set_unknown_mailbox_is_not_found(admin: Admin) -> None:
    admin.fails(3, "mailbox", "set", "nobody@example.com", "--pop", "disabled")


# password -------------------------------------------------------------------------------------
def test_mailbox_password_from_stdin(admin: Admin) -> None:

    from argon2 import PasswordHasher


    result = admin.ok("mailbox", "password", "demo@example.com", "--password-stdin", input="n3w-Secret\n")
    assert "Password changed for demo@example.com" in flat(result.stdout)
    assert "n3w-Secret" not in result.output

    password_hash = admin.password_hash("demo@example.com")
    assert PasswordHasher().verify(password_hash, "n3w-Secret")
    assert admin.json("mailbox", "show", "demo@example.com")["password_set"] is True


def test_mailbox_password_without_stdin_and_no_terminal(admin: Admin) -> None:
    result = admin.fails(2, "mailbox", "password", "demo@example.com", input="x\n")
    assert "--password-stdin" in result.stderr


def test_mailbox_password_for_unknown_mailbox(admin: Admin) -> None:
    admin.fails(3, "mailbox", "password", "nobody@example.com", "--password-stdin", input="pw\n")


def test_mailbox_password_refuses_an_empty_password(admin: Admin) -> None:
    audit_before = admin.audit()
    admin.fails(2, "mailbox", "password", "demo@example.com", "--password-stdin", input="\n")
    assert admin.audit() == audit_before


# remove ---------------------------------------------------------------------------------------
def test_mailbox_remove_then_show_is_not_found(admin: Admin) -> None:
    admin.new_mailbox("alice@example.com")
    result = admin.ok("mailbox", "remove", "alice@example.com", "--yes")
    assert "Removed alice@example.com (0 messages)" in flat(result.stdout)
    admin.fails(3, "mailbox", "show", "alice@example.com")
    assert "alice@example.com" not in [m["address"] for m in admin.json("mailbox", "list")["items"]]
    # the address is free again
    admin.new_mailbox("alice@example.com")


def test_mailbox_remove_json_reports_messages_removed(admin: Admin, tmp_path) -> None:
    folder = tmp_path / "eml"
    folder.mkdir()
    (folder / "1.eml").write_bytes(b"Subject: x\n\nbody\n")
    admin.ok("mailbox", "import", "demo@example.com", str(folder))
    view = admin.json("mailbox", "remove", "demo@example.com", "--yes")
    assert view["address"] == "demo@example.com" and view["messages_removed"] == 2  # welcome + imported


def test_mailbox_remove_unknown_is_not_found(admin: Admin) -> None:
    admin.fails(3, "mailbox", "remove", "nobody@example.com", "--yes")


# addresses are RFC 5321 mailboxes; display names are one bounded line (validation.py) ---------
@pytest.mark.parametrize("address", ["../../x@example.com", "a..b@example.com", ".a@example.com", "a.@example.com",
                                     "a@-bad.example", "a@exa_mple.com", "l" * 65 + "@example.com",
                                     "a\x01b@example.com", "a\nb@example.com", '""@example.com'])
def test_mailbox_new_refuses_what_is_not_an_rfc_5321_mailbox(admin: Admin, address: str) -> None:
    result = admin.fails(2, "mailbox", "new", address, "--password-stdin", input="pw\n")
    assert result.stderr.startswith("error: address:")
    assert "local-part@domain like alice@example.com" in flat(result.stderr)  # says what is allowed
    assert admin.json("mailbox", "list")["total"] == 1


@pytest.mark.parametrize("address, stored", [
    ("first.last@example.com", "first.last@example.com"), ("user+tag@example.com", "user+tag@example.com"),
    ('"quoted local"@example.com', '"quoted local"@example.com'), ("o'brien@example.com", "o'brien@example.com"),
    ("12345@example.com", "12345@example.com"), ("user@xn--bcher-kva.example", "user@xn--bcher-kva.example"),
    ('"Carol"@example.com', "carol@example.com"),
])
def test_mailbox_new_accepts_valid_addresses(admin: Admin, address: str, stored: str) -> None:
    admin.ok("domain", "add", "xn--bcher-kva.example")
    assert admin.new_mailbox(address)["address"] == stored
    assert admin.json("mailbox", "show", address)["address"] == stored


def test_a_mailbox_stored_before_addresses_were_checked_can_still_be_shown_and_removed(admin: Admin) -> None:
    admin.peek(lambda store: store.create_mailbox("a..b@example.com", "legacy", None))
    assert admin.json("mailbox", "show", "a..b@example.com")["display_name"] == "legacy"
    admin.ok("mailbox", "set", "a..b@example.com", "--pop", "disabled")
    admin.ok("mailbox", "remove", "a..b@example.com", "--yes")
    assert admin.fails(2, "mailbox", "show", "a..b@example.com").stderr.startswith("error: address:")


@pytest.mark.parametrize("name, problem", [("Alice\nBcc: x@example.com", "U+000A"), ("Alice\r", "U+000D"),
                                           ("Al\x1bice", "U+001B"), ("Alice\u2028Bob", "U+2028"),
                                           ("x" * 257, "1 to 256")])
def test_a_display_name_with_a_line_break_control_character_or_over_256_is_refused(admin: Admin, name: str,
                                                                                   problem: str) -> None:
    result = admin.fails(2, "mailbox", "new", "alice@example.com", "--password-stdin", "--display-name", name,
                         input="pw\n")
    assert result.stderr.startswith("error: display-name:") and problem in flat(result.stderr)
    assert admin.json("mailbox", "list")["total"] == 1
    before = admin.json("mailbox", "show", "demo@example.com")
    result = admin.fails(2, "mailbox", "set", "demo@example.com", "--display-name", name)
    assert result.stderr.startswith("error: display-name:") and problem in flat(result.stderr)
    assert admin.json("mailbox", "show", "demo@example.com") == before


def test_a_display_name_of_256_characters_is_accepted(admin: Admin) -> None:
    name = "\u00e9" * 256  # characters, not octets: 512 octets of UTF-8
    assert admin.new_mailbox("alice@example.com", "pw", "--display-name", name)["display_name"] == name


def test_mailbox_set_send_as_grants_are_shown_audited_and_cleared(admin: Admin) -> None:
    view = admin.json("mailbox", "set", "demo@example.com", "--send-as", "Sales@Example.com, *@apps.example")
    assert view["send_as"] == ["sales@example.com", "*@apps.example"]
    assert admin.json("mailbox", "show", "demo@example.com")["send_as"] == ["sales@example.com", "*@apps.example"]
    entry = admin.audit()[0]  # newest first
    assert entry["action"] == "mailbox.set" and entry["before"]["send_as"] == []
    assert entry["after"]["send_as"] == ["sales@example.com", "*@apps.example"]
    assert admin.json("mailbox", "set", "demo@example.com", "--send-as", "")["send_as"] == []
    human = admin.ok("mailbox", "set", "demo@example.com", "--send-as", "a@example.com").stdout
    assert "a@example.com" in human


@pytest.mark.parametrize("value, why", [("not-an-address", "not an email address"), ("*@bad_domain", "domain"),
                                        ("a@example.com,b c@example.com", "not an email address")])
def test_mailbox_set_send_as_refuses_what_is_not_an_address_or_domain(admin: Admin, value: str, why: str) -> None:
    before, audit_before = admin.json("mailbox", "show", "demo@example.com"), admin.audit()
    result = admin.fails(2, "mailbox", "set", "demo@example.com", "--send-as", value)
    assert result.stderr.startswith("error: send-as:") and why in result.stderr
    assert "*@domain" in result.stderr or "domain name" in result.stderr
    assert admin.json("mailbox", "show", "demo@example.com") == before and admin.audit() == audit_before
