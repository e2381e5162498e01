"""How `postroom serve` logs: the classic text lines, or one JSON object per line.

JSON lines carry time (ISO-8601 UTC), level, logger and message, plus the context of the
work that logged: the POP3/SMTP session (`session`, `service`, `remote_ip`) or the admin
request (`request_id`, `method`, `path`, `remote_ip`, `service`), and `status` and
`duration_ms` on access lines. The context lives in one contextvar that a POP3/SMTP session
sets once per connection (its answering tasks run in that context) and the admin service
once per request; a record may also carry the same fields as `extra`, which win. An
exception goes into an `exception` field, so every record stays one line.
"""
from __future__ import annotations

import json
import logging
import re
import uuid
from contextvars import ContextVar
from datetime import datetime, timezone
from typing import Any, Mapping

FORMATS = ["text", "json"]
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"

# The fields a log record can carry besides its message, in the order JSON lines show them.
CONTEXT_FIELDS = ("session", "service", "remote_ip", "request_id", "method", "path", "status", "duration_ms")

log_context: ContextVar[Mapping[str, Any] | None] = ContextVar("postroom_log_context", default=None)

# An incoming X-Request-Id is kept when it is short and made of safe characters; otherwise
# the request gets a new one (never refused: the id is a convenience, not an input).
MAX_REQUEST_ID = 128
_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/+=@-]*")


def new_request_id() -> str:
    return uuid.uuid4().hex


def request_id_from(value: str | bytes | None) -> str | None:
    """The caller's X-Request-Id if it is safe to log and echo, else None."""
    if value is None:
        return None
    if isinstance(value, bytes):
        try:
            value = value.decode("ascii")
        except UnicodeDecodeError:
            return None
    value = value.strip()
    if not value or len(value) > MAX_REQUEST_ID or not _REQUEST_ID.fullmatch(value):
        return None
    return value


def current_request_id() -> str | None:
    context = log_context.get()
    return context.get("request_id") if context else None


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line whatever the message or traceback holds."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds")
                    .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": _message(record),
        }
        context = log_context.get()
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is None and context is not None:
                value = context.get(name)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        # ASCII only: no U+2028 or undecodable byte can split or garble a line on its way to a collector.
        return json.dumps(entry, default=str)


def _message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:  # a bad %-format must not lose the line (logging would print a traceback)
        return f"{record.msg} (unformattable arguments {record.args!r})"


def configure(level: int, log_format: str = "text") -> None:
    """Root logging for `postroom serve`: to stderr, as text (unchanged) or JSON lines."""
    if log_format == "json":
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        logging.basicConfig(level=level, handlers=[handler])
        logging.captureWarnings(True)  # warnings too become JSON lines, not raw stderr text
    else:
        logging.basicConfig(level=level, format=TEXT_FORMAT)
