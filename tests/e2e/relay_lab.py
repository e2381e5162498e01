"""A relay lab for outbound-delivery tests: an in-process fake DNS (tests/dns_support.py), Postfix's
`smtp-sink` on loopback addresses sharing one port (the send connector's `--port`), and a served
postroom with a send connector `Internet`, transport settings pointing at that DNS, and an
`anonymous-relay` receive connector on 127.0.0.1 that a test submits to as an application
server would. `{dump}` in a sink's flags is the folder its messages are written to."""
from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Sequence

import pytest

from dns_support import running_fake_dns

from .harness import Postroom, free_port, require_tool


def start_sink(binary: str, address: str, port: int, *flags: str) -> subprocess.Popen[bytes]:
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    proc = subprocess.Popen([binary, *user, *flags, f"{address}:{port}", "32"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 5
    while True:  # until it listens (polling the very condition, with a deadline)
        try:
            socket.create_connection((address, port), timeout=1).close()
            return proc
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"smtp-sink on {address}:{port} did not start")
            time.sleep(0.05)


@contextmanager
def relay_lab(root: Path, zone: dict, sinks: Sequence[tuple[str, Sequence[str]]], *, address_spaces: str = "*",
              connector_options: Sequence[str] = (), transport: Sequence[str] = (),
              prepare: Callable[[Postroom], None] | None = None) -> Iterator[tuple[Postroom, Path]]:
    """(node, dump folder); the node has `relay_port`, `dns` and `sink_port` set."""
    binary = require_tool("smtp-sink")
    port = free_port()
    # The dump folder is not under pytest's 0700 tree: the sink writes as nobody.
    with tempfile.TemporaryDirectory(prefix="relay-lab-") as name, running_fake_dns(zone) as dns:
        dump = Path(name)
        os.chmod(dump, 0o777)
        procs = [start_sink(binary, address, port, *(f.replace("{dump}", str(dump)) for f in flags))
                 for address, flags in sinks]
        node = Postroom(root)
        try:
            node.init()
            node.relay_port = free_port()  # start() waits for it
            node.cli_batch(
                ("send-connector", "new", "Internet", "--address-spaces", address_spaces, "--port", str(port),
                 *connector_options),
                ("transport", "set", "--dns-servers", dns.address, *transport),
                ("connector", "new", "Relay EX01", "--bindings", f"127.0.0.1:{node.relay_port}",
                 "--remote-ip-ranges", "127.0.0.1", "--permission-groups", "anonymous-relay", "--auth", "none"),
            )
            if prepare is not None:
                prepare(node)
            node.dns, node.sink_port = dns, port
            node.start()
            yield node, dump
        finally:
            if node.process is not None:
                node.stop()
            for proc in procs:
                proc.kill()
                proc.wait()
