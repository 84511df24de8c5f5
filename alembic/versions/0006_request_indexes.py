"""indexes of per-request lookups: the ordered list of needs, an object's audit trail

Revision ID: 0006
Revises: 0005
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_need_priority_start", "need", ["priority", "start_date", "id"])
    op.create_index("ix_audit_event_subject", "audit_event", ["subject_type", "subject_id"])


def downgrade() -> None:
    op.drop_index("ix_audit_event_subject", table_name="audit_event")
    op.drop_index("ix_need_priority_start", table_name="need")
