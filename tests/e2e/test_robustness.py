"""Live robustness: random and malformed bytes at every port of a real node, then proof that
it still answers correctly (POP3 greeting + CAPA, SMTP EHLO, a poplib login, an smtplib
delivery, a 401 JSON from the admin API) and that its log holds no Python traceback.

Reproducible: the byte streams come from random.Random(SEED); set POSTROOM_ROBUSTNESS_SEED
to replay a failing run. The barrage is bounded in time (BUDGET seconds).
"""
from __future__ import annotations

import json
import os
import poplib
import random
import smtplib
import socket
import ssl
import struct
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from .messages import message

#: Found by this test (reproducer kept with the fuzz corpus): a request whose chunked body has
#: a bad chunk size gets uvicorn's 400, then the app's own answer was refused by h11 and logged
#: as an internal error with a traceback. Fixed in web/errors.py; pinned by
#: test_bad_chunked_body_logs_no_traceback.
CHUNKED_REPRO = (Path(__file__).parents[1] / "fuzz" / "corpus" / "http" / "chunked-bad-size.bin")

pytestmark = pytest.mark.e2e

SEED = int(os.environ.get("POSTROOM_ROBUSTNESS_SEED", "20261127"))
CONNECTIONS = 320
BUDGET = 12.0  # seconds for the whole barrage
WORKERS = 8


def client_hello() -> bytes:
    """A genuine TLS ClientHello, to be mangled."""
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


HELLO = client_hello()


def mangled_hello(rng: random.Random) -> bytes:
    data = bytearray(HELLO)
    choice = rng.randrange(5)
    if choice == 0:
        return bytes(data[: rng.randrange(1, len(data))])  # truncated
    if choice == 1:
        for _ in range(rng.randrange(1, 20)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data)
    if choice == 2:  # record header announcing far more than follows
        return b"\x16\x03\x01" + struct.pack(">H", 0xFFFF) + bytes(data[5:])
    if choice == 3:  # a plaintext command on a TLS port
        return b"USER a\r\nCAPA\r\n"
    return rng.randbytes(rng.randrange(1, 3000))


def garbage(rng: random.Random) -> bytes:
    pick = rng.randrange(8)
    if pick == 0:
        return rng.randbytes(rng.randrange(1, 4000))
    if pick == 1:
        return b"A" * rng.choice([600, 1100, 70_000, 300_000]) + rng.choice([b"\r\n", b"\n", b""])
    if pick == 2:
        return b"\x00" * rng.randrange(1, 2000) + b"\r\n"
    if pick == 3:
        return bytes(rng.randrange(128, 256) for _ in range(rng.randrange(1, 500))) + b"\r\n"
    if pick == 4:
        return b"\r\n" * rng.randrange(1, 50) + b"\n" * rng.randrange(50) + b"\r" * rng.randrange(50)
    if pick == 5:
        return b"".join(rng.choice([b"CAPA", b"STAT", b"NOOP", b"RSET", b"HELP", b"X"]) +
                        rng.choice([b"\r\n", b"\n", b" \x00\r\n"]) for _ in range(rng.randrange(1, 60)))
    if pick == 6:
        return rng.randbytes(rng.randrange(1, 64)) + b"\r\n" + rng.randbytes(rng.randrange(1, 64))
    return mangled_hello(rng)


def pop3_payload(rng: random.Random) -> bytes:
    return rng.choice([garbage(rng), b"STLS\r\n" + mangled_hello(rng), b"AUTH PLAIN\r\n" + garbage(rng),
                       b"AUTH\r\nCAPA\r\n" + garbage(rng), b"TOP 1 99999999999999999999\r\n" + garbage(rng)])


def smtp_payload(rng: random.Random) -> bytes:
    head = b"EHLO fuzz.example\r\n"
    return rng.choice([
        garbage(rng),
        head + b"STARTTLS\r\n" + mangled_hello(rng),
        head + b"MAIL FROM:<a@b.example>\r\nRCPT TO:<nobody@example.invalid>\r\nDATA\r\n" + garbage(rng),
        head + b"MAIL FROM:<a@b.example>\r\nBDAT " + str(rng.randrange(10**9)).encode() + b"\r\n" + garbage(rng),
        head + b"AUTH LOGIN\r\n" + garbage(rng),
        b"\x00EHLO\x00\r\n" + garbage(rng),
    ])


def http_payload(rng: random.Random) -> bytes:
    return rng.choice([
        b"GET /api/v1/mailboxes HTTP/1.1\r\nHost: 127.0.0.1\r\n",  # never finished
        b"GET /" + b"a" * rng.choice([100, 9000, 70_000]) + b" HTTP/1.1\r\n\r\n",
        b"POST /api/v1/mailboxes HTTP/1.1\r\nHost: x\r\nContent-Length: 99999\r\n\r\n{\"a\":",
        b"POST /api/v1/mailboxes HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
        b"GET / HTTP/1.1\r\n" + b"X-H: " + b"v" * 20_000 + b"\r\n\r\n",
        b"GET / HTTP/9.9\r\nContent-Length: 3\r\n\r\n",
        b"\x16\x03\x01\x02\x00" + garbage(rng),
        garbage(rng),
        b"GET /api/v1/mailboxes HTTP/1.1\r\nAuthorization: Basic \x00\xff===\r\n\r\n",
    ])


