"""DANE for SMTP (RFC 7672, RFC 7671, RFC 6698): does a peer's certificate chain match its TLSA records?

Pure: certificates in DER and records in, a verdict out; no DNS, sockets or clock of its own (the
resolver fetches the records, the delivery path takes the peer's chain from its TLS connection).

- Usage 3, DANE-EE: the leaf certificate (selector 0) or its public key (selector 1) must match.
  Nothing else is checked: not the names, not the validity dates (RFC 7672 3.1.1).
- Usage 2, DANE-TA: a certificate of the chain the peer presented is the trust anchor; the leaf
  must chain up to it (signatures checked, each issuer a CA), the leaf and the intermediates must
  be within their validity at `now` (the anchor's own dates are not checked, as for a root), and
  the leaf must carry one of the reference identifiers `names` (the MX host name, and the
  next-hop domain: RFC 7672 3.2.3) as a DNS subject alternative name, or as its common name when
  it has none; a wildcard stands for one whole leftmost label. Without `names`, a DANE-TA record
  never matches. A trust anchor published as a bare public key (2 1 0) and left out of the chain
  by the server is not supported: RFC 7671 5.2.2 asks servers to send the anchor's certificate.
- Usages 0 and 1 (PKIX-TA, PKIX-EE) are unusable in SMTP (RFC 7672 3.1.3), as are unknown
  selectors and matching types: such records are ignored. When every record is unusable, DANE
  still requires TLS but authenticates nothing (RFC 7672 2.2): see `usable_records`.
- Matching types 0 (the full data), 1 (SHA-256) and 2 (SHA-512). The public key is the
  certificate's SubjectPublicKeyInfo exactly as it is encoded in the certificate.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass
from typing import Iterable, Sequence

from cryptography import x509
from cryptography.x509.oid import NameOID

DANE_TA, DANE_EE = 2, 3
SELECTOR_CERT, SELECTOR_SPKI = 0, 1
MATCH_FULL, MATCH_SHA256, MATCH_SHA512 = 0, 1, 2
_MAX_CHAIN = 10
_DATA_LENGTH = {MATCH_SHA256: 32, MATCH_SHA512: 64}


@dataclass(frozen=True)
class TlsaRecord:
    """One TLSA record: certificate usage, selector, matching type and the association data."""
    usage: int
    selector: int
    mtype: int
    data: bytes

    @property
    def usable(self) -> bool:
        """Usable for SMTP (RFC 7672 3.1): DANE-TA or DANE-EE, a known selector and matching type, and
        data of the digest's length (RFC 7671 7: a malformed record is unusable)."""
        if self.usage not in (DANE_TA, DANE_EE) or self.selector not in (SELECTOR_CERT, SELECTOR_SPKI):
            return False
        if self.mtype == MATCH_FULL:
            return len(self.data) > 0
        return len(self.data) == _DATA_LENGTH.get(self.mtype, -1)

    def text(self) -> str:
        """As in a zone file: `3 1 1 9f2c...`."""
        return f"{self.usage} {self.selector} {self.mtype} {self.data.hex()}"


@dataclass(frozen=True)
class DaneVerdict:
    """The outcome of `check_tlsa`: whether the chain matched, by which record, or why not."""
    matched: bool
    reason: str
    record: TlsaRecord | None = None


def usable_records(records: Iterable[TlsaRecord]) -> list[TlsaRecord]:
    return [r for r in records if r.usable]


def tlsa_data(cert_der: bytes, selector: int, mtype: int) -> bytes:
    """The association data a TLSA record with this selector and matching type publishes for a
    certificate: what an administrator puts in DNS for their own server, and what is compared."""
    if selector == SELECTOR_CERT:
        selected = cert_der
    elif selector == SELECTOR_SPKI:
        selected = spki_der(cert_der)
    else:
        raise ValueError(f"TLSA selector {selector} is not 0 (certificate) or 1 (public key)")
    if mtype == MATCH_FULL:
        return selected
    if mtype == MATCH_SHA256:
        return hashlib.sha256(selected).digest()
    if mtype == MATCH_SHA512:
        return hashlib.sha512(selected).digest()
    raise ValueError(f"TLSA matching type {mtype} is not 0 (full), 1 (SHA-256) or 2 (SHA-512)")


def tlsa_record_for(cert_der: bytes, usage: int = DANE_EE, selector: int = SELECTOR_SPKI,
                    mtype: int = MATCH_SHA256) -> TlsaRecord:
    """The record to publish for a certificate; `3 1 1` by default (RFC 7671 8.1's advice)."""
    return TlsaRecord(usage, selector, mtype, tlsa_data(cert_der, selector, mtype))


def match_tlsa(records: Sequence[TlsaRecord], peer_chain_der: list[bytes], *,
               names: Sequence[str] = (), now: dt.datetime | None = None) -> bool:
    """True when the peer's chain (leaf first, as the TLS handshake gave it) matches a usable record."""
    return check_tlsa(records, peer_chain_der, names=names, now=now).matched


