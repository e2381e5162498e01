"""Replay every corpus file (corpus/README.md) through the fuzz targets' checks."""
from __future__ import annotations

from pathlib import Path

import pytest

from postroom.protocol import sasl

from .drivers import run_pop3, run_smtp, run_smtp_client
from .imap_driver import run_imap
from .test_fuzz_cores import check_exchange

CORPUS = Path(__file__).parent / "corpus"
#: "core/name.bin" of cases that reproduce a known, unfixed bug: xfail(strict=True).
KNOWN_FAILURES: dict[str, str] = {}


def cases(core: str) -> list:
    files = sorted((CORPUS / core).glob("*.bin"))
    assert files, f"empty corpus for {core}"
    def marks(f: Path) -> list:
        return ([pytest.mark.xfail(strict=True, reason=KNOWN_FAILURES[f"{core}/{f.name}"])]
                if f"{core}/{f.name}" in KNOWN_FAILURES else [])
    return [pytest.param(f, id=f.stem, marks=marks(f)) for f in files]


def splittings(data: bytes):
    yield [data]
    yield [data[i:i + 1] for i in range(len(data))]
    yield [data[i:i + 7] for i in range(0, len(data), 7)]
    if len(data) <= 400:
        for i in range(1, len(data)):
            yield [data[:i], data[i:]]


def replay(path, run) -> None:
    data = path.read_bytes()
    for chunks in splittings(data):
        for eof in (True, False):
            run(chunks, eof)


@pytest.mark.parametrize("path", cases("pop3"))
def test_pop3_corpus(path):
    replay(path, run_pop3)


@pytest.mark.parametrize("path", cases("imap4"))
def test_imap4_corpus(path):
    replay(path, run_imap)


@pytest.mark.parametrize("path", cases("smtp"))
def test_smtp_corpus(path):
    replay(path, run_smtp)


@pytest.mark.parametrize("path", cases("smtp-client"))
@pytest.mark.parametrize("pipelining", [True, False])
def test_smtp_client_corpus(path, pipelining):
    replay(path, lambda chunks, eof: run_smtp_client(chunks, eof, pipelining=pipelining))


def test_smtp_client_corpus_reaches_delivery():
    """The whole-session case drives all three messages through: the replay is not vacuous."""
    from postroom.protocol.smtp_client import ContentDone
    _, events = run_smtp_client([(CORPUS / "smtp-client" / "pipelined-session.bin").read_bytes()])
    assert [e.reply.code for e in events if isinstance(e, ContentDone)] == [250, 250, 250]


@pytest.mark.parametrize("bad", [b"MAIL FROM:<a@b>\r\nRCPT TO:<x@y>\r\nINJECTED\r\n", b"QUIT", b"DATA\r\nbody\r\n"])
def test_smtp_client_checker_rejects_stray_bytes(bad):
    from .drivers import check_client_output
    with pytest.raises(AssertionError):
        check_client_output(b"EHLO client.example\r\n" + bad)


@pytest.mark.parametrize("path", cases("sasl"))
def test_sasl_corpus(path):
    first, *steps = path.read_bytes().split(b"\n")
    mechanism, space, initial = first.decode("utf-8", "replace").partition(" ")
    check_exchange(mechanism, initial if space else None, steps)
    check_exchange(mechanism, initial if space else None, [s.decode("utf-8", "replace") for s in steps])
    for text in [first, *steps]:
        result = sasl.decode_response(text)
        assert isinstance(result, (bytes, sasl.SaslError))


# ------------------------------------------------------------- the checkers can fail at all
@pytest.mark.parametrize("bad", [b"25 x\r\n", b"250 no enhanced code\r\n", b"250-a\r\n251 b\r\n",
                                 b"250 2.0.0 ok\n", b"250-2.0.0 never ends\r\n",
                                 b"550 2.0.0 wrong class\r\n", b"250 2.0.0 " + b"x" * 600 + b"\r\n"])
def test_smtp_checker_rejects_malformed_replies(bad):
    from .drivers import check_smtp_output
    with pytest.raises(AssertionError):
        check_smtp_output(b"220 localhost ready\r\n" + bad)


@pytest.mark.parametrize("bad", [b"OK\r\n", b"+OK x\n", b"+OK list\r\n1 2\r\n",
                                 b"+OK list\r\n.stuffed badly\r\n.\r\n", b"-ERR " + b"x" * 600 + b"\r\n"])
def test_pop3_checker_rejects_malformed_replies(bad):
    from .drivers import check_pop3_output
    with pytest.raises(AssertionError):
        check_pop3_output(b"+OK ready\r\n" + bad)