def abuse(port: int, payload: bytes, rng: random.Random, deadline: float) -> bool:
    """One connection's worth of abuse; False when the time budget was already spent."""
    if time.monotonic() > deadline:
        return False
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as sock:
            sock.settimeout(0.25)
            if rng.random() < 0.5:
                try:
                    sock.recv(4096)  # greeting, if any
                except OSError:
                    pass
            cut = rng.randrange(len(payload) + 1) if rng.random() < 0.3 else len(payload)
            for start in range(0, cut, 65536):
                sock.sendall(payload[start:min(start + 65536, cut)])
            try:
                sock.recv(65536)
            except OSError:
                pass
            if rng.random() < 0.3:  # abortive close: RST instead of FIN
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass  # the server may cut us off: that is allowed
    return True


def test_random_and_malformed_bytes_at_every_port(server, tmp_path):
    server.new_mailbox("sturdy@example.com", "pw-sturdy-1")
    rng = random.Random(SEED)
    ports = [
        (server.pop_port, pop3_payload), (server.pops_port, lambda r: mangled_hello(r)),
        (server.smtp_port, smtp_payload), (server.submission_port, smtp_payload),
        (server.http_port, http_payload), (server.https_port, lambda r: mangled_hello(r)),
    ]
    jobs = []
    for _ in range(CONNECTIONS):
        port, make = rng.choice(ports)
        jobs.append((port, make(rng), random.Random(rng.random())))
    deadline = time.monotonic() + BUDGET
    started = time.monotonic()
    with ThreadPoolExecutor(WORKERS) as pool:
        done = sum(pool.map(lambda job: abuse(*job, deadline), jobs))
    assert time.monotonic() - started < BUDGET + 5
    assert done >= CONNECTIONS * 0.75, f"only {done} connections in the budget"
    assert server.process.poll() is None, "postroom exited under fuzzing"

    # POP3: a fresh greeting and CAPA.
    with socket.create_connection(("127.0.0.1", server.pop_port), timeout=10) as sock:
        reader = sock.makefile("rb")
        assert reader.readline().startswith(b"+OK")
        sock.sendall(b"CAPA\r\n")
        assert reader.readline().startswith(b"+OK")
        capa = []
        while (line := reader.readline()) != b".\r\n":
            assert line, "CAPA not terminated"
            capa.append(line.strip())
        assert b"UIDL" in capa and b"STLS" in capa

    # SMTP: EHLO on the default connector.
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as client:
        code, banner = client.ehlo("after.fuzz.example")
        assert code == 250 and b"ENHANCEDSTATUSCODES" in banner
        # ... and a real delivery.
        assert client.sendmail("sender@example.net", ["sturdy@example.com"], message("after fuzz")) == {}

    # A real poplib login that sees the delivered message.
    context = ssl.create_default_context(cafile=server.cert)
    context.check_hostname = False
    pop = poplib.POP3_SSL("127.0.0.1", server.pops_port, context=context, timeout=10)
    try:
        pop.user("sturdy@example.com")
        pop.pass_("pw-sturdy-1")
        count, _ = pop.stat()
        assert count == 1
        assert b"Subject: after fuzz" in b"\r\n".join(pop.retr(1)[1])
    finally:
        pop.quit()

    # The admin API: 401 with a JSON body.
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{server.http_port}/api/v1/mailboxes", timeout=10)
        raise AssertionError("admin API answered without credentials")
    except urllib.error.HTTPError as exc:
        assert exc.code == 401
        assert json.loads(exc.read())["error"]["code"] == "unauthenticated"

    server.log.flush()
    log = server.log_path.read_text(errors="replace")
    assert "Traceback (most recent call last)" not in log, log[-4000:]


def test_bad_chunked_body_logs_no_traceback(server):
    server.log.flush()
    before = server.log_path.read_text(errors="replace").count("Traceback (most recent call last)")
    with socket.create_connection(("127.0.0.1", server.http_port), timeout=5) as sock:
        sock.sendall(CHUNKED_REPRO.read_bytes())
        sock.settimeout(5)
        answer = sock.recv(4096)
        assert answer.startswith(b"HTTP/1.1 400 ")
        while chunk := sock.recv(4096):  # until the server closes it: done with the request, and its logging
            answer += chunk
    server.log.flush()
    after = server.log_path.read_text(errors="replace").count("Traceback (most recent call last)")
    assert after == before
