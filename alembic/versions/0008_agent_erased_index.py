"""index of the agents not erased: DINUM's headline count of agents read from the index alone

Revision ID: 0008
Revises: 0007
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The dashboard counts the agents not erased on every view: from this narrow index instead of the table's
    # wide rows (a scan of 100 000 profiles).
    op.create_index("ix_agent_erased_at", "agent", ["erased_at"])


def downgrade() -> None:
    op.drop_index("ix_agent_erased_at", table_name="agent")
