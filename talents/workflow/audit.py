"""The audit log: who did what, when and why — append-only (the database refuses updates and deletes)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from talents.assignments.models import AuditEvent
from talents.kernel.events import Event, subscribe

__all__ = ["AuditFilters", "AuditService", "csv_safe", "install", "on_event", "record"]


def record(
    session: Session,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: object,
    reason: str = "",
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one entry to the log, in the caller's transaction."""
    event = AuditEvent(
        actor=(actor or "system")[:254],
        action=action[:80],
        subject_type=subject_type[:40],
        subject_id=str(subject_id)[:80],
        reason=(reason or "")[:2000],
        data=data or {},
    )
    session.add(event)
    return event


def on_event(session: Session, event: Event) -> None:
    """Domain changes the workflow does not make itself but DINUM must be able to trace: a need's priority."""
    if event.kind == "need.priority_changed":
        data = event.data
        record(session, event.actor, event.kind, "need", data["need_id"], str(data.get("reason") or ""),
               {"old_priority": data.get("old_priority"), "priority": data.get("priority")})


def install() -> None:
    """Subscribe the audit log to domain events (idempotent). The app and the CLI call it at start-up."""
    subscribe(on_event)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "|", "%")


def csv_safe(value: object) -> str:
    """A cell a spreadsheet will not run as a formula (OWASP CSV injection): such text gets a quote first."""
    text = "" if value is None else str(value)
    if text.startswith(_FORMULA_START):
        return "'" + text
    return text


@dataclass(frozen=True)
class AuditFilters:
    action: str | None = None
    actor: str | None = None
    subject_type: str | None = None
    subject_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


class AuditService:
    def __init__(self, session: Session) -> None:
        self.session = session

    def _query(self, f: AuditFilters) -> Any:
        q = select(AuditEvent)
        if f.action:
            # "assignment." selects a family of actions
            q = q.where(
                col(AuditEvent.action).startswith(f.action)
                if f.action.endswith(".")
                else AuditEvent.action == f.action
            )
        if f.actor:
            q = q.where(func.lower(AuditEvent.actor) == f.actor.lower())
        if f.subject_type:
            q = q.where(AuditEvent.subject_type == f.subject_type)
        if f.subject_id:
            q = q.where(AuditEvent.subject_id == f.subject_id)
        if f.since:
            q = q.where(col(AuditEvent.at) >= f.since)
        if f.until:
            q = q.where(col(AuditEvent.at) < f.until)
        return q

    def trail(self, subjects: dict[str, list[str]], limit: int = 500) -> Sequence[AuditEvent]:
        """What happened to some subjects (``{"need": ["4"], "assignment": ["7", "9"]}``), newest first."""
        conditions = [sa.and_(AuditEvent.subject_type == kind, col(AuditEvent.subject_id).in_(ids))
                      for kind, ids in subjects.items() if ids]
        if not conditions:
            return []
        query = select(AuditEvent).where(sa.or_(*conditions)).order_by(col(AuditEvent.id).desc()).limit(limit)
        return self.session.exec(query).all()

    def list(self, f: AuditFilters, limit: int = 50, offset: int = 0) -> tuple[Sequence[AuditEvent], int]:
        q = self._query(f)
        total = self.session.exec(select(func.count()).select_from(q.subquery())).one()
        rows = self.session.exec(q.order_by(col(AuditEvent.id).desc()).offset(offset).limit(limit)).all()
        return rows, int(total)

    def export_csv(self, f: AuditFilters, batch: int = 1000) -> Iterator[str]:
        """The filtered log as CSV, oldest first, streamed in batches; every cell formula-safe."""
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(["id", "at", "actor", "action", "subject_type", "subject_id", "reason", "data"])
        yield buf.getvalue()
        last = 0
        while True:
            rows = self.session.exec(
                self._query(f).where(col(AuditEvent.id) > last).order_by(col(AuditEvent.id)).limit(batch)
            ).all()
            if not rows:
                return
            buf = io.StringIO()
            writer = csv.writer(buf)
            for r in rows:
                writer.writerow(
                    [
                        r.id,
                        r.at.isoformat(),
                        csv_safe(r.actor),
                        csv_safe(r.action),
                        csv_safe(r.subject_type),
                        csv_safe(r.subject_id),
                        csv_safe(r.reason),
                        csv_safe(json.dumps(r.data, ensure_ascii=False, sort_keys=True, default=str)),
                    ]
                )
                last = int(r.id)  # type: ignore[arg-type]
            yield buf.getvalue()
