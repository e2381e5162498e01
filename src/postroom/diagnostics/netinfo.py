"""Small network facts for the checks: where to connect for a binding, whether it answers,
which process holds a port, a free port to suggest, this machine's own addresses. Blocking:
call them in a thread."""
from __future__ import annotations

import ipaddress
import os
import socket
import time

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


def port_holder(port: int, exclude_pid: int | None = None) -> str | None:
    """"pid N (name)" of a process listening on TCP `port`, from /proc (Linux; processes of
    other users may be invisible). None when not found."""
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
    for pid in (p for p in os.listdir("/proc") if p.isdigit()):
        if exclude_pid is not None and int(pid) == exclude_pid:
            continue
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
            if any(os.readlink(f"/proc/{pid}/fd/{fd}") in wanted for fd in fds):
                with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as handle:
                    return f"pid {pid} ({handle.read().strip()})"
        except OSError:
            continue
    return "a process this user cannot see"
