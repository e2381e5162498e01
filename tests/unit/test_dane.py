"""DANE (RFC 7672) with certificates made by trustme: each usage, selector and matching type
matches the right certificate and refuses the wrong one; DANE-EE ignores names and dates;
DANE-TA checks the chain up to the anchor, the dates and the reference names."""
from __future__ import annotations

import datetime as dt
import hashlib
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from postroom.dane import (TlsaRecord, check_tlsa, match_tlsa, spki_der, tlsa_data, tlsa_record_for,
                           usable_records)

NOW = dt.datetime.now(dt.timezone.utc)


def der(blob) -> bytes:
    return x509.load_pem_x509_certificate(blob.bytes()).public_bytes(serialization.Encoding.DER)


def chain_of(leaf) -> list[bytes]:
    return [der(blob) for blob in leaf.cert_chain_pems]


def ca_der(ca) -> bytes:
    return der(ca.cert_pem)


def flipped(record: TlsaRecord) -> TlsaRecord:
    return TlsaRecord(record.usage, record.selector, record.mtype, bytes([record.data[0] ^ 1]) + record.data[1:])


@pytest.fixture(scope="module")
def ca():
    return trustme.CA()


@pytest.fixture(scope="module")
def leaf(ca):
    return ca.issue_cert("mx.example.net")


KINDS = list(itertools.product([0, 1], [0, 1, 2]))


# -- DANE-EE ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("selector, mtype", KINDS)
def test_dane_ee_matches_the_leaf_by_each_selector_and_matching_type(leaf, selector, mtype):
    record = tlsa_record_for(chain_of(leaf)[0], 3, selector, mtype)
    assert match_tlsa([record], chain_of(leaf))
    assert not match_tlsa([flipped(record)], chain_of(leaf))


@pytest.mark.parametrize("selector, mtype", KINDS)
def test_dane_ee_refuses_another_certificate(ca, leaf, selector, mtype):
    other = trustme.CA().issue_cert("mx.example.net")
    record = tlsa_record_for(chain_of(other)[0], 3, selector, mtype)
    assert not match_tlsa([record], chain_of(leaf))


def test_dane_ee_ignores_names_and_dates():
    expired = trustme.CA().issue_cert("somewhere.else", not_before=NOW - dt.timedelta(days=30),
                                      not_after=NOW - dt.timedelta(days=1))
    chain = chain_of(expired)
    verdict = check_tlsa([tlsa_record_for(chain[0])], chain, names=["mx.example.net"])
    assert verdict.matched and verdict.reason.startswith("DANE-EE record 1 1 matched")


def test_dane_ee_applies_to_the_leaf_only(ca, leaf):
    record = tlsa_record_for(ca_der(ca), 3, 1, 1)  # the CA's key published as if it were the server's
    assert not match_tlsa([record], chain_of(leaf) + [ca_der(ca)], names=["mx.example.net"])


def test_the_public_key_selector_hashes_the_subject_public_key_info(leaf):
    cert = x509.load_der_x509_certificate(chain_of(leaf)[0])
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert spki_der(chain_of(leaf)[0]) == spki
    assert tlsa_data(chain_of(leaf)[0], 1, 1) == hashlib.sha256(spki).digest()
    assert tlsa_data(chain_of(leaf)[0], 0, 2) == hashlib.sha512(chain_of(leaf)[0]).digest()
    assert tlsa_record_for(chain_of(leaf)[0]).text() == "3 1 1 " + hashlib.sha256(spki).hexdigest()


def test_an_rsa_certificate_too():
    rsa_leaf = trustme.CA(key_type=trustme.KeyType.RSA).issue_cert("mx.example.net", key_type=trustme.KeyType.RSA)
    chain = chain_of(rsa_leaf)
    assert match_tlsa([tlsa_record_for(chain[0], 3, 1, 2)], chain)


# -- DANE-TA ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("selector, mtype", KINDS)
def test_dane_ta_matches_a_chain_up_to_the_anchor(ca, leaf, selector, mtype):
    record = tlsa_record_for(ca_der(ca), 2, selector, mtype)
    chain = chain_of(leaf) + [ca_der(ca)]
    assert match_tlsa([record], chain, names=["mx.example.net"])
    assert not match_tlsa([flipped(record)], chain, names=["mx.example.net"])


def test_dane_ta_needs_the_anchor_in_the_chain(ca, leaf):
    record = tlsa_record_for(ca_der(ca), 2, 1, 1)
    assert not match_tlsa([record], chain_of(leaf), names=["mx.example.net"])


def test_dane_ta_checks_the_reference_names(ca, leaf):
    record = tlsa_record_for(ca_der(ca), 2, 0, 1)
    chain = chain_of(leaf) + [ca_der(ca)]
    assert match_tlsa([record], chain, names=["example.net", "MX.Example.NET."])
    wrong = check_tlsa([record], chain, names=["mx.example.org"])
    assert not wrong.matched and wrong.reason == ("a DANE-TA record matched, but the server certificate is not "
                                                  "for mx.example.org")
    assert not match_tlsa([record], chain)  # no names: DANE-TA cannot match


