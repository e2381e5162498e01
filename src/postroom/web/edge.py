"""What every answer and every request of the admin API gets at the edge, before any route."""
from __future__ import annotations

import logging
import time

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..logs import log_context, new_request_id, request_id_from
from .errors import error_response


class NoStore:
    """Answers carry tokens, CSRF tokens and live state: no cache may keep them, and no
    browser may read them as anything but what they say they are. A header the answer already
    has is kept (a page that declares its own policy: web/api_docs.py)."""

    HEADERS = [(b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff")]

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def add_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers", [])
                given = {bytes(name).lower() for name, _ in headers}
                message["headers"] = [*headers, *((k, v) for k, v in self.HEADERS if k not in given)]
            await send(message)

        await self.app(scope, receive, add_headers if scope["type"] == "http" else send)


# What the console's pages need and no more: scripts, styles and images from this origin only (no
# inline script or style, no eval: htmx's own indicator style is off, see base.html), never framed
# (clickjacking), forms post only here, no <base> or plug-ins.
CONTENT_SECURITY_POLICY = ("default-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'; "
                           "object-src 'none'")


class BrowserPolicy(NoStore):
    """What a browser may do with any page of the admin service: the CSP above, no framing by
    any site (X-Frame-Options for browsers without frame-ancestors), and the Referer only to
    this origin. Not `no-referrer`: that would make the browser send `Origin: null` with the
    console's own forms, which the cross-site rule (web/security.py) refuses. The API reference
    page sets its own CSP: this one plus `data:` images (web/api_docs.py)."""

    HEADERS = [(b"content-security-policy", CONTENT_SECURITY_POLICY.encode()), (b"x-frame-options", b"DENY"),
               (b"referrer-policy", b"same-origin")]


class BodyLimit:
    """Admin requests are small JSON objects: a bigger body is refused, unread when its length
    is declared, and as soon as it passes the limit when it is not (chunked)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit
        self.message = f"the request body is larger than {limit} bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), b"")
        if declared.isdigit() and int(declared) > self.limit:
            await error_response(400, "validation_error", self.message)(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise HTTPException(400, self.message)  # FastAPI passes it on to the error handlers
            return message

        await self.app(scope, counted, send)


access_log = logging.getLogger("postroom.admin.access")


class RequestContext:
    """Outermost: every request gets an id (a sane incoming X-Request-Id, else a new one),
    echoed in the X-Request-Id response header, set in the log context for every record
    logged while the request is handled (logs.py), and used as the ref of an internal error.
    One access line per request goes to postroom.admin.access: method, path (never the
    query string), status, duration and the client's address."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = next((v for k, v in scope["headers"] if k == b"x-request-id"), None)
        request_id = request_id_from(incoming) or new_request_id()
        client = scope.get("client")
        method, path = str(scope.get("method", "")), _loggable_path(scope)
        fields = {"request_id": request_id, "service": "admin", "remote_ip": client[0] if client else "",
                  "method": method, "path": path}
        token = log_context.set(fields)
        started = time.perf_counter()
        status = 0

        async def add_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, add_id)
        finally:
            duration = round((time.perf_counter() - started) * 1000, 1)
            access_log.info("%s %s %s %.1f ms remote=%s request=%s", method, path, status or "-", duration,
                            fields["remote_ip"] or "-", request_id,
                            extra={"status": status or None, "duration_ms": duration})
            log_context.reset(token)


def _loggable_path(scope: Scope) -> str:
    """The path as the client sent it (still percent-encoded, so no decoded control character
    reaches a text log line), without the query string, and bounded."""
    raw = scope.get("raw_path")
    path = raw.decode("latin-1") if isinstance(raw, (bytes, bytearray)) else str(scope.get("path", ""))
    path = path.split("?", 1)[0]
    path = "".join(c if " " < c < "\x7f" else f"%{ord(c):02X}" for c in path)
    return path[:300] or "/"