def check_tlsa(records: Sequence[TlsaRecord], peer_chain_der: list[bytes], *,
               names: Sequence[str] = (), now: dt.datetime | None = None) -> DaneVerdict:
    """`match_tlsa` with the reason, for the delivery log and the doctor."""
    usable = usable_records(records)
    if not usable:
        return DaneVerdict(False, "no usable TLSA record (only DANE-TA(2) and DANE-EE(3) apply to SMTP)")
    if not peer_chain_der:
        return DaneVerdict(False, "the server presented no certificate")
    leaf_der = peer_chain_der[0]
    for record in usable:
        if record.usage == DANE_EE and _matches(record, leaf_der):
            return DaneVerdict(True, f"DANE-EE record {record.selector} {record.mtype} matched the "
                                     "server certificate", record)
    ta_records = [r for r in usable if r.usage == DANE_TA]
    if not ta_records:
        return DaneVerdict(False, "no DANE-EE record matched the server certificate")
    try:
        chain = [x509.load_der_x509_certificate(der) for der in peer_chain_der[:_MAX_CHAIN]]
    except ValueError:
        return DaneVerdict(False, "the server's certificate chain could not be parsed")
    reasons: list[str] = []
    for record in ta_records:
        for index, der in enumerate(peer_chain_der[:_MAX_CHAIN]):
            if not _matches(record, der):
                continue
            problem = _check_ta_path(chain, index, names, now or dt.datetime.now(dt.timezone.utc))
            if problem is None:
                return DaneVerdict(True, f"DANE-TA record {record.selector} {record.mtype} matched "
                                         f"certificate {index} of the chain", record)
            reasons.append(problem)
    if reasons:
        return DaneVerdict(False, "a DANE-TA record matched, but " + reasons[0])
    return DaneVerdict(False, "no TLSA record matched the server's certificate chain")


def _matches(record: TlsaRecord, cert_der: bytes) -> bool:
    try:
        expected = tlsa_data(cert_der, record.selector, record.mtype)
    except ValueError:
        return False
    return hmac.compare_digest(expected, record.data)


# -- DANE-TA: the path from the leaf to the anchor, its dates, the leaf's names ----------------------

def _check_ta_path(chain: list[x509.Certificate], anchor: int, names: Sequence[str],
                   now: dt.datetime) -> str | None:
    path = _path(chain, 0, anchor, frozenset({0}))
    if path is None:
        return "the server certificate does not chain up to that trust anchor"
    for index in path[:-1] if len(path) > 1 else path:
        cert = chain[index]
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            what = "the server certificate" if index == 0 else f"certificate {index} of the chain"
            return f"{what} is not valid now (valid {cert.not_valid_before_utc:%Y-%m-%d} to " \
                   f"{cert.not_valid_after_utc:%Y-%m-%d})"
    if not names:
        return "no reference name was given to check the server certificate against"
    if not _name_matches(chain[0], names):
        return f"the server certificate is not for {', '.join(names)}"
    return None


def _path(chain: list[x509.Certificate], current: int, anchor: int, used: frozenset[int]) -> list[int] | None:
    """Indexes from `current` up to `anchor`, each certificate issued by the next (depth-first)."""
    if current == anchor:
        return [current]
    for index, issuer in enumerate(chain):
        if index in used or not _issued_by(chain[current], issuer, is_anchor=index == anchor):
            continue
        rest = _path(chain, index, anchor, used | {index})
        if rest is not None:
            return [current] + rest
    return None


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate, *, is_anchor: bool) -> bool:
    try:
        constraints = issuer.extensions.get_extension_for_class(x509.BasicConstraints).value
        if not constraints.ca:
            return False
    except x509.ExtensionNotFound:
        if not is_anchor:  # an old root may lack it; an intermediate must say it is a CA
            return False
    try:
        cert.verify_directly_issued_by(issuer)
    except Exception:  # wrong issuer name, bad signature, unsupported key: not issued by it
        return False
    return True


def _name_matches(leaf: x509.Certificate, names: Sequence[str]) -> bool:
    try:
        presented = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value \
            .get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        presented = []
    if not presented:
        presented = [str(a.value) for a in leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    wanted = {_ascii_name(n) for n in names if n}
    for pattern in (_ascii_name(p) for p in presented):
        if pattern in wanted:
            return True
        if pattern.startswith("*.") and "*" not in pattern[2:]:
            suffix = pattern[1:]
            if any(n.endswith(suffix) and "." not in n[:-len(suffix)] and n[:-len(suffix)] for n in wanted):
                return True
    return False


def _ascii_name(name: str) -> str:
    name = name.strip().rstrip(".").lower()
    try:
        return name.encode("idna").decode("ascii")
    except UnicodeError:
        return name


# -- the SubjectPublicKeyInfo as encoded in the certificate -----------------------------------------

def spki_der(cert_der: bytes) -> bytes:
    """The certificate's SubjectPublicKeyInfo, byte for byte (a re-encoding could differ)."""
    try:
        tbs = _der_sequence(cert_der, 0)[0]  # Certificate: SEQUENCE { tbsCertificate, ... }
        position, end = _der_sequence(cert_der, tbs)
        if cert_der[position] == 0xA0:  # [0] version
            position = _der_next(cert_der, position)
        for _ in range(5):  # serial, signature algorithm, issuer, validity, subject
            position = _der_next(cert_der, position)
        if position >= end or cert_der[position] != 0x30:
            raise ValueError("no SubjectPublicKeyInfo")
        return cert_der[position:_der_next(cert_der, position)]
    except IndexError:
        raise ValueError("not a DER certificate") from None


def _der_content(der: bytes, position: int) -> tuple[int, int]:
    """(start, end) of the content of the element at `position`."""
    length = der[position + 1]
    start = position + 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4:
            raise ValueError("unsupported DER length")
        length = int.from_bytes(der[start:start + count], "big")
        start += count
    if start + length > len(der):
        raise ValueError("truncated DER")
    return start, start + length


def _der_next(der: bytes, position: int) -> int:
    return _der_content(der, position)[1]


def _der_sequence(der: bytes, position: int) -> tuple[int, int]:
    """The element at `position` must be a SEQUENCE: (position of its first child, its end)."""
    if der[position] != 0x30:
        raise ValueError("expected a DER SEQUENCE")
    return _der_content(der, position)
