"""Every admin request has an id: a sane incoming X-Request-Id or a new one, echoed in the
response, on every JSON log record logged while it is handled, on its access line, and as the
ref of an internal error."""
from __future__ import annotations

import json
import logging
import re
from typing import Iterator

import pytest

from postroom.logs import JsonFormatter

from .conftest import error_of


class JsonLines(logging.Handler):
    """What `serve --log-format json` would print, one parsed object per record."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[dict] = []

    def emit(self, record: logging.LogRecord) -> None:
        line = self.format(record)
        assert "\n" not in line
        self.lines.append(json.loads(line))

    def of(self, logger: str) -> list[dict]:
        return [line for line in self.lines if line["logger"] == logger]


@pytest.fixture
def org(principals):
    return principals["organization-management"]


@pytest.fixture
def json_log() -> Iterator[JsonLines]:
    handler = JsonLines()
    logger = logging.getLogger("postroom")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_a_request_without_an_id_gets_a_new_one_on_its_response_and_access_line(api, org, json_log) -> None:
    response = api.get("/api/v1/domains?secret=hunter2", headers=org.bearer)
    assert response.status_code == 200
    request_id = response.headers["X-Request-Id"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    access = json_log.of("postroom.admin.access")
    assert len(access) == 1, json_log.lines
    line = access[0]
    assert line["level"] == "INFO" and line["request_id"] == request_id and line["service"] == "admin"
    assert (line["method"], line["path"], line["status"]) == ("GET", "/api/v1/domains", 200)
    assert isinstance(line["duration_ms"], float) and line["remote_ip"]
    assert "hunter2" not in json.dumps(json_log.lines)  # the query string is never logged
    assert api.get("/api/v1/domains", headers=org.bearer).headers["X-Request-Id"] != request_id


def test_a_sane_incoming_id_is_kept_and_a_bad_one_replaced(api, org, json_log) -> None:
    kept = api.get("/api/v1/domains", headers={**org.bearer, "X-Request-Id": "lb-7f3a:42"})
    assert kept.headers["X-Request-Id"] == "lb-7f3a:42"
    for bad in ("a" * 200, "two words", "<script>"):
        response = api.get("/api/v1/domains", headers={**org.bearer, "X-Request-Id": bad})
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-Id"]), bad
    assert [line["request_id"] for line in json_log.of("postroom.admin.access")][0] == "lb-7f3a:42"
    assert not any(bad in json.dumps(json_log.lines) for bad in ("two words", "<script>"))


def test_errors_carry_the_id_too(api, org, json_log) -> None:
    response = api.get("/api/v1/no-such-thing", headers={**org.bearer, "X-Request-Id": "req-404"})
    error_of(response, 404)
    assert response.headers["X-Request-Id"] == "req-404"
    assert json_log.of("postroom.admin.access")[-1]["status"] == 404
    refused = api.get("/api/v1/domains", headers={"X-Request-Id": "req-401"})
    error_of(refused, 401)
    assert refused.headers["X-Request-Id"] == "req-401"


def test_records_logged_while_handling_a_request_carry_its_id_and_the_ref_is_that_id(
        api, org, store, monkeypatch, json_log) -> None:
    async def broken() -> list[str]:
        logging.getLogger("postroom.storage").warning("about to fail")
        raise RuntimeError("secret detail from deep inside")
    monkeypatch.setattr(store, "list_domains", broken)
    response = api.get("/api/v1/domains", headers={**org.bearer, "X-Request-Id": "req-500"})
    error = error_of(response, 500)
    assert error["message"] == "internal error, ref req-500"
    assert response.headers["X-Request-Id"] == "req-500"
    assert "secret" not in response.text
    warning = json_log.of("postroom.storage")[0]
    assert (warning["request_id"], warning["method"], warning["path"]) == ("req-500", "GET", "/api/v1/domains")
    failure = json_log.of("postroom.admin")[0]
    assert failure["request_id"] == "req-500" and "ref req-500" in failure["message"]
    assert "secret detail from deep inside" in failure["exception"]
    assert json_log.of("postroom.admin.access")[0]["status"] == 500
    # and nothing of the request leaks into what is logged after it
    logging.getLogger("postroom.node").warning("later")
    assert "request_id" not in json_log.of("postroom.node")[0]
