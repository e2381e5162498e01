"""The one check of a mailbox address (RFC 5321 4.1.2, 4.5.3.1) and of a display name
(validation.py), which the CLI, the REST API, the console, imports, the doctor and the SMTP and
POP3 logins all go through."""
from __future__ import annotations

import pytest

from postroom.errors import ValidationError
from postroom.validation import MAX_DISPLAY_NAME, check_display_name, normalise_address

LONGEST_LOCAL = "l" * 64
LONGEST_DOMAIN_254 = ".".join(["d" * 63, "d" * 63, "d" * 63]) + ".example"  # 64 + 1 + 197 = 262: too long

VALID = [
    ("first.last@example.com", "first.last@example.com"),
    ("user+tag@example.com", "user+tag@example.com"),
    ("o'brien@example.com", "o'brien@example.com"),
    ("1234@example.com", "1234@example.com"),
    ("Alice@Example.COM", "alice@example.com"),
    ("a/b=c!d#e$f%g&h*i^j_k`l{m|n}o~p-q?r@example.com", "a/b=c!d#e$f%g&h*i^j_k`l{m|n}o~p-q?r@example.com"),
    ("user@xn--bcher-kva.example", "user@xn--bcher-kva.example"),  # an IDN in its A-label form
    ("user@mail-1.sub.example.co.uk", "user@mail-1.sub.example.co.uk"),
    ('"quoted local"@example.com', '"quoted local"@example.com'),
    ('"Alice"@example.com', "alice@example.com"),  # needs no quotes: the same mailbox as alice@
    ('"a\\"b"@example.com', '"a\\"b"@example.com'),
    ('"x@evil.example"@example.com', '"x@evil.example"@example.com'),  # the last @ is the one
    (f"{LONGEST_LOCAL}@example.com", f"{LONGEST_LOCAL}@example.com"),
    ("  alice@example.com ", "alice@example.com"),
]

INVALID = {
    "../../x@example.com": "dot",
    "a..b@example.com": "dot",
    ".a@example.com": "dot",
    "a.@example.com": "dot",
    "a@-bad.example": "domain",
    "a@bad-.example": "domain",
    "a@exa_mple.com": "domain",
    "a@example..com": "domain",
    "a@localhost": "domain",
    "a@example.123": "domain",
    f"a@{'l' * 64}.example": "domain",  # a label of 64
    f"{'l' * 65}@example.com": "64 octets",
    f"{LONGEST_LOCAL}@{LONGEST_DOMAIN_254}": "254 octets",
    "al ice@example.com": "quoted",
    "a\tb@example.com": "control",
    "a\nb@example.com": "control",
    "a\x00@example.com": "control",
    "alice@example.com\r\n": "domain",
    "alice@exa mple.com": "domain",
    '"a\nb"@example.com': "control",
    '""@example.com': "empty",
    "a<b>@example.com": "quoted",
    "a@[192.0.2.1]": "address literal",
    "j\u00f6rg@example.com": "ASCII",
    "alice@b\u00fccher.example": "ASCII",
    "alice": "needs a local part",
    "alice@": "needs a local part",
    "@example.com": "needs a local part",
    "alice@@example.com": "quoted",
    "": "needs a local part",
}


@pytest.mark.parametrize("given, stored", VALID)
def test_valid_addresses_are_accepted_in_one_spelling(given, stored):
    assert normalise_address(given) == stored


@pytest.mark.parametrize("given, why", INVALID.items())
def test_invalid_addresses_are_refused_naming_the_field_and_the_rule(given, why):
    with pytest.raises(ValidationError) as refused:
        normalise_address(given)
    assert refused.value.field == "address"
    assert why in refused.value.reason
    assert "local-part@domain like alice@example.com" in refused.value.reason


def test_the_field_is_the_callers():
    with pytest.raises(ValidationError) as refused:
        normalise_address("a..b@example.com", "recipient")
    assert refused.value.field == "recipient"


@pytest.mark.parametrize("given, stored", [("Alice Liddell", "Alice Liddell"), ("  CRM intake ", "CRM intake"),
                                           ("Zo\u00eb \u00d8stergaard \u2013 \u65e5\u672c",
                                            "Zo\u00eb \u00d8stergaard \u2013 \u65e5\u672c"),
                                           ("x" * MAX_DISPLAY_NAME, "x" * MAX_DISPLAY_NAME)])
def test_a_display_name_of_one_line_up_to_256_characters_is_kept(given, stored):
    assert check_display_name(given) == stored


@pytest.mark.parametrize("given, why", [
    ("x" * (MAX_DISPLAY_NAME + 1), "1 to 256"), ("", "1 to 256"), ("   ", "1 to 256"),
    ("Alice\nBcc: x@example.com", "U+000A"), ("Alice\r", "U+000D"), ("Al\x00ice", "U+0000"),
    ("Al\tice", "U+0009"), ("Al\x7fice", "U+007F"), ("Al\x85ice", "U+0085"), ("Al\x9bice", "U+009B"),
    ("Alice\u2028Bob", "U+2028"), ("Alice\u2029", "U+2029"), ("Al\x1bice", "U+001B"),
    ("x\udfff", "UTF-8"),
])
def test_a_display_name_too_long_or_with_a_control_character_or_line_break_is_refused(given, why):
    with pytest.raises(ValidationError) as refused:
        check_display_name(given)
    assert refused.value.field == "display_name" and why in refused.value.reason
