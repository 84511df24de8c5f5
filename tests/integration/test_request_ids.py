"""Unexpected errors leave a trace: every 5xx is logged with its traceback and a request id the response also
carries; the request log shows the status the client got; a sane incoming X-Request-ID is kept."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from litestar import get
from litestar.middleware import ASGIMiddleware
from litestar.testing import TestClient
from litestar.types import ASGIApp, Receive, Scope, Send

from talents.app import create_app

pytestmark = pytest.mark.integration


class DatabaseGoneMiddleware(ASGIMiddleware):
    """A middleware that meets an unavailable database (as sign-in does when the server goes away)."""

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        raise sa.exc.OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly"))


@get("/test/boom", opt={"public": True}, sync_to_thread=False, include_in_schema=False)
def boom() -> None:
    raise RuntimeError("the unforeseen happened")


@get("/test/db-gone", opt={"public": True}, sync_to_thread=False, include_in_schema=False,
     middleware=[DatabaseGoneMiddleware()])
def db_gone() -> None:
    return None


@pytest.fixture
def web(sqlite_engine) -> Iterator[TestClient[Any]]:
    with TestClient(create_app(extra_route_handlers=[boom, db_gone])) as client:
        yield client


def _log_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """The structured lines logged (each record carries its event as a dict, before rendering)."""
    return [r.msg for r in caplog.records if isinstance(r.msg, dict)]


def test_an_unexpected_error_is_logged_with_its_traceback_and_request_id(caplog, web) -> None:
    response = web.get("/test/boom")
    assert response.status_code == 500
    request_id = response.headers["x-request-id"]
    assert response.json() == {"detail": "Internal Server Error", "status_code": 500, "request_id": request_id}
    lines = _log_lines(caplog)
    (error,) = [x for x in lines if x.get("event") == "server_error"]
    assert error["request_id"] == request_id and "RuntimeError: the unforeseen happened" in error["traceback"]
    (request,) = [x for x in lines if x.get("event") == "request" and x.get("path") == "/test/boom"]
    assert (request["status"], request["request_id"], request["level"]) == (500, request_id, "error")


def test_the_request_log_shows_the_status_the_client_got(caplog, web) -> None:
    response = web.get("/test/db-gone")
    assert response.status_code == 503 and response.headers["retry-after"] == "2"
    request_id = response.headers["x-request-id"]
    assert response.json()["request_id"] == request_id
    lines = _log_lines(caplog)
    (request,) = [x for x in lines if x.get("event") == "request" and x.get("path") == "/test/db-gone"]
    assert request["status"] == 503
    (unavailable,) = [x for x in lines if x.get("event") == "database_unavailable"]
    assert unavailable["request_id"] == request_id and "OperationalError" in unavailable["traceback"]


def test_a_sane_incoming_request_id_is_kept_and_a_wild_one_replaced(web) -> None:
    kept = web.get("/healthz", headers={"X-Request-ID": "proxy-7f3a.42"})
    assert kept.headers["x-request-id"] == "proxy-7f3a.42"
    for wild in ("<script>", "x" * 300, "a b"):
        replaced = web.get("/healthz", headers={"X-Request-ID": wild}).headers["x-request-id"]
        assert replaced != wild and len(replaced) == 32
    assert web.get("/healthz").headers["x-request-id"] != web.get("/healthz").headers["x-request-id"]
