"""TLS contexts of the node's listeners, by certificate path: loaded again only when a file changes."""
from __future__ import annotations

import logging
import os
import ssl
from typing import Any

from ..errors import PostroomError
from ..tls import server_context

log = logging.getLogger("postroom.node")


class CertificateCache:
    """TLS contexts by certificate path; reloaded only when the files or their mtimes change."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str | None], tuple[tuple[Any, ...], ssl.SSLContext | None, str | None]] = {}

    def context(self, certificate: str | None, key: str | None) -> tuple[ssl.SSLContext | None, str | None]:
        """(context, None) or (None, why it is unusable); (None, None) when none is set."""
        if not certificate:
            return None, None
        stamp = (_mtime(certificate), _mtime(key))
        cached = self._entries.get((certificate, key))
        if cached is None or cached[0] != stamp:
            try:
                cached = (stamp, server_context(certificate, key), None)
            except PostroomError as exc:
                cached = (stamp, None, exc.message)
                log.error("certificate %s unusable: %s", certificate, exc.message)
            self._entries[(certificate, key)] = cached
        return cached[1], cached[2]


def _mtime(path: str | None) -> float | None:
    if not path:
        return None
    try:
        return os.stat(path).st_mtime
    except OSError:
        return None
