"""An open connection to a next hop waits a little for the next message (as Postfix's
connection cache, 2 s): messages that trickle in for one next hop share one connection, one
EHLO; after 2 s without mail the connection says QUIT.

The next hop is a small SMTP responder in the test (a thread) that records every connection
and every command, so the test sees what went over the wire.
"""
from __future__ import annotations

import smtplib
import socket
import threading
import time

import pytest

from .harness import Postroom, free_port, wait_until

pytestmark = pytest.mark.e2e


class Recorder:
    """Accepts everything; `sessions` holds each connection's commands, in order."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.sessions: list[list[str]] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        commands: list[str] = []
        with self.lock:
            self.sessions.append(commands)
        reader = conn.makefile("rb")
        conn.sendall(b"220 recorder ESMTP\r\n")
        try:
            for raw in reader:
                line = raw.rstrip(b"\r\n").decode("ascii", "replace")
                verb = line.split(" ", 1)[0].upper()
                commands.append(verb)
                if verb == "EHLO":
                    conn.sendall(b"250-recorder\r\n250 PIPELINING\r\n")
                elif verb == "DATA":
                    conn.sendall(b"354 go on\r\n")
                    for body in reader:
                        if body == b".\r\n":
                            break
                    commands.append(".")
                    conn.sendall(b"250 2.0.0 taken\r\n")
                elif verb == "QUIT":
                    conn.sendall(b"221 2.0.0 bye\r\n")
                    break
                else:
                    conn.sendall(b"250 2.0.0 ok\r\n")
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self.sock.close()


def test_messages_that_trickle_in_share_one_connection_until_it_idles_out(tmp_path):
    recorder = Recorder()
    node = Postroom(tmp_path)
    node.init()
    relay_port = free_port()
    node.cli_batch(
        ("send-connector", "new", "Outbound", "--address-spaces", "*", "--no-dns-routing",
         "--smart-hosts", f"127.0.0.1:{recorder.port}"),
        ("connector", "new", "Relay EX01", "--bindings", f"127.0.0.1:{relay_port}", "--remote-ip-ranges",
         "127.0.0.1", "--permission-groups", "anonymous-relay", "--auth", "none"),
    )
    node.relay_port = relay_port  # start() waits for it
    node.start()

    def submit(number: int) -> None:
        with smtplib.SMTP("127.0.0.1", relay_port, timeout=10) as client:
            client.sendmail("app@app.example", [f"r{number}@partner.example"],
                            f"Subject: trickle {number}\r\n\r\nbody {number}\r\n")

    def sent() -> int:
        return sum(session.count(".") for session in recorder.sessions)

    try:
        for number in range(3):  # 0.5 s apart: each arrives while the connection waits for more
            submit(number)
            wait_until(lambda: sent() == number + 1, 10, f"message {number} at the next hop")
            time.sleep(0.5)  # the gap between messages is the behaviour under test
        assert len(recorder.sessions) == 1, recorder.sessions
        assert recorder.sessions[0].count("EHLO") == 1
        wait_until(lambda: "QUIT" in recorder.sessions[0], 5, "QUIT once the connection idled 2 s")
        submit(3)
        wait_until(lambda: sent() == 4, 10, "the message after the pause")
        assert len(recorder.sessions) == 2  # a new connection for it
    finally:
        node.stop()
        recorder.close()
