"""The IMAP4 bench's own pieces: bench/imapload.py checks what a server answers (against a small
scripted server here), bench/imapidle.py times IDLE wake-ups (against scripted IMAP4 and SMTP
servers), and bench/imap_report.py rewrites only the IMAP4 section, or only its IDLE part."""
from __future__ import annotations

import asyncio
import os
import sys
from argparse import Namespace

import pytest

BENCH = os.path.join(os.path.dirname(__file__), "..", "..", "bench")
KIT = os.environ.get("BENCH_KIT", os.path.join(BENCH, "..", "..", "shared", "bench"))
if not os.path.exists(os.path.join(KIT, "mailload.py")):
    KIT = "/work/shared/bench"
pytestmark = pytest.mark.skipif(not os.path.exists(os.path.join(KIT, "mailload.py")),
                                reason="the shared bench kit (mailload.py) is not here")


@pytest.fixture(scope="module")
def bench_modules():
    os.environ.setdefault("BENCH_KIT", KIT)
    sys.path.insert(0, BENCH)
    try:
        import imap_report
        import imapload
        yield imapload, imap_report
    finally:
        sys.path.remove(BENCH)


MESSAGE = b"Subject: x\r\nFrom: a@b\r\n\r\n" + b"y" * 70 + b"\r\n"


async def scripted_server(unseen: list[int]) -> asyncio.base_events.Server:
    """Just enough IMAP4 for one imapload session: 3 messages, \\Flagged as the client STOREs it."""
    flagged: set[int] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"* OK ready\r\n")
        while line := await reader.readline():
            tag, _, rest = line.rstrip(b"\r\n").partition(b" ")
            cmd = rest.split(b" ")[0].upper()
            if cmd == b"SELECT":
                writer.write(b"* 3 EXISTS\r\n* 0 RECENT\r\n")
            elif cmd == b"FETCH" and b"HEADER.FIELDS" in rest:
                for n in (1, 2, 3):
                    head = MESSAGE.split(b"\r\n\r\n")[0] + b"\r\n\r\n"
                    flags = b"\\Flagged" if n in flagged else b""
                    writer.write(b"* %d FETCH (UID %d FLAGS (%s) BODY[HEADER.FIELDS (SUBJECT)] {%d}\r\n%s)\r\n"
                                 % (n, n, flags, len(head), head))
            elif cmd == b"FETCH":
                first, last = (int(x) for x in rest.split(b" ")[1].split(b":"))
                for n in range(first, last + 1):
                    writer.write(b"* %d FETCH (BODY[] {%d}\r\n%s)\r\n" % (n, len(MESSAGE), MESSAGE))
            elif cmd == b"SEARCH":
                writer.write(b"* SEARCH" + b"".join(b" %d" % n for n in unseen) + b"\r\n")
            elif cmd == b"STORE":
                n = int(rest.split(b" ")[1])
                (flagged.add if b"+FLAGS" in rest else flagged.discard)(n)
                writer.write(b"* %d FETCH (FLAGS (%s))\r\n" % (n, b"\\Flagged" if n in flagged else b""))
            elif cmd == b"LOGOUT":
                writer.write(b"* BYE bye\r\n" + tag + b" OK done\r\n")
                break
            writer.write(tag + b" OK done\r\n")
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


def run_mixed(imapload, unseen: list[int]) -> dict:
    async def go() -> dict:
        server = await scripted_server(unseen)
        port = server.sockets[0].getsockname()[1]
        args = Namespace(host="127.0.0.1", port=port, tls="none", tls_max="1.3", tls_servername="localhost",
                         cafile=None, users_file=None, user="u", password="p", concurrency=1, duration=0.3,
                         max_ops=3, max_errors=0, io_timeout=5.0, expect_messages=3, expect_unseen=2,
                         expect_size=len(MESSAGE), headers=3, bodies=3, server_pid=None, label="",
                         mode="imap-mixed")
        async with server:
            return await imapload.run_load(args)
    return asyncio.run(go())


def test_a_session_that_answers_as_expected_counts_ops_and_messages(bench_modules):
    imapload, _ = bench_modules
    res = run_mixed(imapload, unseen=[2, 3])
    assert res["ok"] and res["errors"] == 0
    assert res["ops"] == 3
    assert res["messages"] == 3 * (3 + 3)  # per session: 3 headers, 3 bodies


def test_a_wrong_search_count_fails_the_run_with_a_readable_error(bench_modules):
    imapload, _ = bench_modules
    res = run_mixed(imapload, unseen=[3])
    assert not res["ok"]
    assert res["first_error"] == "ProtocolError: SEARCH UNSEEN found 1, expected 2"


def test_the_imap_section_replaces_itself_and_keeps_the_rest(bench_modules, tmp_path):
    _, imap_report = bench_modules
    from report import KEEP, RELAY_BEGIN, RELAY_END

    doc = tmp_path / "performance.md"
    doc.write_text(f"# POP3 tables\n\n{KEEP}\n\nby hand\n\n{RELAY_BEGIN}\nrelay\n{RELAY_END}\n")
    first = f"{imap_report.BEGIN}\nfirst\n{imap_report.END}"
    imap_report.write(first, str(doc))
    imap_report.write(f"{imap_report.BEGIN}\nsecond\n{imap_report.END}", str(doc))
    text = doc.read_text()
    assert text.startswith("# POP3 tables\n")
    assert "by hand" in text and f"{RELAY_BEGIN}\nrelay\n{RELAY_END}" in text
    assert "second" in text and "first" not in text
    assert text.count(imap_report.BEGIN) == 1


