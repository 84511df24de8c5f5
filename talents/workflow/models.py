"""Assignments (an agent on a role of a need) and the append-only audit log."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from talents.db import utcnow

__all__ = ["COMMITTED_STATES", "OPEN_STATES", "Assignment", "AssignmentPublic", "AuditEvent", "AuditEventPublic"]

# States that hold an agent's time (count against the 100 % rule).
COMMITTED_STATES: tuple[str, ...] = ("proposed", "accepted", "approved", "active")
# States an automatic run may still change (only for a higher priority).
OPEN_STATES: tuple[str, ...] = ("proposed",)


def _tz() -> sa.DateTime:
    return sa.DateTime(timezone=True)


class Assignment(SQLModel, table=True):
    """An agent proposed for, or staffed on, a role of a need, for the need's period."""

    __tablename__ = "assignment"
    __table_args__ = (
        sa.CheckConstraint("share > 0 AND share <= 1", name="ck_assignment_share"),
        sa.CheckConstraint("end_date >= start_date", name="ck_assignment_period"),
        sa.Index("ix_assignment_agent_state", "agent_id", "state"),
    )

    id: int | None = Field(default=None, primary_key=True)
    need_id: int = Field(foreign_key="need.id", index=True, ondelete="CASCADE")
    role_id: int = Field(foreign_key="role.id", index=True, ondelete="CASCADE")
    agent_id: int = Field(foreign_key="agent.id", index=True, ondelete="CASCADE")
    share: float
    start: date = Field(sa_column=sa.Column("start_date", sa.Date, nullable=False))
    end: date = Field(sa_column=sa.Column("end_date", sa.Date, nullable=False))
    state: str = Field(default="proposed", max_length=20, index=True)
    score: float = 0.0
    explanation: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))
    forced: bool = False
    reason: str = Field(default="", max_length=2000)
    feedback: str = Field(default="", max_length=4000)
    run_id: str | None = Field(default=None, max_length=64)
    created_by: str = Field(default="", max_length=254)
    created_at: datetime = Field(default_factory=utcnow, sa_type=_tz())  # type: ignore[call-overload]
    updated_at: datetime = Field(default_factory=utcnow, sa_type=_tz())  # type: ignore[call-overload]
    version: int = 1


class AssignmentPublic(SQLModel):
    id: int
    need_id: int
    role_id: int
    agent_id: int
    share: float
    start: date
    end: date
    state: str
    score: float
    explanation: dict[str, Any]
    forced: bool
    reason: str
    feedback: str
    created_at: datetime
    updated_at: datetime


class AuditEvent(SQLModel, table=True):
    """Who did what, when and why. Append-only: the database refuses updates and deletes."""

    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=_tz(), index=True)  # type: ignore[call-overload]
    actor: str = Field(max_length=254)
    action: str = Field(max_length=80, index=True)
    subject_type: str = Field(max_length=40)
    subject_id: str = Field(max_length=80)
    reason: str = Field(default="", max_length=2000)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))


class AuditEventPublic(SQLModel):
    id: int
    at: datetime
    actor: str
    action: str
    subject_type: str
    subject_id: str
    reason: str
    data: dict[str, Any]
