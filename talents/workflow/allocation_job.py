"""What the scheduler runs: expiries, activations, pending priority-1 triggers, and the periodic run."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import col, select

from talents.assignments.models import AllocationTrigger
from talents.kernel.db import session_scope
from talents.kernel.logs import get_logger
from talents.workflow import triggers
from talents.workflow.allocation import run_allocation
from talents.workflow.service import AssignmentService
from talents.workflow.transitions import SYSTEM

__all__ = ["expire_and_activate", "install_triggers", "process_allocation_triggers", "run_scheduled_allocation"]

log = get_logger("talents.workflow.jobs")


def expire_and_activate(engine: Engine, now: datetime | None = None) -> dict[str, list[int]]:
    """Proposals and approvals past their deadline expire; approved assignments whose start has come
    become active. One transaction."""
    now = now or datetime.now(UTC)
    with session_scope(engine) as session:
        service = AssignmentService(session, now)
        expired = service.expire_overdue()
        activated = service.activate_started()
    return {"expired": expired, "activated": activated}


def process_allocation_triggers(engine: Engine, now: datetime | None = None) -> dict[str, Any] | None:
    """One run for every need with a pending trigger (a new priority-1 need); ``None`` when none."""
    now = now or datetime.now(UTC)
    with session_scope(engine) as session:
        pending = session.exec(
            select(AllocationTrigger)
            .where(col(AllocationTrigger.processed_at).is_(None))
            .order_by(col(AllocationTrigger.id))
        ).all()
        ids = sorted({t.need_id for t in pending})
        trigger_ids = [t.id for t in pending]
    if not ids:
        return None
    result = run_allocation(engine, actor=SYSTEM, dry_run=False, need_ids=ids, trigger="priority_1", now=now)
    with session_scope(engine) as session:
        for t in session.exec(
            select(AllocationTrigger).where(col(AllocationTrigger.id).in_(trigger_ids))
        ).all():
            t.processed_at = datetime.now(UTC)
            t.run_id = result["run_id"]
            session.add(t)
    summary = _summary(result)
    log.info("allocation_triggered", needs=ids, **summary)
    return summary


def _summary(result: dict[str, Any]) -> dict[str, Any]:
    """What a job reports (the scheduler records it): ids and counts, not the whole diff."""
    return {
        "run_id": result["run_id"],
        "trigger": result["trigger"],
        "need_ids": result["need_ids"],
        "proposed": len(result["proposed"]),
        "withdrawn": len(result["withdrawn"]),
        "unfilled_seats": sum(u["seats"] for u in result["unfilled"]),
        "skipped": len(result["skipped"]),
        "objective": result["objective"],
        "bound": result["bound"],
        "status": result["status"],
    }


def run_scheduled_allocation(engine: Engine, now: datetime | None = None) -> dict[str, Any]:
    """The periodic job: expiries and activations, pending triggers, then a full run over every open need."""
    now = now or datetime.now(UTC)
    housekeeping = expire_and_activate(engine, now)
    triggered = process_allocation_triggers(engine, now)
    full = run_allocation(engine, actor=SYSTEM, dry_run=False, trigger="scheduled", now=now)
    log.info(
        "allocation_scheduled",
        run_id=full["run_id"],
        proposed=len(full["proposed"]),
        withdrawn=len(full["withdrawn"]),
        **{k: len(v) for k, v in housekeeping.items()},
    )
    return {**housekeeping, "triggered_run": None if triggered is None else triggered["run_id"],
            "run": _summary(full)}


def install_triggers() -> None:
    """Every ORM session writes the allocation triggers of priority-1 needs; pending ones run right after the
    commit when ``TALENTS_ALLOCATION_TRIGGER_SYNC`` is on. Called at start-up by the app and the commands."""
    triggers.install(process_allocation_triggers)