def test_the_idle_part_and_the_throughput_section_each_replace_only_themselves(bench_modules, tmp_path):
    _, imap_report = bench_modules
    from report import KEEP

    def data(*groups: str) -> dict:
        runs = {"postroom": [{"ok": True, "lat_ms_p50": 1.0}], "dovecot": [{"ok": True, "lat_ms_p50": 500.0}]}
        return {"meta": {"what": {}}, "end": {},
                "points": [{"id": f"imap {g}", "group": g, "runs": runs} for g in groups]}

    doc = tmp_path / "performance.md"
    doc.write_text(f"# POP3 tables\n\n{KEEP}\n\nby hand\n")
    imap_report.write_report(data("imap-search"), str(doc))
    imap_report.write_report(data("imap-idle"), str(doc))  # --only imap-idle: the section stays
    text = doc.read_text()
    assert "| imap imap-search " in text and "| imap imap-idle | postroom " in text
    assert text.index(imap_report.END) < text.index(imap_report.IDLE_BEGIN)  # right after the IMAP4 section
    imap_report.write_report(data("imap-store"), str(doc))  # a throughput run: the IDLE part stays
    text = doc.read_text()
    assert "| imap imap-search " not in text and "| imap imap-store " in text
    assert "| imap imap-idle | postroom " in text
    assert text.count(imap_report.IDLE_BEGIN) == 1 and text.count(imap_report.BEGIN) == 1 and "by hand" in text


async def idle_servers(wake: bool):
    """Just enough IMAP4 (LOGIN, SELECT, IDLE, DONE, STORE, EXPUNGE, LOGOUT) and SMTP for imapidle:
    each message accepted over SMTP is announced to every idling session (`wake`), after the 250."""
    idling: list[asyncio.StreamWriter] = []
    state = {"exists": 3}

    async def imap(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"* OK ready\r\n")
        idle_tag = b""
        while line := await reader.readline():
            tag, _, rest = line.rstrip(b"\r\n").partition(b" ")
            cmd = rest.split(b" ")[0].upper()
            if tag == b"DONE":
                idling.remove(writer)
                writer.write(idle_tag + b" OK done\r\n")
                continue
            if cmd == b"IDLE":
                idle_tag = tag
                idling.append(writer)
                writer.write(b"+ idling\r\n")
                continue
            if cmd == b"SELECT":
                writer.write(b"* %d EXISTS\r\n" % state["exists"])
            elif cmd == b"LOGOUT":
                writer.write(b"* BYE bye\r\n")
            writer.write(tag + b" OK done\r\n")
        writer.close()

    async def smtp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 ready\r\n")
        while line := await reader.readline():
            verb = line[:4].upper()
            if verb == b"DATA":
                writer.write(b"354 go\r\n")
                while (await reader.readline()) != b".\r\n":
                    pass
                writer.write(b"250 stored\r\n")
                await writer.drain()
                state["exists"] += 1
                await asyncio.sleep(0.01)  # the wake-up comes a moment after the 250
                for session in idling if wake else ():
                    session.write(b"* %d EXISTS\r\n* 1 RECENT\r\n" % state["exists"])
                continue
            writer.write(b"221 bye\r\n" if verb == b"QUIT" else b"250 ok\r\n")
        writer.close()

    return await asyncio.start_server(imap, "127.0.0.1", 0), await asyncio.start_server(smtp, "127.0.0.1", 0)


def run_idle(wake: bool) -> dict:
    sys.path.insert(0, BENCH)
    try:
        import imapidle
    finally:
        sys.path.remove(BENCH)

    async def go() -> dict:
        imap, smtp = await idle_servers(wake)
        args = Namespace(host="127.0.0.1", port=imap.sockets[0].getsockname()[1], tls="none", tls_max="1.3",
                         tls_servername="localhost", cafile=None, users_file=None, user="u@example.com",
                         password="p", concurrency=3, deliver="smtp", smtp_port=smtp.sockets[0].getsockname()[1],
                         maildir_root=None, maildir_owner="benchmail", duration=10.0, max_ops=2, gap=0.0,
                         io_timeout=1.0, expect_messages=3, server_pid=None, label="")
        async with imap, smtp:
            return await imapidle.run_idle(args)
    return asyncio.run(go())


def test_imapidle_times_every_sessions_wake_up_from_the_250(bench_modules):
    res = run_idle(wake=True)
    assert res["ok"] and res["errors"] == 0, res
    assert res["ops"] == 2 and res["sessions"] == 3 and res["wakes"] == 6  # every session, every delivery
    assert 5 <= res["lat_ms_p50"] < 500  # the scripted server wakes them 10 ms after its 250


def test_imapidle_fails_a_run_whose_sessions_are_never_woken(bench_modules):
    res = run_idle(wake=False)
    assert not res["ok"] and res["wakes"] == 0
    assert res["first_error"] == "ProtocolError: no * 4 EXISTS within 1 s"
