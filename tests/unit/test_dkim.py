"""DKIM signing (postroom.dkim), verified by dkimpy: an independent implementation of RFC 6376
and RFC 8463, given the key's TXT record as DNS would answer it."""
from __future__ import annotations

import base64
import re
import time
from datetime import datetime, timezone

import dkim as dkimpy
from dkim.canonicalization import Relaxed
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from postroom import dkim
from postroom.model import DkimAlgorithm, DkimKey, txt_strings

NOW = int(time.time()) - 60  # dkimpy refuses a t= in the future

RSA = dkim.generate_key("example.com", None, DkimAlgorithm.RSA_2048, now=datetime(2026, 12, 7, tzinfo=timezone.utc))
ED = dkim.generate_key("example.com", None, DkimAlgorithm.ED25519, now=datetime(2026, 12, 7, tzinfo=timezone.utc))
KEYS = [pytest.param(RSA, id="rsa-2048"), pytest.param(ED, id="ed25519")]

SIMPLE = (b"From: Alice <alice@example.com>\r\nTo: bob@partner.example\r\nSubject: Hello\r\n"
          b"Date: Mon, 7 Dec 2026 05:00:00 +0000\r\nMessage-ID: <1@example.com>\r\n\r\nHello Bob.\r\n")


def dns_for(*keys: DkimKey):
    """dkimpy's DNS: the TXT record of each key, as the split strings joined (RFC 6376 3.6.2.2)."""
    records = {(k.dns_name + ".").encode(): "".join(txt_strings(k.txt_value)).encode() for k in keys}

    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        return records.get(name)
    return lookup


def verifies(signed: bytes, *keys: DkimKey) -> bool:
    return bool(dkimpy.verify(signed, dnsfunc=dns_for(*keys)))


def tags(signature: bytes) -> dict[str, str]:
    value = re.sub(rb"\s+", b"", signature.partition(b":")[2]).decode()
    return dict(tag.split("=", 1) for tag in value.split(";") if tag)


# what is signed and how it verifies ------------------------------------------------------------

@pytest.mark.parametrize("key", KEYS)
def test_a_signed_message_verifies_with_dkimpy(key: DkimKey) -> None:
    signature = dkim.sign(SIMPLE, key, now=NOW)
    assert signature.startswith(b"DKIM-Signature: v=1; a=") and signature.endswith(b"\r\n")
    assert verifies(signature + SIMPLE, key)
    found = tags(signature)
    assert found["a"] == key.algorithm.signature_algorithm
    assert (found["c"], found["d"], found["s"], found["t"]) == ("relaxed/relaxed", "example.com", key.selector,
                                                                 str(NOW))
    assert "l" not in found and "x" not in found
    # From, Subject and the rest are oversigned: one more h= entry than the message has
    assert found["h"].split(":").count("from") == 2 and found["h"].split(":").count("subject") == 2


@pytest.mark.parametrize("key", KEYS)
def test_a_changed_message_fails_verification(key: DkimKey) -> None:
    signed = dkim.sign(SIMPLE, key, now=NOW) + SIMPLE
    assert not verifies(signed.replace(b"Hello Bob.", b"Hello Eve."), key)  # body
    assert not verifies(signed.replace(b"Subject: Hello", b"Subject: Bye"), key)  # a signed header
    assert not verifies(signed.replace(b"\r\n\r\nHello", b"\r\nFrom: eve@example.net\r\n\r\nHello"), key)
    assert not verifies(signed.replace(b"\r\n\r\nHello", b"\r\nCc: eve@example.net\r\n\r\nHello"), key)
    other = dkim.generate_key("example.com", key.selector, key.algorithm)
    assert not verifies(signed, other)  # the record publishes another key


