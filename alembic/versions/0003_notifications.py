"""notification outbox, deliveries, preferences, job runs

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _tz() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "notification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.AutoString(length=64), nullable=False),
        sa.Column("kind", sqlmodel.AutoString(length=60), nullable=False),
        sa.Column("channel", sqlmodel.AutoString(length=20), nullable=False),
        sa.Column("recipient", sqlmodel.AutoString(length=254), nullable=False),
        sa.Column("subject", sqlmodel.AutoString(length=300), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("status", sqlmodel.AutoString(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _tz(), nullable=False),
        sa.Column("lease_until", _tz(), nullable=True),
        sa.Column("claimed_by", sqlmodel.AutoString(length=80), nullable=True),
        sa.Column("last_error", sqlmodel.AutoString(length=2000), nullable=False),
        sa.Column("created_at", _tz(), nullable=False),
        sa.Column("sent_at", _tz(), nullable=True),
        sa.Column("read_at", _tz(), nullable=True),
        sa.Column("digest_key", sqlmodel.AutoString(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key", name="uq_notification_key"),
    )
    op.create_index("ix_notification_kind", "notification", ["kind"])
    op.create_index("ix_notification_due", "notification", ["status", "channel", "next_attempt_at"])
    op.create_index("ix_notification_recipient", "notification", ["recipient", "channel", "read_at"])

    op.create_table(
        "notification_preference",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sqlmodel.AutoString(length=254), nullable=False),
        sa.Column("kind", sqlmodel.AutoString(length=60), nullable=False),
        sa.Column("inapp_enabled", sa.Boolean(), nullable=False),
        sa.Column("email_enabled", sa.Boolean(), nullable=False),
        sa.Column("mode", sqlmodel.AutoString(length=20), nullable=False),
        sa.Column("updated_at", _tz(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email", "kind", name="uq_notification_preference"),
    )
    op.create_index("ix_notification_preference_email", "notification_preference", ["email"])

    op.create_table(
        "job_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job", sqlmodel.AutoString(length=80), nullable=False),
        sa.Column("slot", _tz(), nullable=False),
        sa.Column("runner", sqlmodel.AutoString(length=120), nullable=False),
        sa.Column("status", sqlmodel.AutoString(length=20), nullable=False),
        sa.Column("started_at", _tz(), nullable=False),
        sa.Column("finished_at", _tz(), nullable=True),
        sa.Column("result", sqlmodel.AutoString(length=2000), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("job", "slot", name="uq_job_run_slot"),
    )

    op.create_table(
        "scheduler_lease",
        sa.Column("name", sqlmodel.AutoString(length=80), nullable=False),
        sa.Column("holder", sqlmodel.AutoString(length=120), nullable=False),
        sa.Column("expires_at", _tz(), nullable=False),
        sa.Column("heartbeat_at", _tz(), nullable=False),
        sa.Column("term", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("scheduler_lease")
    op.drop_table("job_run")
    op.drop_index("ix_notification_preference_email", table_name="notification_preference")
    op.drop_table("notification_preference")
    op.drop_index("ix_notification_recipient", table_name="notification")
    op.drop_index("ix_notification_due", table_name="notification")
    op.drop_index("ix_notification_kind", table_name="notification")
    op.drop_table("notification")
