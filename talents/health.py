"""Liveness and readiness probes."""

from __future__ import annotations

import sqlalchemy as sa
from litestar import MediaType, Response, get

from talents.kernel.db import current_revision, get_engine, head_revision

__all__ = ["healthz", "readyz"]


@get("/healthz", media_type=MediaType.JSON, include_in_schema=True, tags=["health"], summary="Liveness")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@get("/readyz", sync_to_thread=True, tags=["health"], summary="Readiness: database reachable, migrations at head")
def readyz() -> Response[dict[str, object]]:
    checks: dict[str, object] = {}
    ready = True
    try:
        with get_engine().connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        checks["database"] = "ok"
        current, head = current_revision(), head_revision()
        checks["migrations"] = {"current": current, "head": head}
        ready = current == head
    except Exception as exc:  # readiness reports any failure rather than raising it
        checks["database"] = f"unreachable: {type(exc).__name__}"
        ready = False
    return Response({"status": "ready" if ready else "not ready", "checks": checks}, status_code=200 if ready else 503)
