"""DKIM signing keys (RFC 6376, RFC 8463): one per (domain, algorithm), each published in DNS as
the TXT record `<selector>._domainkey.<domain>`.

Exchange on-premises has no DKIM; Exchange Online's New-DkimSigningConfig is the model: the
key pair is made here, the admin publishes the public half, outgoing mail from the domain is
signed with the private half. The private key never leaves the store through a view: `view()`
(what show, the API, the console and the audit log print) has no private key, and the
dataclass's repr hides it so a log line or a traceback never carries it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from ..errors import ValidationError
from ..validation import enum_value


class DkimAlgorithm(str, Enum):
    """The key types `postroom domain dkim new --algorithm` makes."""

    RSA_2048 = "rsa-2048"
    ED25519 = "ed25519"

    @property
    def signature_algorithm(self) -> str:
        """The DKIM-Signature a= tag (RFC 6376 3.3, RFC 8463 3)."""
        return "rsa-sha256" if self is DkimAlgorithm.RSA_2048 else "ed25519-sha256"

    @property
    def key_type(self) -> str:
        """The DNS record's k= tag."""
        return "rsa" if self is DkimAlgorithm.RSA_2048 else "ed25519"


def dkim_algorithm(value: Any, field_name: str = "algorithm") -> DkimAlgorithm:
    if isinstance(value, DkimAlgorithm):
        return value
    return DkimAlgorithm(enum_value(DkimAlgorithm, field_name, str(value).strip().lower()))


# RFC 6376 3.1: selector = sub-domain *( "." sub-domain ), each a DNS label (letters, digits and
# hyphens, not starting or ending with a hyphen, at most 63 characters).
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_SELECTOR = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
MAX_SELECTOR = 63


def dkim_selector(value: Any, field_name: str = "selector") -> str:
    """A selector, lower-cased (DNS names compare ignoring case)."""
    text = str(value).strip().lower()
    if len(text) > MAX_SELECTOR or not _SELECTOR.fullmatch(text):
        raise ValidationError(field_name, f"{value!r} is not a DKIM selector like postroom-202601-rsa (DNS labels "
                                          "of letters, digits and hyphens joined by dots, at most 63 characters; "
                                          "no label starts or ends with a hyphen)")
    return text


def default_selector(algorithm: DkimAlgorithm, year_month: str) -> str:
    """`postroom-<yyyymm>-rsa` or `postroom-<yyyymm>-ed25519`: dated, so a rotated key gets a
    new name, and one per algorithm, so the two keys of a domain never share a DNS name."""
    suffix = "rsa" if algorithm is DkimAlgorithm.RSA_2048 else "ed25519"
    return f"postroom-{year_month}-{suffix}"


def txt_strings(value: str, size: int = 255) -> list[str]:
    """A TXT record value cut into character-strings of at most `size` octets (RFC 1035 3.3:
    one string holds at most 255; a verifier joins them, RFC 6376 3.6.2.2)."""
    return [value[i:i + size] for i in range(0, len(value), size)] or [""]


@dataclass(frozen=True)
class DkimKey:
    """A domain's signing key. `private_key_pem` is PKCS#8 PEM; `public_key_b64` is the DNS
    record's p= value (RSA: the SubjectPublicKeyInfo DER; Ed25519: the 32 raw octets, RFC 8463)."""

    domain: str
    selector: str
    algorithm: DkimAlgorithm
    private_key_pem: str = field(repr=False)
    public_key_b64: str
    created_at: str = ""

    @property
    def dns_name(self) -> str:
        return f"{self.selector}._domainkey.{self.domain}"

    @property
    def txt_value(self) -> str:
        return f"v=DKIM1; k={self.algorithm.key_type}; p={self.public_key_b64}"

    def view(self) -> dict[str, Any]:
        """What an admin sees (show, API, console, audit): everything but the private key."""
        return {
            "domain": self.domain, "selector": self.selector, "algorithm": self.algorithm.value,
            "signature_algorithm": self.algorithm.signature_algorithm, "created_at": self.created_at,
            "dns_name": self.dns_name, "txt_value": self.txt_value, "txt_strings": txt_strings(self.txt_value),
        }
