"""The one JSON error shape of the REST API, and the translation of every error into it.

postroom's closed error set, FastAPI's request validation, Starlette's 404/405 and any
unexpected exception all leave as {"error": {status, code, message, field, allowed}}.
An unexpected exception answers "internal error, ref <id>", the id being the request's
X-Request-Id; the traceback goes to the "postroom.admin" log under that id and never to the client.
"""
from __future__ import annotations

import logging
import uuid
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import Conflict, Forbidden, NotFound, TooManyAttempts, Unauthenticated, Unavailable, ValidationError
from ..logs import current_request_id

log = logging.getLogger("postroom.admin")

# Sent with every 401: which ways of signing in the API accepts.
CHALLENGE = 'Bearer, Basic realm="postroom"'

ErrorCode = Literal["validation_error", "unauthenticated", "forbidden", "not_found", "conflict",
                    "method_not_allowed", "too_many_attempts", "unavailable", "internal_error"]


class ErrorDetail(BaseModel):
    status: int
    code: ErrorCode
    message: str
    field: str | None
    allowed: list[str] | None


class ErrorBody(BaseModel):
    error: ErrorDetail


def _error(description: str, **extra: Any) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description, **extra}


# Declared on every operation, so the OpenAPI document describes every answer it can give.
# "default" also keeps FastAPI from documenting a 422 the API never sends.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _error("Refused input: the field is named, with the allowed values where they are few"),
    401: _error("No valid credentials", headers={"WWW-Authenticate": {"schema": {"type": "string"}}}),
    403: _error("The caller's role groups do not allow this (or a console session's request lacked its CSRF "
                "token, or came from another site: a foreign Origin or Sec-Fetch-Site: cross-site)"),
    404: _error("No such object"),
    409: _error("The change clashes with the current state"),
    429: _error("Sign-in refused before the password was checked: too many failed sign-ins from this address or "
                "for this name; try again after Retry-After seconds",
                headers={"Retry-After": {"schema": {"type": "integer"}}}),
    503: _error("Temporarily unavailable: try again later"),
    "default": _error("Any other error (405 wrong method, 500 internal error)"),
}

_STATUS_OF: dict[type[Exception], tuple[int, str]] = {
    ValidationError: (400, "validation_error"),
    Unauthenticated: (401, "unauthenticated"),
    Forbidden: (403, "forbidden"),
    NotFound: (404, "not_found"),
    Conflict: (409, "conflict"),
    TooManyAttempts: (429, "too_many_attempts"),  # before Unavailable, its base class
    Unavailable: (503, "unavailable"),
}
_CODE_OF_STATUS = {400: "validation_error", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
                   405: "method_not_allowed", 409: "conflict", 429: "too_many_attempts", 503: "unavailable"}
_LOCATIONS = ("body", "query", "path", "header", "cookie")


