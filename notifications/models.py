"""Tables of the notifications package: the outbox of deliveries, preferences, job runs and the scheduler lease.

One ``notification`` row is one delivery: one recipient, one channel, one idempotency ``key`` (unique).
The in-app channel is "delivered" by the insert itself; the other channels go through the dispatcher.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from talents.kernel.db import UTCDateTime, utcnow

__all__ = [
    "CHANNELS",
    "JobRun",
    "Notification",
    "NotificationPreference",
    "NotificationPublic",
    "SchedulerLease",
    "STATUSES",
]

CHANNELS: tuple[str, ...] = ("inapp", "email", "webhook", "matrix")
# pending → sending (claimed, with a lease) → sent | pending (retry later) | failed (after the last attempt).
# held: waits for the recipient's daily digest; digested: folded into a digest delivery.
STATUSES: tuple[str, ...] = ("pending", "sending", "sent", "failed", "held", "digested", "cancelled")



class Notification(SQLModel, table=True):
    """One delivery of one event to one recipient over one channel."""

    __tablename__ = "notification"
    __table_args__ = (
        sa.UniqueConstraint("key", name="uq_notification_key"),
        sa.Index("ix_notification_due", "status", "channel", "next_attempt_at"),
        sa.Index("ix_notification_recipient", "recipient", "channel", "read_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=64, description="Idempotency key: Message-ID, Idempotency-Key, Matrix txnId")
    kind: str = Field(max_length=60, index=True)
    channel: str = Field(max_length=20)
    recipient: str = Field(max_length=254, description="An e-mail address, or the target's name for webhooks")
    subject: str = Field(default="", max_length=300)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))
    status: str = Field(default="pending", max_length=20)
    attempts: int = 0
    max_attempts: int = 8
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    claimed_by: str | None = Field(default=None, max_length=80)
    last_error: str = Field(default="", max_length=2000)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    read_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    digest_key: str | None = Field(default=None, max_length=64, description="The digest that carried it")


class NotificationPublic(SQLModel):
    id: int
    kind: str
    subject: str
    data: dict[str, Any]
    created_at: datetime
    read_at: datetime | None


class NotificationPreference(SQLModel, table=True):
    """A person's choice for one event kind (``*`` = every kind): channels on or off, immediate or digest."""

    __tablename__ = "notification_preference"
    __table_args__ = (sa.UniqueConstraint("email", "kind", name="uq_notification_preference"),)

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, index=True)
    kind: str = Field(default="*", max_length=60)
    inapp_enabled: bool = True
    email_enabled: bool = True
    mode: str = Field(default="immediate", max_length=20, description="immediate | digest")
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class JobRun(SQLModel, table=True):
    """One run of a scheduled job for one slot. The unique (job, slot) makes a slot run at most once."""

    __tablename__ = "job_run"
    __table_args__ = (sa.UniqueConstraint("job", "slot", name="uq_job_run_slot"),)

    id: int | None = Field(default=None, primary_key=True)
    job: str = Field(max_length=80)
    slot: datetime = Field(sa_type=UTCDateTime)
    runner: str = Field(max_length=120)
    status: str = Field(default="running", max_length=20)
    started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    result: str = Field(default="", max_length=2000)


class SchedulerLease(SQLModel, table=True):
    """Who runs the scheduler now: a lease renewed by heartbeats, taken over once it expires."""

    __tablename__ = "scheduler_lease"

    name: str = Field(primary_key=True, max_length=80)
    holder: str = Field(max_length=120)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    heartbeat_at: datetime = Field(sa_type=UTCDateTime)
    term: int = Field(default=1, description="Incremented at each change of holder (a fencing token)")
