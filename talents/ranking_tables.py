"""The tables the ranking reads, as plain SQLAlchemy Core tables: only the columns it needs.

The ranking's read path (the kept index's refresh, a role's requirement, who is left out of a need) queries
these instead of the models, so that a process which only ranks — a repeat ``talents match`` — starts without
building the ORM classes. The models stay the tables' definition (the migrations follow them); a test checks
that every column here is one of theirs, with the same type.
"""

from __future__ import annotations

import sqlalchemy as sa

from talents.kernel.db import UTCDateTime

__all__ = ["agent", "agent_skill", "assignment", "audit_event", "availability", "need", "role", "role_skill", "skill"]

_metadata = sa.MetaData()  # apart from the models' metadata: nothing here is ever created or migrated

agent = sa.Table(
    "agent", _metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("external_id", sa.String),
    sa.Column("name", sa.String),
    sa.Column("ministry", sa.String),
    sa.Column("service", sa.String),
    sa.Column("grade", sa.String),
    sa.Column("location", sa.String),
    sa.Column("remote", sa.Boolean),
    sa.Column("visibility", sa.String),
    sa.Column("bio", sa.String),
    sa.Column("updated_at", UTCDateTime()),
    sa.Column("erased_at", UTCDateTime()),
)
agent_skill = sa.Table(
    "agent_skill", _metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("agent_id", sa.Integer),
    sa.Column("skill_id", sa.String),
    sa.Column("level", sa.Integer),
    sa.Column("years", sa.Float),
    sa.Column("last_used", sa.Date),
    sa.Column("interest", sa.Integer),
)
availability = sa.Table(
    "availability", _metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("agent_id", sa.Integer),
    sa.Column("start_date", sa.Date),
    sa.Column("end_date", sa.Date),
    sa.Column("share", sa.Float),
)
skill = sa.Table(
    "skill", _metadata,
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("label_fr", sa.String),
    sa.Column("label_en", sa.String),
    sa.Column("category", sa.String),
    sa.Column("source", sa.String),
    sa.Column("description", sa.String),
    sa.Column("aliases", sa.JSON),
    sa.Column("related", sa.JSON),
    sa.Column("occupations", sa.JSON),
    sa.Column("status", sa.String),
    sa.Column("updated_at", UTCDateTime()),
)
assignment = sa.Table(
    "assignment", _metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("need_id", sa.Integer),
    sa.Column("role_id", sa.Integer),
    sa.Column("agent_id", sa.Integer),
    sa.Column("share", sa.Float),
    sa.Column("start_date", sa.Date),
    sa.Column("end_date", sa.Date),
    sa.Column("state", sa.String),
    sa.Column("forced", sa.Boolean),
)
audit_event = sa.Table(
    "audit_event", _metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("action", sa.String),
    sa.Column("subject_type", sa.String),
    sa.Column("subject_id", sa.String),
    sa.Column("data", sa.JSON),
)
need = sa.Table(
    "need", _metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("external_id", sa.String),
    sa.Column("start_date", sa.Date),
    sa.Column("end_date", sa.Date),
    sa.Column("priority", sa.Integer),
)
role = sa.Table(
    "role", _metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("need_id", sa.Integer),
    sa.Column("position", sa.Integer),
    sa.Column("title", sa.String),
    sa.Column("count", sa.Integer),
    sa.Column("share", sa.Float),
    sa.Column("location", sa.String),
    sa.Column("remote", sa.Boolean),
    sa.Column("description", sa.String),
    sa.Column("strict", sa.Boolean),
)
role_skill = sa.Table(
    "role_skill", _metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("role_id", sa.Integer),
    sa.Column("skill_id", sa.String),
    sa.Column("level", sa.Integer),
    sa.Column("weight", sa.Float),
    sa.Column("required", sa.Boolean),
)
