"""A full disk: SMTP answers 452 4.3.1 (temporary), the server keeps answering, POP3 serves every
message stored before byte-exact, and once space is freed delivery works again.

The data directory lives on a small tmpfs the test mounts (root only: skipped otherwise, a
failure under CI=true); a ballast file leaves only a little room, removed to free space."""
from __future__ import annotations

import os
import smtplib
import subprocess

import pytest

from .harness import Postroom, require_tool, wait_until
from .messages import big_message
from .test_shutdown import retrieve_all
from .test_smtp_clients import split_trace

pytestmark = pytest.mark.e2e
FS_SIZE = "16m"
ROOM = 2_500_000  # bytes left free beside the ballast
MESSAGE_SIZE = 400_000


def require_root() -> None:
    if os.geteuid() != 0:
        message = "mounting a small tmpfs for the data directory needs root"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def small_fs(tmp_path):
    require_root()
    mount = require_tool("mount")
    umount = require_tool("umount")
    target = tmp_path / "fs"
    target.mkdir()
    result = subprocess.run([mount, "-t", "tmpfs", "-o", f"size={FS_SIZE},mode=0750", "tmpfs", str(target)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        message = f"cannot mount a tmpfs here: {result.stderr.strip()}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    yield target
    if subprocess.run([umount, str(target)], capture_output=True).returncode != 0:
        subprocess.run([umount, "-l", str(target)], capture_output=True)


def free_bytes(path) -> int:
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize


def deliver(port: int, content: bytes) -> tuple[int, bytes]:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.ehlo("filler.example.net")
        client.mail("filler@example.net")
        client.rcpt("full@example.com")
        return client.data(content)


def test_full_disk_answers_452_and_pop3_keeps_serving(small_fs, tmp_path):
    server = Postroom(small_fs)
    server.log_path = tmp_path / "serve.log"  # the log must not be on the full disk
    server.init()
    server.cli("pop", "set", "--login-type", "plain-text-login")
    server.new_mailbox("full@example.com", "pw-full-1")
    server.start()
    try:
        ballast = small_fs / "ballast"
        with open(ballast, "wb") as junk:
            junk.write(b"\0" * max(0, free_bytes(small_fs) - ROOM))
        accepted: list[bytes] = []
        for number in range(30):
            content = big_message(MESSAGE_SIZE).replace(b"Subject: big", b"Subject: filler %d" % number)
            code, text = deliver(server.smtp_port, content)
            if code != 250:
                break
            accepted.append(content)
        assert (code, text) == (452, b"4.3.1 Insufficient system storage"), (len(accepted), code, text)
        assert accepted, "the disk was full before the first message"

        # Still answering, on both protocols, while the disk stays full.
        assert server.process is not None and server.process.poll() is None
        with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=10) as client:
            assert client.ehlo("still.example.net")[0] == 250
            assert client.noop()[0] == 250
        assert deliver(server.smtp_port, big_message(MESSAGE_SIZE))[0] == 452  # still full: still temporary
        stored = retrieve_all(server.pop_port, "full@example.com", "pw-full-1")
        assert [split_trace(m)[2] for m in stored] == accepted  # every earlier message, byte-exact, none partial

        ballast.unlink()
        code, _ = deliver(server.smtp_port, big_message(MESSAGE_SIZE))
        assert code == 250
        assert len(retrieve_all(server.pop_port, "full@example.com", "pw-full-1")) == len(accepted) + 1
        assert server.process.poll() is None
    finally:
        server.stop()
    assert server.process.returncode == 0
    assert "disk holding the store is full" in server.log_path.read_text()


def fill(path) -> None:
    """Write a ballast file until the filesystem refuses another byte."""
    with open(path, "wb", buffering=0) as junk:
        block = b"\0" * 65536
        while True:
            try:
                junk.write(block)
            except OSError:
                break
        while True:
            try:
                junk.write(b"\0")
            except OSError:
                break


@pytest.mark.parametrize("ended", ["killed", "stopped"])
def test_node_starts_and_serves_on_a_full_disk(small_fs, tmp_path, ended):
    """Killed (or stopped) and the disk then full, the node starts all the same: POP3 logins and
    RETR work, SMTP answers 452 4.3.1, and once space is freed delivery works without a restart.
    After a clean stop SQLite must make its WAL index again: the store's reserve file gives it room."""
    server = Postroom(small_fs)
    server.log_path = tmp_path / "serve.log"  # the log must not be on the full disk
    server.init()
    server.cli("pop", "set", "--login-type", "plain-text-login")
    server.new_mailbox("full@example.com", "pw-full-1")
    server.start()
    first = big_message(20_000)
    assert deliver(server.smtp_port, first)[0] == 250
    server.kill() if ended == "killed" else server.stop()
    ballast = small_fs / "ballast"
    fill(ballast)
    assert free_bytes(small_fs) < 4096
    server.start()
    try:
        fill(small_fs / "ballast-2")  # what the reserve gave back beyond SQLite's index, if any
        stored = retrieve_all(server.pop_port, "full@example.com", "pw-full-1")
        assert [split_trace(m)[2] for m in stored] == [first]
        assert deliver(server.smtp_port, big_message(MESSAGE_SIZE)) == (452, b"4.3.1 Insufficient system storage")
        assert server.process is not None and server.process.poll() is None
        ballast.unlink()
        (small_fs / "ballast-2").unlink()
        if ended == "killed":  # the start-up writes waited for space (after a stop the reserve had room)
            wait_until(lambda: "space returned on the store's disk" in server.log_path.read_text(), 5,
                       "the deferred start-up writes")
        second = big_message(MESSAGE_SIZE).replace(b"Subject: big", b"Subject: after")
        assert deliver(server.smtp_port, second)[0] == 250
        assert [split_trace(m)[2] for m in retrieve_all(server.pop_port, "full@example.com", "pw-full-1")] \
            == [first, second]
        assert server.process.poll() is None
    finally:
        server.stop()
    assert server.process.returncode == 0
    log = server.log_path.read_text()
    expected = "serving read-only until space returns" if ended == "killed" else "released its 1024 KiB reserve"
    assert expected in log, log[-3000:]
    assert "Traceback" not in log, log[-3000:]
