"""Self-signed certificates, server contexts and real handshakes over a socket pair."""
from __future__ import annotations

import datetime as dt
import os
import socket
import ssl
import stat
import threading
from typing import NamedTuple

import pytest
import trustme

from postroom.errors import ValidationError
from postroom.tls import certificate_info, create_self_signed, server_context, switching_context


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls") / "nested" / "dir"  # parents must be created
    cert, key = str(d / "cert.pem"), str(d / "key.pem")
    create_self_signed(cert, key, ["localhost", "127.0.0.1", "::1", "mail.example.com"])
    return cert, key


class Handshake(NamedTuple):
    version: str  # as the client negotiated it
    server: list  # [the server's version, or its error]
    cipher: str
    certificate: bytes  # DER of the certificate the server presented


def handshake(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext, hostname: str, server_result=None) -> Handshake:
    """Run both ends of a TLS handshake over a socket pair, then one line of data across it."""
    a, b = socket.socketpair()
    a.settimeout(5)
    b.settimeout(5)
    server_result = [] if server_result is None else server_result

    def serve():
        try:
            with server_ctx.wrap_socket(b, server_side=True) as s:
                server_result.append(s.version())
                s.sendall(b"+OK\r\n")
        except (ssl.SSLError, OSError) as exc:
            server_result.append(exc)

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with client_ctx.wrap_socket(a, server_hostname=hostname) as c:
            assert c.recv(5) == b"+OK\r\n"
            return Handshake(c.version(), server_result, c.cipher()[0], c.getpeercert(binary_form=True))
    finally:
        a.close()
        thread.join(5)
        b.close()


def trusting(cert_path: str) -> ssl.SSLContext:
    with open(cert_path) as f:
        ctx = ssl.create_default_context(cadata=f.read())
    ctx.verify_flags |= ssl.VERIFY_X509_STRICT  # Python 3.13's default: the cert must pass it
    return ctx


def first_certificate(path) -> bytes:
    """DER of the first certificate in a PEM file (which may also hold the key, before or after)."""
    text = open(path).read()
    begin = text.index("-----BEGIN CERTIFICATE-----")
    end = text.index("-----END CERTIFICATE-----", begin) + len("-----END CERTIFICATE-----")
    return ssl.PEM_cert_to_DER_cert(text[begin:end])


AEAD = ("TLS_AES_256_GCM_SHA384", "TLS_AES_128_GCM_SHA256", "TLS_CHACHA20_POLY1305_SHA256")


def test_files_and_modes(pair):
    cert, key = pair
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(cert).st_mode) == 0o644
    assert "PRIVATE KEY" in open(key).read()


@pytest.mark.parametrize("hostname", ["localhost", "127.0.0.1", "mail.example.com"])
def test_handshake_verifies_for_every_name(pair, hostname):
    cert, key = pair
    done = handshake(server_context(cert, key), trusting(cert), hostname)
    assert done.version == "TLSv1.3" and done.cipher in AEAD  # both ends offer 1.3: it is chosen
    assert done.server == [done.version]
    assert done.certificate == first_certificate(cert)


def test_handshake_tls12_uses_ecdhe_aead(pair):
    cert, key = pair
    client = trusting(cert)
    client.maximum_version = ssl.TLSVersion.TLSv1_2
    a, b = socket.socketpair()
    ctx = server_context(cert, key)
    done = []
    t = threading.Thread(target=lambda: done.append(ctx.wrap_socket(b, server_side=True)))
    t.start()
    with client.wrap_socket(a, server_hostname="localhost") as c:
        name, version, _ = c.cipher()
        assert version == "TLSv1.2"
        assert name.startswith("ECDHE-ECDSA-") and ("GCM" in name or "CHACHA20" in name)
    t.join(5)
    done[0].close()
    b.close()


@pytest.mark.parametrize("switching", [False, True])
def test_tls13_sends_one_session_ticket_as_postfix_does(pair, switching):
    cert, key = pair
    chosen = server_context(cert, key)
    server = switching_context(lambda: chosen) if switching else chosen
    if switching:
        server.load_cert_chain(cert, key)  # the listener's own, replaced in the ClientHello
    client = trusting(cert)
    seen = []
    client._msg_callback = lambda conn, direction, version, content_type, msg_type, data: seen.append(
        (direction, msg_type))
    assert handshake(server, client, "localhost").version == "TLSv1.3"
    assert seen.count(("read", ssl._TLSMessageType.NEWSESSION_TICKET)) == 1


