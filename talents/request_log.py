"""Request ids and the request log: every request gets an id (the caller's ``X-Request-ID`` when sane), every log
line written while serving it carries the id, the response carries it (header, and body of a JSON 5xx), and one
line per request records the status the client actually got (errors are logged, with their traceback, by
:mod:`talents.http_errors`).
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

import structlog
from litestar.middleware import ASGIMiddleware

# Private, but the framework's own way to turn an exception into the app's mapped response (pinned < 3).
from litestar.middleware._internal.exceptions import ExceptionHandlerMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from talents.health import in_flight
from talents.kernel.logs import get_logger
from talents.metrics import observe_request

__all__ = ["REQUEST_ID_HEADER", "RequestLogMiddleware", "current_request_id"]

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@+=-]{0,127}")
log = get_logger("talents.http")
_enabled = logging.getLogger("talents.http")


def current_request_id() -> str | None:
    """The id of the request being served (None outside a request)."""
    value = structlog.contextvars.get_contextvars().get("request_id")
    return str(value) if value else None


def _incoming_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text = value.decode("latin-1").strip()
            return text if _SANE_ID.fullmatch(text) else None
    return None


async def _with_request_id(send: Send, request_id: str, message: Any, held: list[Any]) -> None:
    """Send a JSON 5xx response with ``request_id`` added to its body (the body is small: an error)."""
    body = b"".join(m.get("body", b"") for m in held)
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        body = json.dumps({**doc, "request_id": request_id}, ensure_ascii=False).encode()
    headers = [(k, v) for k, v in message["headers"] if k.lower() != b"content-length"]
    await send({**message, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body, "more_body": False})


class RequestLogMiddleware(ASGIMiddleware):
    """The request id, then one structured line per request: method, path (no query string), status, duration.

    The inner app is wrapped in the framework's exception handling, so that an exception raised by a middleware
    further in becomes here the response the client gets (503 for an unavailable database, say), as logged."""

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        if scope["type"] != "http":
            await next_app(scope, receive, send)
            return
        request_id = _incoming_id(scope) or uuid.uuid4().hex
        start = time.perf_counter()
        status = {"code": 500}
        pending: dict[str, Any] = {}
        waiting = in_flight.begin()  # until the response starts: the probes watch for stuck requests

        async def capture(message: Any) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                in_flight.end(waiting)
                message = {**message, "headers": [*message.get("headers", ()),
                                                  (b"x-request-id", request_id.encode())]}
                content_type = dict(message["headers"]).get(b"content-type", b"")
                if message["status"] >= 500 and b"json" in content_type:
                    pending["start"], pending["body"] = message, []
                    return
            elif message["type"] == "http.response.body" and "start" in pending:
                pending["body"].append(message)
                if not message.get("more_body"):
                    await _with_request_id(send, request_id, pending.pop("start"), pending.pop("body"))
                return
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await ExceptionHandlerMiddleware(app=next_app, debug=None)(scope, receive, capture)
            finally:
                in_flight.end(waiting)
                observe_request(str(scope.get("method")), str(scope.get("path_template") or "other"), status["code"],
                                time.perf_counter() - start)
                error = status["code"] >= 500
                # The line's processors cost more than the rest of a simple request: skip them when filtered.
                if _enabled.isEnabledFor(logging.ERROR if error else logging.INFO):
                    (log.error if error else log.info)(
                        "request",
                        method=scope.get("method"),
                        path=scope.get("path"),
                        status=status["code"],
                        ms=round((time.perf_counter() - start) * 1000, 1),
                    )
