"""DKIM signing keys, shared SQL for both backends (table dkim_keys: sqlite schema 10,
postgresql schema 5). Keys are configuration: the backends bump config_version when writing."""
from __future__ import annotations

from typing import Any, Sequence

from ...errors import Conflict, NotFound, ValidationError
from ...model import DkimAlgorithm, DkimKey, dkim_algorithm, dkim_selector, normalise_domain
from .schema import now

COLUMNS = "domain, selector, algorithm, private_key, public_key, created_at"
SELECT = f"SELECT {COLUMNS} FROM dkim_keys"
INSERT = f"INSERT INTO dkim_keys ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"
# what clashes with a new key: its selector, or another key of its algorithm (one each)
CLASHES = f"{SELECT} WHERE domain = ? AND (selector = ? OR algorithm = ?)"
DELETE = "DELETE FROM dkim_keys WHERE domain = ? AND selector = ?"
COUNT = "SELECT count(*) FROM dkim_keys WHERE domain = ?"


def key_row(row: Sequence[Any]) -> DkimKey:
    return DkimKey(row[0], row[1], DkimAlgorithm(row[2]), row[3], row[4], row[5])


def list_sql(domain: str | None) -> tuple[str, list[Any]]:
    if domain is None:
        return f"{SELECT} ORDER BY domain, algorithm", []
    return f"{SELECT} WHERE domain = ? ORDER BY algorithm", [domain]


def insert_values(key: DkimKey) -> tuple[Any, ...]:
    """The row to insert, after checking the key as it will be read back; created_at set here
    when empty."""
    if not isinstance(key, DkimKey):
        raise ValidationError("key", f"must be DkimKey, not {type(key).__name__}")
    algorithm = dkim_algorithm(key.algorithm)
    if "PRIVATE KEY" not in key.private_key_pem or not key.public_key_b64:
        raise ValidationError("key", "a DKIM key needs its private key (PEM) and its public key (base64)")
    return (normalise_domain(key.domain), dkim_selector(key.selector), algorithm.value, key.private_key_pem,
            key.public_key_b64, key.created_at or now())


def clash(key: DkimKey, existing: Sequence[DkimKey]) -> Conflict | None:
    """Conflict naming what a new key clashes with, or None."""
    for other in existing:
        if other.algorithm is key.algorithm:
            return Conflict(f"domain {key.domain} already has an {other.algorithm.value} DKIM key (selector "
                        f"{other.selector}); remove it first (postroom domain dkim remove {key.domain} "
                        f"--selector {other.selector})")
    for other in existing:
        return Conflict(f"domain {key.domain} already has a DKIM key with selector {other.selector} "
                        f"({other.algorithm.value}); choose another selector")
    return None


def key_missing(domain: str, selector: str) -> NotFound:
    return NotFound("DKIM key", f"{selector}._domainkey.{domain}")


def domain_has_keys(name: str, keys: int) -> Conflict:
    noun = "key" if keys == 1 else "keys"
    return Conflict(f"domain {name} still has {keys} DKIM signing {noun}; remove them first "
                    f"(postroom domain dkim remove {name})")