@pytest.mark.parametrize("key", KEYS)
def test_what_relaxed_canonicalization_forgives_still_verifies(key: DkimKey) -> None:
    signed = dkim.sign(SIMPLE, key, now=NOW) + SIMPLE
    refolded = signed.replace(b"Subject: Hello\r\n", b"subject:   Hello  \r\n")
    assert verifies(refolded.replace(b"Hello Bob.\r\n", b"Hello   Bob.  \r\n\r\n\r\n"), key)
    # a relay adds a trace header above: not signed, still verifies
    assert verifies(b"Received: from relay.example by mx.partner.example; Mon, 7 Dec 2026\r\n" + signed, key)


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("message", [
    pytest.param(b"From: alice@example.com\r\nSubject: a folded\r\n\tsubject line\r\n  that goes on\r\n"
                 b"To: a@b.example,\r\n c@d.example\r\n\r\nbody\r\n", id="folded-headers"),
    pytest.param(b"From: alice@example.com\r\nSubject: trailing\r\n\r\nbody\r\n\r\n\r\n\r\n",
                 id="trailing-blank-lines"),
    pytest.param(b"From: alice@example.com\r\nSubject: spaces\r\n\r\nline \t \r\n \r\n\t\r\n", id="white-space-lines"),
    pytest.param(b"From: alice@example.com\r\nSubject: empty\r\n\r\n", id="empty-body"),
    pytest.param(b"From: alice@example.com\r\nSubject: no body at all\r\n", id="no-body"),
    pytest.param(b"From: alice@example.com\r\nSubject: no CRLF at the end\r\n\r\nlast line", id="no-final-crlf"),
    pytest.param("From: Zoë <zoe@example.com>\r\nSubject: 8-bit\r\nContent-Type: text/plain; charset=utf-8\r\n"
                 "Content-Transfer-Encoding: 8bit\r\n\r\nGrüße, Zoë – ça va?\r\n".encode(), id="8bit-body"),
    pytest.param("From: Zoë <zoë@exämple.com>\r\nSubject: SMTPUTF8 ✓\r\n\r\nß\r\n".encode(), id="utf8-headers"),
    pytest.param(b"From: alice@example.com\r\nSubject: big\r\n\r\n" + b"0123456789 abcdef  \r\n" * 5000, id="100k"),
    pytest.param(b"From: alice@example.com\r\nX-A: 1\r\nX-A: 2\r\nTo: x@y.example\r\nTo: z@y.example\r\n\r\nb\r\n",
                 id="repeated-headers"),
])
def test_messages_of_every_shape_verify(key: DkimKey, message: bytes) -> None:
    assert verifies(dkim.sign(message, key, now=NOW) + message, key)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(subject=st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=80),
       body=st.lists(st.binary(max_size=60).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")), max_size=8),
       blank=st.integers(0, 3))
def test_any_body_and_subject_verify(subject: str, body: list[bytes], blank: int) -> None:
    message = (b"From: alice@example.com\r\nSubject: " + subject.encode() + b"\r\n\r\n"
               + b"".join(line + b"\r\n" for line in body) + b"\r\n" * blank)
    assert verifies(dkim.sign(message, ED, now=NOW) + message, ED)


_LINE = st.lists(st.sampled_from([b" ", b"\t", b"a", b"\xc3\xa9", b"\x00", b"."]), max_size=12).map(b"".join)


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(_LINE, max_size=10), last=_LINE, end=st.booleans())
def test_body_canonicalization_agrees_with_dkimpy(lines: list[bytes], last: bytes, end: bool) -> None:
    # A last line without CRLF (never in wire form) is canonicalized as SMTP will send it, with its
    # CRLF: its trailing white space goes. dkimpy keeps it there; the two agree on everything else.
    assume(end or not last.endswith((b" ", b"\t")))
    body = b"".join(line + b"\r\n" for line in lines) + last + (b"\r\n" if end else b"")
    assert dkim.relaxed_body(body) == Relaxed.canonicalize_body(body)


@settings(max_examples=200, deadline=None)
@given(name=st.sampled_from([b"Subject", b"TO", b"x-Y"]), pad=st.sampled_from([b"", b" ", b"\t "]),
       parts=st.lists(_LINE, min_size=1, max_size=4))
def test_header_canonicalization_agrees_with_dkimpy(name: bytes, pad: bytes, parts: list[bytes]) -> None:
    value = b"\r\n ".join(parts)
    [(their_name, their_value)] = Relaxed.canonicalize_headers([(name + pad, value + b"\r\n")])
    assert dkim.relaxed_header(name + pad + b":" + value) == their_name + b":" + their_value


def cut(data: bytes, points: list[int]) -> list[bytes]:
    edges = sorted({0, len(data), *(p % (len(data) + 1) for p in points)})
    return [data[a:b] for a, b in zip(edges, edges[1:])]


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(_LINE, max_size=10), tail=st.sampled_from([b"", b"\r\n", b"\r\n\r\n", b" \r\n \t\r\n", b"x"]),
       points=st.lists(st.integers(0, 400), max_size=8))
def test_a_body_hashed_in_pieces_hashes_as_a_whole(lines: list[bytes], tail: bytes, points: list[int]) -> None:
    body = b"\r\n".join(lines) + tail
    hasher = dkim.BodyHash()
    for piece in cut(body, points):
        hasher.update(piece)
    assert hasher.value() == dkim.body_hash(body)
    assert hasher.value() == dkim.body_hash(body)  # value() can be asked twice


@settings(max_examples=60, deadline=None)
@given(points=st.lists(st.integers(0, 3000), max_size=12), big=st.booleans())
def test_a_message_signed_in_chunks_is_signed_as_a_whole(points: list[int], big: bool) -> None:
    message = SIMPLE + (b"line  with   spaces \t\r\n" * 100 + b"\r\n\r\n" if big else b"")
    signer = dkim.Signer()
    chunked = signer.sign_chunks(iter(cut(message, points)), [ED], now=NOW)
    assert chunked == signer.sign_message(message, [ED], now=NOW)  # Ed25519 signatures are deterministic
    assert verifies(chunked + message, ED)


