"""A new priority-1 need triggers an allocation run for it.

Whoever changes a need (HTTP API, bulk import, CLI), the ORM flush that makes it open at priority 1 — a
need created so, its priority raised to 1, or a priority-1 need re-opened — writes an
``allocation_trigger`` row in the same transaction (so a rolled-back change triggers nothing). The
scheduler consumes pending triggers (:func:`talents.workflow.allocation_job.process_allocation_triggers`,
called by :func:`~talents.workflow.allocation_job.run_scheduled_allocation`); with
``TALENTS_ALLOCATION_TRIGGER_SYNC=true`` the run also happens right after the commit, in the committing
thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session as OrmSession

from needs.models import Need
from talents.assignments.models import AllocationTrigger
from talents.kernel.db import utcnow
from talents.kernel.settings import get_settings

__all__ = ["install"]

_KEY = "talents.allocation_triggers"
# What runs the pending triggers right after a commit (TALENTS_ALLOCATION_TRIGGER_SYNC), given at install.
_run_now: list[Callable[[Engine], Any]] = []


def _history_changed_to(obj: Any, attr: str, value: Any) -> bool:
    hist = sa.inspect(obj).attrs[attr].history
    return hist.has_changes() and getattr(obj, attr) == value and value not in (hist.deleted or ())


def _after_flush(session: OrmSession, _ctx: Any) -> None:
    rows: list[dict[str, Any]] = []
    for obj in session.new:
        if isinstance(obj, Need) and obj.priority == 1 and obj.status == "open" and obj.id is not None:
            rows.append({"need_id": obj.id, "reason": "need.created"})
    for obj in session.dirty:
        if not isinstance(obj, Need) or obj.priority != 1 or obj.status != "open":
            continue
        if _history_changed_to(obj, "priority", 1):
            rows.append({"need_id": obj.id, "reason": "need.priority_raised"})
        elif _history_changed_to(obj, "status", "open"):
            rows.append({"need_id": obj.id, "reason": "need.reopened"})
    if rows:
        now = utcnow()
        session.connection().execute(
            sa.insert(AllocationTrigger.__table__),  # type: ignore[attr-defined]
            [{**r, "created_at": now} for r in rows],
        )
        session.info.setdefault(_KEY, set()).update(r["need_id"] for r in rows)


def _after_commit(session: OrmSession) -> None:
    pending = session.info.pop(_KEY, None)
    if not pending:
        return
    if not get_settings().matching.allocation_trigger_sync:
        return
    bind = session.get_bind()
    for run in _run_now:
        run(bind.engine if hasattr(bind, "engine") else bind)  # type: ignore[arg-type]


def _after_rollback(session: OrmSession) -> None:
    session.info.pop(_KEY, None)


def install(run_now: Callable[[Engine], Any]) -> None:
    """Listen on every ORM session (idempotent); ``run_now`` processes the pending triggers when they are
    to run right after the commit."""
    _run_now[:] = [run_now]
    if not event.contains(OrmSession, "after_flush", _after_flush):
        event.listen(OrmSession, "after_flush", _after_flush)
        event.listen(OrmSession, "after_commit", _after_commit)
        event.listen(OrmSession, "after_soft_rollback", lambda s, _t: _after_rollback(s))
