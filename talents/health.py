"""Liveness and readiness probes, and the watch over requests that never get an answer.

A server whose handlers are all blocked still answers an ``async`` probe: the probes therefore also look
at the oldest request still waiting for its response, and check the database from threads of their own.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import sqlalchemy as sa
from litestar import MediaType, Response, get

from talents.kernel.db import current_revision, get_engine, head_revision
from talents.kernel.settings import get_settings

__all__ = ["InFlight", "healthz", "in_flight", "probe_pool", "readyz"]

_PROBE_TIMEOUT_S = 5.0
probe_pool = ThreadPoolExecutor(2, thread_name_prefix="probe")  # probes and metrics, never request threads


class InFlight:
    """The start times of the requests not yet answered (the response has not started)."""

    def __init__(self) -> None:
        self._started: dict[int, float] = {}
        self._ids = itertools.count()

    def begin(self) -> int:
        key = next(self._ids)
        self._started[key] = time.monotonic()
        return key

    def end(self, key: int) -> None:
        self._started.pop(key, None)

    def oldest_s(self) -> float:
        """How long the oldest unanswered request has waited (0 if none)."""
        started = list(self._started.values())
        return time.monotonic() - min(started) if started else 0.0

    def __len__(self) -> int:
        return len(self._started)


in_flight = InFlight()


def stuck_after_s() -> float:
    """A request unanswered past every database timeout is stuck, not slow."""
    db = get_settings().db
    return db.database_statement_timeout_s + 2 * db.database_lock_timeout_s


def _stuck() -> dict[str, object] | None:
    oldest = in_flight.oldest_s()
    if oldest > stuck_after_s():
        return {"oldest_unanswered_s": round(oldest, 1), "unanswered": len(in_flight)}
    return None


# Probes pass the request gate at once (talents.kernel.api.admitted): they must answer when requests queue.
@get("/healthz", media_type=MediaType.JSON, include_in_schema=True, tags=["health"], summary="Liveness",
     opt={"database": False})
async def healthz() -> Response[dict[str, object]]:
    stuck = _stuck()
    if stuck is not None:
        return Response({"status": "stuck", "requests": stuck}, status_code=503)
    return Response({"status": "ok"}, status_code=200)


def _database_checks() -> dict[str, object]:
    with get_engine().connect() as conn:
        conn.execute(sa.text("SELECT 1"))
    return {"current": current_revision(), "head": head_revision()}


@get("/readyz", tags=["health"], summary="Readiness: database reachable, migrations at head, requests answered",
     opt={"database": False})
async def readyz() -> Response[dict[str, object]]:
    checks: dict[str, Any] = {}
    ready = True
    try:
        # Threads of its own: a probe must answer even when the request threads are all busy.
        future = asyncio.get_running_loop().run_in_executor(probe_pool, _database_checks)
        migrations = await asyncio.wait_for(future, _PROBE_TIMEOUT_S)
        checks["database"] = "ok"
        checks["migrations"] = migrations
        ready = migrations["current"] == migrations["head"]
    except TimeoutError:
        checks["database"] = f"no answer within {_PROBE_TIMEOUT_S:.0f} s"
        ready = False
    except Exception as exc:  # noqa: BLE001 - readiness reports any failure rather than raising it
        checks["database"] = f"unreachable: {type(exc).__name__}"
        ready = False
    stuck = _stuck()
    if stuck is not None:
        checks["requests"] = stuck
        ready = False
    return Response({"status": "ready" if ready else "not ready", "checks": checks}, status_code=200 if ready else 503)
