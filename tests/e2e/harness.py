"""A real postroom: the CLI and `postroom serve` as subprocesses on free loopback ports."""
from __future__ import annotations

import asyncio
import json
import os
import poplib
import re
import resource
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from waiting import until, wait_until  # the e2e tests import wait_until from here

POSTROOM = [sys.executable, "-m", "postroom"]
CLI_BATCH = Path(__file__).with_name("cli_batch.py")


def require_tool(name: str) -> str:
    """A real client binary, or a skip with the reason (a failure under CI=true)."""
    path = shutil.which(name)
    if path:
        return path
    message = f"{name} is not installed (make test installs it from Debian when run as root)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


_handed_out: set[int] = set()
# Under pytest-xdist (make test runs two workers) each worker takes ports from a range of its
# own below the kernel's ephemeral range (32768+), so two workers, or an outgoing connection,
# never get the same port between a test choosing it and its server binding it.
_WORKER_PORTS = 3000
_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
_next_port = 20000 + int(_worker[2:]) * _WORKER_PORTS if _worker.startswith("gw") and _worker[2:].isdigit() else 0


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A free loopback port, never one handed out before in this test run: two calls in a row
    may otherwise get the same port back from the kernel (seen: POP3 and the admin service)."""
    global _next_port
    if _next_port:
        while True:
            port, _next_port = _next_port, _next_port + 1
            if port not in _handed_out and _bindable(port):
                _handed_out.add(port)
                return port
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def pop_login_answer(client, user: str, password: str) -> str:
    """USER/PASS on an open poplib client: the server's answer to PASS (+OK or -ERR ...); closes it."""
    import poplib

    try:
        client.user(user)
        return client.pass_(password).decode()
    except poplib.error_proto as exc:
        return exc.args[0].decode()
    finally:
        client.close()


_CHECK_LINE = ("PASS  ", "WARN  ", "FAIL  ", "      fix: ", "      console: ")
_SUMMARY = re.compile(r"\d+ passed, \d+ warnings, \d+ failed")


def doctor_lines(output: str) -> list[str]:
    """The lines of `postroom doctor` as printed before the terminal's width wrapped them: one
    per check, fix and console page, then the summary. (Rich wraps after a space, which it
    keeps at the end of the line.)"""
    lines: list[str] = []
    for line in output.splitlines():
        if lines and not line.startswith(_CHECK_LINE) and not _SUMMARY.fullmatch(line):
            lines[-1] += line
        else:
            lines.append(line)
    return lines


