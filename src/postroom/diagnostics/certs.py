"""Certificate facts for the checks: usable (readable, key matches), dates, the names it
covers, and a certificate on this install that would do instead."""
from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from typing import Any

from ..errors import PostroomError
from ..tls import certificate_info, server_context

EXPIRY_WARNING_DAYS = 30
INIT_NAME = "postroom"  # `pop set --certificate postroom`: the pair `init` made under DATA/tls


@dataclass
class Certificate:
    path: str
    error: str | None  # why it cannot be used, None when it loads with its key
    info: dict[str, Any] | None  # tls.certificate_info, when the certificate itself parses


def inspect(path: str, key: str | None) -> Certificate:
    """Blocking (reads files): call in a thread."""
    error = None
    try:
        server_context(path, key)
    except PostroomError as exc:
        error = exc.message
    try:
        info = certificate_info(path)
    except PostroomError:
        info = None
    return Certificate(path, error, info)


def names(info: dict[str, Any]) -> list[str]:
    """The names a client checks: the SANs, or the common name of a certificate without any."""
    return list(info["san"]) or ([info["subject_cn"]] if info.get("subject_cn") else [])


def covers(cert_names: list[str], host: str) -> bool:
    host = host.rstrip(".").lower()
    try:
        wanted_ip = ipaddress.ip_address(host)
    except ValueError:
        wanted_ip = None
    for name in cert_names:
        name = name.rstrip(".").lower()
        if wanted_ip is not None:
            try:
                if ipaddress.ip_address(name) == wanted_ip:
                    return True
            except ValueError:
                pass
            continue
        if name == host:
            return True
        # A wildcard stands for exactly one leftmost label (RFC 6125).
        if name.startswith("*.") and "." in host and host.split(".", 1)[1] == name[2:]:
            return True
    return False


def usable_for(cert: Certificate, host: str) -> bool:
    info = cert.info
    return (cert.error is None and info is not None and info["days_left"] >= EXPIRY_WARNING_DAYS
            and covers(names(info), host))


def replacement(data_dir: str, host: str, current: str | None) -> str | None:
    """`postroom` when the certificate `init` made is usable for `host` and not the one in use."""
    base = os.path.join(os.path.abspath(data_dir), "tls", INIT_NAME)
    path, key = base + ".pem", base + ".key"
    if current == path or not os.path.exists(path):
        return None
    return INIT_NAME if usable_for(inspect(path, key if os.path.exists(key) else None), host) else None
