"""audit log append-only triggers, assignment constraints (allocation workflow)

Revision ID: 0002
Revises: 0001
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LIVE = "state IN ('proposed', 'accepted', 'approved', 'active')"
_STATES = ("state IN ('proposed', 'accepted', 'declined', 'approved', 'refused', 'active', 'completed', "
           "'withdrawn', 'expired')")


# The 100 % rule, also as a last line of defence in the database itself: whatever writes an assignment
# in a committed state (the service does its own, stricter check first — availability included), the
# agent's committed shares on any day of its period may not exceed 1. On PostgreSQL the trigger locks the
# agent row first, so concurrent writers are serialised even outside the service.
_PEAK = """
    SELECT COALESCE(MAX(tot), 0) FROM (
      SELECT (SELECT COALESCE(SUM(b.share), 0) FROM assignment b
               WHERE b.agent_id = NEW.agent_id AND b.id {ne} NEW.id
                 AND b.state IN ('proposed', 'accepted', 'approved', 'active')
                 AND b.start_date <= p.d AND b.end_date >= p.d) AS tot
      FROM (SELECT NEW.start_date AS d
            UNION SELECT a.start_date FROM assignment a
             WHERE a.agent_id = NEW.agent_id AND a.id {ne} NEW.id
               AND a.state IN ('proposed', 'accepted', 'approved', 'active')
               AND a.start_date > NEW.start_date AND a.start_date <= NEW.end_date) p
    ) peaks
"""
_SQLITE_CAPACITY = [
    f"""CREATE TRIGGER assignment_capacity_{op.lower()} BEFORE {op} ON assignment
        WHEN NEW.state IN ('proposed', 'accepted', 'approved', 'active')
         AND ({_PEAK.format(ne='IS NOT')}) + NEW.share > 1.000000001
        BEGIN SELECT RAISE(ABORT, 'assignment_capacity: the agent would be committed above 100 %'); END"""
    for op in ("INSERT", "UPDATE")
]
_PG_CAPACITY = [
    f"""CREATE OR REPLACE FUNCTION assignment_capacity() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE peak double precision;
        BEGIN
          IF NEW.state NOT IN ('proposed', 'accepted', 'approved', 'active') THEN
            RETURN NEW;
          END IF;
          PERFORM 1 FROM agent WHERE id = NEW.agent_id FOR UPDATE;
          {_PEAK.format(ne='IS DISTINCT FROM').replace('SELECT COALESCE(MAX(tot), 0) FROM', 'SELECT COALESCE(MAX(tot), 0) INTO peak FROM', 1)};
          IF peak + NEW.share > 1.000000001 THEN
            RAISE EXCEPTION 'assignment_capacity: the agent would be committed above 100 %%'
              USING ERRCODE = 'check_violation';
          END IF;
          RETURN NEW;
        END $$""",
    """CREATE TRIGGER assignment_capacity BEFORE INSERT OR UPDATE ON assignment
       FOR EACH ROW EXECUTE FUNCTION assignment_capacity()""",
]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    with op.batch_alter_table("assignment", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_check_constraint("ck_assignment_state", _STATES)
        batch_op.create_check_constraint("ck_assignment_version", "version >= 1")
    op.create_index(
        "uq_assignment_live_need_agent", "assignment", ["need_id", "agent_id"], unique=True,
        sqlite_where=sa.text(_LIVE), postgresql_where=sa.text(_LIVE),
    )

    op.create_table(
        "approval_link_use",
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=False),
        sa.Column("decision", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["assignment_id"], ["assignment.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    op.create_index(op.f("ix_approval_link_use_assignment_id"), "approval_link_use", ["assignment_id"])

    op.create_table(
        "allocation_run",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("trigger", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("need_ids", sa.JSON(), nullable=True),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )

    op.create_table(
        "allocation_trigger",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("need_id", sa.Integer(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("run_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.ForeignKeyConstraint(["need_id"], ["need.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_allocation_trigger_need_id"), "allocation_trigger", ["need_id"])
    op.create_index(op.f("ix_allocation_trigger_processed_at"), "allocation_trigger", ["processed_at"])

    for statement in _PG_CAPACITY if dialect == "postgresql" else _SQLITE_CAPACITY:
        op.execute(statement)

    # The audit log is append-only: the database itself refuses updates and deletes.
    if dialect == "postgresql":
        op.execute(
            """
            CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION 'audit_event is append-only: % refused', TG_OP
                    USING ERRCODE = 'insufficient_privilege';
            END;
            $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            "CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event "
            "FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()"
        )
        op.execute(
            "CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event "
            "FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()"
        )
    else:
        op.execute(
            "CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event "
            "BEGIN SELECT RAISE(ABORT, 'audit_event is append-only: UPDATE refused'); END"
        )
        # Only a transaction that defers foreign keys (the full wipe of the test suite's reset) may empty
        # it; see docs/workflow.md. On PostgreSQL, TRUNCATE (owner only) is not a row operation.
        op.execute(
            "CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event "
            "WHEN (SELECT defer_foreign_keys FROM pragma_defer_foreign_keys()) = 0 "
            "BEGIN SELECT RAISE(ABORT, 'audit_event is append-only: DELETE refused'); END"
        )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS assignment_capacity ON assignment")
        op.execute("DROP FUNCTION IF EXISTS assignment_capacity()")
    else:
        op.execute("DROP TRIGGER IF EXISTS assignment_capacity_insert")
        op.execute("DROP TRIGGER IF EXISTS assignment_capacity_update")
    if dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_delete ON audit_event")
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_update ON audit_event")
        op.execute("DROP FUNCTION IF EXISTS audit_event_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_delete")
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_update")
    op.drop_index(op.f("ix_allocation_trigger_processed_at"), table_name="allocation_trigger")
    op.drop_index(op.f("ix_allocation_trigger_need_id"), table_name="allocation_trigger")
    op.drop_table("allocation_trigger")
    op.drop_table("allocation_run")
    op.drop_index(op.f("ix_approval_link_use_assignment_id"), table_name="approval_link_use")
    op.drop_table("approval_link_use")
    op.drop_index("uq_assignment_live_need_agent", table_name="assignment")
    with op.batch_alter_table("assignment", schema=None) as batch_op:
        batch_op.drop_constraint("ck_assignment_version", type_="check")
        batch_op.drop_constraint("ck_assignment_state", type_="check")
        batch_op.drop_column("decided_at")
        batch_op.drop_column("expires_at")
