"""Rate limits counted in the database (fixed windows), so that they hold across workers and instances."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from talents.auth.models import RateBucket
from talents.kernel.db import on_rollback

__all__ = ["hit"]


def _count_hit(insert: Any) -> Any:
    table = RateBucket.__table__  # type: ignore[attr-defined]
    return (insert(table).values(key=sa.bindparam("key"), window_start=sa.bindparam("window"), hits=1)
            .on_conflict_do_update(index_elements=["key", "window_start"], set_={"hits": table.c.hits + 1})
            .returning(table.c.hits))


# Built once per dialect: every request that may write counts a hit.
_COUNT_HIT = {"postgresql": _count_hit(postgresql.insert), "sqlite": _count_hit(sqlite.insert)}


def hit(session: Session, key: str, limit: int, window_s: int, now: float | None = None, *,
        kept: bool = False) -> int | None:
    """Count one hit on ``key``; None when under ``limit``, else the seconds until the window ends.

    ``kept``: the hit is counted in the session's transaction, which holds more (a request's writes), and counted
    again apart should that transaction not commit: a request refused or failing after its hit still counts."""
    now = time.time() if now is None else now
    window = int(now // window_s) * window_s
    stmt = _COUNT_HIT[session.get_bind().dialect.name]
    values = {"key": key[:200], "window": window}
    hits = int(session.execute(stmt, values).scalar_one())
    if kept:
        on_rollback(session, lambda conn: conn.execute(stmt, values))
    if hits > limit:
        return max(1, int(window + window_s - now + 0.999))
    return None


def purge_buckets(session: Session, now: float | None = None, keep_s: int = 3600) -> int:
    now = time.time() if now is None else now
    table = RateBucket.__table__  # type: ignore[attr-defined]
    result = session.execute(sa.delete(table).where(table.c.window_start < int(now) - keep_s))
    return int(getattr(result, "rowcount", 0) or 0)
