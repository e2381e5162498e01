"""The JSON log format, the log context and the request id rules (postroom/logs.py), and
`serve --log-format` refusing what it does not know."""
from __future__ import annotations

import asyncio
import json
import logging
import re
import sys

import pytest
from typer.testing import CliRunner

from postroom.cli import app
from postroom.logs import (
    MAX_REQUEST_ID, JsonFormatter, current_request_id, log_context, new_request_id, request_id_from,
)


def record(message: str = "hello world", *args: object, name: str = "postroom.pop3", level: int = logging.INFO,
           exc_info: object = None, **extra: object) -> logging.LogRecord:
    made = logging.getLogger(name).makeRecord(name, level, __file__, 1, message, args or None, exc_info)
    for key, value in extra.items():
        setattr(made, key, value)
    return made


def formatted(made: logging.LogRecord) -> dict:
    line = JsonFormatter().format(made)
    assert "\n" not in line and "\r" not in line
    assert line.isascii()
    return json.loads(line)


def test_a_record_is_one_json_object_with_time_level_logger_message() -> None:
    entry = formatted(record())
    assert list(entry) == ["time", "level", "logger", "message"]
    assert entry["level"] == "INFO" and entry["logger"] == "postroom.pop3" and entry["message"] == "hello world"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry["time"]), entry["time"]


def test_the_context_fields_come_from_the_contextvar() -> None:
    token = log_context.set({"session": "EX01-7", "service": "pop3", "remote_ip": "192.0.2.1", "other": "x"})
    try:
        entry = formatted(record())
    finally:
        log_context.reset(token)
    assert entry["session"] == "EX01-7" and entry["service"] == "pop3" and entry["remote_ip"] == "192.0.2.1"
    assert "other" not in entry  # only the documented fields
    assert "session" not in formatted(record())  # and only while the context is set


def test_extra_fields_win_over_the_context() -> None:
    token = log_context.set({"request_id": "abc", "status": 200})
    try:
        entry = formatted(record(status=503, duration_ms=1.5))
    finally:
        log_context.reset(token)
    assert entry["request_id"] == "abc" and entry["status"] == 503 and entry["duration_ms"] == 1.5


def test_an_exception_is_one_field_on_the_same_line() -> None:
    try:
        raise RuntimeError("deep\ninside")
    except RuntimeError:
        entry = formatted(record("failed", exc_info=sys.exc_info(), level=logging.ERROR))
    assert entry["message"] == "failed" and entry["level"] == "ERROR"
    assert "Traceback" in entry["exception"] and "RuntimeError: deep\ninside" in entry["exception"]


@pytest.mark.parametrize("message", ["line one\nline two\r\n", "\u2028 separator", "caf\xe9 \x00 \x1b[31m"])
def test_control_and_unicode_characters_stay_escaped_on_one_line(message: str) -> None:
    assert formatted(record("%s", message))["message"] == message


def test_a_message_with_bad_arguments_is_still_logged() -> None:
    entry = formatted(record("%d items", "not a number"))
    assert entry["message"].startswith("%d items") and "not a number" in entry["message"]


@pytest.mark.parametrize("value, kept", [
    ("abc-123", "abc-123"),
    (b"0f3c9a2e-5b1d-4c7a-9e2f-1a2b3c4d5e6f", "0f3c9a2e-5b1d-4c7a-9e2f-1a2b3c4d5e6f"),
    ("  spaced  ", "spaced"),
    ("a" * MAX_REQUEST_ID, "a" * MAX_REQUEST_ID),
    ("a" * (MAX_REQUEST_ID + 1), None),
    ("", None),
    (None, None),
    ("has space", None),
    ("new\nline", None),
    ("quote\"", None),
    ("<script>", None),
    ("-leading-dash", None),
    ("caf\xe9".encode("latin-1"), None),
])
def test_only_a_short_safe_incoming_request_id_is_kept(value, kept) -> None:
    assert request_id_from(value) == kept


def test_generated_request_ids_are_unique_and_safe() -> None:
    ids = {new_request_id() for _ in range(1000)}
    assert len(ids) == 1000 and all(request_id_from(i) == i for i in ids)


def test_the_context_is_per_task() -> None:
    async def one(rid: str) -> str | None:
        log_context.set({"request_id": rid})
        await asyncio.sleep(0)  # let the other task run and set its own: the interleaving is the test
        return current_request_id()

    async def both() -> list[str | None]:
        return list(await asyncio.gather(one("a"), one("b")))

    assert asyncio.run(both()) == ["a", "b"]
    assert current_request_id() is None


@pytest.mark.parametrize("args, env", [(["--log-format", "xml"], {}), ([], {"POSTROOM_LOG_FORMAT": "yaml"})])
def test_serve_refuses_an_unknown_log_format(tmp_path, args, env) -> None:
    result = CliRunner().invoke(app, ["serve", "--data", str(tmp_path / "var"), *args],
                                env={"COLUMNS": "250", "NO_COLOR": "1", "POSTROOM_DATA": None, **env})
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert "log-format:" in text and "allowed: text, json" in text, text
    assert "Traceback" not in result.output
