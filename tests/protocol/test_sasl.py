"""SASL PLAIN (RFC 4616) and LOGIN decoding, cancel and the empty initial response."""
from __future__ import annotations

import base64

import pytest

from postroom.protocol.sasl import (
    CANCELLED, CLEARTEXT_MECHANISMS, MECHANISMS, Cancelled, Challenge, Credentials, SaslError, SaslExchange,
    decode_response,
)


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def test_mechanisms_and_cleartext_notion():
    assert MECHANISMS == ("PLAIN", "LOGIN")
    assert CLEARTEXT_MECHANISMS == {"PLAIN", "LOGIN"}


def test_plain_with_initial_response():
    ex = SaslExchange()
    assert ex.start("PLAIN", b64(b"\0alice\0s3cret")) == Credentials("PLAIN", "alice", "s3cret", "")
    assert ex.done


def test_plain_with_authzid_and_utf8():
    out = SaslExchange().start("plain", b64("admin\0jörg\0pässwörd".encode()))
    assert out == Credentials("PLAIN", "jörg", "pässwörd", "admin")


def test_plain_without_initial_response_sends_empty_challenge():
    ex = SaslExchange()
    challenge = ex.start("PLAIN", None)
    assert challenge == Challenge(b"")
    assert challenge.encoded() == ""
    assert not ex.done
    assert ex.step(b64(b"\0bob\0pw").encode()) == Credentials("PLAIN", "bob", "pw")


def test_password_may_contain_spaces_and_is_hidden_from_repr():
    creds = SaslExchange().start("PLAIN", b64(b"\0bob\0a b c "))
    assert creds.password == "a b c "
    assert "a b c" not in repr(creds)


def test_equals_sign_is_the_empty_initial_response():
    assert decode_response("=", initial=True) == b""
    # An empty PLAIN response carries no credentials: malformed.
    assert SaslExchange().start("PLAIN", "=") == SaslError("malformed", "Malformed PLAIN response.")
    # Outside the initial response "=" is just bad base64.
    assert isinstance(decode_response("="), SaslError)


@pytest.mark.parametrize(
    "raw",
    [b"alice\0pw", b"\0\0alice\0pw", b"\0alice\0", b"\0\0pw", b"", b"\0alice\0\xff", b"z\xfe\0a\0b"],
)
def test_malformed_plain(raw):
    assert SaslExchange().start("PLAIN", b64(raw)) == SaslError("malformed", "Malformed PLAIN response.")


@pytest.mark.parametrize("text", ["AA", "A===", "!!!!", "AA== ", " AAAA", "QUJD\tRA==", "ÄÄÄÄ"])
def test_bad_base64_is_a_value(text):
    assert decode_response(text) == SaslError("bad-base64", "Invalid base64 data.")
    assert SaslExchange().start("PLAIN", text) == SaslError("bad-base64", "Invalid base64 data.")


def test_empty_continuation_line_decodes_to_empty():
    assert decode_response("") == b""
    assert decode_response(b"") == b""


def test_login_exchange():
    ex = SaslExchange()
    first = ex.start("LOGIN", None)
    assert first == Challenge(b"Username:")
    assert first.encoded() == "VXNlcm5hbWU6"
    second = ex.step(b64(b"alice"))
    assert second.encoded() == "UGFzc3dvcmQ6"
    assert ex.step(b64(b"pass word").encode()) == Credentials("LOGIN", "alice", "pass word")
    assert ex.done


def test_login_with_initial_response_is_the_username():
    ex = SaslExchange()
    assert ex.start("LOGIN", b64(b"carol")) == Challenge(b"Password:")
    assert ex.step(b64(b"pw")) == Credentials("LOGIN", "carol", "pw")


@pytest.mark.parametrize("line", ["*", b"*"])
@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_star_cancels(mechanism, line):
    ex = SaslExchange()
    ex.start(mechanism, None)
    assert ex.step(line) is CANCELLED
    assert isinstance(CANCELLED, Cancelled)
    assert ex.done


def test_cancel_in_second_login_step():
    ex = SaslExchange()
    ex.start("LOGIN", None)
    ex.step(b64(b"alice"))
    assert ex.step("*") is CANCELLED


def test_login_rejects_invalid_utf8_and_nul():
    ex = SaslExchange()
    ex.start("LOGIN", None)
    assert ex.step(b64(b"\xff\xfe")) == SaslError("malformed", "Malformed LOGIN response.")
    ex = SaslExchange()
    ex.start("LOGIN", None)
    ex.step(b64(b"alice"))
    assert ex.step(b64(b"pw\0x")) == SaslError("malformed", "Malformed LOGIN response.")


def test_bad_base64_in_login_step_ends_exchange():
    ex = SaslExchange()
    ex.start("LOGIN", None)
    assert ex.step("not base64!") == SaslError("bad-base64", "Invalid base64 data.")
    assert ex.done
    assert ex.step(b64(b"x")).reason == "not-in-progress"


def test_unsupported_mechanism():
    ex = SaslExchange()
    assert ex.start("CRAM-MD5", None) == SaslError("unsupported-mechanism", "Unrecognized authentication type.")
    assert ex.done


def test_step_without_start():
    assert SaslExchange().step("AAAA") == SaslError("not-in-progress", "No authentication exchange in progress.")
