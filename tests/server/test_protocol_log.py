"""Protocol logs: Exchange's fields, files rolled by period and size, old files deleted by age
and folder size (at roll time and at most once a minute), with a fake clock and small limits."""
from __future__ import annotations

import asyncio
import csv
import datetime as dt
import os

from postroom.model import LogFileRollOver, LoginType, PopSettings
from postroom.server.protocol_log import (
    CLEANUP_INTERVAL, FIELDS, MAX_REPLY_LINES, ImapReplyLines, LogLimits, ProtocolLog, period_stamp,
)
from waiting import until

from .test_pop3_session import converse, start_service

T0 = dt.datetime(2026, 11, 27, 10, 59, 30, tzinfo=dt.timezone.utc).timestamp()  # a Friday
DAY = 86400


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def log_in(tmp_path, clock: Clock, **limits) -> ProtocolLog:
    return ProtocolLog(str(tmp_path), "POP3", limits=LogLimits(**limits), clock=clock)


def line(plog: ProtocolLog, n: int = 0, data: str = "x" * 50) -> None:
    plog.write("TEST-1", n, "127.0.0.1:110", "127.0.0.1:50000", "<", data)


def names(tmp_path) -> list[str]:
    return sorted(p.name for p in tmp_path.iterdir())


def records(path) -> list[list[str]]:
    return list(csv.reader(t for t in path.read_text().splitlines() if not t.startswith("#")))


def old_file(tmp_path, name: str, age: float, size: int = 100, now: float = T0) -> None:
    path = tmp_path / name
    path.write_bytes(b"#" * size)
    os.utime(path, (now - age, now - age))


# ------------------------------------------------------------------------------ the line
def test_a_line_has_exchanges_nine_fields_with_the_context_last(tmp_path):
    plog = ProtocolLog(str(tmp_path), "SMTP", connector_id="Default EX01", clock=Clock())
    plog.write("EX01-7", 3, "10.0.0.1:25", "192.0.2.9:4711", "*", "", 'TLS negotiated ("TLSv1.3")')
    plog.write("EX01-7", 4, "10.0.0.1:25", "192.0.2.9:4711", "<", "EHLO a,b")
    plog.close()
    path = tmp_path / "SMTP-20261127-1.log"
    text = path.read_text()
    assert text.startswith("#Software: postroom\n#Version: ")
    assert "#Log-Type: SMTP Protocol Log\n#Date: 2026-11-27T10:59:30.000Z\n" in text
    assert f"#Fields: {FIELDS}\n" in text
    assert FIELDS.split(",") == ["date-time", "connector-id", "session-id", "sequence-number", "local-endpoint",
                                 "remote-endpoint", "event", "data", "context"]
    assert records(path) == [
        ["2026-11-27T10:59:30.000Z", "Default EX01", "EX01-7", "3", "10.0.0.1:25", "192.0.2.9:4711", "*", "",
         'TLS negotiated ("TLSv1.3")'],
        ["2026-11-27T10:59:30.000Z", "Default EX01", "EX01-7", "4", "10.0.0.1:25", "192.0.2.9:4711", "<", "EHLO a,b",
         ""],
    ]


# ------------------------------------------------------------------------------ rolling
def test_a_new_file_when_the_next_line_would_pass_the_size_quota(tmp_path):
    clock = Clock()
    plog = log_in(tmp_path, clock, max_file_size=1024)
    for n in range(40):
        line(plog, n)
    plog.close()
    files = names(tmp_path)
    assert files[:2] == ["POP3-20261127-1.log", "POP3-20261127-2.log"] and len(files) >= 3
    assert all((tmp_path / f).stat().st_size <= 1024 for f in files)
    assert all((tmp_path / f).read_text().startswith("#Software: postroom\n") for f in files)
    sequence = [int(r[3]) for f in sorted(files, key=lambda f: int(f[14:-4])) for r in records(tmp_path / f)]
    assert sequence == list(range(40))  # nothing lost, nothing twice, in order


def test_no_size_quota_means_one_file_per_period(tmp_path):
    plog = log_in(tmp_path, Clock(), max_file_size=0)
    for n in range(200):
        line(plog, n)
    plog.close()
    assert names(tmp_path) == ["POP3-20261127-1.log"]


