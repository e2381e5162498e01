"""Cost of DKIM-signing one message (postroom.dkim.Signer, cached keys) for each algorithm and
message size, single-threaded; prints microseconds per message (best of 5 runs of N). Also
dkimpy's signer for comparison when it is installed (pip install dkimpy). docs/operations.md
quotes it:

    python bench/dkim_sign.py [N]
"""
import sys
import time

from postroom import dkim
from postroom.model import DkimAlgorithm

n = int(sys.argv[1]) if len(sys.argv) > 1 else 500
HEAD = (b"From: Alice <alice@example.com>\r\nTo: bob@partner.example\r\nSubject: Quarterly figures\r\n"
        b"Date: Mon, 7 Dec 2026 05:00:00 +0000\r\nMessage-ID: <1@example.com>\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n")
LINE = b"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor inc\r\n"


def message(size):
    return HEAD + LINE * ((size - len(HEAD)) // len(LINE))


def best(fn, runs=5):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        times.append((time.perf_counter() - start) / n)
    return min(times) * 1e6


try:
    import dkim as dkimpy
except ImportError:
    dkimpy = None

signer = dkim.Signer()
print(f"{'algorithm':10} {'size':>7} {'postroom µs':>12} {'dkimpy µs':>10}")
for algorithm in DkimAlgorithm:
    key = dkim.generate_key("example.com", None, algorithm)
    for size in (2048, 102400):
        msg = message(size)
        ours = best(lambda: signer.sign_message(msg, [key], now=1796619548))
        theirs = ""
        if dkimpy is not None:
            pem = key.private_key_pem.encode()
            if algorithm is DkimAlgorithm.ED25519:  # dkimpy takes the raw 32-octet seed, base64
                from cryptography.hazmat.primitives import serialization
                raw = dkim.load_private_key(key).private_bytes(
                    serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
                import base64
                pem = base64.b64encode(raw)
            sig = dict(selector=key.selector.encode(), domain=b"example.com", privkey=pem,
                       canonicalize=(b"relaxed", b"relaxed"),
                       signature_algorithm=key.algorithm.signature_algorithm.encode())
            theirs = f"{best(lambda: dkimpy.sign(msg, **sig), runs=2):10.0f}"
        print(f"{algorithm.value:10} {len(msg):7} {ours:12.0f} {theirs:>10}")
