"""Store URLs as an administrator writes them: `embedded`, or postgresql://... ."""
from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from ..errors import ValidationError

EMBEDDED = "embedded"
_POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def check_store_url(url: str) -> str:
    """A store URL as given on the command line: `embedded` or postgresql://..."""
    text = url.strip()
    if text.lower() in (EMBEDDED, "sqlite"):
        return EMBEDDED
    if text.lower().startswith(_POSTGRES_SCHEMES):
        return text
    raise ValidationError("store", f"{safe_url(text)!r} is not a store URL",
                          ["postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE", EMBEDDED])


def safe_url(url: str) -> str:
    """The URL without its password, for messages an administrator (or a log) may see."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    except ValueError:
        return "(an unreadable URL)"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