def test_a_new_file_when_the_roll_over_period_changes(tmp_path):
    clock = Clock()
    plog = log_in(tmp_path, clock, roll_over=LogFileRollOver.HOURLY)
    line(plog)
    clock.now += 29  # 10:59:59
    line(plog)
    clock.now += 1  # 11:00:00
    line(plog)
    plog.close()
    assert names(tmp_path) == ["POP3-2026112710-1.log", "POP3-2026112711-1.log"]
    assert len(records(tmp_path / "POP3-2026112710-1.log")) == 2


def test_daily_weekly_and_monthly_stamps_are_utc_period_starts():
    friday = dt.datetime(2026, 11, 27, 23, 59, tzinfo=dt.timezone.utc)
    assert period_stamp(friday, LogFileRollOver.HOURLY) == "2026112723"
    assert period_stamp(friday, LogFileRollOver.DAILY) == "20261127"
    assert period_stamp(friday, LogFileRollOver.WEEKLY) == "20261123"  # that week's Monday
    assert period_stamp(friday + dt.timedelta(days=3), LogFileRollOver.WEEKLY) == "20261130"
    assert period_stamp(friday, LogFileRollOver.MONTHLY) == "202611"


def test_a_restart_appends_to_the_periods_last_file_until_it_is_full(tmp_path):
    clock = Clock()
    first = log_in(tmp_path, clock, max_file_size=4096)
    line(first)
    first.close()
    again = log_in(tmp_path, clock, max_file_size=4096)
    line(again, 1)
    again.close()
    assert names(tmp_path) == ["POP3-20261127-1.log"]
    assert [r[3] for r in records(tmp_path / "POP3-20261127-1.log")] == ["0", "1"]
    assert (tmp_path / "POP3-20261127-1.log").read_text().count("#Fields") == 1
    (tmp_path / "POP3-20261127-1.log").write_bytes(b"#" * 4090)  # a previous run filled it
    last = log_in(tmp_path, clock, max_file_size=4096)
    line(last, 2)
    last.close()
    assert names(tmp_path) == ["POP3-20261127-1.log", "POP3-20261127-2.log"]


def test_new_limits_apply_from_the_next_line(tmp_path):
    clock = Clock()
    plog = log_in(tmp_path, clock)
    for n in range(30):
        line(plog, n)
    plog.configure(LogLimits(roll_over=LogFileRollOver.DAILY, max_file_size=1024))
    line(plog, 30)
    plog.close()
    assert names(tmp_path) == ["POP3-20261127-1.log", "POP3-20261127-2.log"]


# ------------------------------------------------------------------------------ deleting
def test_files_older_than_the_max_age_are_deleted_when_the_log_rolls(tmp_path):
    old_file(tmp_path, "POP3-20261020-1.log", 38 * DAY)
    old_file(tmp_path, "POP3-20261025-1.log", 33 * DAY)
    old_file(tmp_path, "POP3-20261101-1.log", 26 * DAY)
    old_file(tmp_path, "other-20261001-1.log", 57 * DAY)  # not this log's: never touched
    old_file(tmp_path, "notes.txt", 57 * DAY)
    plog = log_in(tmp_path, Clock(), max_age=30 * DAY)
    line(plog)
    plog.close()
    assert names(tmp_path) == ["POP3-20261101-1.log", "POP3-20261127-1.log", "notes.txt", "other-20261001-1.log"]


def test_oldest_files_go_first_until_the_folder_is_within_its_size(tmp_path):
    old_file(tmp_path, "POP3-20261124-1.log", 3 * DAY, 1000)
    old_file(tmp_path, "POP3-20261125-1.log", 2 * DAY, 1000)
    old_file(tmp_path, "POP3-20261126-1.log", 1 * DAY, 1000)
    plog = log_in(tmp_path, Clock(), max_directory_size=2500)
    line(plog)
    plog.close()
    assert names(tmp_path) == ["POP3-20261125-1.log", "POP3-20261126-1.log", "POP3-20261127-1.log"]


def test_the_file_being_written_is_never_deleted(tmp_path):
    old_file(tmp_path, "POP3-20261126-1.log", DAY, 1000)
    clock = Clock()
    plog = log_in(tmp_path, clock, max_directory_size=1024, max_age=1)
    for n in range(30):
        line(plog, n)
    clock.now += CLEANUP_INTERVAL
    plog.flush()
    plog.close()
    assert names(tmp_path) == ["POP3-20261127-1.log"]


def test_no_limits_delete_nothing(tmp_path):
    old_file(tmp_path, "POP3-20200101-1.log", 2000 * DAY, 10 ** 6)
    plog = log_in(tmp_path, Clock(), max_age=0, max_directory_size=0)
    line(plog)
    plog.close()
    assert "POP3-20200101-1.log" in names(tmp_path)


