"""Small network facts for the checks: where to connect for a binding, whether it answers,
which process holds a port (and how to stop it), whether a port is free, this machine's own
addresses. Blocking: call them in a thread."""
from __future__ import annotations

import ipaddress
import os
import shlex
import socket
import time
from dataclasses import dataclass

CONNECT_TIMEOUT = 3.0
_LISTEN = "0A"  # TCP state LISTEN in /proc/net/tcp


def reach_host(binding_host: str, local: bool, fqdn: str) -> str:
    """Where a client reaches a binding: a wildcard means loopback on this machine, the
    server's name from elsewhere."""
    if binding_host in ("0.0.0.0", "::"):
        return ("127.0.0.1" if binding_host == "0.0.0.0" else "::1") if local else fqdn
    return binding_host


def tcp_connect(host: str, port: int, timeout: float = CONNECT_TIMEOUT) -> tuple[float, str | None]:
    """(milliseconds, None) when a TCP connection opens, else (milliseconds, why not)."""
    start = time.perf_counter()
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return (time.perf_counter() - start) * 1000, None
    except OSError as exc:
        return (time.perf_counter() - start) * 1000, exc.strerror or str(exc) or exc.__class__.__name__


def resolve(host: str) -> list[str]:
    """The IP addresses of `host` (an IP stays itself); empty when it does not resolve."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    return list(dict.fromkeys(str(info[4][0]).split("%", 1)[0] for info in infos))


def local_addresses() -> set[str]:
    """This machine's own IP addresses. Linux: every local address of the IPv4 routing table
    (secondary addresses included) and every IPv6 interface address, from /proc; elsewhere,
    what the host's own name resolves to. Loopback is among them."""
    found: set[str] = set()
    try:
        with open("/proc/net/fib_trie", encoding="ascii") as handle:
            last = ""
            for line in handle:
                text = line.strip()
                if text.startswith("|-- "):
                    last = text[4:]
                elif text.startswith("/32 host LOCAL") and last:
                    found.add(last)
    except OSError:
        pass
    try:
        with open("/proc/net/if_inet6", encoding="ascii") as handle:
            for line in handle:
                fields = line.split()
                if fields and len(fields[0]) == 32:
                    found.add(str(ipaddress.IPv6Address(int(fields[0], 16))))
    except (OSError, ValueError):
        pass
    return found or set(resolve(socket.gethostname())) | {"127.0.0.1", "::1"}


def free_port(host: str) -> int | None:
    """A port nothing listens on at `host` right now (a suggestion, not a reservation)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            return int(sock.getsockname()[1])
    except OSError:
        return None


def port_free(host: str, port: int) -> bool:
    """Whether nothing listens on `port` at `host` now (and this user may bind it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the node binds: TIME_WAIT is no obstacle
            sock.bind((host, port))
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class Holder:
    """The process listening on a port, as far as this user can see it."""

    port: int
    pid: int | None  # None: a process of another user (its sockets are not ours to read)
    program: str = ""  # its name (/proc/PID/comm)
    command_line: str = ""
    unit: str = ""  # the systemd service it runs in, if any (dovecot.service)
    own: bool = False  # the node itself: another of its services or connectors listens there

    def describe(self) -> str:
        if self.own:
            return f"this postroom node itself (pid {self.pid}): another of its services or connectors uses the port"
        if self.pid is None:
            return f"a process of another user (as root, `ss -ltnp 'sport = :{self.port}'` names it)"
        text = f"pid {self.pid} ({self.program}"
        if self.command_line and self.command_line != self.program:
            text += f": {self.command_line}"
        return text + (f"; systemd service {self.unit})" if self.unit else ")")

    def stop(self) -> str:
        """The command that stops it for good (a service would come back at the next boot)."""
        if self.own:
            return "give that service or connector another port (postroom connector list, postroom web show)"
        if self.pid is None:
            return f"stop the service that holds port {self.port}"
        if self.unit:
            return f"`systemctl disable --now {self.unit}`"
        return f"`kill {self.pid}` (and keep it from starting again)"


def _read(path: str, limit: int = 4096) -> str:
    try:
        with open(path, "rb") as handle:
            return handle.read(limit).decode("utf-8", "replace")
    except OSError:
        return ""


def _system_unit(pid: int) -> str:
    """The system service a process runs in, from its cgroup (`/system.slice/dovecot.service`)."""
    for line in _read(f"/proc/{pid}/cgroup").splitlines():
        parts = line.rsplit(":", 1)[-1].split("/")
        if "system.slice" in parts and parts[-1].endswith(".service"):
            return parts[-1]
    return ""


def _holder(port: int, pid: int) -> Holder:
    words = [w for w in _read(f"/proc/{pid}/cmdline").split("\0") if w]
    line = shlex.join(words)
    return Holder(port, pid, _read(f"/proc/{pid}/comm").strip(), line if len(line) <= 120 else line[:117] + "...",
                  _system_unit(pid))


def port_holder(port: int, exclude_pid: int | None = None) -> Holder | None:
    """The process listening on TCP `port`, from /proc (Linux; a process of another user is
    seen only as such), other than `exclude_pid` (the node) unless only it listens there.
    None when no listener is found."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, encoding="ascii") as handle:
                next(handle, None)
                for line in handle:
                    fields = line.split()
                    if len(fields) > 9 and fields[3] == _LISTEN and int(fields[1].rsplit(":", 1)[1], 16) == port:
                        inodes.add(fields[9])
        except OSError:
            continue
    if not inodes:
        return None
    wanted = {f"socket:[{inode}]" for inode in inodes}
    own = False
    for pid in sorted((p for p in os.listdir("/proc") if p.isdigit()), key=int):  # a parent before its workers
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
            if any(os.readlink(f"/proc/{pid}/fd/{fd}") in wanted for fd in fds):
                if exclude_pid is not None and int(pid) == exclude_pid:
                    own = True
                    continue
                return _holder(port, int(pid))
        except OSError:
            continue
    return Holder(port, exclude_pid, "postroom", own=True) if own else Holder(port, None)
