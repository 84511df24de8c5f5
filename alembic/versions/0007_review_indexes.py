"""covering indexes of DINUM's skills supply: agents at a level of a skill, an agent's availability windows

Revision ID: 0007
Revises: 0006
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The dashboard counts, per skill in demand, the available agents at the level asked: read from the indexes
    # alone instead of the table's rows (hundreds of thousands at 100 000 agents).
    op.create_index("ix_agent_skill_skill_level_agent", "agent_skill", ["skill_id", "level", "agent_id"])
    op.create_index("ix_availability_agent_end_share", "availability", ["agent_id", "end_date", "share"])


def downgrade() -> None:
    op.drop_index("ix_availability_agent_end_share", table_name="availability")
    op.drop_index("ix_agent_skill_skill_level_agent", table_name="agent_skill")