def test_clean_up_runs_at_most_once_a_minute_and_never_on_a_plain_write(tmp_path):
    clock = Clock()
    plog = log_in(tmp_path, clock, max_age=DAY, max_file_size=1024)
    line(plog)  # opens the first file: cleans up
    old_file(tmp_path, "POP3-20261001-1.log", 57 * DAY, now=clock.now)
    clock.now += 10
    for n in range(40):  # rolls several times within the minute: no clean-up yet
        line(plog, n)
    plog.flush()
    assert "POP3-20261001-1.log" in names(tmp_path)
    clock.now += CLEANUP_INTERVAL
    plog.configure(LogLimits(max_age=DAY))  # no size quota: the next write cannot roll
    line(plog)  # a plain write (no roll) does not look at the folder either
    assert "POP3-20261001-1.log" in names(tmp_path)
    plog.flush()  # the node's periodic flush, a minute on
    assert "POP3-20261001-1.log" not in names(tmp_path)
    old_file(tmp_path, "POP3-20261002-1.log", 56 * DAY, now=clock.now)
    plog.flush()
    assert "POP3-20261002-1.log" in names(tmp_path)
    clock.now += CLEANUP_INTERVAL
    plog.configure(LogLimits(max_age=DAY, max_file_size=1024))
    for n in range(40):  # the next roll a minute on cleans up
        line(plog, n)
    assert "POP3-20261002-1.log" not in names(tmp_path)
    plog.close()


# ------------------------------------------------------------------------------ POP3 sessions
def test_a_pop3_session_logs_context_and_no_connector_and_masks_the_password(tmp_path):
    async def main():
        settings = PopSettings(login_type=LoginType.PLAIN_TEXT_LOGIN, protocol_log=True)
        store, server, port, service = await start_service(tmp_path, settings)
        plog = ProtocolLog(str(tmp_path / "logs"), "POP3")
        service.configure(settings, None, plog)
        replies, reader, writer = await converse(port, b"USER alice@example.com", b"PASS wrong-pw",
                                                 b"USER alice@example.com", b"PASS pw-1", b"QUIT")
        assert replies[4].startswith(b"+OK") and replies[2].startswith(b"-ERR")
        await reader.read()
        writer.close()
        server.close()
        await until(lambda: not service.sessions, what="the session to end and log its close")
        await store.close()
        plog.close()

    asyncio.run(main())
    [path] = (tmp_path / "logs").glob("POP3-*-1.log")
    text = path.read_text()
    assert "pw-1" not in text and "wrong-pw" not in text
    rows = records(path)
    assert {len(r) for r in rows} == {9} and {r[1] for r in rows} == {""}  # connector-id: unused, as in Exchange
    events = [(r[6], r[7], r[8]) for r in rows]
    assert events[0] == ("+", "", "")
    assert ("<", "PASS ****", "") in events
    assert ("*", "", "authentication failed (bad-credentials)") in events
    assert ("*", "", "authenticated as alice@example.com") in events
    assert events[-1][0] == "-"


# ------------------------------------------------------------------------------ the node
def test_the_node_gives_each_log_its_settings_and_applies_changes_live(tmp_path):
    from postroom.auth import Authenticator
    from postroom.server.node import Node
    from postroom.service.setup import initialise
    from postroom.storage import open_store
    from postroom.web.app import node_admin_app

    async def main():
        data = str(tmp_path / "var")
        await initialise(data, dev=True, server_name="EX01")
        store = open_store(data)
        await store.open()
        node = Node(store, data, "EX01", admin_app=node_admin_app, authenticator=Authenticator(failure_delay=0))
        try:
            pop = (await store.get_pop_settings("EX01")).with_changes(protocol_log=True, log_file_roll_over="hourly",
                                                                     log_per_file_size_quota="1MB")
            await store.put_pop_settings("EX01", pop)
            client = (await store.get_connector("EX01", "Client EX01")).with_changes(protocol_log=True)
            await store.put_connector(client)
            await node._configure_pop3()
            await node._configure_smtp()
            plog, slog = node.protocol_logs["pop3"], node.protocol_logs["smtp/Client EX01"]
            assert (plog.connector_id, plog.limits) == ("", LogLimits(LogFileRollOver.HOURLY, 1024 ** 2, 30 * DAY,
                                                                      250 * 1024 ** 2))
            assert plog.directory == os.path.join(data, "logs", "pop3")
            assert (slog.connector_id, slog.limits) == ("Client EX01", LogLimits(LogFileRollOver.DAILY, 10 * 1024 ** 2,
                                                                                 30 * DAY, 250 * 1024 ** 2))
            assert slog.directory == os.path.join(data, "logs", "smtp", "Client-EX01")
            await store.put_connector(client.with_changes(protocol_log_max_age="1d", protocol_log_max_file_size=0))
            await node._configure_smtp()
            assert node.protocol_logs["smtp/Client EX01"] is slog  # the same log, new limits
            assert slog.limits == LogLimits(LogFileRollOver.DAILY, 0, DAY, 250 * 1024 ** 2)
        finally:
            node.admin.close()
            await store.close()

    asyncio.run(main())