def error_response(status: int, code: str, message: str, *, field: str | None = None,
                   allowed: list[str] | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": {"status": status, "code": code, "message": message, "field": field, "allowed": allowed}}
    if status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": CHALLENGE}
    return JSONResponse(body, status_code=status, headers=headers)


async def _postroom_error(request: Request, exc: Exception) -> JSONResponse:
    status, code = next(v for k, v in _STATUS_OF.items() if isinstance(exc, k))
    if isinstance(exc, ValidationError):
        return error_response(status, code, exc.message, field=exc.field, allowed=exc.allowed)
    if isinstance(exc, NotFound):
        return error_response(status, code, exc.message, allowed=exc.existing)
    if isinstance(exc, TooManyAttempts):
        return error_response(status, code, exc.message, headers={"Retry-After": str(exc.retry_after)})
    return error_response(status, code, getattr(exc, "message", ""))


def _body_fields(request: Request) -> list[str] | None:
    """The fields the operation's JSON body accepts, to list them when an unknown one came."""
    route = request.scope.get("route")
    body_field = getattr(route, "body_field", None)
    model = getattr(getattr(body_field, "field_info", None), "annotation", None)
    fields = getattr(model, "model_fields", None)
    return list(fields) if isinstance(fields, dict) else None


async def _request_invalid(request: Request, exc: Exception) -> JSONResponse:
    """Pydantic's verdict on the request, reduced to the first problem and the field it concerns."""
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0]
    names = [part for part in first.get("loc", ()) if isinstance(part, str)]
    if names and names[0] in _LOCATIONS:
        names = names[1:]
    # The field is the name right after the location ("body", "query"); anything deeper is a
    # union member's type name or a list index, which would mean nothing to the caller.
    field = names[0] if names else None
    kind = first.get("type", "")
    allowed: list[str] | None = None
    if kind == "json_invalid":
        detail = (first.get("ctx") or {}).get("error")
        field, message = None, "the request body is not valid JSON" + (f" ({detail})" if detail else "")
    elif kind == "extra_forbidden":
        allowed = _body_fields(request)
        message = f"{field}: is not a field of this request"
        if allowed:
            message += f" (allowed: {', '.join(allowed)})"
    elif kind == "missing" and field is None:
        message = "a JSON object is required as the request body"
    elif field is None:
        message = f"the request body must be a JSON object ({first.get('msg', 'invalid')})"
    else:
        message = f"{field}: {first.get('msg', 'invalid value')}"
        if kind == "missing":
            message = f"{field}: is required"
    return error_response(400, "validation_error", message, field=field, allowed=allowed)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    headers = dict(exc.headers or {})
    if status == 404:
        return error_response(404, "not_found", f"no such API path: {request.url.path}")
    if status == 405:
        allow = _allowed_methods(request) or headers.get("Allow", "")
        message = f"method {request.method} is not allowed here" + (f" (allowed: {allow})" if allow else "")
        return error_response(405, "method_not_allowed", message, headers={"Allow": allow} if allow else None)
    if status in _CODE_OF_STATUS:
        return error_response(status, _CODE_OF_STATUS[status], str(exc.detail), headers=headers or None)
    if status < 500:  # 413, 415, ...: the request's shape, which the API answers with 400
        return error_response(400, "validation_error", str(exc.detail))
    return _internal(request.scope, f"HTTP {status} raised: {exc.detail}")


def _allowed_methods(request: Request) -> str:
    """Every method the path takes. FastAPI makes one route per method, and Starlette's Allow
    header names only the first route that matched the path, so ask the router per method."""
    methods = []
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes):
            methods.append(method)
    return ", ".join(methods)


def _internal(scope: Scope, what: str | None = None) -> JSONResponse:
    ref = current_request_id() or uuid.uuid4().hex[:12]  # the request id (X-Request-Id) when there is one
    if what is None:
        log.exception("internal error, ref %s (%s %s)", ref, scope.get("method"), scope.get("path"))
    else:
        log.error("internal error, ref %s (%s %s): %s", ref, scope.get("method"), scope.get("path"), what)
    return error_response(500, "internal_error", f"internal error, ref {ref}")


class InternalErrors:
    """Turns any exception nothing else handled into the 500 error shape.

    Sits inside Starlette's ServerErrorMiddleware, which would answer in plain text and
    re-raise; here the exception ends, logged once under the ref the client sees."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = refused = False

        async def watch(message: Message) -> None:
            nonlocal started, refused
            started = started or message["type"] == "http.response.start"
            try:
                await send(message)
            except Exception:
                refused = True  # the connection took no answer (e.g. the server already sent a 400)
                raise

        try:
            await self.app(scope, receive, watch)
        except Exception:
            if refused:  # the peer's fault, not ours: nothing to answer, nothing to report
                log.info("no answer sent for %s %s: the connection was already answered or closed",
                         scope.get("method"), scope.get("path"))
                return
            response = _internal(scope)
            if not started:  # once a response has begun, the server can only close the connection
                await response(scope, receive, send)


def install(app: FastAPI) -> None:
    for kind in _STATUS_OF:
        app.add_exception_handler(kind, _postroom_error)
    app.add_exception_handler(RequestValidationError, _request_invalid)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_middleware(InternalErrors)
