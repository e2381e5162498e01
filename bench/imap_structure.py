"""Cost of the IMAP4 message structure every SMTP delivery computes (structure.describe: ENVELOPE,
BODY, BODYSTRUCTURE and the part map as JSON) and every FETCH loads (structure.load), for a plain
and a multipart message (text and HTML alternatives, a base64 attachment) of 2 KB and 1 MiB;
CPU microseconds per message (process time: a busy machine inflates it less than wall time), best of
7 runs of N, single-threaded. For scale, the standard
library's email parser on the same bytes (which computes less: no IMAP rendering):

    python bench/imap_structure.py [N]
"""
import email
import email.policy
import os
import sys
import time

from postroom.protocol.imap4 import structure

n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
HEAD = (b"Return-Path: <alice@example.com>\r\n"
        b"Received: from client.example (client.example [192.0.2.1])\r\n\tby mx.example.com (postroom) with ESMTPS"
        b" id 4F2A\r\n\tfor <bob@example.com>; Mon, 7 Dec 2026 10:00:00 +0000\r\n"
        b"From: Alice Example <alice@example.com>\r\nTo: Bob <bob@example.com>, carol@example.com\r\n"
        b"Subject: Quarterly figures\r\nDate: Mon, 7 Dec 2026 10:00:00 +0000\r\nMessage-ID: <1@example.com>\r\n"
        b"MIME-Version: 1.0\r\n")
LINE = b"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor inc\r\n"
BOUNDARY = b"------------Ak2Xv0b3Xv6hQ2Z0xqPaDj4t"  # a Thunderbird-style boundary


def plain(size):
    head = HEAD + b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
    return head + LINE * ((size - len(head)) // len(LINE))


def multipart(size):
    head = (HEAD + b'Content-Type: multipart/mixed; boundary="' + BOUNDARY + b'"\r\n\r\n'
            b"--" + BOUNDARY + b"\r\nContent-Type: multipart/alternative; boundary=alt\r\n\r\n"
            b"--alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + LINE * 3 +
            b"--alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>" + LINE * 3 + b"</p>\r\n--alt--\r\n"
            b"--" + BOUNDARY + b'\r\nContent-Type: application/pdf; name="a.pdf"\r\n'
            b'Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename="a.pdf"\r\n\r\n')
    tail = b"\r\n--" + BOUNDARY + b"--\r\n"
    line = os.urandom(57).hex().encode()[:76] + b"\r\n"  # base64-like lines of 76 characters
    return head + line * max((size - len(head) - len(tail)) // len(line), 1) + tail


def best(fn, runs=7):
    times = []
    for _ in range(runs):
        start = time.process_time()
        for _ in range(n):
            fn()
        times.append(time.process_time() - start)
    return min(times) / n * 1e6


print(f"{'message':16} {'octets':>8}  {'describe':>9}  {'load':>6}  {'email pkg':>9}  (microseconds)")
for name, data in (("plain 2 KB", plain(2048)), ("plain 1 MiB", plain(1 << 20)),
                   ("multipart 2 KB", multipart(2048)), ("multipart 1 MiB", multipart(1 << 20))):
    text = structure.describe(data)
    described = best(lambda: structure.describe(data))
    loaded = best(lambda: structure.load(text))
    stdlib = best(lambda: email.message_from_bytes(data, policy=email.policy.compat32), runs=3)
    print(f"{name:16} {len(data):8}  {described:9.1f}  {loaded:6.1f}  {stdlib:9.1f}")