def test_wrong_name_is_refused(pair):
    cert, key = pair
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(server_context(cert, key), trusting(cert), "other.example.net")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_tls11_client_is_refused(pair):
    cert, key = pair
    client = trusting(cert)
    client.set_ciphers("DEFAULT:@SECLEVEL=0")  # let the client really offer TLS 1.1
    client.minimum_version = ssl.TLSVersion.TLSv1
    client.maximum_version = ssl.TLSVersion.TLSv1_1
    server: list[object] = []
    with pytest.raises((ssl.SSLError, OSError)):
        handshake(server_context(cert, key), client, "localhost", server)
    # The server itself refused the old protocol (not just a client-side failure).
    assert len(server) == 1 and isinstance(server[0], ssl.SSLError)
    assert "unsupported protocol" in str(server[0]).lower()


def test_combined_pem(pair, tmp_path):
    cert, key = pair
    combined = tmp_path / "combined.pem"
    combined.write_text(open(cert).read() + open(key).read())
    done = handshake(server_context(str(combined)), trusting(cert), "localhost")
    assert done.version == "TLSv1.3" and done.cipher in AEAD
    assert done.certificate == first_certificate(cert)


def test_combined_pem_key_first(pair, tmp_path):
    cert, key = pair
    combined = tmp_path / "combined.pem"
    combined.write_text(open(key).read() + open(cert).read())
    done = handshake(server_context(str(combined)), trusting(cert), "localhost")
    assert done.version == "TLSv1.3" and done.cipher in AEAD
    assert done.certificate == first_certificate(cert)


def test_mismatched_key(pair, tmp_path):
    cert, _ = pair
    create_self_signed(str(tmp_path / "c2.pem"), str(tmp_path / "k2.pem"), ["localhost"])
    with pytest.raises(ValidationError) as info:
        server_context(cert, str(tmp_path / "k2.pem"))
    assert info.value.field == "certificate"
    assert "key" in info.value.reason and "does not match" in info.value.reason


def test_trustme_rsa_chain_loads(tmp_path):
    ca = trustme.CA()
    leaf = ca.issue_cert("localhost")
    combined = tmp_path / "leaf.pem"
    leaf.private_key_and_cert_chain_pem.write_to_path(str(combined))
    client = ssl.create_default_context()
    ca.configure_trust(client)
    done = handshake(server_context(str(combined)), client, "localhost")
    assert done.version == "TLSv1.3" and done.cipher in AEAD
    assert done.certificate == first_certificate(combined)  # the leaf, not the CA
    assert done.certificate == ssl.PEM_cert_to_DER_cert(leaf.cert_chain_pems[0].bytes().decode())


@pytest.mark.parametrize(
    "setup, words",
    [
        (lambda d: None, "does not exist"),
        (lambda d: (d / "cert.pem").write_text("hello"), "not a PEM certificate"),
        (lambda d: (d / "cert.pem").mkdir(), "directory"),
    ],
)
def test_bad_certificate_files(tmp_path, setup, words):
    setup(tmp_path)
    with pytest.raises(ValidationError) as info:
        server_context(str(tmp_path / "cert.pem"), str(tmp_path / "key.pem"))
    assert words in info.value.reason
    assert "Error" not in info.value.message  # no exception names reach the admin


def test_missing_or_bad_key(pair, tmp_path):
    cert, _ = pair
    with pytest.raises(ValidationError, match="no private key"):
        server_context(cert)  # the certificate file alone holds no key
    with pytest.raises(ValidationError, match="does not exist"):
        server_context(cert, str(tmp_path / "missing.pem"))
    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ValidationError, match="damaged"):
        server_context(cert, str(bad))


def test_damaged_certificate(tmp_path):
    p = tmp_path / "cert.pem"
    p.write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    with pytest.raises(ValidationError, match="damaged"):
        certificate_info(str(p))


def test_certificate_info(pair):
    cert, _ = pair
    info = certificate_info(cert)
    assert info["subject_cn"] == "localhost"
    assert info["self_signed"] is True
    assert info["san"] == ["localhost", "mail.example.com", "127.0.0.1", "::1"]
    assert info["key_type"] == "EC P-256"
    assert 823 <= info["days_left"] <= 825
    not_before = dt.datetime.fromisoformat(info["not_before"])
    not_after = dt.datetime.fromisoformat(info["not_after"])
    assert not_before.tzinfo is not None and not_before < dt.datetime.now(dt.timezone.utc) < not_after
    fp = info["fingerprint_sha256"]
    assert len(fp) == 95 and fp.count(":") == 31


def test_certificate_info_rsa(tmp_path):
    leaf = trustme.CA().issue_cert("mail.example.com", key_type=trustme.KeyType.RSA)
    leaf.cert_chain_pems[0].write_to_path(str(tmp_path / "c.pem"))
    info = certificate_info(str(tmp_path / "c.pem"))
    assert info["key_type"] == "RSA 2048"
    assert info["san"] == ["mail.example.com"]
    assert info["self_signed"] is False


def test_needs_a_name(tmp_path):
    with pytest.raises(ValidationError):
        create_self_signed(str(tmp_path / "c"), str(tmp_path / "k"), [])