def test_settings_stored_before_the_log_limits_existed_load_with_exchanges_defaults():
    from postroom.model import ReceiveConnector

    old_pop = {"login_type": "plain-text-login", "protocol_log": True, "sort_order": "ascending"}
    pop = PopSettings.from_dict(old_pop)
    assert (pop.protocol_log, pop.log_file_roll_over, pop.log_per_file_size_quota, pop.log_max_age,
            pop.log_max_directory_size) == (True, LogFileRollOver.DAILY, 0, 30 * DAY, 250 * 1024 ** 2)
    assert PopSettings.from_dict(pop.to_dict()) == pop  # and the new keys round-trip through JSON
    old = {"name": "Client EX01", "server": "EX01", "bindings": ["127.0.0.1:2587"], "protocol_log": True}
    connector = ReceiveConnector.from_dict(old)
    assert (connector.protocol_log_max_age, connector.protocol_log_max_directory_size,
            connector.protocol_log_max_file_size) == (30 * DAY, 250 * 1024 ** 2, 10 * 1024 ** 2)
    assert ReceiveConnector.from_dict(connector.to_dict()) == connector


def test_a_full_disk_drops_lines_and_never_fails_the_session(tmp_path, caplog):
    """The log file is /dev/full (every write: ENOSPC): writing and flushing never raise (the
    session and the node's heartbeat go on), lines are dropped, counted and written again later."""
    clock = Clock()
    full = tmp_path / "POP3-20261127-1.log"
    full.symlink_to("/dev/full")
    plog = log_in(tmp_path, clock)
    for n in range(3):
        line(plog, n)
    plog.flush()  # the buffered lines meet the full disk here
    line(plog, 3, "x" * 70000)  # more than the buffer: the write itself fails now
    assert caplog.text.count("cannot be written (No space left on device): lines are dropped") == 1
    full.unlink()  # space returns
    clock.now += 10
    line(plog, 4, "back")
    plog.close()
    assert "back" in full.read_text()
    assert "is written again;" in caplog.text


# IMAP4 replies: every line, no literal's octets ------------------------------------------

def test_imap_reply_lines_log_each_line_and_cut_out_literals():
    lines = ImapReplyLines()
    chunk = (b"* 1 FETCH (UID 7 BODY[] {12}\r\nSECRET\r\nBODY)\r\n* 2 FETCH (UID 8 BODY[] {0}\r\n)\r\n"
             b"f OK FETCH completed.\r\n")
    assert lines.lines(chunk) == ["* 1 FETCH (UID 7 BODY[] {12}", ")", "* 2 FETCH (UID 8 BODY[] {0}", ")",
                                  "f OK FETCH completed."]


def test_a_literal_running_into_the_next_chunks_is_never_logged():
    lines = ImapReplyLines()
    assert lines.lines(b"* 1 FETCH (BODY[] {29}\r\nSECRET-PART-ONE\r\n") == ["* 1 FETCH (BODY[] {29}"]
    assert lines.lines(b"SECRET") == []
    assert lines.lines(b"-TWO\r\n)\r\nf OK done\r\n") == [")", "f OK done"]


def test_a_long_reply_logs_its_first_lines_and_counts_the_rest():
    chunk = b"".join(b"* %d FETCH (FLAGS ())\r\n" % n for n in range(1, 101)) + b"f OK FETCH completed.\r\n"
    logged = ImapReplyLines().lines(chunk)
    assert len(logged) == MAX_REPLY_LINES + 1 and logged[0] == "* 1 FETCH (FLAGS ())"
    assert logged[-1] == f"({101 - MAX_REPLY_LINES} more lines)"
