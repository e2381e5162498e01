"""Secrets postroom must give back (a smart host's password), stored sealed with AES-256-GCM
under a key file in the data directory, `DATA/secrets.key` (32 random octets, mode 0600,
created on first use).

Only the sealed form reaches the store, so the database, a backup of it (which never holds the
key file) and the support bundle never show the secret. Every node that delivers through a
connector with a password needs the same key: copy `secrets.key` to each node's data directory
(`postroom init` on a new node does not make one until a secret is first sealed there).
A sealed value is `aesgcm:v1:` + base64url(12-octet nonce + ciphertext + tag); the associated
data binds it to what it protects (e.g. `send-connector/Internet/auth_password`), so a value
copied to another connector does not open.
"""
from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import Unavailable, ValidationError
from .model import SendConnector

KEY_FILE = "secrets.key"
PREFIX = "aesgcm:v1:"  # model.outbound.SEALED_PREFIX
_KEY_SIZE = 32


def key_path(data_dir: str) -> str:
    return os.path.join(data_dir, KEY_FILE)


def _load_key(data_dir: str, *, create: bool) -> bytes:
    path = key_path(data_dir)
    try:
        with open(path, "rb") as handle:
            key = handle.read()
    except FileNotFoundError:
        if not create:
            raise Unavailable(f"{path} is missing: the sealed secrets of this install cannot be opened "
                              "(copy secrets.key from the node that set them, or set the password again)"
                              ) from None
        key = os.urandom(_KEY_SIZE)
        try:  # O_EXCL: two processes sealing at once must not each write their own key
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return _load_key(data_dir, create=False)
        with os.fdopen(fd, "wb") as handle:
            handle.write(key)
            handle.flush()
            os.fsync(handle.fileno())
        return key
    if len(key) != _KEY_SIZE:
        raise Unavailable(f"{path} is not a postroom secrets key ({len(key)} octets, expected {_KEY_SIZE})")
    return key


def seal(data_dir: str, secret: str, purpose: str) -> str:
    """The stored form of `secret` (the key file is created on first use)."""
    key = _load_key(data_dir, create=True)
    nonce = os.urandom(12)
    sealed = AESGCM(key).encrypt(nonce, secret.encode("utf-8"), purpose.encode("utf-8"))
    return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")


def unseal(data_dir: str, sealed: str, purpose: str) -> str:
    """The secret back (the delivery worker, when it logs on to a smart host). Unavailable if
    the key file is missing or is not the one that sealed it."""
    if not sealed.startswith(PREFIX):
        raise ValidationError("secret", "is not a sealed value")
    key = _load_key(data_dir, create=False)
    try:
        raw = base64.urlsafe_b64decode(sealed[len(PREFIX):].encode("ascii"))
        return AESGCM(key).decrypt(raw[:12], raw[12:], purpose.encode("utf-8")).decode("utf-8")
    except (InvalidTag, ValueError):
        raise Unavailable(f"the sealed {purpose} does not open with {key_path(data_dir)} (another node's key, "
                          "or the value was damaged): copy the key that sealed it, or set the password again"
                          ) from None


def smart_host_password(data_dir: str, connector: SendConnector) -> str | None:
    """The password the delivery worker logs on to `connector`'s smart hosts with (None: none
    set). Unavailable when this node's secrets.key is missing or is not the one that sealed it:
    the message is deferred, and the error says to copy the key or set the password again."""
    if connector.auth_password is None:
        return None
    return unseal(data_dir, connector.auth_password, connector.password_purpose)


__all__ = ["KEY_FILE", "PREFIX", "key_path", "seal", "smart_host_password", "unseal"]