class Postroom:
    """One data directory and (once started) its node process."""

    def __init__(self, root: Path, failure_delay: float = 0.2, *, server: str = "EX01",
                 store: str | None = None) -> None:
        self.data = root / "var"
        self.server = server
        self.store = store  # a PostgreSQL URL (init records it in node.json), or None: embedded
        self.pop_port = free_port()
        self.pops_port = free_port()
        self.imap_port = free_port()  # IMAP4, plain/STARTTLS (the dev profile runs imap4 too)
        self.imaps_port = free_port()  # IMAP4, SSL
        self.smtp_port = free_port()  # connector "Default EX01"
        self.submission_port = free_port()  # connector "Client EX01"
        self.http_port = free_port()  # admin service, plain HTTP on loopback
        self.https_port = free_port()  # admin service, HTTPS
        self.relay_port: int | None = None  # a relay connector a test adds: start() waits for it too
        self.admin_password = ""
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = root / "serve.log"
        self.env = {**os.environ, "POSTROOM_AUTH_FAILURE_DELAY": str(failure_delay), "COLUMNS": "200"}
        self.file_limit: int | None = None  # run `serve` with this hard (and soft) RLIMIT_NOFILE

    @property
    def cert(self) -> str:
        return str(self.data / "tls" / "postroom.pem")

    def cli(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([*POSTROOM, *args, "--data", str(self.data)], input=input, text=True,
                                capture_output=True, env=self.env, timeout=60)
        if check and result.returncode != 0:
            raise AssertionError(f"postroom {' '.join(args)} exited {result.returncode}:\n"
                                 f"{result.stdout}\n{result.stderr}")
        return result

    def cli_json(self, *args: str, input: str | None = None):
        return json.loads(self.cli(*args, "--json", input=input).stdout)

    def wait_applied(self, timeout: float = 5.0) -> int:
        """Wait for the node to apply the configuration version the store holds now, the one the
        change just made produced (nodes promise to apply a change within a second); return it."""
        from postroom.storage import open_store

        async def wait() -> int:
            store = open_store(str(self.data))
            await store.open()
            try:
                version = await store.config_version()

                async def applied() -> bool:
                    report = await store.get_node_report(self.server)
                    versions = [s.get("applied_version", -1) for s in report.services.values()] if report else []
                    return bool(versions) and min(versions) >= version

                await until(applied, timeout, f"the node to apply configuration version {version}", interval=0.02)
                return version
            finally:
                await store.close()

        return asyncio.run(wait())

    def cli_batch(self, *commands: tuple[str, ...] | dict) -> list[dict]:
        """Several commands in one `postroom` process (see cli_batch.py): the set-up every test
        repeats costs one interpreter start instead of five. A dict command may carry "input"
        and "may_fail"; any other failure raises, naming the command."""
        with tempfile.TemporaryDirectory() as folder:
            commands_path, results_path = Path(folder, "commands.json"), Path(folder, "results.json")
            planned = [command if isinstance(command, dict) else {"args": list(command)} for command in commands]
            for command in planned:
                command["args"] = [*command["args"], "--data", str(self.data)]
            commands_path.write_text(json.dumps(planned))
            subprocess.run([sys.executable, str(CLI_BATCH), str(results_path), str(commands_path)],
                           env=self.env, timeout=120, check=True)
            results = json.loads(results_path.read_text())
        for command, result in zip(planned, results):
            if result["code"] and not command.get("may_fail"):
                raise AssertionError(f"postroom {' '.join(result['args'])} exited {result['code']}:\n"
                                     f"{result['stdout']}\n{result['stderr']}")
        return results

    def init(self) -> None:
        store = ["--store", self.store] if self.store else []
        results = self.cli_batch(
            ("init", "--dev", "--server-name", self.server, *store, "--json"),
            ("web", "set", "--http-bindings", f"127.0.0.1:{self.http_port}",
             "--bindings", f"127.0.0.1:{self.https_port}"),
            ("pop", "set", "--bindings", f"127.0.0.1:{self.pop_port}", "--ssl-bindings", f"127.0.0.1:{self.pops_port}"),
            ("imap", "set", "--bindings", f"127.0.0.1:{self.imap_port}",
             "--ssl-bindings", f"127.0.0.1:{self.imaps_port}"),
            ("connector", "set", f"Default {self.server}", "--bindings", f"127.0.0.1:{self.smtp_port}"),
            ("connector", "set", f"Client {self.server}", "--bindings", f"127.0.0.1:{self.submission_port}"))
        self.admin_password = json.loads(results[0]["stdout"])["admin_password"]

    def pop_ssl(self, timeout: float = 30) -> poplib.POP3_SSL:
        """A POP3 client on the SSL binding, trusting the node's own certificate."""
        return poplib.POP3_SSL("127.0.0.1", self.pops_port, context=ssl.create_default_context(cafile=self.cert),
                               timeout=timeout)

    def pop_login(self, address: str, password: str, timeout: float = 30) -> poplib.POP3_SSL:
        """pop_ssl, logged in as `address` (USER/PASS)."""
        client = self.pop_ssl(timeout)
        client.user(address)
        client.pass_(password)
        return client

    def new_mailbox(self, address: str, password: str) -> None:
        domain = address.split("@", 1)[1]
        # `domain add` of a domain already accepted is refused; the mailbox is what must succeed.
        self.cli_batch({"args": ["domain", "add", domain], "may_fail": True},
                       {"args": ["mailbox", "new", address, "--password-stdin"], "input": password + "\n"})

    def import_messages(self, address: str, *messages: bytes, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for index, message in enumerate(messages):
            (folder / f"{index:05d}.eml").write_bytes(message)
        self.cli("mailbox", "import", address, str(folder))

    def start(self) -> None:
        self.log = open(self.log_path, "ab")
        limit = self.file_limit
        preexec = None if limit is None else lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
        self.process = subprocess.Popen([*POSTROOM, "serve", "--data", str(self.data)],
                                        stdout=self.log, stderr=subprocess.STDOUT, env=self.env, preexec_fn=preexec)
        ports = [self.pop_port, self.smtp_port] + ([self.relay_port] if self.relay_port else [])
        try:
            wait_until(lambda: all(port_open(p) for p in ports) or self.process.poll() is not None, 30,
                       "postroom to listen")
        except AssertionError:
            self.stop()  # a node that never listened must not outlive the test that started it
            raise
        if self.process.poll() is not None:
            raise AssertionError(f"postroom serve exited: {self.log_path.read_text()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a power cut of the process."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
            self.log.close()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        if self.process:
            self.log.close()