def test_signing_in_chunks_without_a_body_or_a_key() -> None:
    signer = dkim.Signer()
    assert verifies(signer.sign_chunks([b"From: alice@example.com\r\n", b"Subject: x\r\n"], [ED], now=NOW)
                    + b"From: alice@example.com\r\nSubject: x\r\n", ED)
    assert signer.sign_chunks([SIMPLE], [dkim.generate_key("example.net", "s", DkimAlgorithm.ED25519)]) == b""
    assert signer.sign_chunks([], [ED]) == b""


def test_canonical_body_matches_rfc_6376_examples() -> None:
    # RFC 6376 3.4.5: relaxed body of " C \r\nD \t E\r\n\r\n\r\n" is " C\r\nD E\r\n"
    assert dkim.relaxed_body(b" C \r\nD \t E\r\n\r\n\r\n") == b" C\r\nD E\r\n"
    assert dkim.relaxed_header(b"SUBJect : AbC") == b"subject:AbC\r\n"
    assert dkim.relaxed_header(b"A: X\r\n\tY\tZ  ") == b"a:X Y Z\r\n"
    assert dkim.relaxed_body(b"") == b"" and dkim.relaxed_body(b"\r\n\r\n") == b""
    # the empty body's hash (relaxed): sha256 of nothing
    assert dkim.body_hash(b"") == "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="


def test_signature_lines_stay_short_and_use_crlf() -> None:
    for key in (RSA, ED):
        signature = dkim.sign(SIMPLE, key, now=NOW)
        lines = signature[:-2].split(b"\r\n")
        assert all(len(line) <= 78 for line in lines), lines
        assert all(line[:1] == b"\t" for line in lines[1:])
        assert b"\n" not in signature.replace(b"\r\n", b"")


def test_a_message_without_from_is_refused() -> None:
    with pytest.raises(dkim.DkimError, match="From"):
        dkim.sign(b"Subject: no sender\r\n\r\nbody\r\n", ED, now=NOW)


# keys and DNS records ----------------------------------------------------------------------------

def test_generated_keys_publish_what_verifiers_expect() -> None:
    assert RSA.selector == "postroom-202612-rsa" and ED.selector == "postroom-202612-ed25519"
    assert RSA.dns_name == "postroom-202612-rsa._domainkey.example.com"
    assert RSA.txt_value.startswith("v=DKIM1; k=rsa; p=MII")
    assert ED.txt_value.startswith("v=DKIM1; k=ed25519; p=") and len(base64.b64decode(ED.public_key_b64)) == 32
    strings = txt_strings(RSA.txt_value)
    assert len(strings) == 2 and all(len(s) <= 255 for s in strings) and "".join(strings) == RSA.txt_value
    assert txt_strings(ED.txt_value) == [ED.txt_value]


def test_the_private_key_is_never_in_a_view_or_repr() -> None:
    for key in (RSA, ED):
        assert "PRIVATE" in key.private_key_pem
        assert "PRIVATE" not in repr(key) and key.private_key_pem not in repr(key)
        assert "PRIVATE" not in str(key.view())
        assert "private_key_pem" not in key.view()


# the Signer: what the delivery path calls --------------------------------------------------------

def test_signer_signs_with_every_key_of_the_from_domain() -> None:
    other = dkim.generate_key("example.net", "s1", DkimAlgorithm.ED25519)
    signer = dkim.Signer()
    signatures = signer.sign_message(SIMPLE, [other, RSA, ED], now=NOW)
    assert signatures.count(b"DKIM-Signature:") == 2 and b"d=example.net" not in signatures
    assert verifies(signatures + SIMPLE, RSA, ED)
    result = dkimpy.DKIM(signatures + SIMPLE)
    for index in range(2):
        assert result.verify(idx=index, dnsfunc=dns_for(RSA, ED))
    # a message from a domain without a key, or without From, goes unsigned
    assert signer.sign_message(SIMPLE.replace(b"alice@example.com", b"alice@example.org"), [RSA, ED]) == b""
    assert signer.sign_message(b"Subject: x\r\n\r\nbody\r\n", [RSA, ED]) == b""


def test_signer_caches_loaded_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    loads = []
    real = dkim.load_private_key
    monkeypatch.setattr(dkim, "load_private_key", lambda key: loads.append(key.selector) or real(key))
    signer = dkim.Signer(cache_size=1)
    for _ in range(3):
        signer.sign(SIMPLE, ED, now=NOW)
    assert loads == [ED.selector]
    signer.sign(SIMPLE, RSA, now=NOW)
    signer.sign(SIMPLE, ED, now=NOW)  # evicted by the RSA key (cache of one): loaded again
    assert loads == [ED.selector, RSA.selector, ED.selector]


def test_from_domain() -> None:
    assert dkim.from_domain(SIMPLE) == "example.com"
    assert dkim.from_domain(b"From: \"Doe, J\" <J@Mail.Example.ORG>\r\n\r\n") == "mail.example.org"
    assert dkim.from_domain(b"From:\r\n bob@folded.example\r\n\r\n") == "folded.example"
    assert dkim.from_domain(b"Subject: x\r\n\r\n") is None
