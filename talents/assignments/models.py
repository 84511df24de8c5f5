"""Assignments (an agent on a role of a need) and the append-only audit log."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from talents.assignments.states import (
    ALL_STATES,
    COMMITTED_STATES,
    FIXED_STATES,
    OPEN_STATES,
    PENDING_STATES,
    TERMINAL_STATES,
)
from talents.kernel.db import UTCDateTime, utcnow

__all__ = [
    "ALL_STATES",
    "COMMITTED_STATES",
    "FIXED_STATES",
    "OPEN_STATES",
    "PENDING_STATES",
    "TERMINAL_STATES",
    "AllocationRun",
    "AllocationTrigger",
    "ApprovalLinkUse",
    "Assignment",
    "AssignmentPublic",
    "AuditEvent",
    "AuditEventPublic",
]


_LIVE = "state IN ('proposed', 'accepted', 'approved', 'active')"



class Assignment(SQLModel, table=True):
    """An agent proposed for, or staffed on, a role of a need, for the need's period."""

    __tablename__ = "assignment"
    __table_args__ = (
        sa.CheckConstraint("share > 0 AND share <= 1", name="ck_assignment_share"),
        sa.CheckConstraint("end_date >= start_date", name="ck_assignment_period"),
        sa.Index("ix_assignment_agent_state", "agent_id", "state"),
        sa.CheckConstraint(
            "state IN ('proposed', 'accepted', 'declined', 'approved', 'refused', 'active', 'completed', "
            "'withdrawn', 'expired')",
            name="ck_assignment_state",
        ),
        sa.CheckConstraint("version >= 1", name="ck_assignment_version"),
        # One live seat per agent and need, whatever the concurrency (two runs proposing the same pair).
        sa.Index(
            "uq_assignment_live_need_agent",
            "need_id",
            "agent_id",
            unique=True,
            sqlite_where=sa.text(_LIVE),
            postgresql_where=sa.text(_LIVE),
        ),
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
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    version: int = 1
    # When the current wait (agent's answer, manager's decision) ends; past it the job expires it.
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


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
    version: int
    run_id: str | None = None
    expires_at: datetime | None = None
    need_external_id: str | None = None
    agent_external_id: str | None = None
    role_position: int | None = None
    role_title: str = ""
    need_title: str = ""


class AuditEvent(SQLModel, table=True):
    """Who did what, when and why. Append-only: the database refuses updates and deletes."""

    __tablename__ = "audit_event"
    # An object's trail (a need's, an assignment's), and who was removed from a need (each ranking asks).
    __table_args__ = (sa.Index("ix_audit_event_subject", "subject_type", "subject_id"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
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


class ApprovalLinkUse(SQLModel, table=True):
    """A manager's approval link once used: the primary key makes every link single-use in the database."""

    __tablename__ = "approval_link_use"

    token_hash: str = Field(primary_key=True, max_length=64)
    assignment_id: int = Field(foreign_key="assignment.id", index=True, ondelete="CASCADE")
    decision: str = Field(max_length=20)
    used_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class AllocationRun(SQLModel, table=True):
    """One allocation run (dry or applied): who, when, on which needs, and its figures."""

    __tablename__ = "allocation_run"

    id: str = Field(primary_key=True, max_length=64)
    started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    actor: str = Field(default="system", max_length=254)
    dry_run: bool = False
    trigger: str = Field(default="manual", max_length=40)
    need_ids: list[int] | None = Field(default=None, sa_column=sa.Column(sa.JSON, nullable=True))
    summary: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))


class AllocationTrigger(SQLModel, table=True):
    """A pending request for a run on one need (a new priority-1 need); the scheduler consumes them."""

    __tablename__ = "allocation_trigger"

    id: int | None = Field(default=None, primary_key=True)
    need_id: int = Field(foreign_key="need.id", index=True, ondelete="CASCADE")
    reason: str = Field(max_length=80)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    processed_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    run_id: str | None = Field(default=None, max_length=64)
