"""Certificates and TLS server contexts.

Errors are ValidationError("certificate", reason) with the reason in words: administrators
see them in the CLI, the console and the doctor, so no ssl/OpenSSL exception names leak out.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import ssl
import tempfile
from typing import Any, Callable

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .errors import ValidationError

# TLS 1.2 suites: forward secrecy (ECDHE) with AEAD ciphers only. TLS 1.3 suites are fixed by OpenSSL.
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"

_CURVE_NAMES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}


def _fail(reason: str) -> ValidationError:
    return ValidationError("certificate", reason)


def create_self_signed(cert_path: str, key_path: str, names: list[str], *, days: int = 825) -> None:
    """Write a self-signed EC P-256 certificate for `names` (DNS names and/or IP addresses).

    P-256 because an ECDSA handshake costs the server far less CPU than RSA-2048.
    825 days is the longest validity Apple clients accept for a server certificate.
    """
    if not names:
        raise ValidationError("names", "at least one host name or IP address is needed")
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = []
    for name in names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            sans.append(x509.DNSName(name))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0][:64])])
    now = dt.datetime.now(dt.timezone.utc)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))  # tolerate small clock skew on clients
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    _write_atomic(key_path, key_pem, 0o600)
    _write_atomic(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)


def _write_atomic(path: str, data: bytes, mode: int) -> None:
    # Create with the final mode from the start: a private key must never be world-readable,
    # not even for a moment; then rename so readers never see half a file.
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _read(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise _fail(f"{what} file {path} does not exist") from None
    except IsADirectoryError:
        raise _fail(f"{what} file {path} is a directory, not a file") from None
    except PermissionError:
        raise _fail(f"{what} file {path} cannot be read (permission denied)") from None
    except OSError as exc:
        raise _fail(f"{what} file {path} cannot be read ({exc.strerror or 'I/O error'})") from None


def _load_cert(data: bytes, path: str) -> x509.Certificate:
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise _fail(f"{path} is not a PEM certificate (no BEGIN CERTIFICATE block)")
    try:
        # The first certificate in the file is the server's own; any others are its chain.
        return x509.load_pem_x509_certificates(data)[0]
    except ValueError:
        raise _fail(f"{path} contains a damaged certificate that cannot be parsed") from None


_KEY_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----.*?-----END \1PRIVATE KEY-----", re.S)


def _load_key(data: bytes, path: str) -> Any:
    # A combined PEM holds the certificate first; pick the key block out of it.
    match = _KEY_BLOCK.search(data)
    if match is None:
        raise _fail(f"{path} contains no PEM private key (no BEGIN PRIVATE KEY block)")
    try:
        return serialization.load_pem_private_key(match.group(0), password=None)
    except TypeError:
        raise _fail(f"the private key in {path} is protected by a passphrase; store it unencrypted (mode 0600)"
                    ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise _fail(f"the private key in {path} is damaged or of an unsupported type") from None


def _public_der(public_key: Any) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _policy_context() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.options |= ssl.OP_NO_COMPRESSION  # CRIME
    ctx.set_ciphers(TLS12_CIPHERS)
    # TLS 1.3: one session ticket per handshake, as Postfix sends. OpenSSL's default of two
    # lets a browser open two resumed connections; a mail client resumes at most one, and
    # each ticket costs the server an encryption and a record.
    ctx.num_tickets = 1
    return ctx


def switching_context(current: Callable[[], ssl.SSLContext | None]) -> ssl.SSLContext:
    """A listener's context that hands each handshake to `current()`.

    Implicit-TLS listeners keep the context they were created with; switching in the
    ClientHello callback (called with or without SNI) lets a new certificate apply to the
    next connection without closing the listening socket.
    """
    ctx = _policy_context()

    def choose(ssl_object: ssl.SSLObject, server_name: str | None, _: ssl.SSLContext) -> None:
        chosen = current()
        if chosen is not None:
            ssl_object.context = chosen

    ctx.sni_callback = choose
    return ctx


def server_context(cert_path: str, key_path: str | None = None) -> ssl.SSLContext:
    """A TLS server context (TLS 1.2 minimum) for the certificate, with its key.

    When `key_path` is None the key is expected in the certificate file (combined PEM).
    """
    cert_data = _read(cert_path, "certificate")
    cert = _load_cert(cert_data, cert_path)
    key_file = key_path or cert_path
    key_data = cert_data if key_path is None else _read(key_path, "key")
    if key_path is None and _KEY_BLOCK.search(key_data) is None:
        raise _fail(f"{cert_path} contains no private key; give the key file too")
    key = _load_key(key_data, key_file)
    if _public_der(key.public_key()) != _public_der(cert.public_key()):
        raise _fail(f"the private key in {key_file} does not match the certificate in {cert_path}")

    ctx = _policy_context()
    try:
        ctx.load_cert_chain(cert_path, key_file)
    except (ssl.SSLError, OSError, ValueError):
        # Parsed fine above, so what is left is e.g. a key type this OpenSSL refuses.
        raise _fail(f"the certificate {cert_path} or its key could not be loaded for TLS") from None
    return ctx


def _key_type(public_key: Any) -> str:
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return f"EC {_CURVE_NAMES.get(public_key.curve.name, public_key.curve.name)}"
    if isinstance(public_key, rsa.RSAPublicKey):
        return f"RSA {public_key.key_size}"
    if isinstance(public_key, dsa.DSAPublicKey):
        return f"DSA {public_key.key_size}"
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return "Ed25519"
    if isinstance(public_key, ed448.Ed448PublicKey):
        return "Ed448"
    return type(public_key).__name__


def _common_name(name: x509.Name) -> str | None:
    attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else None


def certificate_info(cert_path: str) -> dict[str, Any]:
    """Facts about a certificate file for `doctor` and the console."""
    cert = _load_cert(_read(cert_path, "certificate"), cert_path)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [str(v) for v in san.get_values_for_type(x509.DNSName)]
        names += [str(v) for v in san.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        names = []
    not_before = cert.not_valid_before_utc
    not_after = cert.not_valid_after_utc
    now = dt.datetime.now(dt.timezone.utc)
    fingerprint = cert.fingerprint(hashes.SHA256()).hex().upper()
    return {
        "subject_cn": _common_name(cert.subject),
        "issuer_cn": _common_name(cert.issuer),
        "self_signed": cert.issuer == cert.subject,
        "san": names,
        "not_before": not_before.isoformat(),
        "not_after": not_after.isoformat(),
        "days_left": (not_after - now).days,  # negative once expired
        "fingerprint_sha256": ":".join(fingerprint[i : i + 2] for i in range(0, len(fingerprint), 2)),
        "key_type": _key_type(cert.public_key()),
    }