def test_dane_ta_wildcards_cover_one_label(ca):
    wildcard = ca.issue_cert("*.example.net")
    record = tlsa_record_for(ca_der(ca), 2, 1, 1)
    chain = chain_of(wildcard) + [ca_der(ca)]
    assert match_tlsa([record], chain, names=["mx.example.net"])
    assert not match_tlsa([record], chain, names=["a.mx.example.net"])
    assert not match_tlsa([record], chain, names=["example.net"])


def test_dane_ta_refuses_an_expired_server_certificate(ca):
    expired = ca.issue_cert("mx.example.net", not_before=NOW - dt.timedelta(days=30),
                            not_after=NOW - dt.timedelta(days=1))
    record = tlsa_record_for(ca_der(ca), 2, 1, 1)
    verdict = check_tlsa([record], chain_of(expired) + [ca_der(ca)], names=["mx.example.net"])
    assert not verdict.matched and "the server certificate is not valid now" in verdict.reason
    later = check_tlsa([record], chain_of(expired) + [ca_der(ca)], names=["mx.example.net"],
                       now=NOW - dt.timedelta(days=10))
    assert later.matched


def test_dane_ta_refuses_a_leaf_the_anchor_did_not_issue(ca):
    stranger = trustme.CA().issue_cert("mx.example.net")
    record = tlsa_record_for(ca_der(ca), 2, 1, 1)
    verdict = check_tlsa([record], chain_of(stranger) + [ca_der(ca)], names=["mx.example.net"])
    assert not verdict.matched and "does not chain up to that trust anchor" in verdict.reason


def test_dane_ta_through_an_intermediate():
    root = trustme.CA()
    intermediate = root.create_child_ca()
    leaf = intermediate.issue_cert("mx.example.net")
    chain = chain_of(leaf) + [ca_der(root)]  # leaf, intermediate, root
    assert len(chain) == 3
    names = ["mx.example.net"]
    assert match_tlsa([tlsa_record_for(ca_der(root), 2, 1, 1)], chain, names=names)
    assert match_tlsa([tlsa_record_for(ca_der(intermediate), 2, 0, 1)], chain, names=names)
    # the chain out of order still finds its path
    assert match_tlsa([tlsa_record_for(ca_der(root), 2, 1, 1)], [chain[0], chain[2], chain[1]], names=names)
    # without the intermediate there is no path to the root
    assert not match_tlsa([tlsa_record_for(ca_der(root), 2, 1, 1)], [chain[0], chain[2]], names=names)


# -- unusable records ------------------------------------------------------------------------------

def test_pkix_usages_and_unknown_parameters_are_unusable(ca, leaf):
    chain = chain_of(leaf) + [ca_der(ca)]
    good = tlsa_record_for(chain[0], 3, 1, 1)
    unusable = [TlsaRecord(1, 1, 1, good.data), TlsaRecord(0, 1, 1, tlsa_data(ca_der(ca), 1, 1)),
                TlsaRecord(3, 2, 1, good.data), TlsaRecord(3, 1, 3, good.data), TlsaRecord(3, 1, 1, good.data[:31]),
                TlsaRecord(3, 1, 2, good.data), TlsaRecord(3, 0, 0, b""),
                TlsaRecord(1, 0, 0, chain[0]), TlsaRecord(0, 1, 0, spki_der(ca_der(ca)))]
    assert usable_records(unusable + [good]) == [good]
    verdict = check_tlsa(unusable, chain, names=["mx.example.net"])
    assert not verdict.matched and verdict.reason.startswith("no usable TLSA record")
    assert match_tlsa(unusable + [good], chain)


def test_no_certificate_or_garbage_never_matches(leaf):
    record = tlsa_record_for(chain_of(leaf)[0])
    assert check_tlsa([record], []).reason == "the server presented no certificate"
    assert not match_tlsa([record], [b"not a certificate"])
    assert not match_tlsa([TlsaRecord(2, 1, 1, record.data)], [b"\x30\x03\x02\x01\x00"], names=["x"])
    with pytest.raises(ValueError):
        spki_der(b"\x30\x82\xff\xff")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_as_a_certificate_give_a_verdict_never_a_crash(blob):
    try:
        spki_der(blob)
    except ValueError:
        pass
    records = [TlsaRecord(3, 1, 1, b"\0" * 32), TlsaRecord(2, 0, 0, blob), TlsaRecord(3, 0, 0, blob)]
    verdict = check_tlsa(records, [blob, blob], names=["mx.example.net"])
    # only the full-data DANE-EE record can match bytes that are not a certificate; empty data never
    assert verdict.matched == bool(blob) and verdict.record == (records[2] if blob else None)
